"""Event -> alert latency at 1,000 events/s over HTTP (issue 3). Same as
`parcelguard bench latency`; see its --help.

    .venv/bin/python benchmarks/alert_latency.py --rate 1000 --seconds 30
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "latency", *__import__("sys").argv[1:]])

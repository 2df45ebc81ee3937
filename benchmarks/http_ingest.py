"""HTTP ingest benchmark (issue 2). Same as `parcelguard bench http`; see its --help.

    .venv/bin/python benchmarks/http_ingest.py --events 100000
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "http", *__import__("sys").argv[1:]])

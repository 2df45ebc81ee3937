"""Carrier pushes (issue 4). Same as `parcelguard bench hooks`; see its --help.

    .venv/bin/python benchmarks/carrier_push.py --parcels 3000
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "hooks", *__import__("sys").argv[1:]])

"""Ingest benchmark (issue 2). Same as `parcelguard bench ingest`; see its --help.

    .venv/bin/python benchmarks/ingest.py --events 200000
    .venv/bin/python benchmarks/ingest.py --events 2000000 --backend sqlite
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "ingest", *__import__("sys").argv[1:]])

"""Rules overhead (issue 3). Same as `parcelguard bench rules`; see its --help.

    .venv/bin/python benchmarks/rules_overhead.py --events 100000 --cel-rules 100
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "rules", *__import__("sys").argv[1:]])

"""MQTT telemetry (issue 4). Same as `parcelguard bench mqtt`; see its --help.

    .venv/bin/python benchmarks/mqtt_ingest.py --readings 50000
"""

from parcelguard.cli import app

if __name__ == "__main__":
    app(["bench", "mqtt", *__import__("sys").argv[1:]])

"""Test helpers: signed requests per format, golden case files, and a resign tool.

A golden case is ``tests/data/carriers/<format>/<case>.http``: a raw HTTP request (request line,
headers, a blank line, the body byte for byte; one trailing newline is not part of the body),
next to ``<case>.expected.json``, the normalised result. ``config.json`` in each folder holds
the secret, the clock and the zone the cases run with, with per-case overrides.

After editing a payload by hand, re-sign it deliberately::

    .venv/bin/python -m tests.unit.carriers.helpers resign tests/data/carriers/kdniao/happy.http
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import msgspec

from parcelguard.ingest.carriers import aftership, common, generic, kdniao, kuaidi100, track17
from parcelguard.ingest.carriers.common import Push

DATA = Path(__file__).resolve().parents[2] / "data" / "carriers"
FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
JSON_TYPE = "application/json"
FORM_FIELD = {"kdniao": ("RequestData", "DataSign"), "kuaidi100": ("param", "sign")}
SECRETS = {  # the keys the golden cases are signed with (test keys, nothing real)
    "kdniao": "56da2cf8-c8a2-44b2-b6fa-476cd7d1ba17",
    "kuaidi100": "pg-test-salt",
    "aftership": "pg-test-aftership-webhook-secret",
    "track17": "pg-test-17track-api-key",
    "generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def light_form(fields: dict[str, str]) -> bytes:
    """A form body that stays readable: only what the form syntax needs is percent-encoded."""
    def enc(s: str) -> str:
        return "".join(c if c.isprintable() and c not in "%&=+# " else quote(c, safe="") for c in s)
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in fields.items()).encode()


def full_form(fields: dict[str, str]) -> bytes:
    """A form body as most HTTP clients send it: everything but letters and digits encoded."""
    return urlencode(fields).encode()


def form_signature(fmt: str, payload: str, secret: str) -> str:
    return kdniao.data_sign(payload, secret) if fmt == "kdniao" else kuaidi100.sign(payload, secret)


def signed(fmt: str, payload: str | bytes, secret: str, now: datetime, *, msg_id: str = "msg_test",
           request_type: str = "102", light: bool = True) -> tuple[bytes, dict[str, str]]:
    """A body and headers as ``fmt``'s provider would send ``payload`` (JSON text or bytes)."""
    body = payload.encode() if isinstance(payload, str) else payload
    if fmt in FORM_FIELD:
        text = payload.decode() if isinstance(payload, bytes) else payload
        data, sig = FORM_FIELD[fmt]
        fields = {data: text, sig: form_signature(fmt, text, secret)}
        if fmt == "kdniao":
            fields["RequestType"] = request_type
        return (light_form if light else full_form)(fields), {"Content-Type": FORM_TYPE}
    headers = {"Content-Type": JSON_TYPE}
    if fmt == "aftership":
        headers[aftership.SIGNATURE_HEADER] = aftership.signature(body, secret)
    elif fmt == "track17":
        headers[track17.SIGNATURE_HEADER] = track17.signature(body, secret)
    else:
        stamp = str(int(now.timestamp()))
        headers |= {"webhook-id": msg_id, "webhook-timestamp": stamp,
                    "webhook-signature": generic.signature(msg_id, stamp, body, secret)}
    return body, headers


# ---- golden cases ----


@dataclass(frozen=True)
class Case:
    fmt: str
    name: str
    path: Path
    headers: dict[str, str]
    body: bytes
    secret: str
    now: datetime
    zone: ZoneInfo

    @property
    def expected_path(self) -> Path:
        return self.path.with_name(f"{self.name}.expected.json")


def read_http(path: Path) -> tuple[list[str], bytes]:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    return head.decode().splitlines(), body.removesuffix(b"\n")


def write_http(path: Path, fmt: str, headers: dict[str, str], body: bytes) -> None:
    lines = [f"POST /v1/carriers/{fmt} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    path.write_bytes("\n".join(lines).encode() + b"\n\n" + body + b"\n")


def load_case(path: Path) -> Case:
    fmt, name = path.parent.name, path.name.removesuffix(".http")
    config = json.loads((path.parent / "config.json").read_text())
    config |= config.get("cases", {}).get(name, {})
    head, body = read_http(path)
    headers = dict(line.split(": ", 1) for line in head[1:])
    return Case(fmt, name, path, headers, body, config["secret"], datetime.fromisoformat(config["now"]),
                ZoneInfo(config["zone"]))


def cases() -> list[Path]:
    return sorted(DATA.glob("*/*.http"))


def render(push: Push) -> dict[str, Any]:
    """The normalised result as plain JSON: what the expected files hold."""
    out: dict[str, Any] = msgspec.to_builtins(push)
    out["reply"] = push.reply.decode()
    return out


def render_error(exc: Exception) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)}


# ---- re-signing an edited case ----


def resign(path: Path) -> None:
    case = load_case(path)
    body = read_http(path)[1]
    if case.fmt in FORM_FIELD:
        data, sig = FORM_FIELD[case.fmt]
        payload = common.form(body, ())[data]
        value = quote(form_signature(case.fmt, payload, case.secret), safe="")
        body = re.sub(rf"(^|&){sig}=[^&]*".encode(), rb"\g<1>" + f"{sig}={value}".encode(), body)
        write_http(path, case.fmt, case.headers, body)
        return
    _, headers = signed(case.fmt, body, case.secret, case.now,
                        msg_id=case.headers.get("webhook-id", "msg_test"))
    write_http(path, case.fmt, {**case.headers, **headers}, body)


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    if sys.argv[1:2] != ["resign"] or len(sys.argv) < 3:
        sys.exit("usage: python -m tests.unit.carriers.helpers resign CASE.http...")
    for name in sys.argv[2:]:
        resign(Path(name))
        print(f"re-signed {name}")

"""``parcelguard demo``: the server on SQLite plus a live simulator, in one command.

The simulated network starts three days in the past, so the first minute already shows days of
history, then runs on at an accelerated clock that the server shares (its alerts and
quarantine judge time by the same clock; while the history is being sent the server's clock
follows it, so timers fire as they would have live). Ctrl-C stops the simulator, then the server,
then the store, in that order, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from parcelguard import bootstrap
from parcelguard.api import create_app
from parcelguard.config import Settings
from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth
from parcelguard.services.clock import ScaledClock
from parcelguard.simulator.live import CatchUpClock, Keys, LiveStats, Poster
from parcelguard.simulator.scenario import SimConfig, Simulation

TENANT = "demo"


@dataclass(frozen=True)
class DemoOptions:
    shipments: int = 400
    speed: float = 120.0  # simulated seconds per wall-clock second
    history: timedelta = timedelta(days=3)
    span: timedelta = timedelta(days=5)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data") / "demo"
    seed: int = 7
    anomaly_rate: float = 0.15
    duration: float | None = None  # wall seconds; None runs until Ctrl-C


def _free_port(host: str, preferred: int) -> int:
    candidates: list[int] = [preferred, *range(preferred + 1, preferred + 50)]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port near {preferred}")


def _keys(system: bootstrap.System) -> dict[Role, str]:
    now = times.to_us(datetime.now(UTC))
    auth.create_tenant(system.store, TENANT, "Demo merchant", now)
    return {role: auth.create_key(system.store, TENANT, role, "demo", now) for role in Role}


def _serve(system: bootstrap.System, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(create_app(system=system), host=host, port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    return server, thread


def _board(stats: LiveStats, started: float) -> Table:
    table = Table(title="simulator → server", show_header=False, box=None)
    sim = stats.sim_time.astimezone(times.zone(480)).strftime("%Y-%m-%d %H:%M") if stats.sim_time else "-"
    table.add_row("simulated time (+08:00)", sim)
    table.add_row("posted", ", ".join(f"{k} {v}" for k, v in sorted(stats.sent.items())) or "-")
    table.add_row("answers", ", ".join(f"{k} {v}" for k, v in sorted(stats.results.items())) or "-")
    table.add_row("retries", str(stats.retries))
    table.add_row("running for", f"{time.monotonic() - started:.0f} s")
    if stats.errors:
        table.add_row("last problem", stats.errors[-1][:100])
    return table


def run(options: DemoOptions, console: Console) -> None:
    if options.data_dir.exists():
        shutil.rmtree(options.data_dir)  # a fresh demo every time
    port = _free_port(options.host, options.port)
    settings = Settings(data_dir=options.data_dir, host=options.host, port=port,
                        database_url=f"sqlite:///{options.data_dir / 'demo.db'}")
    now = datetime.now(UTC)
    clock = ScaledClock(now, options.speed)
    server_clock = CatchUpClock(clock, now - options.history)
    system = bootstrap.build(settings, clock=server_clock)
    system.start()
    server, thread = _serve(system, options.host, port)
    try:
        keys = _keys(system)
        base = f"http://{options.host}:{port}"
        console.print(f"\n[bold]ParcelGuard demo[/bold] on {base}  (simulated clock ×{options.speed:g})")
        console.print(f"  dashboard     {base}/dashboard   (sign in with the merchant key)")
        console.print(f"  operations    {base}/ops         (sign in with the operator key)")
        console.print(f"  tracking page {base}/t           (tracking number + last 4 phone digits)")
        console.print(f"  API docs      {base}/docs")
        console.print(f"  shipments     {base}/v1/shipments")
        console.print(f"  metrics       {base}/metrics")
        console.print(f"  merchant key  [bold]{keys[Role.MERCHANT]}[/bold]")
        console.print(f"  operator key  {keys[Role.OPERATOR]}")
        console.print(f"  admin key     {keys[Role.ADMIN]}")
        console.print(f'  try: curl -H "Authorization: Bearer {keys[Role.MERCHANT]}" '
                      f"'{base}/v1/shipments?limit=5'\n", soft_wrap=True, highlight=False)
        sim = Simulation(SimConfig(
            seed=options.seed, shipments=options.shipments, start=now - options.history,
            span=options.span, anomaly_rate=options.anomaly_rate, telemetry=True,
        ))
        stats = LiveStats()
        poster = Poster(base, Keys(keys[Role.MERCHANT], keys[Role.CARRIER],
                                   keys[Role.DEVICE_GATEWAY], keys[Role.OPERATOR]), stats,
                        server_clock=server_clock)
        asyncio.run(_drive(poster, sim, clock, options, stats, console))
    finally:
        console.print("stopping: server, then store …")
        server.should_exit = True
        thread.join(30)
        system.stop()
        console.print("stopped cleanly")


async def _drive(
    poster: Poster, sim: Simulation, clock: ScaledClock, options: DemoOptions, stats: LiveStats,
    console: Console,
) -> None:
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(poster.run(sim.stream(), clock, options.speed, stop))
    desk = asyncio.create_task(_merchant_claims(poster.base_url, poster.keys.merchant, stop))
    try:
        with Live(_board(stats, started), console=console, refresh_per_second=2) as live:
            while not task.done():
                if options.duration is not None and time.monotonic() - started > options.duration:
                    break
                live.update(_board(stats, started))
                await asyncio.sleep(0.5)
            live.update(_board(stats, started))
    finally:
        stop.set()
        await task
        await desk


CLAIM_FOR = {"damaged": ("damage", "外箱破损，内件受损", 29900),
             "lost_suspected": ("loss", "长时间无物流更新，疑似丢失", 15900),
             "temperature_excursion": ("spoilage", "冷链温度超标，货品变质", 45000)}
DEMO_CLAIMS = 6


async def _merchant_claims(base_url: str, key: str, stop: asyncio.Event) -> None:
    """What a merchant does on the dashboard: a claim for some parcels that went wrong, the
    first of each kind taken up for review, so the claims board and KPIs have something."""
    opened: set[str] = set()
    async with httpx.AsyncClient(base_url=base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as api:
        while not stop.is_set() and len(opened) < DEMO_CLAIMS:
            try:
                await asyncio.wait_for(stop.wait(), timeout=5)
                return
            except TimeoutError:
                pass
            try:
                for kind, (claim, text, amount) in CLAIM_FOR.items():
                    page = (await api.get("/v1/alerts", params={"kind": kind, "limit": 3})).json()
                    for alert in page.get("items", [])[:2]:
                        tn = alert["tracking_no"]
                        if tn in opened or len(opened) >= DEMO_CLAIMS:
                            continue
                        r = await api.post(f"/v1/shipments/{tn}/claims", json={
                            "kind": claim, "description": text, "amount": amount})
                        if r.status_code == 201:
                            opened.add(tn)
                            if len(opened) % 2:
                                await api.post(f"/v1/claims/{r.json()['claim_id']}/review")
            except httpx.HTTPError:
                continue  # the server is busy or stopping: try again later

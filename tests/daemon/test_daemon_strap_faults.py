"""Never silent with a misbehaving strap: the virtual H10 (through bleak's BleakClient)
loses its link and drops a frame; the daemon says so and recovers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.ble.session import SessionConfig
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.daemon.client import DaemonClient
from monitor.daemon.config import DaemonConfig
from monitor.daemon.service import Daemon
from monitor.daemon.strap import StrapSource
from monitor.pipeline import Pipeline
from tests.daemon.synthetic import FS, synthetic_ecg


async def test_link_loss_and_lost_frames_become_alerts(sock_dir: Path) -> None:
    x, _ = synthetic_ecg(60.0)
    strap = VirtualStrap(
        x,
        FS,
        speed=20.0,
        faults=Faults(disconnect_after_s=10.0, out_of_range_s=2.0, drop=frozenset({5})),
    )
    source = StrapSource(
        SessionConfig(name=strap.name, backoff_initial_s=0.1), strap, "virtual strap with faults"
    )
    config = replace(DaemonConfig(), socket=sock_dir / "d.sock")
    daemon = Daemon(config, source, Pipeline())
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    client = await DaemonClient.connect(config.socket)
    alerts: dict[str, list[dict[str, Any]]] = {}
    battery: int | None = None
    try:
        async with asyncio.timeout(60):
            async for msg in client.messages():
                if msg["type"] == "alert":
                    alerts.setdefault(msg["kind"], []).append(msg)
                if msg["type"] == "status" and msg["battery_pct"] is not None:
                    battery = msg["battery_pct"]
                cleared = [a for a in alerts.get("disconnected", []) if not a["active"]]
                if cleared and "gap" in alerts:
                    break
    finally:
        await client.close()
        daemon.stop()
        await task
    raised = alerts["disconnected"][0]
    assert raised["severity"] == "critical" and raised["active"]
    assert "gap" in alerts and "lost" in alerts["gap"][0]["message"]
    assert battery == 87
    assert daemon.stats.frames > 0 and daemon.connection == "connected"

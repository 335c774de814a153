"""Shared by the reliability tests: a simulated scope with faults from its DUT profile, served on a free
loopback port, and the station and plan files that point a run at it."""
from __future__ import annotations

import dataclasses
import socket
import time
from pathlib import Path

from labbench.instruments.sim.dsaz334a import SimDSAZ334A
from labbench.instruments.sim.dut import load_profile
from labbench.scpi.tcpserver import SimServer

POINTS = 20_000     # ~2,600 UI at 10.3125 Gb/s and 80 GSa/s: enough edges for every eye-jitter metric, fast


def profile_with(faults: list[dict] | None = None, points: int = POINTS):
    """The default DUT profile with a short record and the given [[faults]] tables."""
    profile = load_profile()
    data = {**profile.data, "serial": {**profile.data["serial"], "points": points}}
    if faults:
        data["faults"] = list(faults)
    return dataclasses.replace(profile, data=data)


def serve_scope(faults: list[dict] | None = None, points: int = POINTS) -> SimServer:
    """A simulated DSAZ334A whose faults come from its profile, as `labbench sim` would serve it."""
    return SimServer(SimDSAZ334A(profile=profile_with(faults, points)), port=0).start()


def write_station(folder: Path, server: SimServer, timeout_s: float = 2.0) -> Path:
    path = folder / "station.toml"
    path.write_text(f'name = "reliability"\n[scope]\nresource = "{server.resource}"\ndriver = "DSAZ334A"\n'
                    f"timeout_s = {timeout_s}\n")
    return path


def write_plan(folder: Path, steps: int = 3, on_error: str = "continue", points: int = POINTS,
               cross_check: bool = True) -> Path:
    """A plan of eye-jitter steps on a short record."""
    path = folder / "plan.toml"
    text = 'name = "reliability"\n'
    for _ in range(steps):
        text += (f'[[step]]\nprocedure = "eye-jitter"\non_error = "{on_error}"\n[step.set]\npoints = {points}\n'
                 f"cross_check = {'true' if cross_check else 'false'}\n")
    path.write_text(text)
    return path


def ask(server: SimServer, command: str, timeout_s: float = 2.0) -> str:
    """One query on a connection of its own, as a second controller (or a technician) would send it."""
    with socket.create_connection((server.host, server.port), timeout=timeout_s) as conn:
        conn.sendall(command.encode() + b"\n")
        reply = b""
        deadline = time.monotonic() + timeout_s
        while not reply.endswith(b"\n") and time.monotonic() < deadline:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode("latin-1").strip()


def tell(server: SimServer, command: str) -> None:
    """One command with no reply, on a connection of its own."""
    with socket.create_connection((server.host, server.port), timeout=2.0) as conn:
        conn.sendall(command.encode() + b"\n")
        ask_done = b""
        conn.sendall(b"*OPC?\n")           # wait until it has been executed
        while not ask_done.endswith(b"\n"):
            chunk = conn.recv(64)
            if not chunk:
                break
            ask_done += chunk

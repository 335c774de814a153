"""The simulated bench: one simulator per role, all fed by the same DUT profile.

`labbench sim` serves them on consecutive ports from --port (scope on 5025, analyzer 5026, current
5027, rail 5028, as in procedures/stations/sim.toml); the runner starts them in-process on free ports.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.scpi.tcpserver import SimServer


@dataclass(frozen=True)
class SimSpec:
    simulator: str       # "module:Class" of the simulator
    driver: str          # the driver's name in labbench.station.DRIVERS
    port_offset: int     # from the base port of `labbench sim`


SIMULATORS: dict[str, SimSpec] = {
    "scope": SimSpec("labbench.instruments.sim.dsaz334a:SimDSAZ334A", "DSAZ334A", 0),
    "analyzer": SimSpec("labbench.instruments.sim.n9030b:SimN9030B", "N9030B", 1),
    "current": SimSpec("labbench.instruments.sim.cx3324a:SimCX3324A", "CX3324A", 2),
    "rail": SimSpec("labbench.instruments.sim.msos604a:SimMSOS604A", "MSOS604A", 3),
}


# the dataclass that reads each profile section, checked before any simulator starts
SECTION_MODELS = {
    "serial": "labbench.instruments.sim.serial_link:SerialLink",
    "radio": "labbench.instruments.sim.rf_scene:RadioConfig",
    "dfs": "labbench.instruments.sim.dfs_scenario:DfsConfig",
    "power": "labbench.instruments.sim.dut_power:PowerProfile",
    "rail": "labbench.instruments.sim.supply_rail:RailModel",
}


def check_profile(profile: DutProfile) -> None:
    """Read every section the way its simulator will, so a typo or a wrong type in a DUT profile is
    a ConfigError naming the file and key now, not an error inside a simulator later."""
    from labbench.instruments.sim.dut import section_dataclass

    for section, model in SECTION_MODELS.items():
        section_dataclass(load_object(model), profile, section)
    from labbench.instruments.sim.rf_emitters import build_environment
    build_environment(profile)


def load_object(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def make_simulator(role: str, profile: DutProfile, replay: str | None = None, real_time: bool = False):
    spec = SIMULATORS[role]
    cls = load_object(spec.simulator)
    kwargs = {"profile": profile, "real_time": real_time}
    if replay and role == "scope":
        kwargs["replay"] = replay
    return cls(**kwargs)


def start_sim_bench(profile: DutProfile | None = None, roles: list[str] | None = None, host: str = "127.0.0.1",
                    base_port: int = 0, replay: str | None = None, real_time: bool = False) -> dict[str, SimServer]:
    """Start simulators (all roles, or those named); base_port 0 picks free ports."""
    profile = profile or load_profile()
    check_profile(profile)
    servers: dict[str, SimServer] = {}
    try:
        for role in roles or list(SIMULATORS):
            port = 0 if base_port == 0 else base_port + SIMULATORS[role].port_offset
            servers[role] = SimServer(make_simulator(role, profile, replay, real_time), host, port).start()
    except Exception:
        for server in servers.values():
            server.stop()
        raise
    return servers

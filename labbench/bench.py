"""A bench: the drivers by role, connected either to a station's instruments or to simulators.

    bench = labbench.open_bench()            # the simulated bench, on free loopback ports
    capture = bench.scope.acquire(channel=1)
    bench.close()
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labbench.errors import ConfigError
from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.station import ROLES, Station, driver_class, load_station


@dataclass
class Bench:
    instruments: dict[str, Any]
    station_name: str
    profile: DutProfile | None = None          # the simulated DUT, when simulated
    servers: dict[str, Any] = field(default_factory=dict)
    replay: str | None = None
    dut: dict = field(default_factory=dict)

    def __getattr__(self, role: str):
        instruments = self.__dict__.get("instruments", {})
        if role in instruments:
            return instruments[role]
        if role in ROLES:
            raise ConfigError(f"this bench has no '{role}' instrument (roles present: {', '.join(instruments)})")
        raise AttributeError(role)

    @property
    def simulated(self) -> bool:
        return bool(self.servers)

    def close(self) -> None:
        for instrument in self.instruments.values():
            try:
                instrument.close()
            except Exception:
                pass
        for server in self.servers.values():
            server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_bench(station: str | Station | None = None, dut_profile: str | None = None, replay: str | None = None,
               roles: list[str] | None = None, real_time: bool = False) -> Bench:
    """Connect the drivers: to the station's instruments, or (no station) to the simulated bench."""
    if station is None:
        from labbench.instruments.sim.bench import SIMULATORS, start_sim_bench

        profile = load_profile(dut_profile)
        wanted = [r for r in (roles or list(SIMULATORS)) if r in SIMULATORS]
        missing = [r for r in (roles or []) if r not in SIMULATORS]
        if missing:
            raise ConfigError(f"the simulated bench has no {', '.join(missing)} (it has {', '.join(SIMULATORS)})")
        servers = start_sim_bench(profile, wanted, replay=replay, real_time=real_time)
        instruments = {}
        try:
            for role, server in servers.items():
                instruments[role] = driver_class(SIMULATORS[role].driver)(server.resource, role=role)
        except Exception:
            for server in servers.values():
                server.stop()
            raise
        return Bench(instruments, "simulated", profile, servers, replay, dict(profile.section("dut")))
    if replay:
        raise ConfigError("--replay plays a stored capture through the simulated scope; it cannot be used "
                          "with a station of real instruments")
    station = station if isinstance(station, Station) else load_station(station)
    needed = roles or list(station.roles)
    absent = [r for r in needed if r not in station.roles]
    if absent:
        raise ConfigError(f"station file {station.path} has no {', '.join(absent)} role, needed here")
    instruments = {}
    try:
        for role in needed:
            cfg = station.roles[role]
            instruments[role] = driver_class(cfg.driver)(cfg.resource, visa_library=cfg.visa_library,
                                                         timeout_s=cfg.timeout_s, role=role)
    except Exception:
        for instrument in instruments.values():
            instrument.close()
        raise
    return Bench(instruments, station.name, None, {}, None, station.dut)

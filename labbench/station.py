"""Stations: which instrument is where (VISA resource) and which driver speaks to it.

    # procedures/stations/lab3.toml
    name = "lab3-bench2"
    [dut]                     # optional: what is on the bench (goes into the run file and trend index)
    model = "IoT-Sensor-X1"
    serial = "X1-004711"
    [scope]
    resource = "TCPIP0::10.0.0.5::5025::SOCKET"
    driver = "DSAZ334A"
    visa_library = "@py"      # optional
    timeout_s = 20            # optional, per SCPI reply

Checked before anything is sent: an unknown role or driver or a malformed resource is an error
naming the file, line and key.

Drivers are found by class name: the ones listed in DRIVERS, and every `Instrument` subclass with a
`model` in the `labbench.instruments` packages (the simulators excepted), so a new driver module is
usable in a station file without being registered here.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from labbench.errors import ConfigError
from labbench.tomlfile import line_of, read_toml

ROLES = ("scope", "analyzer", "current", "rail")
DRIVERS = {
    "DSAZ334A": "labbench.instruments.keysight.dsaz334a:DSAZ334A",
    "N9030B": "labbench.instruments.keysight.n9030b:N9030B",
    "CX3324A": "labbench.instruments.keysight.cx3324a:CX3324A",
    "MSOS604A": "labbench.instruments.keysight.msos604a:MSOS604A",
}
ROLE_KEYS = {"resource", "driver", "visa_library", "timeout_s"}
DUT_KEYS = {"model", "serial", "firmware", "serial_rate_bps"}   # serial_rate_bps: nominal link rate
_RESOURCE_RE = re.compile(
    r"^(TCPIP\d*::[^:]+::(\d+::SOCKET|hislip\d+(,\d+)?::INSTR|inst\d+::INSTR|INSTR)|"
    r"USB\d*::[^:]+::[^:]+::[^:]+(::\d+)?::INSTR|GPIB\d*::\d+(::\d+)?::INSTR|ASRL[^:]+::INSTR)$",
    re.IGNORECASE)


@dataclass(frozen=True)
class RoleConfig:
    role: str
    resource: str
    driver: str
    visa_library: str = "@py"
    timeout_s: float | None = None


@dataclass(frozen=True)
class Station:
    path: str
    name: str
    roles: dict[str, RoleConfig]
    dut: dict


@lru_cache(maxsize=1)
def _discovered() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(name, "module:Class") of every driver class in labbench.instruments, and modules that failed to import."""
    import labbench.instruments as package
    from labbench.instruments.base import Instrument

    found, broken = [], []
    for info in pkgutil.walk_packages(package.__path__, "labbench.instruments."):
        if ".sim" in info.name or info.name.endswith(".base") or info.ispkg:
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:   # one broken module must not hide the other drivers
            broken.append(f"{info.name} ({type(exc).__name__}: {exc})")
            continue
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Instrument) and value.__module__ == module.__name__
                    and value.model):
                found.append((value.__name__, f"{module.__name__}:{value.__name__}"))
    return tuple(found), tuple(broken)


def known_drivers() -> dict[str, str]:
    """Driver name -> "module:Class": DRIVERS plus every driver class found in labbench.instruments."""
    found, _ = _discovered()
    return {**dict(found), **DRIVERS}


def _unknown_driver(name: object) -> str:
    _, broken = _discovered()
    text = f"driver {name!r} unknown; drivers: {', '.join(sorted(known_drivers()))}"
    return text + (f" (not importable: {'; '.join(broken)})" if broken else "")


def load_station(path: str | Path) -> Station:
    path = Path(path)
    doc, text = read_toml(path, "station file")

    def error(table: tuple, key: str | None, message: str) -> ConfigError:
        line = line_of(text, table, key) or line_of(text, table)
        name = ".".join([*table, key] if key else table)
        return ConfigError(f"station file {path}{f', line {line}' if line else ''}"
                           f"{f', key {name!r}' if name else ''}: {message}")

    roles: dict[str, RoleConfig] = {}
    for key, value in doc.items():
        if key in ("name", "description"):
            if not isinstance(value, str):
                raise error((), key, f"{key} must be a string")
            continue
        if key == "dut":
            if not isinstance(value, dict):
                raise error((), key, "[dut] must be a table (model, serial, firmware)")
            for dut_key in sorted(set(value) - DUT_KEYS):
                raise error(("dut",), dut_key, f"unknown key; [dut] has {', '.join(sorted(DUT_KEYS))}")
            continue
        if key not in ROLES:
            raise error((key,), None, f"unknown role [{key}]; roles: {', '.join(ROLES)}")
        if not isinstance(value, dict):
            raise error((), key, f"[{key}] must be a table")
        for role_key in sorted(set(value) - ROLE_KEYS):
            raise error((key,), role_key, f"unknown key; a role has {', '.join(sorted(ROLE_KEYS))}")
        resource = value.get("resource")
        if not isinstance(resource, str) or not _RESOURCE_RE.match(resource):
            raise error((key,), "resource" if "resource" in value else None,
                        f"resource {resource!r} is not a VISA resource string "
                        "(e.g. TCPIP0::10.0.0.5::5025::SOCKET or TCPIP0::10.0.0.5::hislip0::INSTR)")
        driver = value.get("driver")
        if not isinstance(driver, str) or driver not in known_drivers():
            raise error((key,), "driver" if "driver" in value else None, _unknown_driver(driver))
        library = value.get("visa_library", "@py")
        if not isinstance(library, str) or not library:
            raise error((key,), "visa_library", "visa_library must be a string (\"@py\", \"@ivi\" or a path)")
        timeout = value.get("timeout_s")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            raise error((key,), "timeout_s", f"timeout_s = {timeout!r}; must be a positive number of seconds")
        roles[key] = RoleConfig(key, resource, driver, library, None if timeout is None else float(timeout))
    return Station(str(path), str(doc.get("name", path.stem)), roles,
                   {k: str(v) for k, v in dict(doc.get("dut", {})).items()})


def driver_class(name: str):
    from labbench.instruments.sim.bench import load_object

    drivers = known_drivers()
    if name not in drivers:
        raise ConfigError(_unknown_driver(name))
    return load_object(drivers[name])

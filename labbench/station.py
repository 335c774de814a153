"""Stations: which instrument is where (VISA resource) and which driver speaks to it.

    # procedures/stations/lab3.toml
    name = "lab3-bench2"
    [scope]
    resource = "TCPIP0::10.0.0.5::5025::SOCKET"
    driver = "DSAZ334A"
    visa_library = "@py"      # optional
    timeout_s = 20            # optional

Checked before anything is sent: an unknown role or driver or a malformed resource is an error
naming the file, line and key.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from labbench.errors import ConfigError

ROLES = ("scope", "analyzer", "current", "rail")
DRIVERS = {
    "DSAZ334A": "labbench.instruments.keysight.dsaz334a:DSAZ334A",
}
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


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return 0


def load_station(path: str | Path) -> Station:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"station file {path}: cannot read ({exc.strerror})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"station file {path}: {exc}") from None
    roles: dict[str, RoleConfig] = {}
    for key, value in doc.items():
        if key in ("name", "dut", "description"):
            continue
        line = _line_of(text, f"[{key}]")
        if key not in ROLES:
            raise ConfigError(f"station file {path}, line {line}: unknown role [{key}]; roles: {', '.join(ROLES)}")
        if not isinstance(value, dict):
            raise ConfigError(f"station file {path}, line {line}: [{key}] must be a table")
        unknown = set(value) - {"resource", "driver", "visa_library", "timeout_s"}
        if unknown:
            raise ConfigError(f"station file {path}, line {line}: [{key}] unknown key(s) {', '.join(sorted(unknown))}")
        resource = value.get("resource")
        if not isinstance(resource, str) or not _RESOURCE_RE.match(resource):
            raise ConfigError(f"station file {path}, line {_line_of(text, 'resource') or line}: [{key}] resource "
                              f"{resource!r} is not a VISA resource string (e.g. TCPIP0::10.0.0.5::5025::SOCKET)")
        driver = value.get("driver", "")
        if driver not in DRIVERS:
            raise ConfigError(f"station file {path}, line {_line_of(text, str(driver)) or line}: [{key}] driver "
                              f"{driver!r} unknown; drivers: {', '.join(DRIVERS)}")
        timeout = value.get("timeout_s")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigError(f"station file {path}, line {line}: [{key}] timeout_s must be a positive number")
        roles[key] = RoleConfig(key, resource, driver, str(value.get("visa_library", "@py")),
                                None if timeout is None else float(timeout))
    return Station(str(path), str(doc.get("name", path.stem)), roles, dict(doc.get("dut", {})))


def driver_class(name: str):
    from labbench.instruments.sim.bench import load_object

    if name not in DRIVERS:
        raise ConfigError(f"unknown driver {name!r}; drivers: {', '.join(DRIVERS)}")
    return load_object(DRIVERS[name])

"""The simulated DUT: one TOML profile that every simulator reads, so what the scope, the analyzer,
the current probe and the rail probe see belongs to the same device.

A profile may start from another (`base = "default.toml"`, relative to its own folder) and override
single keys; fault profiles are written that way. Sections: [dut], [serial] (read here), and the
sections each simulator documents ([radio], [environment], [dfs], [power], [rail]).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from labbench.errors import ConfigError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = PROFILE_DIR / "default.toml"


@dataclass(frozen=True)
class DutProfile:
    path: str
    data: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name, {}))

    @property
    def model(self) -> str:
        return str(self.data.get("dut", {}).get("model", "DUT"))

    @property
    def serial(self) -> str:
        return str(self.data.get("dut", {}).get("serial", ""))


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_profile(path: str | Path | None = None, _seen: tuple = ()) -> DutProfile:
    """Read a DUT profile (the default one when path is None), following `base = ...`."""
    path = Path(path) if path else DEFAULT_PROFILE
    if not path.exists() and not path.is_absolute() and (PROFILE_DIR / path).exists():
        path = PROFILE_DIR / path
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"DUT profile {path}: 'base' chain loops back to itself")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"DUT profile {path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"DUT profile {path}: {exc}") from None
    base = data.pop("base", None)
    if base:
        parent = load_profile(path.parent / base, _seen + (path,))
        data = _merge(parent.data, data)
    return DutProfile(str(path), data)


def section_dataclass(cls, profile: DutProfile, section: str):
    """Build a frozen dataclass from a profile section, refusing unknown keys by name."""
    values = profile.section(section)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"DUT profile {profile.path}: [{section}] has unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"DUT profile {profile.path}: [{section}]: {exc}") from None

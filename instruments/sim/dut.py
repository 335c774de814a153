"""The simulated DUT: one TOML profile that every simulator reads, so what the scope, the analyzer,
the current probe and the rail probe see belongs to the same device.

A profile may start from another (`base = "default.toml"`, relative to its own folder) and override
single keys; fault profiles are written that way. Sections: [dut], [serial] (read here), and the
sections each simulator documents ([radio], [environment], [dfs], [power], [rail]).
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from labbench.errors import ConfigError
from labbench.tomlfile import line_of, read_toml

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
# one section per simulator (and [faults] for fault injection, labbench/scpi/faults.py)
KNOWN_SECTIONS = {"dut", "serial", "radio", "environment", "dfs", "power", "rail", "faults"}
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
    data, text = read_toml(path, "DUT profile")
    unknown = sorted(set(data) - KNOWN_SECTIONS - {"base"})
    if unknown:
        import difflib
        hints = [difflib.get_close_matches(u, sorted(KNOWN_SECTIONS), n=1) for u in unknown]
        said = ", ".join(f"[{u}]" + (f" (did you mean [{h[0]}]?)" if h else "") for u, h in zip(unknown, hints))
        raise ConfigError(f"DUT profile {path}, line {line_of(text, (unknown[0],))}: unknown section {said}; "
                          f"sections: {', '.join(sorted(KNOWN_SECTIONS))}")
    base = data.pop("base", None)
    if base:
        base_path = path.parent / base
        if not base_path.exists() and (PROFILE_DIR / base).exists():   # a shipped profile, by name
            base_path = PROFILE_DIR / base
        parent = load_profile(base_path, _seen + (path,))
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
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        expected = hints.get(key)
        if expected in (float, int) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"DUT profile {profile.path}: [{section}] {key} = {value!r} must be a number")
        if expected is float:
            values[key] = float(value)
        if expected is str and not isinstance(value, str):
            raise ConfigError(f"DUT profile {profile.path}: [{section}] {key} = {value!r} must be a string")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"DUT profile {profile.path}: [{section}]: {exc}") from None

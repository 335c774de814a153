"""SCPI command tree for simulated instruments: headers, parameters and the standard error codes.

A header pattern is written as in the programming guides: upper-case letters are the short form,
`[...]` marks an optional node, `<N>` a numeric suffix, e.g. ``:ACQuire:SRATe[:ANALog]`` or
``:CHANnel<N>:SCALe``. Matching is case-insensitive and accepts the long or the short form of each
node, as IEEE 488.2 / SCPI-99 require.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

# Standard SCPI error codes and texts (SCPI-99 vol. 2, ch. 21).
SCPI_ERRORS = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -103: "Invalid separator",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -120: "Numeric data error",
    -131: "Invalid suffix",
    -150: "String data error",
    -160: "Block data error",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -241: "Hardware missing",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
}


class ScpiCommandError(Exception):
    """Raised inside a handler: becomes an entry in the simulator's error queue, never a crash."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code},{SCPI_ERRORS.get(code, 'Error')}{'; ' + detail if detail else ''}")


@dataclass(frozen=True)
class Node:
    long: str
    short: str
    optional: bool
    suffix: bool


_NODE_RE = re.compile(r"(\[)?:?([A-Za-z*][A-Za-z0-9_]*?)(<N>)?(\])?$")


def _split_pattern(pattern: str) -> list[str]:
    """Split ':A[:B]:C<N>' into [':A', '[:B]', ':C<N>'] keeping brackets with their node."""
    parts, i = [], 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = pattern.index("]", i)
            parts.append(pattern[i:j + 1])
            i = j + 1
        else:
            j = i + 1
            while j < len(pattern) and pattern[j] not in ":[":
                j += 1
            parts.append(pattern[i:j])
            i = j
    return [p for p in parts if p not in ("", ":")]


def compile_pattern(pattern: str) -> tuple[Node, ...]:
    nodes = []
    for part in _split_pattern(pattern.rstrip("?")):
        optional = part.startswith("[")
        text = part.strip("[]").lstrip(":")
        suffix = text.endswith("<N>")
        text = text.removesuffix("<N>")
        short = "".join(c for c in text if c.isupper() or c.isdigit() or c == "*") or text.upper()
        nodes.append(Node(text.upper(), short, optional, suffix))
    return tuple(nodes)


def _match_mnemonic(node: Node, mnemonic: str) -> tuple[bool, int | None]:
    m = mnemonic.upper()
    if m in (node.long, node.short):
        return True, None
    if node.suffix:
        stripped = m.rstrip("0123456789")
        if stripped != m and stripped in (node.long, node.short):
            return True, int(m[len(stripped):])
    return False, None


def match_header(nodes: tuple[Node, ...], mnemonics: list[str]) -> list[int | None] | None:
    """Match mnemonics against a compiled pattern; returns the suffix of every suffix node, or None."""

    def walk(ni: int, mi: int) -> list[int | None] | None:
        if ni == len(nodes):
            return [] if mi == len(mnemonics) else None
        node = nodes[ni]
        if mi < len(mnemonics):
            ok, suffix = _match_mnemonic(node, mnemonics[mi])
            if ok:
                rest = walk(ni + 1, mi + 1)
                if rest is not None:
                    return ([suffix if suffix is not None else 1] if node.suffix else []) + rest
        if node.optional:
            rest = walk(ni + 1, mi)
            if rest is not None:
                return ([1] if node.suffix else []) + rest
        return None

    return walk(0, 0)


# ---------------------------------------------------------------- parameters

_UNIT_SCALE = {
    "T": 1e12, "G": 1e9, "MA": 1e6, "M": 1e-3, "K": 1e3, "U": 1e-6, "N": 1e-9, "P": 1e-12, "F": 1e-15,
}
_NUMBER_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_BASE_UNITS = ("HZ", "S", "V", "A", "W", "DBM", "DB", "PCT", "OHM", "SA/S")


def parse_number(text: str, special: dict[str, float] | None = None) -> float:
    """A SCPI numeric parameter: NR1/NR2/NR3 with an optional engineering suffix (10MHZ, 5 ns)."""
    t = text.strip()
    if special and t.upper() in special:
        return special[t.upper()]
    m = _NUMBER_RE.match(t)
    if not m:
        raise ScpiCommandError(-104 if not any(c.isdigit() for c in t) else -120, f"not a number: {t[:40]!r}")
    value, unit = float(m.group(1)), m.group(2).upper()
    if not unit:
        return value
    for base in sorted(_BASE_UNITS, key=len, reverse=True):
        if unit.endswith(base):
            prefix = unit[: -len(base)]
            if prefix == "":
                return value
            if base == "HZ" and prefix == "M":  # SCPI: MHZ is mega-hertz
                return value * 1e6
            if prefix in _UNIT_SCALE:
                return value * _UNIT_SCALE[prefix]
    raise ScpiCommandError(-131, f"unknown suffix {unit!r}")


def parse_integer(text: str) -> int:
    """An integer parameter (NR1, or NR3 with no fraction); non-finite or huge values are -222."""
    value = parse_number(text)
    if not math.isfinite(value) or abs(value) > 2 ** 62:
        raise ScpiCommandError(-222, f"{text.strip()[:30]!r} is not a usable integer")
    return int(round(value))


def channel_number(source: str) -> int:
    """The N of a `CHANnel<N>` source (long or short form); anything else is -224."""
    text = source.strip().upper()
    for prefix in ("CHANNEL", "CHAN"):
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return int(text[len(prefix):])
    raise ScpiCommandError(-224, f"source {source!r} is not CHANnel<N>")


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on a separator that is not inside a quoted string (SCPI strings may hold ',' and ';')."""
    if '"' not in text and "'" not in text:      # the usual case, and junk of any length, at C speed
        return text.split(separator)
    parts, cur, quote = [], [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == separator:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quote:
        raise ScpiCommandError(-150, "unterminated string")
    parts.append("".join(cur))
    return parts


def split_params(text: str) -> list[str]:
    """A parameter list split on commas outside quotes."""
    if not text.strip():
        return []
    return [p.strip() for p in split_outside_quotes(text, ",")]


def format_number(value: float) -> str:
    """NR3 as Keysight instruments print it; non-finite values become the 9.9E37 'invalid' marker."""
    if value is None or not math.isfinite(value):
        return "9.99999E+37"
    return f"{value:.6E}" if value != int(value) or abs(value) >= 1e15 else f"{value:.6E}"


# ---------------------------------------------------------------- command kinds

Handler = Callable[..., Any]


@dataclass
class Command:
    """One header: what a set does and what a query answers. Subclasses cover the common shapes."""

    pattern: str
    on_set: Handler | None = None     # fn(sim, suffixes, params: list[str]) -> None
    on_query: Handler | None = None   # fn(sim, suffixes, params: list[str]) -> str | bytes
    nodes: tuple[Node, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = compile_pattern(self.pattern)

    @property
    def can_set(self) -> bool:
        return self.on_set is not None

    @property
    def can_query(self) -> bool:
        return self.on_query is not None


def _state_key(name: str, suffixes: list[int | None]) -> tuple:
    return (name, *suffixes)


class Setting(Command):
    """A stored value with set and query; typed by a parse and a format function."""

    def __init__(self, pattern: str, name: str, default: Any, parse: Callable[[str], Any],
                 fmt: Callable[[Any], str], check: Callable[[Any], None] | None = None,
                 after_set: Handler | None = None, query_only: bool = False):
        self.name, self.default, self._parse, self._fmt, self._check = name, default, parse, fmt, check
        self._after_set = after_set
        super().__init__(pattern, None if query_only else self._set, self._query)

    def _set(self, sim, suffixes, params):
        if not params:
            raise ScpiCommandError(-109, f"{self.pattern} needs a value")
        if len(params) > 1:
            raise ScpiCommandError(-108, f"{self.pattern} takes one value")
        value = self._parse(params[0])
        if self._check:
            self._check(value)
        sim.state[_state_key(self.name, suffixes)] = value
        if self._after_set:
            self._after_set(sim, suffixes, value)

    def _query(self, sim, suffixes, params):
        return self._fmt(sim.get(self.name, *suffixes, default=self.default))


def Number(pattern: str, name: str, default: float, limits: tuple[float, float] | None = None,
           integer: bool = False, special: dict[str, float] | None = None,
           after_set: Handler | None = None) -> Setting:
    """A numeric setting; outside `limits` it is refused with -222 Data out of range."""
    specials = {"MAX": limits[1], "MAXIMUM": limits[1], "MIN": limits[0], "MINIMUM": limits[0]} if limits else {}
    specials.update(special or {})

    def parse(text: str) -> float:
        value = parse_number(text, specials)
        return int(round(value)) if integer and math.isfinite(value) else value

    def check(value: float) -> None:
        if not math.isfinite(value):
            raise ScpiCommandError(-222, f"{pattern} {value} is not a finite number")
        if limits and not (limits[0] <= value <= limits[1]):
            raise ScpiCommandError(-222, f"{pattern} {value:g} outside {limits[0]:g}..{limits[1]:g}")

    fmt = (lambda v: str(int(v)) if math.isfinite(v) else "9.99999E+37") if integer else format_number
    return Setting(pattern, name, default, parse, fmt, check, after_set)


def Choice(pattern: str, name: str, default: str, choices: list[str], after_set: Handler | None = None) -> Setting:
    """An enumerated setting: accepts each choice's long or short form; the query answers the short form."""
    compiled = [(c.upper(), "".join(ch for ch in c if ch.isupper() or ch.isdigit()) or c.upper()) for c in choices]

    def parse(text: str) -> str:
        t = text.strip().upper()
        for long, short in compiled:
            if t in (long, short):
                return short
        raise ScpiCommandError(-224, f"{t[:20]!r} is not one of {', '.join(choices)}")

    return Setting(pattern, name, parse(default), parse, lambda v: v, None, after_set)


def Bool(pattern: str, name: str, default: bool, after_set: Handler | None = None) -> Setting:
    def parse(text: str) -> bool:
        t = text.strip().upper()
        if t in ("ON", "1"):
            return True
        if t in ("OFF", "0"):
            return False
        raise ScpiCommandError(-224, f"{t[:20]!r} is not ON, OFF, 1 or 0")

    return Setting(pattern, name, default, parse, lambda v: "1" if v else "0", None, after_set)


def Action(pattern: str, fn: Handler) -> Command:
    """A command with no query form (`:DIGitize`, `*RST`)."""
    return Command(pattern, on_set=fn)


def Query(pattern: str, fn: Handler) -> Command:
    """A query with no set form (`:WAVeform:DATA?`)."""
    return Command(pattern, on_query=fn)

"""Fault injection for simulated instruments: what real instruments on a LAN do, on demand.

Faults are data: `[[faults]]` tables in the DUT profile, or `labbench sim --fault KIND[:key=value,...]`.
`SimServer` installs them on whatever instrument it serves (through the instrument's `on_connect`,
`on_message` and `send_reply` hooks), so every simulator has them without a line of its own.

    [[faults]]
    kind = "drop"              # see KINDS
    instrument = "DSAZ334A"    # the model as *IDN? names it; absent: every simulator
    match = ":WAVeform:DATA?"  # case-insensitive substring of the program message; absent: the kind's target
    after = 1                  # let this many matching events through first
    count = 2                  # fire this many times (0: every time)

Kinds and their own keys (a kind's default target in brackets):
    drop      [block reply]   send `keep` (0.5) of the reply, then close the connection
    stall     [any reply]     send `keep` (0) of the reply, then nothing for `stall_s` (3600) seconds or until
                              the client hangs up; what is left is sent late, as a busy instrument would
    truncate  [block reply]   a block whose payload stops after `keep` (0.5) of its declared length, then LF
    corrupt   [block reply]   `mode = "prefix"`: junk bytes before the `#` (pyvisa#951); `"length"`: the header
                              declares one byte less than is sent
    garbage   [numeric reply] a line of junk (`text`) instead of the number
    errors    [any message]   `n` (31, one more than the queue holds) entries of `code` (-200): the queue overflows
    refuse    [any reply]     close the connection instead of replying, then refuse new connections for
                              `duration_s` seconds and/or the next `connections` attempts (2 s if neither)
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from labbench.errors import ConfigError, UsageError
from labbench.scpi.instrument import ERROR_QUEUE_DEPTH

log = logging.getLogger("labbench.sim.faults")

KINDS = ("drop", "stall", "truncate", "corrupt", "garbage", "errors", "refuse")
BLOCK_KINDS = ("drop", "truncate", "corrupt")
DEFAULT_KEEP = {"drop": 0.5, "stall": 0.0, "truncate": 0.5}
JUNK_PREFIX = b"\x00\xfe"
HANGUP_POLL_S = 0.05
DEFAULT_REFUSE_S = 2.0        # refuse: when neither duration_s nor connections is given


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    instrument: str = ""
    match: str = ""
    after: int = 0
    count: int = 1
    keep: float | None = None
    stall_s: float = 3600.0
    mode: str = "prefix"
    text: str = "\xfe\x7f@!garbage?"
    n: int = ERROR_QUEUE_DEPTH + 1     # one more than the queue holds: it overflows (-350)
    code: int = -200
    duration_s: float = 0.0
    connections: int = 0

    def __post_init__(self):
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} unknown; kinds: {', '.join(KINDS)}")
        if self.after < 0 or self.count < 0 or self.n < 0 or self.connections < 0:
            problems.append("after, count, n and connections must not be negative")
        if self.keep is not None and not 0.0 <= self.keep <= 1.0:
            problems.append(f"keep = {self.keep}: a fraction from 0 to 1")
        if self.mode not in ("prefix", "length"):
            problems.append(f"mode {self.mode!r}: \"prefix\" or \"length\"")
        if self.stall_s < 0 or self.duration_s < 0:
            problems.append("stall_s and duration_s must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def keep_fraction(self) -> float:
        return DEFAULT_KEEP.get(self.kind, 0.0) if self.keep is None else self.keep

    def describe(self) -> str:
        target = f"'{self.match}'" if self.match else {"errors": "any message", "garbage": "numeric replies",
                                                        "stall": "any reply", "refuse": "any reply"}.get(
            self.kind, "block replies")
        where = self.instrument or "every simulator"
        times = "every time" if self.count == 0 else f"{self.count} time(s)"
        return f"{self.kind} on {target} of {where}, after {self.after}, {times}"


_FIELD_TYPES = {"kind": str, "instrument": str, "match": str, "after": int, "count": int, "keep": float,
                "stall_s": float, "mode": str, "text": str, "n": int, "code": int, "duration_s": float,
                "connections": int}


def fault_from_table(table: dict[str, Any], where: str) -> FaultSpec:
    """One fault from a TOML table (or parsed --fault option); errors name `where` and the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a fault must be a table with at least kind = ...")
    unknown = sorted(set(table) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; keys: {', '.join(_FIELD_TYPES)}")
    if "kind" not in table:
        raise ConfigError(f"{where}: no kind; kinds: {', '.join(KINDS)}")
    values = {}
    for key, value in table.items():
        kind = _FIELD_TYPES[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{where}: {key} = {value!r} must be {'a number' if kind is not str else 'a string'}")
        values[key] = value
    try:
        return FaultSpec(**values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def faults_from_profile(profile) -> list[FaultSpec]:
    """The faults a DUT profile asks for: `[faults]` (one) or `[[faults]]` (several); none when absent."""
    data = getattr(profile, "data", None)
    if not isinstance(data, dict) or "faults" not in data:
        return []
    tables = data["faults"]
    tables = [tables] if isinstance(tables, dict) else tables
    path = getattr(profile, "path", "DUT profile")
    if not isinstance(tables, list):
        raise ConfigError(f"DUT profile {path}: faults must be [[faults]] tables")
    return [fault_from_table(t, f"DUT profile {path}, fault {i + 1}") for i, t in enumerate(tables)]


def parse_fault_option(text: str) -> dict[str, Any]:
    """`KIND[:key=value,...]` (the `--fault` option) as a table; values typed as FaultSpec's fields."""
    kind, _, rest = text.partition(":")
    table: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _FIELD_TYPES:
            raise UsageError(f"--fault {text!r}: {item!r} is not key=value with a key of "
                             f"{', '.join(k for k in _FIELD_TYPES if k != 'kind')}")
        try:
            table[key] = _FIELD_TYPES[key](value.strip())
        except ValueError:
            raise UsageError(f"--fault {text!r}: {key}={value!r} is not a valid {_FIELD_TYPES[key].__name__}") from None
    try:
        fault_from_table(table, f"--fault {text!r}")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return table


def with_faults(profile, options: list[str]):
    """The profile with the `--fault` options appended to its faults (profiles are frozen)."""
    tables = [parse_fault_option(o) for o in options]
    if not tables:
        return profile
    data = dict(profile.data)
    existing = data.get("faults", [])
    data["faults"] = ([existing] if isinstance(existing, dict) else list(existing)) + tables
    return replace(profile, data=data)


# ---------------------------------------------------------------- the injector

def _view(part) -> memoryview:
    """A byte view of a reply part (a handler may hand over a numpy buffer of 2-byte items)."""
    view = memoryview(part)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _size(parts: list) -> int:
    return sum(memoryview(p).nbytes for p in parts)


def _is_block(part) -> bool:
    """A reply part that starts an IEEE 488.2 block (parts may be bytes or memoryviews)."""
    head = bytes(_view(part)[:2])
    return len(head) == 2 and head[:1] == b"#" and head[1:2].isdigit()


def _block_header(part) -> tuple[int, int | None]:
    """(header length, declared payload length or None for #0) of a part that starts a block."""
    view = _view(part)
    n_digits = int(bytes(view[1:2]))
    return 2 + n_digits, (int(bytes(view[2:2 + n_digits])) if n_digits else None)


def _is_number(parts: list) -> bool:
    try:
        float(bytes(_view(parts[0])[:64]).split(b",")[0].decode("latin-1"))
        return True
    except (ValueError, IndexError):
        return False


def _send_prefix(conn: socket.socket, parts: list[bytes], n_bytes: int) -> int:
    """Send the first n_bytes of the joined parts without joining them (a block may be 100s of MB)."""
    sent = 0
    for part in parts:
        if sent >= n_bytes:
            break
        view = _view(part)
        take = min(len(view), n_bytes - sent)
        conn.sendall(view[:take])
        sent += take
    return sent


def _wait_for_hangup(conn: socket.socket, seconds: float, stop: threading.Event) -> bool:
    """Wait up to `seconds`; True when the client hung up (or the socket was closed under us)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.is_set():
        try:
            ready, _, _ = select.select([conn], [], [], HANGUP_POLL_S)
            if ready and conn.recv(1, socket.MSG_PEEK) == b"":
                return True
            if ready:           # the client sent more: leave it queued, as a busy instrument does
                time.sleep(HANGUP_POLL_S)
        except (OSError, ValueError):
            return True
    return stop.is_set()


class FaultInjector:
    """The faults of one simulated instrument; one state for all its connections (as the instrument)."""

    def __init__(self, instrument, specs: list[FaultSpec]):
        self.instrument = instrument
        self.specs = list(specs)
        self._seen = [0] * len(self.specs)
        self._fired = [0] * len(self.specs)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._refuse_until = 0.0
        self._refuse_left = 0
        self.stopped = threading.Event()     # set to end every stall at once (server shutdown, tests)
        self.fired = threading.Event()       # set whenever a fault fires
        self.events: list[str] = []          # what fired, in order: "drop ':WAVeform:DATA?' 4000 of 8001 bytes"

    # ------------------------------------------------------------ bookkeeping
    def _take(self, i: int) -> bool:
        """Count a matching event for spec i; True when the fault fires on it."""
        spec = self.specs[i]
        with self._lock:
            self._seen[i] += 1
            if self._seen[i] <= spec.after or (spec.count and self._fired[i] >= spec.count):
                return False
            self._fired[i] += 1
            return True

    def _note(self, text: str) -> None:
        self.events.append(text)
        log.info("%s fault: %s", self.instrument.idn[1], text)
        self.fired.set()

    def _targets(self, spec: FaultSpec, message: str, parts: list[bytes] | None) -> bool:
        if spec.match:
            return spec.match.upper() in message.upper()
        if spec.kind in BLOCK_KINDS:
            return parts is not None and any(_is_block(p) for p in parts)
        if spec.kind == "garbage":
            return parts is not None and _is_number(parts)
        return True

    # ------------------------------------------------------------ hooks called by SimServer
    def on_connect(self) -> bool:
        """False refuses the connection (the server closes it at once)."""
        with self._lock:
            if self._refuse_left > 0:
                self._refuse_left -= 1
                refuse = True
            else:
                refuse = time.monotonic() < self._refuse_until
        if refuse:
            self._note("refused a connection")
        return not refuse

    def on_message(self, message: str) -> None:
        """Remember the message for its reply (per connection thread); fill the error queue if asked."""
        self._local.message = message
        for i, spec in enumerate(self.specs):
            if spec.kind == "errors" and self._targets(spec, message, None) and self._take(i):
                for k in range(spec.n):
                    self.instrument.push_error(spec.code, f"injected fault {k + 1} of {spec.n}")
                self._note(f"errors: {spec.n} x {spec.code} after {message[:60]!r}")

    def send_reply(self, conn: socket.socket, parts: list[bytes]) -> bool:
        """Send the reply, or a faulty one; False closes the connection."""
        message = getattr(self._local, "message", "")
        for i, spec in enumerate(self.specs):
            if spec.kind != "errors" and self._targets(spec, message, parts) and self._take(i):
                return getattr(self, f"_{spec.kind}")(spec, conn, parts, message)
        for part in parts:
            conn.sendall(part)
        return True

    # ------------------------------------------------------------ the faults
    def _drop(self, spec, conn, parts, message) -> bool:
        total = _size(parts)
        sent = _send_prefix(conn, parts, int(total * spec.keep_fraction))
        self._note(f"drop {message[:60]!r}: connection closed after {sent} of {total} bytes")
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return False

    def _stall(self, spec, conn, parts, message) -> bool:
        total = _size(parts)
        sent = _send_prefix(conn, parts, int(total * spec.keep_fraction))
        self._note(f"stall {message[:60]!r}: {sent} of {total} bytes, then silence for up to {spec.stall_s:g} s")
        if _wait_for_hangup(conn, spec.stall_s, self.stopped):
            return False
        skip = sent                            # the rest comes late, as from an instrument that was busy
        for part in parts:
            view = _view(part)
            if skip < len(view):
                conn.sendall(view[skip:])
            skip = max(skip - len(view), 0)
        return True

    def _block_index(self, parts: list) -> int | None:
        return next((k for k, p in enumerate(parts) if _is_block(p)), None)

    def _truncate(self, spec, conn, parts, message) -> bool:
        k = self._block_index(parts)
        if k is None:                          # a text reply: cut it short, end the line
            text = b"".join(bytes(_view(p)) for p in parts).rstrip(b"\n")
            conn.sendall(text[:int(len(text) * spec.keep_fraction)] + b"\n")
            self._note(f"truncate {message[:60]!r}: text reply cut to {spec.keep_fraction:g} of its length")
            return True
        header, declared = _block_header(parts[k])
        if declared is None:                   # #0: the payload runs to the end of the reply
            declared = _size(parts[k:]) - header - 1
        keep = int(declared * spec.keep_fraction)
        for part in parts[:k]:
            conn.sendall(part)
        _send_prefix(conn, parts[k:], header + keep)
        conn.sendall(b"\n")
        self._note(f"truncate {message[:60]!r}: {keep} of {declared} block bytes, then LF")
        return True

    def _corrupt(self, spec, conn, parts, message) -> bool:
        k = self._block_index(parts)
        if spec.mode == "length" and k is not None and _block_header(parts[k])[1]:
            header, declared = _block_header(parts[k])
            wrong = str(declared - 1).encode()
            parts = [*parts[:k], b"#" + str(len(wrong)).encode() + wrong + bytes(_view(parts[k])[header:]), *parts[k + 1:]]
            self._note(f"corrupt {message[:60]!r}: the header declares {declared - 1} of {declared} bytes")
        else:
            parts = [JUNK_PREFIX, *parts]
            self._note(f"corrupt {message[:60]!r}: {len(JUNK_PREFIX)} junk bytes before the reply")
        for part in parts:
            conn.sendall(part)
        return True

    def _garbage(self, spec, conn, parts, message) -> bool:
        conn.sendall(spec.text.encode("latin-1", "replace") + b"\n")
        self._note(f"garbage instead of the reply to {message[:60]!r}")
        return True

    def _refuse(self, spec, conn, parts, message) -> bool:
        duration_s = spec.duration_s or (0.0 if spec.connections else DEFAULT_REFUSE_S)
        with self._lock:
            self._refuse_until = time.monotonic() + duration_s
            self._refuse_left = spec.connections
        self._note(f"refuse: closed the connection at {message[:60]!r}; refusing for {duration_s:g} s "
                   f"and {spec.connections} connection attempt(s)")
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return False


def install_faults(instrument, specs: list[FaultSpec]) -> FaultInjector | None:
    """Give `instrument` the faults meant for its model; returns the injector (None when none apply)."""
    model = str(getattr(instrument, "idn", ("", ""))[1]).upper()
    mine = [s for s in specs if not s.instrument or s.instrument.upper() == model]
    if not mine:
        return None
    injector = FaultInjector(instrument, mine)
    instrument.faults = injector
    return injector

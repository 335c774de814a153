"""Fuzzing the SCPI parser, dispatch and TCP server: whatever arrives, the simulator neither crashes nor
hangs, its error queue stays bounded, and it keeps answering *IDN?.

Inputs are built from the simulated DSAZ334A's own command table (every header in long, short and
mixed-case forms, with suffixes, optional nodes and parameters of every kind), then mutated byte by
byte, mixed with binary junk, over-long lines and odd terminators. The bulk (>= 10,000 program
messages) goes straight to `handle_message`; a few hundred go over a real socket.
"""
from __future__ import annotations

import contextlib
import random
import signal
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reliability_support as rs
from labbench.instruments.sim.dsaz334a import SimDSAZ334A
from labbench.scpi.commands import Number
from labbench.scpi.instrument import ERROR_QUEUE_DEPTH
from labbench.scpi.tcpserver import MAX_LINE_BYTES, SimServer

MESSAGES_PER_EXAMPLE = 20
DEFAULT_EXAMPLES = 520          # x 20 messages = 10,400 inputs in the default suite
LONG_EXAMPLES = 6000            # x 20 = 120,000 in the marked long run
SOCKET_EXAMPLES = 300
SLOWEST_MESSAGE_S = 2.0         # "never hangs": a message may take this long, with a generous margin, ...
PER_UNIT_S = 0.005              # ... plus this for each of its `;`-joined units (a long line is real work)


class FuzzScope(SimDSAZ334A):
    """The simulated DSAZ334A with records bounded (at most 4096 points, at least 20 GSa/s) so no
    input can make the model synthesize gigabytes: the full model accepts 10 Sa/s, and a 2000-point
    record at 10 Sa/s spans 200 s, 2e12 bits of a 10 Gb/s link. Parser and dispatch are untouched."""

    max_points = 4096

    def infiniium_commands(self):
        return [Number(":ACQuire:SRATe[:ANALog]", "srate", self.max_sample_rate, (20e9, self.max_sample_rate),
                       special={"AUTO": self.max_sample_rate})
                if c.pattern.startswith(":ACQuire:SRATe") else c for c in super().infiniium_commands()]


def _scope() -> FuzzScope:
    return FuzzScope(profile=rs.profile_with(points=2000))


# ---------------------------------------------------------------- inputs

NUMBERS = ["0", "1", "-1", "42", "4096", "1e-9", "2E9", "20e9", "80e9", "9.9E37", "1e400", "-1e400", "1e-400",
           "nan", "inf", "-0", "+.5", ".", "1.2.3", "1e", "0x1F", "#H1F", "#B101", "1,5", "99999999999999999999"]
UNITS = ["", "", "", " ", "MHZ", "mhz", "GHZ", "ns", "PS", "mV", "V", "DBM", "KSA/S", "PCT", "E", "XYZ"]
WORDS = ["MAX", "MIN", "MAXimum", "AUTO", "DEF", "ON", "OFF", "1", "0", "CHAN1", "CHANnel4", "CHANnel9",
         "CHANNEL0", "FUNC1", "WORD", "BYTE", "ASCii", "LSBFirst", "STRing", "E12", "E99", "E1", "DISPlay", "AC",
         "DC", "SECond", "POSitive", '"a;b,c"', "'x;y'", '"unterminated', "'", '""', '"\\"']
SEPARATORS = [";", ";", "; ", ";:", ";;", " ; ", "\t;"]
SUFFIXES = ["", "", "1", "2", "4", "0", "5", "99", "007"]


class Messages:
    """Program messages from a simulator's own command table: well-formed in every spelling, mutated
    byte by byte, binary junk, many-unit lines and huge parameters. Plain `random` keeps 10,000 of them
    cheap; hypothesis chooses the seeds and reports the one that fails."""

    def __init__(self, sim, rng: random.Random, max_units: int = 60):
        self.commands, self.rng, self.max_units = sim._all_commands, rng, max_units

    def header(self) -> str:
        r, command = self.rng, self.rng.choice(self.commands)
        words = []
        for node in command.nodes:
            if node.optional and r.random() < 0.4:
                continue
            word = r.choice([node.long, node.short, node.long.lower(), node.short.lower(), node.long.capitalize(),
                             node.long[:-1] or node.long])
            words.append(word + (r.choice(SUFFIXES) if node.suffix else ""))
        lead = "" if command.nodes[0].long.startswith("*") else r.choice(["", ":", ":"])
        return lead + ":".join(words) + r.choice(["", "?", "?", "??", " ?"])

    def param(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.5:
            return r.choice(NUMBERS) + r.choice(UNITS)
        if kind < 0.9:
            return r.choice(WORDS)
        return '"' + bytes(r.randrange(256) for _ in range(r.randrange(12))).decode("latin-1").replace('"', "") + '"'

    def unit(self) -> str:
        params = [self.param() for _ in range(self.rng.choice([0, 0, 1, 1, 2, 4]))]
        return self.header() + (" " + ",".join(params) if params else "")

    def well_formed(self) -> str:
        return self.rng.choice(SEPARATORS).join(self.unit() for _ in range(self.rng.randint(1, 4)))

    def mutated(self) -> str:
        r, text = self.rng, bytearray(self.well_formed().encode("latin-1", "replace"))
        for _ in range(r.randint(1, 6)):
            at = r.randrange(len(text) + 1)
            op = r.random()
            if op < 0.3:
                text[at:at] = bytes([r.randrange(256)])
            elif op < 0.55 and text:
                del text[min(at, len(text) - 1)]
            elif op < 0.8 and text:
                text[min(at, len(text) - 1)] = r.randrange(256)
            else:
                text[at:at] = text[at:at + r.randint(1, 16)]
        return text.decode("latin-1")

    def junk(self) -> str:
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(300))).decode("latin-1")

    def long_line(self) -> str:
        r = self.rng
        if r.random() < 0.5:       # many units, each parsed and dispatched
            return r.choice(SEPARATORS).join([self.well_formed()] * r.randint(20, self.max_units))
        return f"{self.header()} {r.choice(['9', ',', chr(34), 'A', ' ']) * r.randint(10_000, 100_000)}"

    def message(self) -> str:
        pick = self.rng.random()
        text = (self.well_formed() if pick < 0.33 else self.mutated() if pick < 0.66 else
                self.junk() if pick < 0.98 else self.long_line())
        # a line never holds LF (the server splits on it) and ends without CR (the server strips it)
        return text.replace("\n", " ").rstrip("\r")


SEEDS = st.integers(0, 2**64 - 1)


@contextlib.contextmanager
def _watchdog(seconds: float):
    """Fail instead of hanging the suite if a message never returns."""
    def expired(signum, frame):
        raise TimeoutError(f"the simulator did not return within {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fuzz_handle_message(examples: int, max_units: int = 60) -> dict:
    sim = _scope()
    idn = ",".join(sim.idn).encode()
    stats = {"inputs": 0, "replies": 0, "slowest_s": 0.0}

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(SEEDS)
    def feed(seed):
        messages = Messages(sim, random.Random(seed), max_units)
        for _ in range(MESSAGES_PER_EXAMPLE):
            message = messages.message()
            t0 = time.perf_counter()
            reply = sim.handle_message(message)
            took_s = time.perf_counter() - t0
            stats["slowest_s"] = max(stats["slowest_s"], took_s)
            stats["inputs"] += 1
            allowed_s = SLOWEST_MESSAGE_S + PER_UNIT_S * message.count(";")
            assert took_s < allowed_s, f"{took_s:.2f} s for {message[:200]!r} ({len(message)} characters)"
            if reply is not None:
                stats["replies"] += 1
                assert reply and bytes(memoryview(reply[-1])) == b"\n", message[:200]
                assert all(isinstance(p, (bytes, bytearray, memoryview)) for p in reply), message[:200]
            assert len(sim.errors) <= ERROR_QUEUE_DEPTH
        assert sim.handle_message("*IDN?") == [idn, b"\n"]

    with _watchdog(600):
        feed()
    return stats


def test_fuzzed_program_messages_never_crash_or_hang_the_simulator():
    stats = _fuzz_handle_message(DEFAULT_EXAMPLES)
    assert stats["inputs"] >= 10_000, stats
    assert stats["replies"] > 1000, stats              # the well-formed share reached real queries


@pytest.mark.slow
def test_fuzzed_program_messages_long_run():
    stats = _fuzz_handle_message(LONG_EXAMPLES, max_units=2000)
    assert stats["inputs"] >= 100_000, stats


# ---------------------------------------------------------------- over the socket

TERMINATORS = [b"\n", b"\n", b"\r\n", b"\r", b"\x00", b"", b"\n\n", b";\n", b"\r\r\n"]


def _read_until_idn(conn: socket.socket, idn: bytes, timeout_s: float = 5.0) -> None:
    buffer = b""
    deadline = time.monotonic() + timeout_s
    while not (buffer.startswith(idn + b"\n") or b"\n" + idn + b"\n" in buffer):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no *IDN? reply within {timeout_s} s; got {buffer[-200:]!r}"
        conn.settimeout(remaining)
        chunk = conn.recv(1 << 20)
        assert chunk, "the simulator closed the connection"
        buffer = buffer[-(1 << 16):] + chunk


def test_fuzzed_bytes_over_the_socket_never_stop_the_server():
    sim = _scope()
    idn = ",".join(sim.idn).encode()
    server = SimServer(sim, port=0).start()
    stats = {"inputs": 0, "overruns": 0, "hang-ups": 0}
    state = {"conn": socket.create_connection((server.host, server.port))}

    @settings(max_examples=SOCKET_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(SEEDS)
    def feed(seed):
        rng = random.Random(seed)
        messages = Messages(sim, rng)
        conn = state["conn"]
        chunks = [messages.message().encode("latin-1") + rng.choice(TERMINATORS) for _ in range(rng.randint(1, 4))]
        payload = b"".join(chunks)
        how = rng.random()
        if how < 0.03:                                   # longer than the server's input buffer: -363
            payload += b":TIM:SCAL " + b"9" * (MAX_LINE_BYTES + 10)
            stats["overruns"] += 1
        if how > 0.9:                                    # a client that leaves mid-message
            conn.sendall(payload[: len(payload) // 2])
            conn.close()
            conn = state["conn"] = socket.create_connection((server.host, server.port))
            stats["hang-ups"] += 1
            payload = b""
        conn.sendall(payload + b"\n*IDN?\n")           # one send: no Nagle wait between the two
        _read_until_idn(conn, idn)
        stats["inputs"] += len(chunks)

    try:
        with _watchdog(300):
            feed()
        # another controller is served throughout, and the server thread is alive
        assert rs.ask(server, "*IDN?") == idn.decode()
        assert server._thread.is_alive() and len(sim.errors) <= ERROR_QUEUE_DEPTH
        assert stats["inputs"] >= SOCKET_EXAMPLES and stats["overruns"] and stats["hang-ups"], stats
    finally:
        state["conn"].close()
        server.stop()

"""SCPI client session over pyvisa (pyvisa-py by default).

Terminations, chunk sizes and timeouts are set here, once per session. Binary blocks are read by the
length their header declares, straight into a numpy buffer: a payload byte equal to LF never ends a
read, short socket reads are simply continued, and a trailing LF is drained whether or not it comes
(pyvisa#118, pyvisa-py#102, pyvisa#348, pyvisa#450, Qcodes#3054). Every command and reply is logged
on `labbench.scpi.<name>` at DEBUG and kept in `traffic` for the run file.

Faults: a dropped connection, a timeout or a garbled reply raise ConnectionLost, InstrumentTimeout or
TransferError naming the instrument and the command. An exchange that did not finish leaves the
stream untrustworthy (a late reply may still come), so the session reconnects before its next command.
What is safe to repeat (queries, block transfers) is repeated once after reconnecting; a setting is
never re-sent. A Ctrl-C or SIGTERM waits until the program message being sent is complete.
"""
from __future__ import annotations

import logging
import select
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from labbench.errors import (
    AbortRequested,
    ConnectionLost,
    IdentityError,
    InstrumentError,
    InstrumentTimeout,
    ScpiError,
    TransferError,
)
from labbench.interrupts import held
from labbench.scpi.block import parse_header

DEFAULT_TIMEOUT_S = 10.0
CHUNK_BYTES = 16 << 20          # largest single socket read; pyvisa-py's own default is 4 KB
TRAFFIC_TEXT_CHARS = 240        # longer replies are shortened in the traffic log
RETRIES = 1                     # repeats of a query or block transfer after a fault (each after a reconnect)
RECONNECT_DELAYS_S = (0.0, 0.25, 0.5, 1.0)   # one reconnect attempt after each delay
ERRORS_SHOWN = 6                # check_errors names at most this many queue entries in its message
T = TypeVar("T")


class ReconnectFailed(ConnectionLost):
    """Every reconnect attempt failed: repeating the command cannot help."""


class ReplyNotUsable(TransferError):
    """A complete reply that cannot be used (text where a block belongs, a wrong item count): the
    stream is in step and asking again would get the same answer, so it is not repeated."""


@dataclass(frozen=True)
class TrafficEntry:
    time_s: float       # seconds since the session opened
    direction: str      # ">" sent, "<" received, "!" error
    text: str


class Session:
    """One connection to one instrument.

    `error_query` is the family's form of the error-queue query (Infiniium needs `STRing` to get the
    text); `name` is how messages and the log name the instrument (e.g. "scope DSAZ334A").
    """

    def __init__(self, resource_name: str, *, visa_library: str = "@py", timeout_s: float = DEFAULT_TIMEOUT_S,
                 name: str = "instrument", error_query: str = ":SYSTem:ERRor?"):
        import pyvisa

        self.resource_name = resource_name
        self.visa_library = visa_library
        self.name = name
        self.error_query = error_query
        self.timeout_s = timeout_s
        self.traffic: list[TrafficEntry] = []
        self.log = logging.getLogger(f"labbench.scpi.{name.split()[0]}")
        self._t0 = time.monotonic()
        self._stray_lf = False
        self.retries = RETRIES
        self.reconnect_delays_s = RECONNECT_DELAYS_S
        self.identity: str | None = None    # the first *IDN? reply; a reconnect must find the same
        self._broken = False                # reconnect before the next command (the stream may hold a stale reply)
        try:
            self._rm = pyvisa.ResourceManager(visa_library)
        except Exception as exc:  # pyvisa raises several unrelated types here
            raise ConnectionLost(f"{name}: cannot open {resource_name}: {exc}") from exc
        self._open()

    def _open(self) -> None:
        """Open the resource; terminations, timeout and chunk size are set here and nowhere else."""
        try:
            self._res = self._rm.open_resource(self.resource_name, open_timeout=int(self.timeout_s * 1000))
        except Exception as exc:  # pyvisa raises several unrelated types here
            raise ConnectionLost(f"{self.name}: cannot open {self.resource_name}: {exc}") from exc
        self._res.read_termination = "\n"
        self._res.write_termination = "\n"
        self._res.timeout = int(self.timeout_s * 1000)
        self._res.chunk_size = CHUNK_BYTES
        self._res.encoding = "latin-1"      # any byte decodes: junk is reported as junk, not UnicodeDecodeError
        self._socket_session = self._find_socket_session()
        self._stray_lf = False
        self._no_delay()

    def _no_delay(self) -> None:
        """TCP_NODELAY: without it a setting followed by a query waits ~40 ms on Nagle + delayed ACK."""
        if self._socket_session is not None:
            try:
                self._socket_session.interface.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return
            except OSError:
                pass
        try:
            import pyvisa.constants as c
            self._res.set_visa_attribute(c.VI_ATTR_TCPIP_NODELAY, c.VI_TRUE)
        except Exception:
            pass   # not a TCP resource

    # ------------------------------------------------------------ basics
    def where(self) -> str:
        return f"{self.name} at {self.resource_name}"

    def close(self) -> None:
        try:
            self._res.close()
        except Exception:
            pass

    def _record(self, direction: str, text: str) -> None:
        if len(text) > TRAFFIC_TEXT_CHARS:
            text = text[:TRAFFIC_TEXT_CHARS] + f"... ({len(text)} chars)"
        self.traffic.append(TrafficEntry(time.monotonic() - self._t0, direction, text))
        self.log.debug("%s %s %s", self.name, direction, text)

    def write(self, command: str, check: bool = False) -> None:
        """Send one program message; with check=True, drain the error queue and raise on an error.

        Never repeated: a setting cut off by a fault is reported, not sent again. Ctrl-C/SIGTERM wait
        until the whole message is sent."""
        self._ready()
        self._record(">", command)
        with held(), self._io(command):
            self._res.write(command)
        if check:
            self.check_errors(command)

    def read(self, command: str = "") -> str:
        """Read one reply line (the trailing LF stripped)."""
        with self._io(command):
            try:
                text = self._read_line(command)
                if self._stray_lf and text == "":
                    text = self._read_line(command)
            finally:
                self._stray_lf = False
        self._record("<", text)
        return text

    def query(self, command: str, timeout_s: float | None = None) -> str:
        return self._repeatable(command, lambda: self._query_once(command, timeout_s))

    def _query_once(self, command: str, timeout_s: float | None = None) -> str:
        with self._timeout(timeout_s):
            self.write(command)
            text = self.read(command)
        if self.identity is None and command.strip().upper() == "*IDN?":
            self.identity = text
        return text

    def query_as(self, command: str, convert: Callable[[str], T], what: str = "a value",
                 timeout_s: float | None = None) -> T:
        """The reply converted by `convert`; a reply it refuses (ValueError) is garbled, so the query
        is asked once more before a TransferError names the command and what came back."""
        def exchange() -> T:
            reply = self._query_once(command, timeout_s)
            try:
                return convert(reply)
            except ValueError:
                raise TransferError(f"{self.where()} answered {reply[:60]!r} to '{command}', not {what}") from None
        return self._repeatable(command, exchange)

    def query_float(self, command: str, timeout_s: float | None = None) -> float:
        """A numeric reply as float; the instruments' 9.9E37 'not measurable' marker becomes NaN."""
        value = self.query_as(command, lambda reply: float(reply.split(",")[0]), "a number", timeout_s)
        return float("nan") if abs(value) >= 9.9e37 else value

    def query_int(self, command: str) -> int:
        return self.query_as(command, lambda reply: int(float(reply)), "an integer")

    def wait_complete(self, timeout_s: float) -> None:
        """`*OPC?` with its own timeout, for acquisitions longer than the session timeout."""
        reply = self.query("*OPC?", timeout_s=timeout_s)
        if reply.strip() not in ("1", "+1"):
            raise TransferError(f"{self.where()} answered {reply!r} to *OPC?")

    def check_errors(self, command: str = "") -> None:
        """Drain the error queue; raise ScpiError naming `command` if any entry is an error."""
        def next_error() -> tuple[int, str]:
            reply = self._query_once(self.error_query)
            code_text, _, message = reply.partition(",")
            try:
                return int(float(code_text)), message
            except ValueError:
                raise TransferError(f"{self.where()} answered {reply[:60]!r} to {self.error_query}") from None

        found = []
        for _ in range(64):
            code, message = self._repeatable(self.error_query, next_error)
            if code == 0:
                break
            found.append(f"{code},{message}" if message else str(code))
        if found:
            self._record("!", "; ".join(found))
            after = f" after '{command}'" if command else ""
            shown = found if len(found) <= ERRORS_SHOWN else \
                found[:ERRORS_SHOWN - 2] + [f"... {len(found) - ERRORS_SHOWN + 1} more ..."] + found[-1:]
            raise ScpiError(f"{self.where()} reported{after}: {'; '.join(shown)}"
                            f"{f' ({len(found)} errors in the queue)' if len(found) > ERRORS_SHOWN else ''}")

    # ------------------------------------------------------------ faults: reconnect and repeat
    def reconnect(self) -> None:
        """A fresh connection; whatever the old one still carried (a late reply, half a block) goes with
        it. One attempt after each of `reconnect_delays_s`; the instrument must give the same *IDN?."""
        last: Exception | None = None
        for delay_s in self.reconnect_delays_s:
            time.sleep(delay_s)
            self.close()
            try:
                self._open()
                if self.identity is not None:
                    with self._io("*IDN?"):
                        self._res.write("*IDN?")
                        idn = self._read_line("*IDN?")
                    if idn != self.identity:
                        raise IdentityError(f"{self.where()} answers *IDN? with {idn[:80]!r} after reconnecting, "
                                            f"not {self.identity!r}")
                self._broken = False
                self._record("!", "reconnected")
                return
            except ConnectionLost as exc:
                last = exc
            except (InstrumentTimeout, TransferError) as exc:
                last = exc
        self._broken = True
        raise ReconnectFailed(f"{self.where()}: cannot reconnect ({len(self.reconnect_delays_s)} attempts over "
                              f"{sum(self.reconnect_delays_s):g} s): {last}")

    def _ready(self) -> None:
        if self._broken:
            self.reconnect()

    def _repeatable(self, command: str, exchange: Callable[[], T]) -> T:
        """Run an exchange that is safe to repeat (a query, a block transfer). After a dropped
        connection, a timeout or a garbled reply: reconnect, repeat, up to `retries` times."""
        first: InstrumentError | None = None
        for attempt in range(self.retries + 1):
            self._ready()
            try:
                return exchange()
            except (ReconnectFailed, ReplyNotUsable):
                raise
            except (ConnectionLost, InstrumentTimeout, TransferError) as exc:
                if attempt == self.retries:
                    if first is None:
                        raise
                    again = "the same" if str(exc) == str(first) else str(exc)
                    raise type(first)(f"{first} (repeated {attempt} time(s){' after reconnecting' if self._broken else ''}: "
                                      f"{again})") from exc
                first = first or exc
                self._record("!", f"{exc}; {'reconnecting to repeat' if self._broken else 'repeating'} '{command}'")
        raise AssertionError("unreachable")

    @contextmanager
    def _io(self, command: str):
        """One exchange on the wire: foreign errors become InstrumentErrors naming the command; if it did
        not finish (a fault, a timeout, a stop request), the next command reconnects first."""
        done = False
        try:
            yield
            done = True
        except (InstrumentError, AbortRequested):
            raise
        except Exception as exc:
            raise self._translate(exc, command) from exc
        finally:
            if not done:
                self._broken = True

    def _read_line(self, command: str) -> str:
        """One line: straight from the socket when pyvisa-py's is reachable (a closed connection is
        reported at once, not after the timeout), through pyvisa otherwise."""
        s = self._socket_session
        if s is None:
            return self._res.read()
        sock: socket.socket = s.interface
        timeout_s = self._res.timeout / 1000.0
        deadline = time.monotonic() + timeout_s
        while True:
            end = s._pending_buffer.find(b"\n")
            if end >= 0:
                line = bytes(s._pending_buffer[:end])
                del s._pending_buffer[:end + 1]
                return line.decode("latin-1")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                got = len(s._pending_buffer)
                raise InstrumentTimeout(f"{self.where()} did not answer '{command}' within {timeout_s:g} s"
                                        f"{f' ({got} bytes of a reply, no end of line)' if got else ''}")
            ready, _, _ = select.select([sock], [], [], remaining)
            if ready:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionLost(f"{self.where()}: connection closed by the instrument while reading "
                                         f"the reply to '{command}'")
                s._pending_buffer.extend(chunk)

    # ------------------------------------------------------------ binary blocks
    def query_block(self, command: str, dtype: Any, expected_items: int | None = None,
                    timeout_s: float | None = None) -> np.ndarray:
        """Send a query whose reply is an IEEE 488.2 block; return its payload as a numpy array.

        `dtype` fixes item size and byte order (e.g. '<i2' for WORD LSBFirst, '>f4' for REAL,32
        NORMal). `expected_items` is required for an indefinite `#0` block (its end cannot be found
        from an LF that may also be a payload byte) and checked for a definite one.
        """
        return self._repeatable(command, lambda: self._query_block_once(command, np.dtype(dtype), expected_items,
                                                                        timeout_s))

    def _query_block_once(self, command: str, dtype: np.dtype, expected_items: int | None,
                          timeout_s: float | None) -> np.ndarray:
        where = f"{self.where()}, reply to '{command}': "
        with self._timeout(timeout_s):
            self.write(command)
            with self._io(command):
                try:
                    head = self._read_exact(2)
                except InstrumentTimeout:
                    raise InstrumentTimeout(f"{self.where()} did not answer '{command}' within "
                                            f"{self._res.timeout / 1000:g} s") from None
                if head[:1] != b"#" or not head[1:2].isdigit():
                    text = head.decode("latin-1")
                    if text.isprintable() and "\n" not in text:
                        text += self._read_line(command)
                    if not (text.rstrip("\n").isprintable() and "#" not in text):   # junk: the rest may follow
                        raise TransferError(f"{where}expected a binary block, got {text[:60]!r}")
                    n_bytes, problem = 0, f"{where}expected a binary block, got {text[:60]!r}"
                else:
                    n_digits = int(head[1:2])
                    if n_digits:
                        _, n_bytes = parse_header(head + self._read_exact(n_digits), where)
                    else:
                        if expected_items is None:
                            raise ReplyNotUsable(f"{where}an indefinite #0 block needs its length from the preamble")
                        n_bytes = expected_items * dtype.itemsize
                    buffer = np.empty(n_bytes, dtype=np.uint8)
                    self._read_into(memoryview(buffer), command)
                    self._drain_lf(command)
                    problem = "" if n_bytes % dtype.itemsize == 0 else (
                        f"{self.where()} sent {n_bytes} bytes to '{command}': not a whole number of "
                        f"{dtype.itemsize}-byte items")
        if problem:          # the reply was read to its end: the stream is in step, repeating gives the same
            raise ReplyNotUsable(problem)
        self._record("<", f"#block {n_bytes} bytes")
        items = buffer.view(dtype)
        if expected_items is not None and items.size != expected_items:
            raise ReplyNotUsable(f"{self.where()} sent {items.size} items to '{command}', "
                                 f"the preamble announced {expected_items}")
        return items

    def _find_socket_session(self):
        """The pyvisa-py socket session behind this resource, for direct reads into numpy."""
        try:
            session = self._res.visalib.sessions[self._res.session]
        except Exception:
            return None
        if hasattr(session, "interface") and hasattr(session, "_pending_buffer") \
                and isinstance(getattr(session, "interface", None), socket.socket):
            return session
        return None

    def _read_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        self._read_into(memoryview(buf), "")
        return bytes(buf)

    def _read_into(self, view: memoryview, command: str) -> None:
        n = len(view)
        if n == 0:
            return
        s = self._socket_session
        if s is None:   # any other VISA backend: length-driven reads through pyvisa
            data = self._res.read_bytes(n, chunk_size=CHUNK_BYTES, break_on_termchar=False)
            if len(data) != n:
                raise TransferError(f"{self.where()}: short block, {len(data)} of {n} bytes")
            view[:] = data
            return
        filled = min(len(s._pending_buffer), n)
        if filled:
            view[:filled] = s._pending_buffer[:filled]
            s._pending_buffer = s._pending_buffer[filled:]
        sock: socket.socket = s.interface
        deadline = time.monotonic() + self._res.timeout / 1000.0
        while filled < n:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([sock], [], [], max(remaining, 0))
            if not ready:
                raise InstrumentTimeout(f"{self.where()}: timeout after {filled} of {n} block bytes"
                                        f"{' for ' + repr(command) if command else ''}")
            got = sock.recv_into(view[filled:], min(n - filled, CHUNK_BYTES))
            if got == 0:
                raise ConnectionLost(f"{self.where()}: connection closed after {filled} of {n} block bytes"
                                     f"{' for ' + repr(command) if command else ''}")
            filled += got
            deadline = time.monotonic() + self._res.timeout / 1000.0   # the timeout is per read, as VISA's

    def _drain_lf(self, command: str = "") -> None:
        """Remove the LF that may follow a block; if it is not here yet, skip it at the next read.
        Any other byte already waiting means the block was longer than its header said: out of step."""
        s = self._socket_session
        if s is not None:
            if s._pending_buffer[:1] == b"\n":
                s._pending_buffer = s._pending_buffer[1:]
                return
            if not s._pending_buffer:
                ready, _, _ = select.select([s.interface], [], [], 0)
                if ready:
                    peek = s.interface.recv(1, socket.MSG_PEEK)
                    if peek == b"\n":
                        s.interface.recv(1)
                        return
                    if peek == b"":
                        return
            if s._pending_buffer or ready:
                raise TransferError(f"{self.where()}: more bytes after the block the header announced"
                                    f"{' for ' + repr(command) if command else ''} (a corrupted header?)")
        self._stray_lf = True

    # ------------------------------------------------------------ helpers
    def _translate(self, exc: Exception, command: str) -> InstrumentError:
        import pyvisa

        if isinstance(exc, InstrumentError):
            return exc
        text = f"'{command}'" if command else "the last command"
        if isinstance(exc, pyvisa.errors.VisaIOError):
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                return InstrumentTimeout(f"{self.where()} did not answer {text} within "
                                         f"{self._res.timeout / 1000:g} s")
            return ConnectionLost(f"{self.where()}: {exc.description} during {text}")
        if isinstance(exc, (OSError, AttributeError)):
            return ConnectionLost(f"{self.where()}: connection lost during {text} ({exc})")
        return InstrumentError(f"{self.where()}: {type(exc).__name__} during {text}: {exc}")

    class _TimeoutScope:
        def __init__(self, session: "Session", timeout_s: float | None):
            self.session, self.timeout_s, self.saved = session, timeout_s, None

        def __enter__(self):
            if self.timeout_s is not None:
                self.saved = self.session._res.timeout
                self.session._res.timeout = int(self.timeout_s * 1000)

        def __exit__(self, *exc):
            if self.saved is not None:
                try:
                    self.session._res.timeout = self.saved
                except Exception:
                    pass

    def _timeout(self, timeout_s: float | None) -> "_TimeoutScope":
        return Session._TimeoutScope(self, timeout_s)

"""SCPI client session over pyvisa (pyvisa-py by default).

Terminations, chunk sizes and timeouts are set here, once per session. Binary blocks are read by the
length their header declares, straight into a numpy buffer: a payload byte equal to LF never ends a
read, short socket reads are simply continued, and a trailing LF is drained whether or not it comes
(pyvisa#118, pyvisa-py#102, pyvisa#348, pyvisa#450, Qcodes#3054). Every command and reply is logged
on `labbench.scpi.<name>` at DEBUG and kept in `traffic` for the run file.
"""
from __future__ import annotations

import logging
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from labbench.errors import ConnectionLost, InstrumentError, InstrumentTimeout, ScpiError, TransferError
from labbench.scpi.block import parse_header

DEFAULT_TIMEOUT_S = 10.0
CHUNK_BYTES = 16 << 20          # largest single socket read; pyvisa-py's own default is 4 KB
TRAFFIC_TEXT_CHARS = 240        # longer replies are shortened in the traffic log


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
        try:
            self._rm = pyvisa.ResourceManager(visa_library)
            self._res = self._rm.open_resource(resource_name, open_timeout=int(timeout_s * 1000))
        except Exception as exc:  # pyvisa raises several unrelated types here
            raise ConnectionLost(f"{name}: cannot open {resource_name}: {exc}") from exc
        self._res.read_termination = "\n"
        self._res.write_termination = "\n"
        self._res.timeout = int(timeout_s * 1000)
        self._res.chunk_size = CHUNK_BYTES
        self._socket_session = self._find_socket_session()

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
        """Send one program message; with check=True, drain the error queue and raise on an error."""
        self._record(">", command)
        try:
            self._res.write(command)
        except Exception as exc:
            raise self._translate(exc, command) from exc
        if check:
            self.check_errors(command)

    def read(self, command: str = "") -> str:
        """Read one reply line (the trailing LF stripped)."""
        try:
            text = self._res.read()
            if self._stray_lf and text == "":
                text = self._res.read()
        except Exception as exc:
            raise self._translate(exc, command) from exc
        finally:
            self._stray_lf = False
        self._record("<", text)
        return text

    def query(self, command: str, timeout_s: float | None = None) -> str:
        with self._timeout(timeout_s):
            self.write(command)
            return self.read(command)

    def query_float(self, command: str, timeout_s: float | None = None) -> float:
        """A numeric reply as float; the instruments' 9.9E37 'not measurable' marker becomes NaN."""
        reply = self.query(command, timeout_s)
        try:
            value = float(reply.split(",")[0])
        except ValueError:
            raise TransferError(f"{self.where()} answered {reply[:60]!r} to '{command}', not a number") from None
        return float("nan") if abs(value) >= 9.9e37 else value

    def query_int(self, command: str) -> int:
        reply = self.query(command)
        try:
            return int(float(reply))
        except ValueError:
            raise TransferError(f"{self.where()} answered {reply[:60]!r} to '{command}', not an integer") from None

    def wait_complete(self, timeout_s: float) -> None:
        """`*OPC?` with its own timeout, for acquisitions longer than the session timeout."""
        reply = self.query("*OPC?", timeout_s=timeout_s)
        if reply.strip() not in ("1", "+1"):
            raise TransferError(f"{self.where()} answered {reply!r} to *OPC?")

    def check_errors(self, command: str = "") -> None:
        """Drain the error queue; raise ScpiError naming `command` if any entry is an error."""
        found = []
        for _ in range(64):
            reply = self.query(self.error_query)
            code_text, _, message = reply.partition(",")
            try:
                code = int(float(code_text))
            except ValueError:
                raise TransferError(f"{self.where()} answered {reply!r} to {self.error_query}") from None
            if code == 0:
                break
            found.append(f"{code},{message}" if message else str(code))
        if found:
            self._record("!", "; ".join(found))
            after = f" after '{command}'" if command else ""
            raise ScpiError(f"{self.where()} reported{after}: {'; '.join(found)}")

    # ------------------------------------------------------------ binary blocks
    def query_block(self, command: str, dtype: Any, expected_items: int | None = None,
                    timeout_s: float | None = None) -> np.ndarray:
        """Send a query whose reply is an IEEE 488.2 block; return its payload as a numpy array.

        `dtype` fixes item size and byte order (e.g. '<i2' for WORD LSBFirst, '>f4' for REAL,32
        NORMal). `expected_items` is required for an indefinite `#0` block (its end cannot be found
        from an LF that may also be a payload byte) and checked for a definite one.
        """
        dtype = np.dtype(dtype)
        with self._timeout(timeout_s):
            self.write(command)
            try:
                where = f"{self.where()}, reply to '{command}': "
                head = self._read_exact(2)
                if head[:1] != b"#" or not head[1:2].isdigit():
                    rest = self._res.read() if b"\n" not in head else ""   # keep the stream in step
                    raise TransferError(f"{where}expected a binary block, got {(head.decode('latin-1') + rest)[:60]!r}")
                n_digits = int(head[1:2])
                if n_digits:
                    _, n_bytes = parse_header(head + self._read_exact(n_digits), where)
                else:
                    if expected_items is None:
                        raise TransferError(f"{where}an indefinite #0 block needs its length from the preamble")
                    n_bytes = expected_items * dtype.itemsize
                if n_bytes % dtype.itemsize:
                    self._read_exact(n_bytes)   # keep the stream in step before refusing
                    self._drain_lf()
                    raise TransferError(f"{self.where()} sent {n_bytes} bytes to '{command}': not a whole number "
                                        f"of {dtype.itemsize}-byte items")
                buffer = np.empty(n_bytes, dtype=np.uint8)
                self._read_into(memoryview(buffer), command)
                self._drain_lf()
            except InstrumentError:
                raise
            except Exception as exc:
                raise self._translate(exc, command) from exc
        self._record("<", f"#block {n_bytes} bytes")
        items = buffer.view(dtype)
        if expected_items is not None and items.size != expected_items:
            raise TransferError(f"{self.where()} sent {items.size} items to '{command}', "
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
                raise ConnectionLost(f"{self.where()}: connection closed after {filled} of {n} block bytes")
            filled += got
            deadline = time.monotonic() + self._res.timeout / 1000.0   # the timeout is per read, as VISA's

    def _drain_lf(self) -> None:
        """Remove the LF that may follow a block; if it is not here yet, skip it at the next read."""
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

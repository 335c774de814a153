"""Serve a simulated instrument on a TCP socket, as a LAN instrument serves SCPI on port 5025.

One instrument state is shared by all connections (as on a real instrument); each connection has its
own thread. Lines end in LF; a dropped client is forgotten; nothing a client sends stops the server.
"""
from __future__ import annotations

import logging
import socket
import threading

from labbench.scpi.faults import faults_from_profile, install_faults
from labbench.scpi.instrument import SimInstrument

log = logging.getLogger("labbench.sim")

MAX_LINE_BYTES = 1 << 20   # longer program messages are discarded with -363 Input buffer overrun
RECV_BYTES = 1 << 16


class SimServer:
    """A listening socket in front of one SimInstrument. `port=0` picks a free port."""

    def __init__(self, instrument: SimInstrument, host: str = "127.0.0.1", port: int = 5025,
                 faults: list | None = None):
        """`faults`: FaultSpecs to inject; None takes them from the instrument's DUT profile ([faults])."""
        self.instrument = instrument
        if faults is None:
            faults = faults_from_profile(getattr(instrument, "profile", None))
        self.faults = install_faults(instrument, faults) if faults else None
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: set[socket.socket] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def resource(self) -> str:
        """The VISA resource string a driver opens to reach this simulator."""
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def start(self) -> "SimServer":
        self._thread = threading.Thread(target=self._accept_loop, name=f"sim-{self.instrument.idn[1]}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.faults is not None:
            self.faults.stopped.set()     # end any stalled reply
        try:
            self._listener.close()
        except OSError:
            pass
        for client in list(self._clients):
            try:
                client.shutdown(socket.SHUT_RDWR)
                client.close()
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=2)

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    # ------------------------------------------------------------ internals
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            hook = getattr(self.instrument, "on_connect", None)
            if hook is not None and hook() is False:   # fault injection: refuse for a while
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            self._clients.add(conn)
            threading.Thread(target=self._serve_client, args=(conn, addr), daemon=True).start()

    def _serve_client(self, conn: socket.socket, addr) -> None:
        buffer = bytearray()
        overrun = False
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(RECV_BYTES)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                while True:
                    end = buffer.find(b"\n")
                    if end < 0:
                        if len(buffer) > MAX_LINE_BYTES:
                            buffer.clear()
                            if not overrun:
                                self.instrument.push_error(-363, "program message too long")
                            overrun = True
                        break
                    line = bytes(buffer[:end])
                    del buffer[:end + 1]
                    if overrun:            # the tail of an over-long message: drop it
                        overrun = False
                        continue
                    if not self._respond(conn, line):
                        return
        finally:
            self._clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _respond(self, conn: socket.socket, line: bytes) -> bool:
        text = line.decode("latin-1").rstrip("\r")
        hook = getattr(self.instrument, "on_message", None)
        if hook is not None:
            hook(text)
        parts = self.instrument.handle_message(text)
        if parts is None:
            return True
        send = getattr(self.instrument, "send_reply", None)
        try:
            if send is not None:           # fault injection may cut, stall or corrupt a reply
                return send(conn, parts)
            for part in parts:
                conn.sendall(part)
        except OSError:
            return False
        return True

"""Block transfers over real loopback sockets: every 'Instrument transfer' case of field-reports.md."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from labbench.errors import ScpiError, TransferError
from labbench.scpi import client as client_module
from labbench.scpi.block import encode_header
from labbench.scpi.client import Session


class RawInstrument:
    """A bare socket peer that answers each line with bytes we choose, sent in chosen pieces."""

    def __init__(self, replies: dict[bytes, bytes], piece: int | None = None, pause_s: float = 0.0):
        self.replies, self.piece, self.pause_s = replies, piece, pause_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def _serve(self):
        conn, _ = self.listener.accept()
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    reply = self.replies.get(line.strip())
                    if reply is None:
                        continue
                    try:
                        for i in range(0, len(reply), self.piece or len(reply) or 1):
                            conn.sendall(reply[i:i + (self.piece or len(reply))])
                            if self.pause_s:
                                time.sleep(self.pause_s)
                    except OSError:
                        return

    def close(self):
        self.listener.close()


def _block(payload: bytes, lf: bool = True) -> bytes:
    return encode_header(len(payload)) + payload + (b"\n" if lf else b"")


def _session(peer: RawInstrument, timeout_s: float = 3.0) -> Session:
    return Session(peer.resource, timeout_s=timeout_s, name="test")


def test_payload_bytes_equal_to_lf_do_not_end_the_read():
    # pyvisa#118, pyvisa-py#102: float payloads full of 0x0A
    payload = np.full(5000, 0x0A0A, dtype="<i2")
    payload[::7] = 10
    peer = RawInstrument({b":DATA?": _block(payload.tobytes()), b"*IDN?": b"X,Y,Z,1\n"})
    s = _session(peer)
    got = s.query_block(":DATA?", "<i2")
    assert np.array_equal(got, payload)
    assert s.query("*IDN?") == "X,Y,Z,1"       # the stream is still in step


@pytest.mark.parametrize("trailing_lf", [True, False])
def test_trailing_lf_present_or_absent_both_work_without_timeout(trailing_lf):
    # pyvisa#348: the header length does not count the LF; some instruments send none
    payload = np.arange(1000, dtype="<i2").tobytes()
    peer = RawInstrument({b":DATA?": _block(payload, lf=trailing_lf), b"*IDN?": b"A,B,C,D\n"})
    s = _session(peer, timeout_s=2.0)
    t0 = time.monotonic()
    assert s.query_block(":DATA?", "<i2").size == 1000
    assert s.query("*IDN?") == "A,B,C,D"
    assert time.monotonic() - t0 < 1.0


def test_indefinite_block_needs_and_uses_the_preamble_length():
    # Infiniium streaming: #0 + data + LF; LF bytes inside the payload must not end it
    payload = np.full(300, 0x0A0A, dtype="<i2").tobytes()
    peer = RawInstrument({b":DATA?": b"#0" + payload + b"\n", b"*IDN?": b"A,B,C,D\n"})
    s = _session(peer)
    with pytest.raises(TransferError, match="preamble"):
        s.query_block(":DATA?", "<i2")
    peer2 = RawInstrument({b":DATA?": b"#0" + payload + b"\n", b"*IDN?": b"A,B,C,D\n"})
    s2 = _session(peer2)
    assert s2.query_block(":DATA?", "<i2", expected_items=300).size == 300
    assert s2.query("*IDN?") == "A,B,C,D"


def test_odd_byte_count_for_word_data_is_an_error_not_a_shift():
    # pyvisa#951: one stray byte would shift every 16-bit word
    peer = RawInstrument({b":DATA?": _block(b"\x01" + np.arange(10, dtype="<i2").tobytes()), b"*IDN?": b"A,B,C,D\n"})
    s = _session(peer)
    with pytest.raises(TransferError, match="not a whole number of 2-byte items"):
        s.query_block(":DATA?", "<i2")
    assert s.query("*IDN?") == "A,B,C,D"


def test_point_count_must_match_the_preamble():
    # pyvisa#592: the point count equals block length / item size, checked
    peer = RawInstrument({b":DATA?": _block(np.arange(100, dtype="<i2").tobytes())})
    with pytest.raises(TransferError, match="preamble announced 120"):
        _session(peer).query_block(":DATA?", "<i2", expected_items=120)


def test_short_block_times_out_with_a_clear_error():
    peer = RawInstrument({b":DATA?": encode_header(1000) + b"\x00" * 10})
    with pytest.raises(client_module.InstrumentTimeout, match="10 of 1000 block bytes"):
        _session(peer, timeout_s=0.5).query_block(":DATA?", "<u1")


def test_tiny_socket_reads_are_continued_to_the_declared_length():
    # pyvisa#450, pyvisa-py#263: reads returned 60-70 bytes at a time
    payload = np.random.default_rng(0).integers(-32768, 32767, 20000).astype("<i2")
    peer = RawInstrument({b":DATA?": _block(payload.tobytes())}, piece=67, pause_s=0.0)
    assert np.array_equal(_session(peer).query_block(":DATA?", "<i2"), payload)


@pytest.mark.parametrize("chunk", [7, 4096, 65536, 1 << 24])
def test_chunked_read_is_byte_identical_for_any_chunk_size(monkeypatch, chunk):
    # Qcodes#3054: garbage at every chunk boundary
    monkeypatch.setattr(client_module, "CHUNK_BYTES", chunk)
    payload = np.random.default_rng(1).integers(0, 255, 100_003).astype(np.uint8)
    peer = RawInstrument({b":DATA?": _block(payload.tobytes())}, piece=1000)
    assert np.array_equal(_session(peer).query_block(":DATA?", "<u1"), payload)


@pytest.mark.parametrize("n_bytes", [4095, 4096, 4097, 8192, 20480, 20481, 65536])
def test_lengths_at_and_around_chunk_multiples(n_bytes):
    # pyvisa-py#608 (exact multiple of the chunk size timed out), pyvisa#431 (20,480 bytes)
    payload = (np.arange(n_bytes) % 251).astype(np.uint8)
    peer = RawInstrument({b":DATA?": _block(payload.tobytes()), b"*OPC?": b"1\n"})
    s = _session(peer, timeout_s=2.0)
    assert np.array_equal(s.query_block(":DATA?", "<u1"), payload)
    assert s.query("*OPC?") == "1"


def test_large_block_of_fifty_megabytes():
    payload = np.arange(25_000_000, dtype="<i2")
    peer = RawInstrument({b":DATA?": _block(payload.tobytes())})
    got = _session(peer, timeout_s=10).query_block(":DATA?", "<i2")
    assert got.size == payload.size and got[-1] == payload[-1] and np.array_equal(got[::9973], payload[::9973])


def test_not_a_block_reply_is_a_clear_error_and_the_stream_stays_in_step():
    peer = RawInstrument({b":DATA?": b"9.99999E+37\n", b"*IDN?": b"A,B,C,D\n"})
    s = _session(peer)
    with pytest.raises(TransferError, match="expected a binary block"):
        s.query_block(":DATA?", "<i2")
    assert s.query("*IDN?") == "A,B,C,D"


def test_unknown_header_queues_113_and_unanswered_read_420_and_driver_names_the_command(scope):
    # asvela/keyoscacquire#3: InfiniiVision's :ACQuire:TYPE? on an Infiniium
    scope.session.write(":ACQuire:TYPE?")
    queue = [scope.session.query(":SYSTem:ERRor? STRing") for _ in range(3)]
    assert queue[0].startswith("-113,") and queue[1].startswith("-420,") and queue[2].startswith("+0,")
    with pytest.raises(ScpiError, match=r"after ':ACQuire:TYPE RAW'.*-113,\"Undefined header"):
        scope.session.write(":ACQuire:TYPE RAW", check=True)


def test_infiniium_error_query_gives_the_number_unless_string_is_asked(scope):
    scope.session.write(":NOT:A:COMMand")
    assert scope.session.query(":SYSTem:ERRor?") == "-113"
    assert scope.session.query(":SYSTem:ERRor? STRing") == '+0,"No error"'


def test_ascii_waveform_has_the_trailing_comma_and_word_holes_are_masked(scope_sim, scope):
    scope.session.write(":ACQuire:POINts 1000;:DIGitize CHANnel1")
    scope.session.write(":WAVeform:SOURce CHANnel1;:WAVeform:FORMat ASCii")
    text = scope.session.query(":WAVeform:DATA?")
    assert text.endswith(",") and len(text.rstrip(",").split(",")) == 1000
    # put holes into the stored record: WORD 31232 must come back as NaN, never as volts
    record = scope_sim.instrument.records["CHAN1"]
    record.codes[10:20] = 31232
    scope.session.write(":WAVeform:FORMat WORD")
    capture = scope.read_waveform("CHANnel1")
    values = capture.values()
    assert np.all(np.isnan(values[10:20])) and np.isfinite(values[:10]).all()
    assert capture.hole_count() == 10

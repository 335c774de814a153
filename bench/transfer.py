"""Waveform transfer speed: labbench's block read against a raw socket, same simulated scope, same run.

A 100 MSa WORD record (200 MB) is placed in the simulated DSAZ334A; the DSAZ334A driver reads it through
pyvisa-py (`Infiniium.read_waveform`: preamble, then `:WAVeform:DATA?` into numpy) and a bare socket
reads the same `:WAVeform:DATA?` reply into a preallocated numpy array. Plain pyvisa-py
`query_binary_values` is measured on a smaller record (it is far slower). Prints `ratio X` last:
labbench throughput / raw-socket throughput (aim >= 0.8, at least 0.5).

    python bench/transfer.py [--points 100000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import socket
import time

import numpy as np

from labbench.instruments.keysight.dsaz334a import DSAZ334A
from labbench.instruments.sim.dsaz334a import SimDSAZ334A
from labbench.instruments.sim.infiniium import Record
from labbench.scpi.tcpserver import SimServer


def raw_socket_read(host: str, port: int, n_points: int) -> float:
    with socket.create_connection((host, port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.sendall(b":WAVeform:SOURce CHANnel1;:WAVeform:FORMat WORD;:WAVeform:BYTeorder LSBFirst\n")
        t0 = time.perf_counter()
        s.sendall(b":WAVeform:DATA?\n")
        head = b""
        while len(head) < 2:
            head += s.recv(2 - len(head))
        digits = int(head[1:2])
        length_text = b""
        while len(length_text) < digits:
            length_text += s.recv(digits - len(length_text))
        n = int(length_text)
        out = np.empty(n, dtype=np.uint8)
        view, got = memoryview(out), 0
        while got < n:
            got += s.recv_into(view[got:], min(n - got, 16 << 20))
        s.recv(1)  # LF
        elapsed = time.perf_counter() - t0
        assert out.view("<i2").size == n_points
    return elapsed


def labbench_read(scope: DSAZ334A, n_points: int) -> float:
    t0 = time.perf_counter()
    capture = scope.read_waveform("CHANnel1")
    elapsed = time.perf_counter() - t0
    assert capture.n == n_points
    return elapsed


def pyvisa_plain_read(resource: str, n_points: int) -> float:
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=600_000)
    inst.write(":WAVeform:SOURce CHANnel1;:WAVeform:FORMat WORD;:WAVeform:BYTeorder LSBFirst")
    t0 = time.perf_counter()
    data = inst.query_binary_values(":WAVeform:DATA?", datatype="h", container=np.array, data_points=n_points)
    elapsed = time.perf_counter() - t0
    assert data.size == n_points
    inst.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pyvisa-points", type=int, default=2_000_000)
    args = parser.parse_args()

    sim = SimDSAZ334A()
    codes = (np.arange(args.points) % 23000).astype(np.int16) - 11500
    codes[::97] = 0x0A0A                       # LF bytes in the payload, on purpose
    sim.records["CHAN1"] = Record(codes, -0.5e-3, 12.5e-12, 1e-5, 0.0)
    with SimServer(sim, port=0) as server:
        scope = DSAZ334A(server.resource)
        mb = codes.nbytes / 1e6
        ours = min(labbench_read(scope, args.points) for _ in range(args.repeat))
        raw = min(raw_socket_read(server.host, server.port, args.points) for _ in range(args.repeat))
        sim.records["CHAN1"] = Record(codes[:args.pyvisa_points].copy(), 0.0, 12.5e-12, 1e-5, 0.0)
        small_ours = min(labbench_read(scope, args.pyvisa_points) for _ in range(args.repeat))
        small_raw = min(raw_socket_read(server.host, server.port, args.pyvisa_points) for _ in range(args.repeat))
        plain = pyvisa_plain_read(server.resource, args.pyvisa_points)
        scope.close()
    small_mb = args.pyvisa_points * 2 / 1e6
    print(f"record: {args.points:,} points, {mb:.0f} MB WORD")
    print(f"raw socket into numpy:     {raw:7.3f} s  {mb / raw:8.1f} MB/s")
    print(f"labbench read_waveform:    {ours:7.3f} s  {mb / ours:8.1f} MB/s")
    print(f"small record ({small_mb:.0f} MB): raw {small_mb / small_raw:.1f} MB/s, labbench {small_mb / small_ours:.1f} MB/s, "
          f"plain pyvisa-py query_binary_values {small_mb / plain:.1f} MB/s "
          f"(ratio to raw {small_raw / plain:.3f})")
    print(f"ratio {raw / ours:.3f}")


if __name__ == "__main__":
    main()

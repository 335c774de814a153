"""Signal-analyzer speed: simulated sweeps through the whole stack, and the CCDF of a long record.

1. 1001-point sweeps of the simulated N9030B, each a single sweep read back as a Capture by the driver
   (`N9030B.sweep`: sweep-state query, `:INITiate:IMMediate;*OPC?`, REAL,32 `:TRACe:DATA?`) over a
   loopback socket: sweeps per second (aim >= 200), and `ratio X` = one sweep's time over one `*OPC?`
   round trip on the same connection (the exchanges a sweep costs, its simulation included).
2. The ccdf procedure's statistics (`procedures.ccdf.ccdf_of_dbm`) of 1e8 float32 dBm samples against
   one numpy pass over the same array (`np.abs(v).sum()`), both measured here: `ratio X` (aim <= 3).

    python bench/analyzer.py [--sweeps 500] [--samples 100000000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from labbench.instruments.keysight.n9030b import N9030B
from labbench.instruments.sim.n9030b import SimN9030B
from labbench.procedures.ccdf import ccdf_of_dbm
from labbench.scpi.tcpserver import SimServer


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sweeps(n_sweeps: int) -> None:
    with SimServer(SimN9030B(), port=0) as server:
        sa = N9030B(server.resource, role="analyzer")
        sa.configure_spectrum(2.437e9, 80e6, rbw_hz=100e3, points=1001, detector="AVERage", average_type="RMS")
        for _ in range(20):                       # warm up: caches, TCP, the scene's RBW grid
            sa.sweep()
        t0 = time.perf_counter()
        for _ in range(n_sweeps):
            capture = sa.sweep()
        per_sweep = (time.perf_counter() - t0) / n_sweeps
        assert capture.n == 1001
        rtt = best_of(lambda: [sa.session.query("*OPC?") for _ in range(200)], 3) / 200
        sa.leave_idle()
        sa.close()
    print(f"sweeps: {n_sweeps} x 1001 points, {1 / per_sweep:.0f} sweeps/s (aim >= 200), "
          f"{per_sweep * 1e3:.2f} ms per sweep; *OPC? round trip {rtt * 1e3:.3f} ms")
    print(f"ratio {per_sweep / rtt:.1f}")


def ccdf_speed(n_samples: int) -> None:
    rng = np.random.default_rng(0)
    dbm = np.empty(n_samples, dtype=np.float32)
    block = 10_000_000
    for i in range(0, n_samples, block):      # exponential power (complex Gaussian) around +13 dBm
        m = min(block, n_samples - i)
        dbm[i:i + m] = 10.0 * np.log10(rng.exponential(20.0, m))
    baseline = best_of(lambda: np.abs(dbm).sum(), 3)
    result = None

    def run():
        nonlocal result
        result = ccdf_of_dbm(dbm)
    t = best_of(run, 2)
    print(f"ccdf: {n_samples:.0e} samples in {t:.3f} s, one numpy pass {baseline:.3f} s; "
          f"0.1 % at {result.ccdf_0p1pct_db:.3f} dB (complex Gaussian 8.393)")
    print(f"ratio {t / baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweeps", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100_000_000)
    args = parser.parse_args()
    sweeps(args.sweeps)
    ccdf_speed(args.samples)


if __name__ == "__main__":
    main()

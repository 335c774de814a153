"""Current-profile analysis speed and memory on 1e8 samples read in chunks from a run file.

A run file is written with one current-profile step. Its capture is 1e8 float32 amperes of the
simulated DUT's supply current (the default profile's [power], 200 kSa/s, 500 s, 20 wake events),
gzip-1 chunked as labbench stores captures. A child process writes it, so the measuring process's
peak RSS belongs to the analysis alone. The capture is then opened lazily, with its h5py dataset as
the data, and analysed as `labbench reanalyze` would: `analyze_current`, two chunked passes, then the
procedure's own statistics pass. Prints the time of each stage, the peak resident memory
(resource.getrusage) and, last, `ratio X`: the procedure's analysis time over one numpy pass over the
same data (read the same chunks from the same file and sum them). Timings are the best of repeated
runs, since a shared machine's load only ever adds time.

    python bench/current.py [--samples 100000000] [--keep FILE] [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from labbench.analysis.current import analyze_current
from labbench.instruments.sim.dut import load_profile, section_dataclass
from labbench.instruments.sim.dut_power import PowerProfile, SupplyCurrent
from labbench.procedures.current_profile import CurrentProfileParams, CurrentProfileProcedure
from labbench.procedures._current_capture import CaptureValues, clip_limits_a, valid_range_a
from labbench.store import RunWriter, capture_from_dataset

RATE_SA_S = 200e3
CHUNK = 1 << 20
STEP, CAPTURE = "01_current-profile", "current"
MEMORY_LIMIT_MB = 1024


def write_run_file(path: Path, n: int) -> None:
    """The run file, its capture written chunk by chunk (never 1e8 samples in memory at once)."""
    writer = RunWriter(path, "bench-current", {"station": "bench", "software_version": "bench"})
    step = writer.begin_step(1, "current-profile", {})
    supply = SupplyCurrent(section_dataclass(PowerProfile, load_profile(), "power"))
    rng = np.random.default_rng(1)
    dt, t0 = 1 / RATE_SA_S, 1.0
    with h5py.File(path, "a") as f:
        ds = f[f"steps/{step}/captures"].create_dataset(
            CAPTURE, shape=(n,), dtype=np.float32, chunks=(CHUNK // 4,), compression="gzip", compression_opts=1,
            shuffle=True)
        for a in range(0, n, 4 * CHUNK):
            m = min(4 * CHUNK, n - a)
            ds[a:a + m] = supply.render(t0 + a * dt, dt, m, rng).astype(np.float32)
        ds.attrs.update({
            "x0": t0, "dx": dt, "x_unit": "s", "y_unit": "A", "y_increment": 1.0, "y_origin": 0.0,
            "y_reference": 0.0, "hole_code": np.nan, "clip_low": float(np.float32(-1.0)),
            "clip_high": float(np.float32(1.0 - 2.0 ** -15)), "instrument": "bench", "attrs": "{}",
            "settings": json.dumps({"range_a": 1.0, "seamless": True, "resolution_bits": 16}),
            "conversion": "value = (raw - y_reference) * y_increment + y_origin; raw == hole_code is no sample"})


def numpy_pass(ds: h5py.Dataset) -> float:
    """One pass: read every chunk and sum it."""
    total = 0.0
    for a in range(0, ds.shape[0], CHUNK):
        total += float(np.sum(ds[a:a + CHUNK], dtype=np.float64))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100_000_000)
    parser.add_argument("--keep", help="write (or reuse) the run file here instead of a temporary one")
    parser.add_argument("--repeat", type=int, default=2, help="analyses timed; the best counts")
    parser.add_argument("--write", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_run_file(Path(args.write), args.samples)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "bench-current.h5"
        if not path.exists():
            t = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--write", str(path), "--samples", str(args.samples)], check=True)
            print(f"wrote {args.samples:,} samples to {path.name} in {time.perf_counter() - t:.1f} s")
        with h5py.File(path, "r") as f:
            ds = f[f"steps/{STEP}/captures/{CAPTURE}"]
            capture = capture_from_dataset(ds, data=ds)          # lazy: slices are read on demand
            params = CurrentProfileParams()

            baseline = min(_timed(lambda: numpy_pass(ds))[0] for _ in range(3))
            runs = [_timed(lambda: CurrentProfileProcedure().analyze({CAPTURE: capture}, params))
                    for _ in range(args.repeat)]
            t_all, analysis = min(runs, key=lambda r: r[0])
            t_core, profile = _timed(lambda: analyze_current(
                CaptureValues(capture), capture.dx, x0_s=capture.x0, capacity_mah=params.capacity_mah,
                derating=params.derating, valid_range_a=valid_range_a(capture),
                clip_limits_a=clip_limits_a(capture)))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024       # Linux: kB
    metrics = {m.name: m.value for m in analysis.metrics}
    print(f"{capture.n:,} samples ({capture.n * capture.dx:.0f} s at {1 / capture.dx / 1e3:.0f} kSa/s), "
          f"{len(profile.events)} wake events, states {[s.name for s in profile.states]}")
    print(f"  sleep {metrics['sleep_current_a'] * 1e6:.3f} uA, avg {metrics['avg_current_a'] * 1e6:.3f} uA, "
          f"battery {metrics['battery_life_h']:.0f} h")
    print(f"  one numpy pass (read + sum)            {baseline:7.2f} s   best of 3")
    print(f"  procedure analyze (3 chunked passes)   {t_all:7.2f} s   best of {args.repeat}")
    print(f"    of which analyze_current (2 passes)  {t_core:7.2f} s   once")
    print(f"peak resident memory {peak_mb:.0f} MB ({'under' if peak_mb < MEMORY_LIMIT_MB else 'OVER'} "
          f"{MEMORY_LIMIT_MB} MB)")
    print(f"ratio {t_all / baseline:.1f}")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


if __name__ == "__main__":
    main()

"""Eye and jitter analysis speed on 1e7 samples, against one numpy pass over the same array.

The signal is the simulated DSAZ334A's: 10.3125 Gb/s PRBS7 at 80 GSa/s with RJ, PJ, DCD and noise.
Prints the time of each stage and `ratio X` last: analysis time / time of one numpy pass
(`np.abs(v).sum()`), measured in the same run.

    python bench/eye_jitter.py [--samples 10000000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from labbench.analysis.clock import recover_clock
from labbench.analysis.edges import Levels, find_edges
from labbench.analysis.eye import eye_diagram, transition_times
from labbench.analysis.jitter import jitter_metrics
from labbench.instruments.sim.serial_link import SerialLink, SerialWaveform, render_record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10_000_000)
    args = parser.parse_args()
    dt = 12.5e-12
    link = SerialLink(rj_rms_s=0.4e-12, pj_pp_s=3e-12, pj_freq_hz=1.7e6, dcd_s=0.4e-12, noise_rms_v=1.5e-3)
    rng = np.random.default_rng(0)
    wave = SerialWaveform.generate(link, (args.samples + 64) * dt, rng, front_end_bandwidth_hz=33e9)
    v = render_record(wave, 0.0, dt, args.samples, rng)

    baseline = min(_timed(lambda: np.abs(v).sum())[0] for _ in range(3))
    stages = {}
    t_edges, edges = _timed(lambda: find_edges(v, 0.0, dt))
    stages["edges"] = t_edges
    t_clock, clock = _timed(lambda: recover_clock(edges.times_s, 10.3125e9))
    stages["clock"] = t_clock
    t_jitter, jitter = _timed(lambda: jitter_metrics(edges, clock, 1e-12))
    stages["jitter"] = t_jitter
    t_eye, eye = _timed(lambda: eye_diagram(v, 0.0, dt, clock, edges, jitter.tie_rms_s))
    stages["eye"] = t_eye
    t_tr, _ = _timed(lambda: transition_times(v, 0.0, dt, edges, Levels(eye.one_mean_v, eye.zero_mean_v), clock.ui_s))
    stages["rise/fall"] = t_tr
    total = sum(stages.values())
    print(f"{args.samples:,} samples, {edges.times_s.size:,} edges")
    for name, seconds in stages.items():
        print(f"  {name:10s} {seconds:7.3f} s")
    print(f"analysis {total:.3f} s; one numpy pass {baseline * 1e3:.1f} ms")
    print(f"ratio {total / baseline:.1f}")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


if __name__ == "__main__":
    main()

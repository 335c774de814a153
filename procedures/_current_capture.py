"""What current-profile and current-ccdf share: the capture parameters, one triggered CX3324A record
of the DUT's supply current, and chunked reading of it in amperes.

A capture is read in chunks (`CaptureValues`) and never converted whole, so a 1e8-sample record
costs O(chunk) memory in every analysis that reads it this way.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from labbench.capture import Capture
from labbench.instruments.keysight import cx3300_dialect as D
from labbench.instruments.keysight.cx3324a import CX3324A

CHUNK_SAMPLES = 1 << 20
PHYSICAL_LIMIT_A = 10.0             # CX3324A: nothing beyond +-10 A can be a measurement


@dataclass(frozen=True)
class CurrentCaptureParams:
    """One triggered record of the supply current (units in the names)."""

    channel: int = 1
    duration_s: float = 60.0                # record length in time ...
    sample_rate_sa_s: float = 20e3
    points: int | None = None               # ... or in samples (None: duration_s x sample_rate_sa_s)
    range_a: float = 1.0                    # full scale; a range too small clips (reported per capture)
    seamless: bool = True                   # the dual-path sensor: microamps next to hundreds of mA
    resolution_bits: int = 16               # 14 or 16 (16 bit up to 10 MSa/s)
    trigger_level_a: float = 1e-3           # rising edge on the channel's current: a wake-up
    trigger_timeout_s: float = 120.0        # how long to wait for the trigger (real time)
    cross_check: bool = True                # also read the instrument's own measurements

    def __post_init__(self):
        def positive(name):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be positive")
        for name in ("duration_s", "sample_rate_sa_s", "range_a", "trigger_timeout_s"):
            positive(name)
        if self.resolution_bits not in D.RESOLUTIONS_BITS:
            raise ValueError(f"resolution_bits={self.resolution_bits}: the CX3324A has "
                             f"{' or '.join(map(str, D.RESOLUTIONS_BITS))} bit")
        if not 1 <= self.channel <= D.N_CHANNELS:
            raise ValueError(f"channel={self.channel}: the CX3324A has channels 1-{D.N_CHANNELS}")
        n = self.record_points
        if not D.MIN_POINTS <= n <= D.MAX_POINTS:
            raise ValueError(f"record of {n} points (duration_s x sample_rate_sa_s, or points): must be "
                             f"{D.MIN_POINTS}..{D.MAX_POINTS:,} (the CX3324A's memory depth)")

    @property
    def record_points(self) -> int:
        return int(self.points) if self.points is not None else int(round(self.duration_s * self.sample_rate_sa_s))


def acquire_current(bench, p: CurrentCaptureParams, *, ccdf: bool = False) -> Capture:
    """Set the CX3324A up, take one triggered record and read it back as the capture "current". With
    cross_check, the instrument's own :MEASure:CURRent results (and CCDF if asked for) go with it."""
    cx: CX3324A = bench.current
    cx.setup_current_capture(p.channel, sample_rate_sa_s=p.sample_rate_sa_s, points=p.record_points,
                             range_a=p.range_a, seamless=p.seamless, resolution_bits=p.resolution_bits,
                             trigger_level_a=p.trigger_level_a)
    capture = cx.acquire(p.channel, trigger_timeout_s=p.trigger_timeout_s, name="current")
    if bench.profile is not None and "supply_v" in bench.profile.section("power"):
        capture.attrs["supply_v"] = float(bench.profile.section("power")["supply_v"])   # the simulated DUT's
    if p.cross_check:
        capture.attrs["instrument_measurements"] = cx.current_measurements(p.channel)
        if ccdf:
            level_a, fraction = cx.ccdf_data(p.channel)
            capture.attrs["instrument_ccdf"] = {"level_a": level_a.tolist(), "fraction": fraction.tolist()}
    capture.settings.update(cx.settings())
    return capture


def clip_limits_a(capture: Capture) -> tuple[float, float] | None:
    """The range ends of the capture in A, from its clip codes (None if it has none)."""
    if capture.clip_low is None or capture.clip_high is None:
        return None
    raw = np.array([capture.clip_low, capture.clip_high], dtype=np.float64)
    return tuple(float(v) for v in (raw - capture.y_reference) * capture.y_increment + capture.y_origin)


def valid_range_a(capture: Capture) -> tuple[float, float]:
    """What the sensor can report at all: its range (a sample beyond it is impossible), or +-10 A."""
    limits = clip_limits_a(capture)
    if limits is None:
        return -PHYSICAL_LIMIT_A, PHYSICAL_LIMIT_A
    span = max(abs(limits[0]), abs(limits[1]))
    return -span * (1 + 1e-6), span * (1 + 1e-6)


class CaptureValues:
    """A capture's samples in A, sliceable and read chunk by chunk (what analyze_current expects)."""

    def __init__(self, capture: Capture):
        self.capture = capture

    def __len__(self) -> int:
        return self.capture.n

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("CaptureValues supports contiguous slices only")
        start, stop, _ = item.indices(self.capture.n)
        return self.capture.values(start, stop)

    def chunks(self, size: int = CHUNK_SAMPLES) -> Iterator[tuple[int, np.ndarray]]:
        for a in range(0, self.capture.n, size):
            yield a, self[a:a + size]


@dataclass(frozen=True)
class CaptureStats:
    """Plain statistics of the samples present, and a min/max envelope for plotting."""

    n_present: int
    mean_a: float
    rms_a: float
    min_a: float
    max_a: float
    envelope_time_s: np.ndarray
    envelope_max_a: np.ndarray
    envelope_min_a: np.ndarray


def capture_stats(capture: Capture, valid: tuple[float, float], envelope_points: int = 4000) -> CaptureStats:
    """One chunked pass: count, mean, RMS, min, max of the samples present (impossible ones left out)
    and the max/min of each of ~envelope_points bins (the shape of a long record in a small figure)."""
    n = capture.n
    b = max(1, -(-n // envelope_points))
    chunk = max(b, (CHUNK_SAMPLES // b) * b)          # whole bins per chunk
    count, total, squares, lo, hi = 0, 0.0, 0.0, np.inf, -np.inf
    env_max, env_min = [], []
    for _, x in CaptureValues(capture).chunks(chunk):
        x = np.where((x >= valid[0]) & (x <= valid[1]), x, np.nan)
        ok = np.isfinite(x)
        count += int(ok.sum())
        total += float(np.sum(x, where=ok))
        squares += float(np.sum(x * x, where=ok))
        if ok.any():
            lo, hi = min(lo, float(np.nanmin(x))), max(hi, float(np.nanmax(x)))
        pad = (-x.size) % b
        bins = np.concatenate((x, np.full(pad, np.nan))).reshape(-1, b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # an all-NaN bin is NaN, not a warning
            env_max.append(np.nanmax(bins, axis=1))
            env_min.append(np.nanmin(bins, axis=1))
    nan = float("nan")
    times = capture.x0 + (np.arange(sum(e.size for e in env_max)) + 0.5) * b * capture.dx
    return CaptureStats(count, total / count if count else nan, np.sqrt(squares / count) if count else nan,
                        lo if count else nan, hi if count else nan, times,
                        np.concatenate(env_max) if env_max else np.empty(0),
                        np.concatenate(env_min) if env_min else np.empty(0))


def plot_current_ccdf(ax, level_a, fraction, p99_99_a: float | None = None):
    """Fraction of time above a current level, log-log. The levels are absolute, not dB above the
    mean as for RF power (labbench.plots.plot_ccdf): a current's CCDF is read in amperes, e.g. the
    0.01 % current that sizes the regulator."""
    level = np.asarray(level_a, dtype=np.float64)
    q = np.asarray(fraction, dtype=np.float64)
    keep = (level > 0) & (q > 0)
    ax.loglog(level[keep], q[keep], label="labbench")
    if p99_99_a is not None and np.isfinite(p99_99_a):
        ax.axvline(p99_99_a, color="tab:red", linestyle="--", linewidth=0.8, label=f"0.01 %: {p99_99_a * 1e3:.3g} mA")
    ax.axhline(1e-4, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("current (A)")
    ax.set_ylabel("fraction of time above")
    ax.set_title("Current CCDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def metric_value(step, name: str) -> float | None:
    """A stored step's metric by name (None if it has none)."""
    return next((m.value for m in step.metrics if m.name == name), None)

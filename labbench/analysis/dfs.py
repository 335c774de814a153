"""DFS analysis of zero-span power-vs-time traces: pulses, radar parameters and type, DFS timing.

Definitions follow standards.md §1 (tables in :mod:`labbench.analysis.radar_tables`) and §7.5.

Traces. A trace is power in dBm per sample on a uniform time axis, sample k at t0 + k·dt (float64
seconds from a stated origin, e.g. the start of the run). Two kinds are used:
- a *burst-level* trace over the whole test (e.g. 70 s in 20001 points, 3.5 ms per point, peak
  detector): enough for transmissions and the timing, not for pulse shapes; and
- a *fine* trace around the radar burst (µs or better per point) for pulse width and PRI.
Traces too long for memory are fed in chunks to :class:`SegmentFinder`.

Segments. A segment is a run of samples above the detection threshold: by default 20 dB over the
noise floor, taken as the median sample. Sample-detected thermal noise has exponential power whose
median is 1.6 dB below its mean: 15 dB over the median is still crossed with probability ~3e-10 per
sample (a false pulse now and then over 1e9 samples), 20 dB with ~1e-30. A radar injected at
threshold + 1 dB (−63 dBm) sits some 30 dB over an analyzer's floor in 8 MHz RBW. A segment's start
and end are where the power crosses the threshold, interpolated linearly in mW between the two
samples around each crossing; for pulse width and pulse times the edges are refined to half the
segment's peak power (−3 dB), also interpolated, which is unbiased for rectangular pulses sampled by
an averaging (integrate-and-dump) detector. Short pulses need samples shorter than the pulse: an
averaging detector dilutes a 1 µs pulse in a 50 µs sample by 17 dB, so burst-level traces use the
peak detector. A zero-span power trace cannot see chirp, and a chirp wider than the RBW shortens the
pulse seen (use the widest RBW).

Radar or DUT. :func:`split_radar_dut` labels a segment *radar* when every criterion given holds:
it lies inside the radar window (injection time to last possible radar end); its peak is within
``level_tolerance_db`` of the known radar level; it is shorter than the DUT's shortest frame
(``dut_min_frame_s``). Everything else is the DUT. Radar pulses are 0.5–110 µs, while an 802.11 frame
is ≥ ~30 µs, so duration alone is not enough for long radar pulses (FCC 5, W53 long pulses): give the
radar level (the test injects it at threshold + 1 dB, usually well below the DUT at the analyzer)
and the window. A segment where a DUT frame overlaps radar reads at the DUT's level and counts as
DUT (conservative for the closing time). A DUT frame hidden under a stronger radar pulse cannot be seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labbench.analysis.radar_tables import (
    DFS_TIMING, RadarType, fcc_type1_pulses, radar_types,
)
from labbench.errors import AnalysisError, UsageError

US = 1e-6


# --------------------------------------------------------------------------------------------------
# Segments (pulses and transmissions)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Segments:
    """Runs above threshold, as arrays of equal length, ordered in time.

    ``start_s``/``end_s``: threshold crossings; ``pulse_start_s`` and ``width_s``: the rising
    half-peak-power crossing and the width between the half-peak crossings (NaN where not refined);
    ``peak_dbm``: highest sample; ``censored``: the segment touches
    the start or end of the trace, so its duration is a lower bound. ``dt_s`` is the sample spacing.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    width_s: np.ndarray
    peak_dbm: np.ndarray
    censored: np.ndarray
    dt_s: float
    threshold_dbm: float
    pulse_start_s: np.ndarray | None = None

    def __post_init__(self):
        if self.pulse_start_s is None:
            object.__setattr__(self, "pulse_start_s", np.full(self.start_s.shape, np.nan))

    @property
    def duration_s(self) -> np.ndarray:
        return self.end_s - self.start_s

    def __len__(self) -> int:
        return int(self.start_s.size)

    def select(self, mask) -> Segments:
        m = np.asarray(mask, dtype=bool)
        return Segments(self.start_s[m], self.end_s[m], self.width_s[m], self.peak_dbm[m], self.censored[m],
                        self.dt_s, self.threshold_dbm, self.pulse_start_s[m])

    def replace(self, **fields) -> Segments:
        """A copy with some arrays replaced."""
        names = ("start_s", "end_s", "width_s", "peak_dbm", "censored", "dt_s", "threshold_dbm", "pulse_start_s")
        return Segments(*(fields.get(n, getattr(self, n)) for n in names))

    @staticmethod
    def concat(parts: list[Segments], dt_s: float, threshold_dbm: float) -> Segments:
        if not parts:
            e = np.empty(0)
            return Segments(e, e, e, e, np.empty(0, bool), dt_s, threshold_dbm)
        cat = {f: np.concatenate([getattr(p, f) for p in parts])
               for f in ("start_s", "end_s", "width_s", "peak_dbm", "censored", "pulse_start_s")}
        return Segments(cat["start_s"], cat["end_s"], cat["width_s"], cat["peak_dbm"], cat["censored"], dt_s,
                        threshold_dbm, cat["pulse_start_s"])


def noise_floor_dbm(power_dbm: np.ndarray, *, max_samples: int = 1_000_000) -> float:
    """Noise floor of a zero-span trace: the median sample (of an even subsample for long traces);
    robust while signals occupy under half of the time."""
    p = np.asarray(power_dbm).reshape(-1)
    step = max(1, p.size // max_samples)
    v = p[::step]
    return float(np.nanmedian(v))


def _ranges(starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment id, sample index) for every sample of the index ranges [starts[i], starts[i] + lens[i])."""
    seg = np.repeat(np.arange(starts.size), lens)
    offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return seg, starts[seg] + offs


def find_segments(power_dbm: np.ndarray, dt_s: float, *, t0_s: float = 0.0, threshold_dbm: float | None = None,
                  threshold_db_above_floor: float = 20.0, refine_max_s: float = 1e-3) -> Segments:
    """Find the runs above threshold in a zero-span trace (module docstring).

    ``threshold_dbm`` defaults to :func:`noise_floor_dbm` + ``threshold_db_above_floor``. Segments up to
    ``refine_max_s`` long get the half-peak width (radar pulses are ≤ 110 µs); longer ones get NaN.
    Vectorised: a few passes over the trace, work at the edges proportional to the segments.
    """
    p = np.asarray(power_dbm)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.ndim != 1 or p.size < 2:
        raise AnalysisError(f"zero-span trace: need a 1-D trace of at least 2 samples, got shape {p.shape}")
    if not dt_s > 0:
        raise AnalysisError(f"zero-span trace: sample spacing must be > 0, got {dt_s!r} s")
    if threshold_dbm is None:
        threshold_dbm = noise_floor_dbm(p) + threshold_db_above_floor
    thr = float(threshold_dbm)
    mask = p > thr  # NaN compares False: holes count as below threshold
    change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    rises = change[mask[change]]
    falls = change[~mask[change]]
    if mask[0]:
        rises = np.concatenate(([0], rises))
    if mask[-1]:
        falls = np.concatenate((falls, [p.size]))
    n = rises.size
    if n == 0:
        e = np.empty(0)
        return Segments(e, e, e, e, np.empty(0, bool), float(dt_s), thr)
    thr_mw = 10.0 ** (thr / 10.0)

    def mw(idx):  # a hole (NaN) next to a run reads as no power
        return np.nan_to_num(10.0 ** (p[idx].astype(np.float64) / 10.0), nan=0.0)

    # threshold crossings, linear in mW between the samples around each edge
    open_start = rises == 0
    open_end = falls == p.size
    r = np.maximum(rises, 1)
    a, b = mw(r - 1), mw(r)
    frac_r = np.where(open_start, 0.0, np.clip((thr_mw - a) / np.where(b > a, b - a, 1.0), 0.0, 1.0))
    start_idx = np.where(open_start, 0.0, r - 1 + frac_r)
    f = np.minimum(falls, p.size - 1)
    a, b = mw(f - 1), mw(f)
    frac_f = np.where(open_end, 0.0, np.clip((a - thr_mw) / np.where(a > b, a - b, 1.0), 0.0, 1.0))
    end_idx = np.where(open_end, p.size - 1.0, f - 1 + frac_f)
    # peak of each run: reduceat over [rise, fall) pairs; a run open at the end reduces to the end
    bounds = np.empty(2 * n, dtype=np.intp)
    bounds[0::2], bounds[1::2] = rises, falls
    if open_end[-1]:
        bounds = bounds[:-1]
    peak = np.maximum.reduceat(p, bounds)[0::2].astype(np.float64)
    width = np.full(n, np.nan)
    half_start = np.full(n, np.nan)
    short = (falls - rises) * dt_s <= refine_max_s
    if np.any(short):
        up, w = _half_peak_edges(p, rises[short], falls[short], peak[short])
        width[short], half_start[short] = w * dt_s, t0_s + up * dt_s
    return Segments(t0_s + start_idx * dt_s, t0_s + end_idx * dt_s, width, peak, open_start | open_end,
                    float(dt_s), thr, half_start)


def _half_peak_edges(p: np.ndarray, rises: np.ndarray, falls: np.ndarray,
                     peak_dbm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rising crossing, width) in samples at half the peak power (−3 dB), linear in mW; NaN when a
    crossing lies outside the trace."""
    lo = np.maximum(rises - 1, 0)
    hi = np.minimum(falls + 1, p.size)  # one sample beyond each side
    seg, idx = _ranges(lo, hi - lo)
    v = 10.0 ** (p[idx].astype(np.float64) / 10.0)
    level = 0.5 * 10.0 ** (peak_dbm / 10.0)
    above = v >= level[seg]
    pos = np.flatnonzero(above)
    _, first = np.unique(seg[pos], return_index=True)
    _, last_rev = np.unique(seg[pos][::-1], return_index=True)
    i1 = pos[first]
    i2 = pos[pos.size - 1 - last_rev]
    out = np.full(rises.size, np.nan)
    up = np.full(rises.size, np.nan)
    ok = (i1 > 0) & (seg[np.maximum(i1 - 1, 0)] == seg[i1]) & (i2 + 1 < idx.size)
    ok &= seg[np.minimum(i2 + 1, idx.size - 1)] == seg[i2]
    k = np.flatnonzero(ok)
    a, b = v[i1[k] - 1], v[i1[k]]
    t_up = idx[i1[k] - 1] + (level[k] - a) / np.where(b > a, b - a, 1.0)
    a, b = v[i2[k]], v[i2[k] + 1]
    t_dn = idx[i2[k]] + (a - level[k]) / np.where(a > b, a - b, 1.0)
    out[k] = t_dn - t_up
    up[k] = t_up
    return up, out


class SegmentFinder:
    """:func:`find_segments` over a trace fed in consecutive chunks, with the same segments as one call on
    the whole trace. The samples of a run still open at a chunk's end (from the sample before it) are
    carried into the next chunk; a run longer than ``max_carry`` samples stops being carried, keeps its
    start time and loses its half-peak width (NaN)."""

    def __init__(self, dt_s: float, threshold_dbm: float, *, t0_s: float = 0.0, refine_max_s: float = 1e-3,
                 max_carry: int = 1 << 22):
        self.dt_s, self.threshold_dbm, self.t0_s = float(dt_s), float(threshold_dbm), float(t0_s)
        self.refine_max_s, self.max_carry = refine_max_s, max(int(max_carry), 2)
        self._parts: list[Segments] = []
        self._carry = np.empty(0)
        self._carry_t0 = self.t0_s
        self._cut: tuple[float, bool] | None = None  # (start time, censored) of a run no longer carried whole

    def _fix_first(self, seg: Segments, data: np.ndarray, t0: float) -> Segments:
        """A run touching the start of ``data`` began earlier (cut carry) or at the trace start."""
        if not len(seg) or not data[0] > self.threshold_dbm:
            return seg
        start, width, cens = seg.start_s.copy(), seg.width_s.copy(), seg.censored.copy()
        half = seg.pulse_start_s.copy()
        if self._cut is not None:
            start[0], cens[0] = self._cut
            width[0] = half[0] = np.nan
        else:
            cens[0] = t0 == self.t0_s
        return seg.replace(start_s=start, width_s=width, censored=cens, pulse_start_s=half)

    def add(self, chunk_dbm: np.ndarray) -> None:
        """Feed the next chunk (dBm samples continuing the previous ones)."""
        chunk = np.asarray(chunk_dbm).reshape(-1)
        data = np.concatenate((self._carry, chunk)) if self._carry.size else chunk
        t0 = self._carry_t0
        if data.size < 2:
            self._carry = data.copy()
            return
        seg = find_segments(data, self.dt_s, t0_s=t0, threshold_dbm=self.threshold_dbm,
                            refine_max_s=self.refine_max_s)
        seg = self._fix_first(seg, data, t0)
        open_last = bool(data[-1] > self.threshold_dbm)
        done = seg.select(np.arange(len(seg)) < len(seg) - int(open_last))
        if open_last:
            last = seg.select(np.arange(len(seg)) == len(seg) - 1)
            below = np.flatnonzero(~(data > self.threshold_dbm))
            k0 = int(below[-1]) if below.size else 0  # the sample before the run
            if below.size:  # the open run started inside this data: a new run, not a cut one
                self._cut = None
            if data.size - k0 > self.max_carry:
                if self._cut is None:
                    self._cut = (float(last.start_s[0]), bool(last.censored[0] and last.start_s[0] <= self.t0_s))
                k0 = data.size - 2
            self._carry, self._carry_t0 = data[k0:].copy(), t0 + k0 * self.dt_s
        else:
            self._cut = None
            self._carry, self._carry_t0 = data[-1:].copy(), t0 + (data.size - 1) * self.dt_s
        self._parts.append(done)

    def finish(self) -> Segments:
        """All segments fed so far; a run still open at the end is included, censored."""
        if self._carry.size >= 2 and self._carry[-1] > self.threshold_dbm:
            seg = find_segments(self._carry, self.dt_s, t0_s=self._carry_t0, threshold_dbm=self.threshold_dbm,
                                refine_max_s=self.refine_max_s)
            seg = self._fix_first(seg, self._carry, self._carry_t0)
            last = seg.select(np.arange(len(seg)) == len(seg) - 1)
            self._parts.append(last.replace(censored=np.ones(1, bool)))
            self._carry = self._carry[-1:]
        out = Segments.concat(self._parts, self.dt_s, self.threshold_dbm)
        self._parts = [out]
        return out


def split_radar_dut(segments: Segments, *, radar_window_s: tuple[float, float] | None = None,
                    radar_level_dbm: float | None = None, level_tolerance_db: float = 3.0,
                    dut_min_frame_s: float | None = None) -> tuple[Segments, Segments]:
    """Split segments into (radar, DUT) by the rule in the module docstring: radar when inside the
    window, at the radar level and shorter than the DUT's shortest frame, each only when given."""
    if radar_level_dbm is None and dut_min_frame_s is None and radar_window_s is None:
        raise UsageError("split_radar_dut: give radar_level_dbm, dut_min_frame_s or radar_window_s")
    radar = np.ones(len(segments), dtype=bool)
    if radar_window_s is not None:
        w0, w1 = radar_window_s
        tol = segments.dt_s
        radar &= (segments.start_s >= w0 - tol) & (segments.end_s <= w1 + tol)
    if radar_level_dbm is not None:
        radar &= np.abs(segments.peak_dbm - radar_level_dbm) <= level_tolerance_db
    if dut_min_frame_s is not None:
        radar &= segments.duration_s < dut_min_frame_s
    return segments.select(radar), segments.select(~radar)


# --------------------------------------------------------------------------------------------------
# Radar burst parameters and classification
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BurstParameters:
    """What a power-vs-time trace tells about a radar burst.

    ``pulse_width_s`` is the median half-peak width (of the short pulses for paired signals);
    ``pri_s`` the dominant pulse interval (pair period for paired signals, spacing inside bursts for
    bursty ones); ``pris_s`` the distinct intervals that recur (2–3 for staggered PRFs);
    ``pulse_count`` the pulses (pairs) of the largest burst; ``bursts`` groups separated by more than
    ``burst_gap_s``; ``intervals_s`` every start-to-start interval in time order; ``run_lengths`` the
    pulse counts between interruptions of the dominant interval (hops for frequency-hopping radar).
    Pulses lost inside a train (hidden under a stronger DUT frame) leave intervals of k·PRI:
    ``missing_pulses`` counts them, ``pulse_count_estimated`` adds them back and ``regular`` says every
    interval is the PRI or such a multiple. Staggered trains are taken as seen. ``time_resolution_s``
    is the trace's sample spacing.
    """

    pulse_count: int
    pulse_width_s: float
    pulse_width_min_s: float
    pulse_width_max_s: float
    pri_s: float
    pris_s: tuple[float, ...]
    staggered: bool
    paired: bool
    long_pulse_width_s: float
    blank_s: float
    bursts: int
    pulses_per_burst: tuple[int, ...]
    intervals_s: tuple[float, ...]
    run_lengths: tuple[int, ...]
    missing_pulses: int
    regular: bool
    first_pulse_s: float
    last_pulse_end_s: float
    observed_s: float
    time_resolution_s: float

    @property
    def pulse_count_estimated(self) -> int:
        return self.pulse_count + self.missing_pulses

    @property
    def prf_hz(self) -> float:
        return 1.0 / self.pri_s if self.pri_s > 0 else math.nan


def _interval_clusters(d: np.ndarray, tol_abs: float, tol_rel: float) -> list[np.ndarray]:
    """Group intervals whose sorted neighbours differ by less than tol_abs + tol_rel·value."""
    if d.size == 0:
        return []
    s = np.sort(d)
    cut = np.flatnonzero(np.diff(s) > tol_abs + tol_rel * s[1:]) + 1
    return np.split(s, cut)


def burst_parameters(pulses: Segments, *, burst_gap_s: float = 20e-3,
                     observed_s: float | None = None) -> BurstParameters:
    """Estimate width, PRI(s), staggering, pairing and counts from radar pulses (:func:`split_radar_dut`).

    Bursts are split at gaps longer than ``burst_gap_s`` (default 20 ms: four times the longest PRI
    in the tables, so a few missed pulses do not split a burst). Intervals are clustered within
    2 samples + 1 %; clusters holding ≥ 20 % of the intervals and cycling pulse by pulse make a
    staggered burst. Paired signals are recognised by widths alternating short/long: every second pulse
    longer than every other one by more than 5 % + 2 samples.
    """
    n = len(pulses)
    if n == 0:
        raise AnalysisError("radar burst: no radar pulses found")
    dt = pulses.dt_s
    refined = np.isfinite(pulses.width_s) & np.isfinite(pulses.pulse_start_s)
    t_all = np.where(refined, pulses.pulse_start_s, pulses.start_s)
    order = np.argsort(t_all)
    t = t_all[order]
    w = np.where(refined, pulses.width_s, pulses.duration_s)[order]
    ends = t + w
    observed = float(observed_s) if observed_s is not None else float(ends[-1] - t[0])

    # pairs: alternating short / long widths
    paired = False
    long_w = blank = math.nan
    if n >= 4:
        # every odd pulse clearly longer than every even one (beyond measurement spread: 5 % + 2 samples)
        if np.max(w[0::2]) * 1.05 + 2 * dt < np.min(w[1::2]):
            paired = True
            long_w = float(np.median(w[1::2]))
            m = min(t[0::2].size, t[1::2].size)
            blank = float(np.median(t[1::2][:m] - ends[0::2][:m]))
            t, w = t[0::2], w[0::2]
            ends = t + w
            n = t.size

    d_all = np.diff(t)
    burst_id = np.concatenate(([0], np.cumsum(d_all > burst_gap_s)))
    counts = np.bincount(burst_id)
    big = int(np.argmax(counts))
    sel = burst_id == big
    tb = t[sel]
    d = np.diff(tb)

    tol_abs, tol_rel = 2.0 * dt, 0.01
    pris: list[float] = []
    staggered = False
    runs: tuple[int, ...] = (int(tb.size),)
    missing, regular = 0, True
    if d.size:
        clusters = sorted(_interval_clusters(d, tol_abs, tol_rel), key=len, reverse=True)
        pri = float(np.median(clusters[0]))
        recurring = [c for c in clusters if c.size >= max(2, 0.2 * d.size)]
        pris = [float(np.median(c)) for c in recurring] or [pri]
        if len(recurring) in (2, 3):
            k = len(recurring)
            cyc = d.size > k and np.allclose(d[k:], d[:-k], atol=tol_abs, rtol=tol_rel)
            staggered = bool(cyc)
        if staggered:
            pri = float(np.median(d))
        else:
            # runs of the dominant interval (hops of a frequency-hopping radar)
            in_dom = np.abs(d - pri) <= tol_abs + tol_rel * pri
            k = np.rint(d / pri)
            multiple = ~in_dom & (k >= 2) & (np.abs(d - k * pri) <= tol_abs + 0.002 * d)
            missing = int(np.sum(k[multiple] - 1))
            regular = bool(np.all(in_dom | multiple))
            cut = np.flatnonzero(~in_dom)
            edges = np.concatenate(([0], cut + 1, [tb.size]))
            runs = tuple(int(x) for x in np.diff(edges) if x > 0)
    else:
        pri = math.nan
    wb = w[sel]
    return BurstParameters(
        pulse_count=int(tb.size), pulse_width_s=float(np.median(wb)), pulse_width_min_s=float(np.min(wb)),
        pulse_width_max_s=float(np.max(wb)), pri_s=pri, pris_s=tuple(sorted(pris)), staggered=staggered,
        paired=paired, long_pulse_width_s=long_w, blank_s=blank, bursts=int(counts.size),
        pulses_per_burst=tuple(int(c) for c in counts), intervals_s=tuple(float(x) for x in d_all),
        run_lengths=runs, missing_pulses=missing, regular=regular, first_pulse_s=float(t[0]),
        last_pulse_end_s=float(np.max(ends)), observed_s=observed, time_resolution_s=float(dt))


@dataclass(frozen=True)
class RadarCandidate:
    """A radar type and how far the measured burst is from it: 0 inside every range, 1 at the edge of
    the tolerance; ``volume`` is the log-size of the type's parameter box (smaller = more specific)."""

    radar: RadarType
    distance: float
    volume: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RadarMatch:
    """Best matching radar type (None when nothing matches), every type within tolerance (best first),
    and the three nearest types that do not match with the parameters that ruled them out."""

    best: RadarType | None
    candidates: tuple[RadarCandidate, ...]
    burst: BurstParameters
    rejected: tuple[RadarCandidate, ...] = ()

    @property
    def best_key(self) -> str:
        return self.best.key if self.best is not None else "unknown"


def _range_distance(x: float, lo: float, hi: float, tol: float) -> float:
    if not math.isfinite(x):
        return math.inf
    return max(0.0, lo - x, x - hi) / tol


def _score(t: RadarType, b: BurstParameters, count_tolerance: int) -> tuple[float, list[str]]:
    dt = b.time_resolution_s
    dist: list[tuple[float, str]] = []
    # structure first: pairing, staggering, hopping, bursts
    if bool(t.pair) != b.paired:
        dist.append((math.inf, "paired" if t.pair else "not paired"))
    if t.staggered != b.staggered:
        dist.append((math.inf, "staggered" if t.staggered else "not staggered"))
    # width (short pulse for pairs)
    lo, hi = t.width_match_s
    w_tol = max(0.15 * US, 0.05 * b.pulse_width_s, 1.5 * dt)
    dist.append((max(_range_distance(b.pulse_width_min_s, lo, hi, w_tol),
                     _range_distance(b.pulse_width_max_s, lo, hi, w_tol)), "width"))
    if t.pair and b.paired:
        dist.append((_range_distance(b.long_pulse_width_s, *t.pair.long_width_s, w_tol), "long width"))
        dist.append((_range_distance(b.blank_s, *t.pair.blank_s, max(1 * US, 2 * dt)), "blank"))

    def pri_dist(x: float) -> float:
        tol = max(1 * US, 0.005 * x, 2 * dt)
        if t.pri_choices_s:
            return min(_range_distance(x, c, c, tol) for c in t.pri_choices_s)
        return _range_distance(x, t.pri_s[0], t.pri_s[1], tol)

    if t.bursts[1] > 1:  # bursty: bursts of few pulses; an interval longer than the PRI range ends a burst
        ivs = np.asarray(b.intervals_s)
        brk = ivs > t.pri_s[1] + max(1 * US, 0.005 * t.pri_s[1], 2 * dt)
        per_burst = np.diff(np.concatenate(([0], np.flatnonzero(brk) + 1, [ivs.size + 1])))
        dist.append((max((pri_dist(x) for x in ivs[~brk]), default=0.0), "spacing in burst"))
        c_lo, c_hi = t.pulses_per_burst
        dist.append((max(_range_distance(c, c_lo, c_hi, 1.0) for c in per_burst), "pulses per burst"))
        if t.burst_window_s and b.observed_s >= t.burst_window_s:
            dist.append((_range_distance(per_burst.size, *t.bursts, 1.0), "bursts in window"))
    elif t.staggered and b.staggered:
        dist.append((max(pri_dist(x) for x in b.pris_s), "PRIs"))
        k = len(b.pris_s)
        dist.append((_range_distance(k, *t.prf_count, 0.5), "number of PRFs"))
        prfs = np.sort(1.0 / np.asarray(b.pris_s))
        s_lo, s_hi = t.prf_spacing_hz
        if k > 1:
            dist.append((max(_range_distance(x, s_lo, s_hi, max(2.0, 0.05 * x)) for x in np.diff(prfs)),
                         "PRF spacing"))
        per_prf = b.pulse_count / max(k, 1)
        dist.append((_range_distance(per_prf, *t.pulses_per_burst, count_tolerance + 0.5), "pulses per PRF"))
    else:
        dist.append((pri_dist(b.pri_s), "PRI"))
        if t.hopping:
            per_hop = t.pulses_per_burst[0]
            bad = [r for r in b.run_lengths if r % per_hop]
            dist.append((0.0 if not bad else 2.0, "pulses per hop"))
        else:
            if not b.regular:
                dist.append((2.0, "interrupted pulse train"))
            n_est = b.pulse_count_estimated
            if t.pulse_count_rule == "fcc1":
                want = fcc_type1_pulses(b.pri_s) if math.isfinite(b.pri_s) else -1
                dist.append((abs(n_est - want) / (count_tolerance + 0.5), "pulse count N(PRI)"))
            else:
                dist.append((_range_distance(n_est, *t.pulses_per_burst, count_tolerance + 0.5), "pulse count"))
    total = max(x for x, _ in dist)
    return total, [r for x, r in dist if x > 1.0]


def _volume(t: RadarType) -> float:
    lo, hi = t.width_match_s
    v = math.log(hi - lo + 0.2 * US) + math.log(t.pulses_per_burst[1] - t.pulses_per_burst[0] + 1)
    if t.pri_choices_s:
        v += math.log(len(t.pri_choices_s) * 2 * US)
    else:
        v += math.log(t.pri_s[1] - t.pri_s[0] + 2 * US)
    if t.pulse_count_rule == "fcc1":
        v -= math.log(t.pulses_per_burst[1] - t.pulses_per_burst[0] + 1)  # count fixed by the PRI
    return v


def classify_radar(burst: BurstParameters, domain: str | None = None, band: str | None = None, *,
                   include_legacy: bool = False, count_tolerance: int = 0) -> RadarMatch:
    """Match a measured burst against the radar tables (:mod:`radar_tables`, standards.md §1).

    A type matches when every parameter lies within its range widened by a tolerance: width ±max(0.15 µs,
    5 %, 1.5 samples); PRI ±max(1 µs, 0.5 %, 2 samples); counts (with pulses lost inside the train added
    back, :class:`BurstParameters`) ±``count_tolerance``; structure (paired, staggered, hopping, bursty)
    must agree. ETSI types accept the newer 0.5 µs minimum width.
    Among matches the most specific type (smallest parameter box) is best, so a fixed signal inside a
    variable type's box is named as the fixed one. Identical signals exist across domains (FCC 0,
    ETSI 0, MIC W56 fixed 2 differ by < 1 µs of PRI): pass ``domain`` (and ``band`` for MIC).
    """
    cands, rejected = [], []
    for t in radar_types(domain, band, include_legacy=include_legacy):
        dist, reasons = _score(t, burst, count_tolerance)
        c = RadarCandidate(t, float(dist), _volume(t), tuple(reasons))
        (cands if dist <= 1.0 else rejected).append(c)
    cands.sort(key=lambda c: (c.volume, c.distance))
    rejected.sort(key=lambda c: (len(c.reasons), c.distance))
    return RadarMatch(cands[0].radar if cands else None, tuple(cands), burst, tuple(rejected[:3]))


# --------------------------------------------------------------------------------------------------
# DFS timing
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DfsTiming:
    """DFS timing metrics (standards.md §1; limits in :data:`radar_tables.DFS_TIMING`).

    - ``cac_silence_s``: channel selected → first DUT transmission (if the DUT never transmits, the
      observed time, with ``dut_transmitted`` False: a lower bound).
    - ``channel_move_time_s``: end of the radar burst → end of the last DUT transmission on the
      channel (0 when nothing follows the radar; ``move_censored`` when still transmitting at the
      end of the trace).
    - ``closing_tx_time_s``: the domain's closing transmission time, the summed duration of DUT
      transmissions after the radar within the move-time limit, counted from ``closing_free_window_s``
      after the radar (FCC: after the first 200 ms, limit 60 ms; ETSI and MIC: all of it).
      ``closing_tx_total_s`` counts from the radar end regardless of domain. On a peak-detected
      burst-level trace this is the FCC "N bins × dwell" count.
    - ``nop_tx_count``: DUT transmissions after the move-time limit and within the 30 min non-occupancy
      period; ``nop_observed_s`` how much of that period the trace covers.
    """

    domain: str
    cac_silence_s: float
    first_tx_s: float
    dut_transmitted: bool
    radar_end_s: float
    channel_move_time_s: float
    move_censored: bool
    closing_tx_time_s: float
    closing_tx_total_s: float
    closing_free_window_s: float
    nop_tx_count: int
    nop_first_tx_s: float
    nop_observed_s: float

    @property
    def nop_violation(self) -> bool:
        return self.nop_tx_count > 0


def _overlap_s(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> float:
    return float(np.sum(np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)))


def dfs_timing(dut: Segments, *, channel_selected_s: float, radar_end_s: float, trace_end_s: float,
               domain: str = "FCC") -> DfsTiming:
    """DFS timing from the DUT's transmissions (:func:`split_radar_dut`) and the markers.

    ``radar_end_s`` is the end of the radar burst (its last pulse), ``trace_end_s`` the end of the
    observation. See :class:`DfsTiming` for each metric's definition.
    """
    if domain not in DFS_TIMING:
        raise UsageError(f"unknown DFS domain {domain!r}; valid: {', '.join(DFS_TIMING)}")
    lim = DFS_TIMING[domain]
    s, e = dut.start_s, dut.end_s
    after_sel = e > channel_selected_s
    if np.any(after_sel):
        first = float(max(np.min(s[after_sel]), channel_selected_s))
        cac, transmitted = first - channel_selected_s, True
    else:
        first, cac, transmitted = math.nan, trace_end_s - channel_selected_s, False
    after = e > radar_end_s
    if np.any(after):
        last_end = float(np.max(e[after]))
        move = last_end - radar_end_s
        censored = bool(np.any(dut.censored[after] & (e[after] >= last_end)))
    else:
        move, censored = 0.0, False
    move_limit_end = radar_end_s + lim.channel_move_time_s
    total = _overlap_s(s, e, radar_end_s, move_limit_end)
    counted = _overlap_s(s, e, radar_end_s + lim.closing_free_window_s, move_limit_end)
    nop_end = radar_end_s + lim.non_occupancy_s
    in_nop = (e > move_limit_end) & (s < nop_end)
    nop_first = float(max(np.min(s[in_nop]), move_limit_end)) if np.any(in_nop) else math.nan
    observed = max(0.0, min(trace_end_s, nop_end) - move_limit_end)
    return DfsTiming(domain, float(cac), first, transmitted, float(radar_end_s), float(move), censored,
                     counted, total, lim.closing_free_window_s, int(np.count_nonzero(in_nop)), nop_first, observed)


# --------------------------------------------------------------------------------------------------
# One-call pipelines for procedures
# --------------------------------------------------------------------------------------------------

def analyze_radar_capture(power_dbm: np.ndarray, dt_s: float, *, t0_s: float = 0.0, domain: str | None = None,
                          band: str | None = None, threshold_dbm: float | None = None,
                          radar_level_dbm: float | None = None, level_tolerance_db: float = 3.0,
                          dut_min_frame_s: float | None = None, radar_window_s: tuple[float, float] | None = None,
                          burst_gap_s: float = 20e-3, count_tolerance: int = 0) -> RadarMatch:
    """Fine trace around a radar burst → pulses → radar/DUT split (when any criterion is given) →
    :class:`BurstParameters` → :func:`classify_radar`. The match carries the burst parameters
    (``match.burst``: pulse count, width, PRI, last pulse end)."""
    seg = find_segments(power_dbm, dt_s, t0_s=t0_s, threshold_dbm=threshold_dbm)
    if radar_level_dbm is not None or dut_min_frame_s is not None or radar_window_s is not None:
        seg, _ = split_radar_dut(seg, radar_window_s=radar_window_s, radar_level_dbm=radar_level_dbm,
                                 level_tolerance_db=level_tolerance_db, dut_min_frame_s=dut_min_frame_s)
    params = burst_parameters(seg, burst_gap_s=burst_gap_s, observed_s=np.asarray(power_dbm).size * dt_s)
    return classify_radar(params, domain, band, count_tolerance=count_tolerance)


def dfs_timing_from_trace(power_dbm: np.ndarray, dt_s: float, *, channel_selected_s: float, radar_end_s: float,
                          t0_s: float = 0.0, domain: str = "FCC", threshold_dbm: float | None = None,
                          radar_level_dbm: float | None = None, level_tolerance_db: float = 3.0,
                          dut_min_frame_s: float | None = None,
                          radar_window_s: tuple[float, float] | None = None) -> DfsTiming:
    """Burst-level trace → segments → DUT transmissions (radar removed by the given criteria; with none,
    every segment is the DUT's) → :func:`dfs_timing`. The trace ends at t0 + (n − 1)·dt."""
    p = np.asarray(power_dbm)
    seg = find_segments(p, dt_s, t0_s=t0_s, threshold_dbm=threshold_dbm)
    if radar_level_dbm is not None or dut_min_frame_s is not None or radar_window_s is not None:
        _, seg = split_radar_dut(seg, radar_window_s=radar_window_s, radar_level_dbm=radar_level_dbm,
                                 level_tolerance_db=level_tolerance_db, dut_min_frame_s=dut_min_frame_s)
    return dfs_timing(seg, channel_selected_s=channel_selected_s, radar_end_s=radar_end_s,
                      trace_end_s=t0_s + (p.size - 1) * dt_s, domain=domain)


# --------------------------------------------------------------------------------------------------
# Synthesis: zero-span traces for simulators and tests (not analysis)
# --------------------------------------------------------------------------------------------------

def render_zero_span_dbm(n: int, dt_s: float, *, start_s, end_s, level_dbm, noise_floor_dbm: float,
                         t0_s: float = 0.0, detector: str = "average",
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """Zero-span trace (dBm, float32) of rectangular bursts of RF on a noise floor.

    Sample k covers [t0 + (k − ½)·dt, t0 + (k + ½)·dt]. ``detector`` "average": the power averaged
    over that interval (integrate and dump); "peak": the highest level touching it. Noise: exponential
    power samples (a sample detector on thermal noise) of mean ``noise_floor_dbm`` when ``rng`` is given,
    else the constant floor. Bursts may overlap (powers add for "average").
    """
    a = np.atleast_1d(np.asarray(start_s, dtype=float))
    b = np.atleast_1d(np.asarray(end_s, dtype=float))
    lv = np.broadcast_to(np.asarray(level_dbm, dtype=float), a.shape)
    mw = 10.0 ** (lv / 10.0)
    floor = 10.0 ** (noise_floor_dbm / 10.0)
    out = np.full(n, floor, dtype=np.float32) if rng is None else \
        (rng.standard_exponential(n, dtype=np.float32) * np.float32(floor))
    if detector == "average" and a.size:
        # coverage of sample k by [a, b] is G[k+1], G the running sum of a second difference that is
        # non-zero only at the two grid cells around each edge (exact for any sub-sample position)
        idx, val = [], []
        for edge, sign in ((a, 1.0), (b, -1.0)):
            u = (edge - (t0_s - 0.5 * dt_s)) / dt_s
            i = np.floor(u)
            fr = u - i
            i = i.astype(np.int64)
            idx += [np.clip(i + 1, 0, n + 2), np.clip(i + 2, 0, n + 2)]
            val += [sign * mw * (1.0 - fr), sign * mw * fr]
        idx, val = np.concatenate(idx), np.concatenate(val)
        lo, hi = int(idx.min()), int(idx.max())
        h = np.zeros(hi - lo + 1)
        np.add.at(h, idx - lo, val)
        g = np.cumsum(h)  # g[j] = G[lo + j]; zero before lo and (all bursts over) after hi
        k_from, k_to = max(lo - 1, 0), min(hi - 1, n - 1)
        if k_to >= k_from:
            seg_out = out[k_from:k_to + 1]
            np.add(seg_out, g[k_from + 1 - lo:k_to + 2 - lo], out=seg_out, casting="unsafe")
    elif detector == "peak":
        k0 = np.clip(np.floor((a - t0_s) / dt_s + 0.5).astype(np.int64), 0, n)
        k1 = np.clip(np.floor((b - t0_s) / dt_s + 0.5).astype(np.int64) + 1, 0, n)
        keep = k1 > k0
        seg, idx = _ranges(k0[keep], (k1 - k0)[keep])
        peak = np.zeros(n, dtype=np.float32)
        np.maximum.at(peak, idx, mw[keep][seg].astype(np.float32))
        np.maximum(out, peak, out=out)
    elif detector != "average":
        raise UsageError(f"detector {detector!r}: use 'average' or 'peak'")
    np.maximum(out, np.float32(1e-30), out=out)  # an exponential draw can be exactly 0
    np.log10(out, out=out)
    out *= np.float32(10.0)
    return out

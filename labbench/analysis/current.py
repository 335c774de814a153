"""Sleep/resume current profile of a battery device from one current capture (standards.md §3, §5).

Input: supply current in A (float, NaN for dropped samples), sample interval ``dt_s``, origin ``x0_s``.
Output: a frozen ``CurrentProfile`` of SI values; its first twelve fields are the procedure's metrics.

Pipeline, and the definitions used
1. Sample hygiene. Values outside ``valid_range_a`` (the sensor's physical range; CX3324A +-10 A) or
   +-inf are impossible: they become holes and are counted (``rejected_samples``). NaN in the input are
   dropped samples (``missing_samples``). Every average is over the samples present; every duration is
   wall time (holes included), so charge = mean over samples present x duration.
   Samples at the measurement range ends ``clip_limits_a`` are clipped (``clipped_samples``, also per
   state). ``on_clip="flag"`` (default) sets every metric the clipped samples would falsify to NaN
   (a NaN never passes a limit); ``"raise"`` raises AnalysisError; ``"measure"`` keeps the numbers
   (then only bounds).
2. Levels, found from the data: a histogram of log10(current) (100 bins per decade, currents below
   ``floor_a`` in the lowest bin; set floor_a near the sensor's noise floor) of the samples that dwell
   (within ``level_dwell_decades`` of the previous sample, so edges do not make levels),
   Gaussian-smoothed (0.03 decade); its peaks at least twice as high as the valleys beside them, with
   adjacent peaks closer than the ratio ``min_level_ratio`` merged,
   and levels with fewer than ``min_level_samples`` samples dropped. A level is the count-weighted
   geometric mean of its histogram cell. Or give ``levels_a``.
3. States with hysteresis, vectorised: between adjacent levels L_k < L_k+1 the boundary is their
   geometric mean and its band spans +-``hysteresis_frac`` of the half gap in log10. A sample outside
   every band belongs to its level's state; a sample in the band between k and k+1 keeps the state of
   the last sample outside every band, limited to {k, k+1} (exact two-state hysteresis; for more states
   exact whenever the current passes through each level's core). States are named by level: the lowest
   "sleep", the next "active", the highest "tx" when there are three or more, those between "active_2",
   ... Per state: dwell time, mean current, charge, visits.
4. Wake events: each excursion from the sleep state. It starts at the wake trigger, the first sample
   after the last sample below the sleep band (the sleep-exit threshold ``wake_threshold_a``) and ends
   at the first sample back below it. Per event: duration, charge (mean x duration), energy (charge x
   ``supply_v``), peak. Events cut by the capture ends are listed with complete=False and left out of the
   metrics. Wake-up transient over the first non-sleep state of the event (see ``wake_transient``):
   resume time (trigger to ``resume_fraction`` of the way to the settled active level), 10-90 % rise
   time, overshoot in % of the step, settling time into +-``settle_band_pct`` % of the settled level.
5. Period: median spacing of wake triggers. ``avg_current_a`` is the mean over whole periods (first
   trigger to last trigger), or over the whole capture with fewer than two triggers. Battery life
   (standards.md §5): capacity_mah x derating / (I_avg + self-discharge current), in hours.
6. CCDF: fraction of samples above a level, from a 1000-bins-per-decade log histogram (levels good to
   0.23 %); ``current_p99_99_a`` is the level exceeded by ``ccdf_probability`` (1e-4) of the samples.
   ``fraction_above`` and ``level_exceeded`` give the exact values for an array in memory.
7. Spectrum: Welch PSD in A^2/Hz (``labbench.analysis.welch``), spurs over the local floor;
   ``current_spur_freq_hz`` is the strongest.

Metrics that are statistics over events: ``wake_event_charge_c`` and ``wake_event_energy_j`` are the mean
over complete events (the battery budget); ``resume_time_s``, ``wake_overshoot_pct`` and
``wake_settling_time_s`` are the worst (largest) over complete events (every wake-up must meet them).

Large captures: everything above runs on chunks. ``CurrentProfileAccumulator`` is two-pass: ``survey``
every chunk (the level histogram), then ``add`` every chunk again (states, events, CCDF, PSD), carrying
the hysteresis state, open event, running sums and a bounded sample buffer for the wake transient across
chunk boundaries; memory is O(chunk) plus O(max_transient_samples), whatever the capture length. With
``levels_a`` given, ``survey`` is skipped (one pass). ``analyze_current`` does both passes over any
sliceable array (numpy, h5py dataset, memmap); chunked and one-shot results agree to rounding.
Python-level loops run per wake event and per state, never per sample.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal

from labbench.analysis.welch import PowerSpectrum, Spur, WelchAccumulator, find_spurs
from labbench.errors import AnalysisError, UsageError

HOURS_PER_YEAR = 8766.0            # 365.25 days
_LEVEL_BINS_PER_DECADE = 100
_CCDF_BINS_PER_DECADE = 1000
_CLIP_POLICIES = ("flag", "raise", "measure")

METRIC_NAMES = (
    "sleep_current_a", "active_current_a", "tx_peak_current_a", "wake_event_charge_c",
    "wake_event_energy_j", "resume_time_s", "avg_current_a", "battery_life_h", "current_p99_99_a",
    "wake_overshoot_pct", "wake_settling_time_s", "current_spur_freq_hz",
)


@dataclass(frozen=True)
class CurrentSettings:
    """Parameters of the current-profile analysis (units in the names; see the module docstring)."""

    supply_v: float = 3.0                                  # for event energy (CR2032 nominal)
    capacity_mah: float | None = None                      # None: no battery life
    derating: float = 1.0                                  # usable fraction, 0.7-0.85 typical (§5)
    self_discharge_pct_per_year: float = 0.0               # of capacity; adds an equivalent current
    valid_range_a: tuple[float, float] = (-10.0, 10.0)     # physically possible (CX3324A: +-10 A)
    clip_limits_a: tuple[float, float] | None = None       # measurement range ends of this capture
    on_clip: str = "flag"                                  # flag | raise | measure
    floor_a: float = 1e-9                                  # below this, currents share one level bin
    levels_a: tuple[float, ...] | None = None              # known state levels: skip the level search
    min_level_ratio: float = 1.5                           # levels closer than this ratio merge
    min_level_samples: int = 10                            # fewer samples than this: not a level
    level_dwell_decades: float = 0.1                       # level histogram: |step| to the previous sample
    hysteresis_frac: float = 0.5                           # band half-width / half log-gap
    sleep_max_a: float = 1e-3                              # a single level below this is "sleep"
    resume_fraction: float = 0.9                           # resume = reaching 90 % of the active level
    settle_band_pct: float = 5.0                           # settling band, +-% of the active level
    max_transient_samples: int = 1 << 20                   # wake transient window cap
    psd_nperseg: int = 8192
    psd_max_hole_fraction: float = 0.1
    spur_threshold_db: float = 10.0
    max_spurs: int = 5
    ccdf_probability: float = 1e-4                         # current_p99_99_a: exceeded 0.01 % of time

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> None:
            raise UsageError(f"current analysis: {name}={getattr(self, name)!r}: {why}")

        if not self.supply_v > 0:
            bad("supply_v", "must be positive")
        if self.capacity_mah is not None and not self.capacity_mah > 0:
            bad("capacity_mah", "must be positive or None")
        if not 0 < self.derating <= 1:
            bad("derating", "must be in (0, 1]")
        if not 0 <= self.self_discharge_pct_per_year < 100:
            bad("self_discharge_pct_per_year", "must be in [0, 100)")
        if not self.valid_range_a[0] < self.valid_range_a[1] or self.valid_range_a[1] <= 0:
            bad("valid_range_a", "must be (low, high) with low < high and high > 0")
        if self.clip_limits_a is not None and not self.clip_limits_a[0] < self.clip_limits_a[1]:
            bad("clip_limits_a", "must be (low, high) with low < high")
        if self.on_clip not in _CLIP_POLICIES:
            bad("on_clip", f"valid: {', '.join(_CLIP_POLICIES)}")
        if not 0 < self.floor_a < self.valid_range_a[1]:
            bad("floor_a", "must be positive and below the valid range's top")
        if self.levels_a is not None and (len(self.levels_a) == 0 or np.any(np.diff(self.levels_a) <= 0)
                                          or self.levels_a[0] <= 0):
            bad("levels_a", "must be positive and strictly increasing")
        if not self.level_dwell_decades > 0:
            bad("level_dwell_decades", "must be positive")
        if not self.min_level_ratio > 1:
            bad("min_level_ratio", "must be above 1")
        if not 0 < self.hysteresis_frac < 1:
            bad("hysteresis_frac", "must be in (0, 1)")
        if not 0 < self.resume_fraction < 1:
            bad("resume_fraction", "must be in (0, 1)")
        if not self.settle_band_pct > 0:
            bad("settle_band_pct", "must be positive")
        if self.max_transient_samples < 16:
            bad("max_transient_samples", "must be at least 16")
        if self.psd_nperseg < 16:
            bad("psd_nperseg", "must be at least 16")
        if not 0 < self.ccdf_probability < 1:
            bad("ccdf_probability", "must be in (0, 1)")

    @classmethod
    def build(cls, settings: CurrentSettings | None = None, **overrides: Any) -> CurrentSettings:
        """``settings`` (or the defaults) with ``overrides``; an unknown name is a UsageError."""
        base = settings if settings is not None else cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise UsageError(f"current analysis: unknown parameter(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(sorted(names))}")
        if "levels_a" in overrides and overrides["levels_a"] is not None:
            overrides["levels_a"] = tuple(float(v) for v in overrides["levels_a"])
        return dataclasses.replace(base, **overrides) if overrides else base


@dataclass(frozen=True)
class StateStats:
    """One power state: its level from the histogram and what the capture spent in it."""

    name: str
    level_a: float           # the level the segmentation used (histogram or levels_a)
    mean_current_a: float    # over the samples present in the state
    dwell_s: float           # total time in the state, holes included
    charge_c: float          # mean_current_a x dwell_s
    time_fraction: float
    visits: int              # runs of consecutive samples in the state
    max_current_a: float
    clipped_samples: int


@dataclass(frozen=True)
class WakeTransient:
    """The wake-up step from sleep to the first non-sleep state (see ``wake_transient``)."""

    resume_time_s: float
    rise_time_s: float
    overshoot_pct: float
    settling_time_s: float
    active_level_a: float


@dataclass(frozen=True)
class WakeEvent:
    """One excursion from sleep; times in s from the capture's x0."""

    start_s: float           # wake trigger (first sample above the sleep-exit threshold)
    end_s: float             # first sample back below it
    duration_s: float
    charge_c: float
    energy_j: float
    mean_current_a: float
    peak_current_a: float
    complete: bool           # False when cut by the start or end of the capture
    transient: WakeTransient


@dataclass(frozen=True, eq=False)
class CurrentCcdf:
    """CCDF of the current from a log histogram: counts per bin above ``floor_a``."""

    floor_a: float
    bins_per_decade: int
    counts: np.ndarray       # counts[j]: samples in [floor*10^(j/bpd), floor*10^((j+1)/bpd))
    below_floor: int         # samples at or below floor_a (zero and negative currents too)

    @property
    def n_samples(self) -> int:
        return int(self.counts.sum()) + self.below_floor

    def fraction_above(self, level_a: float | np.ndarray) -> float | np.ndarray:
        """Fraction of samples above level_a (log-uniform within a bin; levels below floor_a act as floor_a)."""
        level = np.asarray(level_a, dtype=float)
        n = self.n_samples
        if n == 0:
            return np.full(level.shape, np.nan)[()] if level.ndim else float("nan")
        above = np.concatenate((np.cumsum(self.counts[::-1])[::-1], [0]))   # above[j]: in bins >= j
        pos = np.log10(np.maximum(level, self.floor_a) / self.floor_a) * self.bins_per_decade
        j = np.clip(np.floor(pos).astype(np.int64), 0, self.counts.size - 1)
        frac_in_bin = np.clip(1.0 - (pos - j), 0.0, 1.0)
        out = (above[j + 1] + frac_in_bin * self.counts[j]) / n
        out = np.where(pos >= self.counts.size, 0.0, out)
        return out[()] if out.ndim == 0 else out

    def level_at(self, probability: float) -> float:
        """The level exceeded by ``probability`` of the samples (log-uniform within a bin)."""
        n = self.n_samples
        if n == 0:
            return float("nan")
        target = probability * n
        above = np.concatenate((np.cumsum(self.counts[::-1])[::-1], [0]))
        if target >= above[0]:
            return self.floor_a
        j = int(np.flatnonzero(above[:-1] > target)[-1])     # above[j] > target >= above[j+1]
        inside = (target - above[j + 1]) / self.counts[j]     # fraction of bin j above the level
        return float(self.floor_a * 10 ** ((j + 1.0 - inside) / self.bins_per_decade))

    def curve(self, points_per_decade: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """(level_a, fraction_above) on a log grid from the floor to the highest sample's bin."""
        nz = np.flatnonzero(self.counts)
        top = (nz[-1] + 1) if nz.size else 1
        decades = top / self.bins_per_decade
        levels = self.floor_a * np.logspace(0, decades, max(2, int(np.ceil(decades * points_per_decade)) + 1))
        return levels, np.asarray(self.fraction_above(levels))


@dataclass(frozen=True, eq=False)
class CurrentProfile:
    """Current profile of one capture. The first twelve fields are the procedure's metrics."""

    sleep_current_a: float
    active_current_a: float
    tx_peak_current_a: float          # highest sample in the top non-sleep state
    wake_event_charge_c: float        # mean over complete events
    wake_event_energy_j: float        # wake_event_charge_c x supply_v
    resume_time_s: float              # worst over complete events
    avg_current_a: float              # over whole periods
    battery_life_h: float
    current_p99_99_a: float           # level exceeded ccdf_probability of the time
    wake_overshoot_pct: float         # worst over complete events
    wake_settling_time_s: float       # worst over complete events
    current_spur_freq_hz: float       # strongest spur of the PSD
    peak_current_a: float             # highest sample in the capture
    period_s: float                   # median wake-trigger spacing
    wake_rise_time_s: float           # worst 10-90 % rise over complete events
    settle_band_pct: float
    supply_v: float
    states: tuple[StateStats, ...]
    events: tuple[WakeEvent, ...]
    levels_a: tuple[float, ...]
    wake_threshold_a: float           # sleep-exit threshold (NaN with a single level)
    ccdf: CurrentCcdf
    spectrum: PowerSpectrum           # A^2/Hz
    spurs: tuple[Spur, ...]
    n_samples: int
    duration_s: float
    missing_samples: int              # NaN in the input
    rejected_samples: int             # impossible values removed
    clipped: bool
    clipped_samples: int

    @property
    def battery_life_years(self) -> float:
        return self.battery_life_h / HOURS_PER_YEAR

    def metric_values(self) -> dict[str, float]:
        """The procedure's metrics by name (values in the unit their suffix names)."""
        return {name: getattr(self, name) for name in METRIC_NAMES}

    def state(self, name: str) -> StateStats:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(f"no state {name!r}; states: {', '.join(s.name for s in self.states)}")


# ---------------------------------------------------------------------------------------------------
# small exact helpers


def fraction_above(current_a: np.ndarray, level_a: float) -> float:
    """Exact fraction of the samples present that are above ``level_a``: P(I > level)."""
    x = np.asarray(current_a, dtype=float)
    present = np.isfinite(x)
    n = np.count_nonzero(present)
    return float(np.count_nonzero(x[present] > level_a) / n) if n else float("nan")


def level_exceeded(current_a: np.ndarray, probability: float) -> float:
    """The smallest sample value exceeded by at most ``probability`` of the samples present.

    With the N samples sorted ascending s[0..N-1] this is s[N-1-floor(p*N)]: p=0 gives the maximum,
    p -> 1 the minimum.
    """
    x = np.asarray(current_a, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    k = min(int(np.floor(probability * x.size)), x.size - 1)
    return float(np.partition(x, x.size - 1 - k)[x.size - 1 - k])


def battery_life_h(avg_current_a: float, capacity_mah: float, *, derating: float = 1.0,
                   self_discharge_pct_per_year: float = 0.0) -> float:
    """Life (h) = C_mAh x derating / (I_avg,mA + I_self-discharge,mA), standards.md §5.

    Self-discharge is a fixed fraction of capacity per year, taken as an equivalent constant current.
    """
    i_sd_ma = capacity_mah * self_discharge_pct_per_year / 100.0 / HOURS_PER_YEAR
    load_ma = avg_current_a * 1e3 + i_sd_ma
    return float(capacity_mah * derating / load_ma) if load_ma > 0 else float("inf")


def _crossing(y: np.ndarray, level: float, start: int = 0) -> float:
    """Fractional index where y first reaches ``level`` going up at or after ``start`` (linear interp)."""
    hit = y[start:] >= level
    if not np.any(hit):
        return float("nan")
    k = start + int(np.argmax(hit))
    if k == 0 or not np.isfinite(y[k - 1]) or y[k - 1] >= level:
        return float(k)
    return k - 1 + (level - y[k - 1]) / (y[k] - y[k - 1])


def wake_transient(window_a: np.ndarray, dt_s: float, *, rise_index: int, sleep_level_a: float,
                   wake_threshold_a: float, resume_fraction: float = 0.9,
                   settle_band_pct: float = 5.0) -> WakeTransient:
    """Wake-up step in ``window_a``: from the last sleep sample to the end of the first non-sleep state.

    rise_index: index in the window of the first sample in the non-sleep state. Definitions (times
    interpolated linearly between samples): active level I_a = median of the second half of the window
    after rise_index; step = I_a - sleep_level_a; trigger = first crossing of ``wake_threshold_a``;
    resume time = trigger to sleep + resume_fraction x step; rise time = 10 % to 90 % of the step;
    overshoot = (max - I_a) / step x 100, at least 0; settling time = trigger to the last entry into
    I_a +- settle_band_pct % of I_a (NaN if the window ends outside the band).
    """
    y = np.asarray(window_a, dtype=float)
    nan = float("nan")
    if y.size < 2 or rise_index >= y.size:
        return WakeTransient(nan, nan, nan, nan, nan)
    tail = y[rise_index + (y.size - rise_index) // 2:]
    active = float(np.nanmedian(tail)) if np.any(np.isfinite(tail)) else nan
    step = active - sleep_level_a
    if not (np.isfinite(active) and step > 0):
        return WakeTransient(nan, nan, nan, nan, active)
    t_trig = _crossing(y, wake_threshold_a)
    t10 = _crossing(y, sleep_level_a + 0.1 * step)
    t90 = _crossing(y, sleep_level_a + 0.9 * step)
    t_res = _crossing(y, sleep_level_a + resume_fraction * step)
    peak = float(np.nanmax(y[rise_index:]))
    overshoot = max(0.0, (peak - active) / step * 100.0)
    band = settle_band_pct / 100.0 * active
    out = np.flatnonzero(np.abs(y - active) > band)      # NaN compares False: holes are not "out"
    settling = nan
    if out.size and out[-1] < y.size - 1:
        k = int(out[-1])
        target = active + np.sign(y[k] - active) * band
        nxt = y[k + 1]
        frac = (y[k] - target) / (y[k] - nxt) if np.isfinite(nxt) and y[k] != nxt else 1.0
        settling = (k + float(np.clip(frac, 0.0, 1.0)) - t_trig) * dt_s
    return WakeTransient(
        resume_time_s=float((t_res - t_trig) * dt_s), rise_time_s=float((t90 - t10) * dt_s),
        overshoot_pct=float(overshoot), settling_time_s=float(settling), active_level_a=active)


# ---------------------------------------------------------------------------------------------------
# levels


def find_levels(hist_counts: np.ndarray, *, floor_a: float, bins_per_decade: int = _LEVEL_BINS_PER_DECADE,
                min_level_ratio: float = 1.5, min_level_samples: int = 10) -> tuple[float, ...]:
    """State levels (A, ascending) from a log10 histogram whose bin j starts at floor*10^(j/bpd)."""
    counts = np.asarray(hist_counts, dtype=float)
    if counts.sum() == 0:
        raise AnalysisError("current: no valid sample to find state levels from")
    centres = np.log10(floor_a) + (np.arange(counts.size) + 0.5) / bins_per_decade
    smooth = ndimage.gaussian_filter1d(counts, sigma=0.03 * bins_per_decade, mode="constant")
    padded = np.concatenate(([0.0], smooth, [0.0]))               # a level in the end bins is a peak too
    peaks, props = signal.find_peaks(padded, prominence=0.0)
    peaks -= 1
    # a level stands at least twice as high as the valleys beside it: not a ripple on a hump, nor a
    # bump of a ramp's samples
    keep = props["prominences"] >= 0.5 * smooth[peaks]
    peaks = peaks[keep]
    merge_bins = np.log10(min_level_ratio) * bins_per_decade
    groups: list[list[int]] = []
    for p in peaks:                                               # per histogram peak: a handful
        if groups and p - groups[-1][-1] < merge_bins:
            groups[-1].append(int(p))
        else:
            groups.append([int(p)])
    half_width = int(0.1 * bins_per_decade)
    while True:
        bounds = [0] + [(g[-1] + h[0]) // 2 + 1 for g, h in zip(groups, groups[1:])] + [counts.size]
        levels, masses = [], []
        for g, lo, hi in zip(groups, bounds, bounds[1:]):
            lo, hi = max(lo, g[0] - half_width), min(hi, g[-1] + half_width + 1)
            w = counts[lo:hi]
            masses.append(w.sum())
            levels.append(np.sum(w * centres[lo:hi]) / w.sum() if w.sum() else centres[g[0]])
        small = [i for i, m in enumerate(masses) if m < min_level_samples]
        if not small or len(groups) == 1:
            break
        del groups[min(small, key=lambda i: masses[i])]
    return tuple(float(10 ** v) for v in levels)


def _state_names(levels_a: tuple[float, ...], sleep_max_a: float) -> tuple[str, ...]:
    k = len(levels_a)
    if k == 1:
        return ("sleep",) if levels_a[0] < sleep_max_a else ("active",)
    names = ["sleep", "active"] + [f"active_{i}" for i in range(2, k - 1)]
    if k >= 3:
        names.append("tx")
    return tuple(names)


def _bands(levels_a: tuple[float, ...], hysteresis_frac: float) -> np.ndarray:
    """Band edges [lo_0, hi_0, lo_1, hi_1, ...] in A between adjacent levels (geometric)."""
    lg = np.log10(levels_a)
    mid = 0.5 * (lg[1:] + lg[:-1])
    half = hysteresis_frac * 0.5 * (lg[1:] - lg[:-1])
    return 10 ** np.column_stack((mid - half, mid + half)).ravel()


# ---------------------------------------------------------------------------------------------------
# the accumulator


@dataclass
class _OpenEvent:
    trigger: int             # global index of the wake trigger, -1 if before the capture
    s0: float                # prefix sum / count of samples present at the trigger
    c0: int
    rise: int                # global index of the first non-sleep sample
    peak: float
    c1: int | None = None    # end of the first non-sleep state (after its last sample outside a band)
    transient: WakeTransient | None = None


_NO_TRANSIENT = WakeTransient(*(float("nan"),) * 5)


class CurrentProfileAccumulator:
    """Streaming current-profile analysis (module docstring): survey() all chunks, add() them again."""

    def __init__(self, dt_s: float, *, x0_s: float = 0.0, settings: CurrentSettings | None = None,
                 **overrides: Any):
        if not (np.isfinite(dt_s) and dt_s > 0):
            raise UsageError(f"current analysis: dt_s must be a positive sample interval, got {dt_s!r}")
        self.dt_s = float(dt_s)
        self.x0_s = float(x0_s)
        self.settings = s = CurrentSettings.build(settings, **overrides)
        self._lvl_lo = np.log10(s.floor_a)
        self._lvl_bins = int(np.ceil((np.log10(s.valid_range_a[1]) - self._lvl_lo) * _LEVEL_BINS_PER_DECADE)) + 1
        self._lvl_hist = np.zeros(self._lvl_bins, dtype=np.int64)
        self._surveyed = 0
        self._survey_prev = float("nan")
        self._levels: tuple[float, ...] | None = s.levels_a
        self._edges: np.ndarray | None = None
        # pass 2
        self._n = 0
        self._missing = 0
        self._rejected = 0
        self._clipped = 0
        self._clipped_high = 0
        self._sum = 0.0
        self._present = 0
        self._peak = -np.inf
        self._ccdf_bins = int(np.ceil((np.log10(s.valid_range_a[1]) - self._lvl_lo) * _CCDF_BINS_PER_DECADE)) + 1
        self._ccdf = np.zeros(self._ccdf_bins, dtype=np.int64)
        self._ccdf_below = 0
        self._welch = WelchAccumulator(1.0 / self.dt_s, s.psd_nperseg, max_hole_fraction=s.psd_max_hole_fraction)
        self._last_def_cls = 0       # before any sample: sleep
        self._last_state = 0
        self._last_def_sleep = -1    # global index of the last sample below the sleep band
        self._last_def_idx = -1      # global index of the last sample outside every band
        self._prefix_after_lds = (0.0, 0)
        self._open: _OpenEvent | None = None
        self._events: list[tuple[_OpenEvent, int, float, float, bool]] = []
        self._tbuf = np.empty(0)
        self._tbuf_start = 0

    @property
    def needs_survey(self) -> bool:
        """True until levels are known (no ``levels_a`` given and ``add`` not yet started)."""
        return self._levels is None

    # -- sample hygiene -------------------------------------------------------------------------
    def _clean(self, chunk: Any, count: bool) -> np.ndarray:
        x = np.array(chunk, dtype=np.float64).ravel()   # a copy: the caller's array is never changed
        lo, hi = self.settings.valid_range_a
        nan = np.isnan(x)
        with np.errstate(invalid="ignore"):
            bad = ~nan & ((x < lo) | (x > hi) | np.isinf(x))
        x[bad] = np.nan
        if count:
            self._missing += int(np.count_nonzero(nan))
            self._rejected += int(np.count_nonzero(bad))
        return x

    # -- pass 1 ---------------------------------------------------------------------------------
    def survey(self, chunk: Any) -> None:
        """Pass 1: add a chunk to the level histogram (chunks in order; the whole capture).

        Only dwelling samples count: within ``level_dwell_decades`` of the previous sample in log10. A
        ramp sampled sparsely (a few samples per edge) then adds nothing, however many wake-ups repeat
        it, while a state adds nearly all its samples.
        """
        if self._n:
            raise AnalysisError("current analysis: survey() after add() started; survey every chunk first")
        x = self._clean(chunk, count=False)
        if x.size == 0:
            return
        with np.errstate(invalid="ignore"):
            lg = np.log10(np.maximum(x, self.settings.floor_a))      # NaN stays NaN
        prev = np.empty_like(lg)
        prev[0] = self._survey_prev
        prev[1:] = lg[:-1]
        with np.errstate(invalid="ignore"):
            dwell = np.abs(lg - prev) <= self.settings.level_dwell_decades
        idx = np.floor((lg[dwell] - self._lvl_lo) * _LEVEL_BINS_PER_DECADE).astype(np.int64)
        self._lvl_hist += np.bincount(np.clip(idx, 0, self._lvl_bins - 1), minlength=self._lvl_bins)
        self._survey_prev = float(lg[-1])
        self._surveyed += x.size

    def _fix_levels(self) -> None:
        s = self.settings
        if self._levels is None:
            if self._surveyed == 0:
                raise AnalysisError("current analysis: state levels unknown; survey() every chunk first "
                                    "or give levels_a")
            self._levels = find_levels(self._lvl_hist, floor_a=s.floor_a, min_level_ratio=s.min_level_ratio,
                                       min_level_samples=s.min_level_samples)
        self._edges = _bands(self._levels, s.hysteresis_frac)
        k = len(self._levels)
        self._st_sum = np.zeros(k)
        self._st_present = np.zeros(k, dtype=np.int64)
        self._st_samples = np.zeros(k, dtype=np.int64)
        self._st_max = np.full(k, -np.inf)
        self._st_clipped = np.zeros(k, dtype=np.int64)
        self._st_visits = np.zeros(k, dtype=np.int64)

    # -- pass 2 ---------------------------------------------------------------------------------
    def add(self, chunk: Any) -> None:
        """Pass 2: states, events, CCDF and PSD of the next chunk (chunks in order)."""
        if self._edges is None:
            self._fix_levels()
        s = self.settings
        x = self._clean(chunk, count=True)
        n = x.size
        if n == 0:
            return
        g0 = self._n
        fin = np.isfinite(x)
        xz = np.where(fin, x, 0.0)
        xm = np.where(fin, x, -np.inf)
        self._peak = max(self._peak, float(xm.max()))

        clip = np.zeros(n, dtype=bool)
        if s.clip_limits_a is not None:
            lo, hi = s.clip_limits_a
            tol = 1e-9 * (hi - lo)
            high = fin & (x >= hi - tol)
            clip = high | (fin & (x <= lo + tol))
            self._clipped += int(np.count_nonzero(clip))
            self._clipped_high += int(np.count_nonzero(high))

        above = fin & (x > s.floor_a)
        j = np.floor((np.log10(x[above]) - self._lvl_lo) * _CCDF_BINS_PER_DECADE).astype(np.int64)
        self._ccdf += np.bincount(np.clip(j, 0, self._ccdf_bins - 1), minlength=self._ccdf_bins)
        self._ccdf_below += int(np.count_nonzero(fin) - j.size)
        self._welch.add(x)

        # states with hysteresis: the last definite class, forward-filled, limited to the band's two
        pos = np.searchsorted(self._edges, x, side="right")
        definite = fin & (pos % 2 == 0)
        cls = pos // 2
        last = np.maximum.accumulate(np.where(definite, np.arange(n), -1))
        state = np.where(last >= 0, cls[np.maximum(last, 0)], self._last_def_cls)
        amb = fin & ~definite
        band = (pos[amb] - 1) // 2
        state[amb] = np.clip(state[amb], band, band + 1)
        if last[-1] >= 0:
            self._last_def_cls = int(cls[last[-1]])          # carried into the next chunk
        del pos, last, amb, band
        k = len(self._levels)
        self._st_sum += np.bincount(state, weights=xz, minlength=k)
        self._st_present += np.bincount(state[fin], minlength=k)
        self._st_samples += np.bincount(state, minlength=k)
        for i in range(k):                                        # per state, not per sample
            sel = xm[state == i]
            if sel.size:
                self._st_max[i] = max(self._st_max[i], float(sel.max()))
        if clip.any():
            self._st_clipped += np.bincount(state[clip], minlength=k)
        prev = np.empty_like(state)
        prev[0] = self._last_state
        prev[1:] = state[:-1]
        changes = np.flatnonzero(state != prev)
        if g0 == 0 and state[0] == prev[0]:
            self._st_visits[state[0]] += 1
        self._st_visits += np.bincount(state[changes], minlength=k)

        # prefix sums of the samples present, global
        ps = np.empty(n + 1)
        ps[0] = 0.0
        np.cumsum(xz, out=ps[1:])
        ps += self._sum
        pc = np.empty(n + 1, dtype=np.int64)
        pc[0] = 0
        np.cumsum(fin, out=pc[1:])
        pc += self._present

        # wake events: excursions from state 0
        ns, ns_prev = state != 0, prev != 0
        rises = np.flatnonzero(ns & ~ns_prev)
        falls = np.flatnonzero(~ns & ns_prev)
        dsl = np.flatnonzero(definite & (cls == 0))
        defi = np.flatnonzero(definite)
        del definite, cls, ns, ns_prev, prev

        def state_end(c: int) -> int:
            """End of the state left at local index c: after its last sample outside every band (the
            in-band samples before c already belong to the next edge)."""
            j = np.searchsorted(defi, c) - 1
            return (g0 + int(defi[j]) if j >= 0 else self._last_def_idx) + 1
        ev = self._open
        if ev is not None and ev.c1 is None and changes.size:      # carried in: its first state ends
            ev.c1 = max(state_end(int(changes[0])), ev.rise + 1)  # at the chunk's first change
        marks = np.concatenate((rises, falls))
        kinds = np.concatenate((np.ones(rises.size, bool), np.zeros(falls.size, bool)))
        order = np.argsort(marks, kind="stable")
        for m, is_rise in zip(marks[order], kinds[order]):       # per wake event, not per sample
            m = int(m)
            if is_rise:
                i = np.searchsorted(dsl, m) - 1
                lds = g0 + int(dsl[i]) if i >= 0 else self._last_def_sleep
                trig = lds + 1 if lds >= 0 else -1
                if trig >= g0:
                    s0, c0 = float(ps[trig - g0]), int(pc[trig - g0])
                elif trig >= 0:
                    s0, c0 = self._prefix_after_lds
                else:
                    s0, c0 = 0.0, 0
                ev = _OpenEvent(trig, s0, c0, g0 + m, -np.inf)
                if trig < 0:
                    ev.transient = _NO_TRANSIENT
                nxt = np.searchsorted(changes, m, side="right")
                if nxt < changes.size:
                    ev.c1 = max(state_end(int(changes[nxt])), ev.rise + 1)
                self._open = ev
            else:
                ev = self._open
                ev.peak = max(ev.peak, float(xm[max(ev.rise - g0, 0):m].max()))
                self._transient(ev, x, g0)
                self._events.append((ev, g0 + m, float(ps[m]), int(pc[m]), ev.trigger >= 0))
                self._open = None
        ev = self._open
        if ev is not None:
            ev.peak = max(ev.peak, float(xm[max(ev.rise - g0, 0):].max()))
            self._transient(ev, x, g0)

        # carry across the boundary
        g_end = g0 + n
        if dsl.size:
            self._last_def_sleep = g0 + int(dsl[-1])
            self._prefix_after_lds = (float(ps[dsl[-1] + 1]), int(pc[dsl[-1] + 1]))
        if defi.size:
            self._last_def_idx = g0 + int(defi[-1])
        self._last_state = int(state[-1])
        keep_from = None
        cap = s.max_transient_samples
        if ev is not None and ev.transient is None:
            keep_from = ev.trigger - 1
        elif ev is None and self._last_def_sleep >= 0 and g_end - self._last_def_sleep <= cap:
            keep_from = self._last_def_sleep
        if keep_from is not None:
            self._tbuf = self._slice(x, g0, keep_from, g_end).copy()
            self._tbuf_start = keep_from
        else:
            self._tbuf = np.empty(0)
            self._tbuf_start = g_end
        self._sum = float(ps[-1])
        self._present = int(pc[-1])
        self._n = g_end

    def _slice(self, x: np.ndarray, g0: int, a: int, b: int) -> np.ndarray:
        """Samples [a, b) (global) from the transient buffer and the current chunk."""
        parts = []
        if a < g0:
            parts.append(self._tbuf[a - self._tbuf_start:min(b, g0) - self._tbuf_start])
        if b > g0:
            parts.append(x[max(a, g0) - g0:b - g0])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _transient(self, ev: _OpenEvent, x: np.ndarray, g0: int) -> None:
        """Measure the wake transient once its window [trigger-1, end of first state) is complete."""
        if ev.transient is not None:
            return
        s = self.settings
        cap = s.max_transient_samples
        w0 = ev.trigger - 1
        if ev.rise - w0 > cap:                      # a ramp longer than the window: not measured
            ev.transient = _NO_TRANSIENT
            return
        g_end = g0 + x.size
        if ev.c1 is not None:
            w1 = min(ev.c1, w0 + cap)
        elif g_end >= w0 + cap:
            w1 = w0 + cap
        else:
            return
        window = self._slice(x, g0, w0, w1)
        ev.transient = wake_transient(
            window, self.dt_s, rise_index=ev.rise - w0, sleep_level_a=self._levels[0],
            wake_threshold_a=float(self._edges[0]), resume_fraction=s.resume_fraction,
            settle_band_pct=s.settle_band_pct)

    # -- result ---------------------------------------------------------------------------------
    def result(self) -> CurrentProfile:
        """The profile of everything added so far."""
        s = self.settings
        if self._n == 0:
            raise AnalysisError("current analysis: no samples were added")
        if self._surveyed and self._surveyed != self._n:
            raise AnalysisError(f"current analysis: survey() saw {self._surveyed} samples but add() "
                                f"{self._n}; both passes must cover the same capture")
        if self._clipped and s.on_clip == "raise":
            raise AnalysisError(
                f"current: {self._clipped} of {self._n} samples at the range limits {s.clip_limits_a} A; "
                "the range is too small for the signal: choose a larger range and measure again")
        dt, nan = self.dt_s, float("nan")
        levels = self._levels
        names = _state_names(levels, s.sleep_max_a)
        states = []
        for i, name in enumerate(names):
            mean = self._st_sum[i] / self._st_present[i] if self._st_present[i] else nan
            dwell = self._st_samples[i] * dt
            states.append(StateStats(
                name=name, level_a=levels[i], mean_current_a=float(mean), dwell_s=float(dwell),
                charge_c=float(mean * dwell) if self._st_samples[i] else 0.0,
                time_fraction=float(self._st_samples[i] / self._n), visits=int(self._st_visits[i]),
                max_current_a=float(self._st_max[i]) if np.isfinite(self._st_max[i]) else nan,
                clipped_samples=int(self._st_clipped[i])))

        records = list(self._events)
        if self._open is not None:                           # cut by the end of the capture
            ev = self._open
            if ev.transient is None:
                ev.transient = _NO_TRANSIENT
            records.append((ev, self._n, self._sum, self._present, False))
        events = []
        for ev, end, s1, c1, complete in records:
            start = max(ev.trigger, 0)
            duration = (end - start) * dt
            mean = (s1 - ev.s0) / (c1 - ev.c0) if c1 > ev.c0 else nan
            charge = mean * duration
            events.append(WakeEvent(
                start_s=self.x0_s + start * dt, end_s=self.x0_s + end * dt, duration_s=duration,
                charge_c=charge, energy_j=charge * s.supply_v, mean_current_a=mean,
                peak_current_a=ev.peak, complete=complete, transient=ev.transient))
        done = [e for e in events if e.complete]

        def worst(attr: str) -> float:
            v = np.array([getattr(e.transient, attr) for e in done], dtype=float)
            return float(np.nanmax(v)) if np.any(np.isfinite(v)) else nan

        charge = float(np.mean([e.charge_c for e in done])) if done else nan
        triggers = [(ev.trigger, ev.s0, ev.c0) for ev, *_ in records if ev.trigger >= 0]
        if len(triggers) >= 2:
            period = float(np.median(np.diff([t[0] for t in triggers]))) * dt
            (_, sa, ca), (_, sb, cb) = triggers[0], triggers[-1]
            avg = (sb - sa) / (cb - ca) if cb > ca else nan
        else:
            period = nan
            avg = self._sum / self._present if self._present else nan
        life = (battery_life_h(avg, s.capacity_mah, derating=s.derating,
                               self_discharge_pct_per_year=s.self_discharge_pct_per_year)
                if s.capacity_mah is not None and np.isfinite(avg) else nan)
        ccdf = CurrentCcdf(s.floor_a, _CCDF_BINS_PER_DECADE, self._ccdf.copy(), self._ccdf_below)
        p_level = ccdf.level_at(s.ccdf_probability)
        spectrum = self._welch.result("A^2/Hz")
        spurs = find_spurs(spectrum, threshold_db=s.spur_threshold_db, max_spurs=s.max_spurs)

        sleep_i = 0 if names[0] == "sleep" else None
        active_i = 1 if len(names) >= 2 else (0 if names[0] == "active" else None)
        top_i = len(names) - 1 if len(names) >= 2 else active_i
        sleep = states[sleep_i].mean_current_a if sleep_i is not None else nan
        active = states[active_i].mean_current_a if active_i is not None else nan
        tx_peak = states[top_i].max_current_a if top_i is not None else nan
        peak = self._peak if np.isfinite(self._peak) else nan
        resume, overshoot, settling, rise = (worst("resume_time_s"), worst("overshoot_pct"),
                                             worst("settling_time_s"), worst("rise_time_s"))
        if self._clipped and s.on_clip == "flag":          # what clipped samples would falsify
            if sleep_i is not None and states[sleep_i].clipped_samples:
                sleep = nan
            if active_i is not None and states[active_i].clipped_samples:
                active = nan
            if top_i is not None and states[top_i].clipped_samples:
                tx_peak = nan
            charge = avg = life = peak = resume = overshoot = settling = rise = nan
            events = [dataclasses.replace(e, charge_c=nan, energy_j=nan, mean_current_a=nan) for e in events]
            if self._clipped_high >= s.ccdf_probability * ccdf.n_samples:
                p_level = nan
        return CurrentProfile(
            sleep_current_a=sleep, active_current_a=active, tx_peak_current_a=tx_peak,
            wake_event_charge_c=charge, wake_event_energy_j=charge * s.supply_v, resume_time_s=resume,
            avg_current_a=avg, battery_life_h=life, current_p99_99_a=p_level,
            wake_overshoot_pct=overshoot, wake_settling_time_s=settling,
            current_spur_freq_hz=spurs[0].freq_hz if spurs else nan,
            peak_current_a=peak, period_s=period, wake_rise_time_s=rise,
            settle_band_pct=s.settle_band_pct, supply_v=s.supply_v,
            states=tuple(states), events=tuple(events), levels_a=tuple(levels),
            wake_threshold_a=float(self._edges[0]) if self._edges.size else nan,
            ccdf=ccdf, spectrum=spectrum, spurs=spurs, n_samples=self._n, duration_s=self._n * dt,
            missing_samples=self._missing, rejected_samples=self._rejected,
            clipped=self._clipped > 0, clipped_samples=self._clipped)


def analyze_current(current_a: Any, dt_s: float, *, x0_s: float = 0.0, chunk_samples: int = 1 << 20,
                    settings: CurrentSettings | None = None, **overrides: Any) -> CurrentProfile:
    """Current profile of a capture (A, NaN for holes) sampled every ``dt_s`` (module docstring).

    ``current_a`` is anything with len() and slicing (numpy array, h5py dataset, memmap); it is read
    in ``chunk_samples`` pieces, twice unless ``levels_a`` is given, so peak memory stays O(chunk).
    Keyword overrides are ``CurrentSettings`` fields (supply_v, capacity_mah, derating, clip_limits_a,
    ...); an unknown one is a UsageError.
    """
    n = len(current_a)
    chunk = int(chunk_samples)
    if chunk < 1:
        raise UsageError(f"current analysis: chunk_samples must be at least 1, got {chunk_samples!r}")
    acc = CurrentProfileAccumulator(dt_s, x0_s=x0_s, settings=settings, **overrides)
    if acc.needs_survey:
        for a in range(0, n, chunk):
            acc.survey(current_a[a:a + chunk])
    for a in range(0, n, chunk):
        acc.add(current_a[a:a + chunk])
    return acc.result()

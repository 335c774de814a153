"""Eye diagram, eye height and width, and rise/fall times of NRZ data.

The eye folds every sample onto the recovered clock: position u in UI (edges at whole u, the eye
centre at u + 0.5), shown over 2 UI from -0.5 to 1.5. Samples outside the histogram's voltage range
are counted, never an error (PyBERT#155).

Eye height = (mu1 - 3 sigma1) - (mu0 + 3 sigma0) of the samples in the central 20 % of the UI
(0.4-0.6, Keysight's window); eye width = (t_cross2 - 3 sigma) - (t_cross1 + 3 sigma) = UI - 6 sigma
of the crossing times, i.e. UI - 6 TIE rms (standards.md §2, Tek/Keysight definitions).
Rise and fall times are the mean over complete edges between the 20/80 % (and 10/90 %) points of the
eye levels mu0, mu1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.analysis.clock import Clock
from labbench.analysis.edges import Edges, Levels, crossing_times, refine_crossings
from labbench.errors import AnalysisError

EYE_CENTRE_WINDOW = (0.4, 0.6)


@dataclass(frozen=True)
class EyeResult:
    histogram: np.ndarray      # counts [voltage bin, time bin]
    time_edges_ui: np.ndarray
    voltage_edges_v: np.ndarray
    outside: int               # samples beyond the voltage range
    one_mean_v: float
    one_sigma_v: float
    zero_mean_v: float
    zero_sigma_v: float
    eye_height_v: float
    eye_width_s: float
    eye_width_ui: float
    ui_s: float

    @property
    def eye_amplitude_v(self) -> float:
        return self.one_mean_v - self.zero_mean_v


def unit_interval_position(t_s: np.ndarray, edges_t: np.ndarray, clock: Clock) -> np.ndarray:
    """Position of each time in UI on the recovered clock; NaN outside the bursts' edges."""
    out = np.full(t_s.shape, np.nan)
    ideal = clock.ideal_times_s
    burst = clock.burst_id
    starts = np.concatenate(([0], np.flatnonzero(np.diff(burst)) + 1))
    stops = np.append(starts[1:], burst.size)
    for a, b in zip(starts, stops):
        if b - a < 2:
            continue
        lo, hi = ideal[a], ideal[b - 1]
        i0, i1 = np.searchsorted(t_s, [lo, hi])
        if i1 > i0:
            out[i0:i1] = np.interp(t_s[i0:i1], ideal[a:b], clock.bit_index[a:b])
    return out


def eye_diagram(values: np.ndarray, x0: float, dx: float, clock: Clock, edges: Edges, tie_rms_s: float,
                time_bins: int = 200, voltage_bins: int = 256) -> EyeResult:
    t = x0 + np.arange(values.size, dtype=np.float64) * dx
    u = unit_interval_position(t, edges.times_s, clock)
    ok = np.isfinite(u) & np.isfinite(values)
    if np.count_nonzero(ok) < 64:
        raise AnalysisError("fewer than 64 samples fall on the recovered clock: no eye")
    u, v = u[ok], values[ok]
    frac = u - np.floor(u)
    threshold = edges.threshold_v
    centre = (frac >= EYE_CENTRE_WINDOW[0]) & (frac <= EYE_CENTRE_WINDOW[1])
    ones = v[centre & (v > threshold)]
    zeros = v[centre & (v <= threshold)]
    if ones.size < 8 or zeros.size < 8:
        raise AnalysisError("the eye centre holds too few ones or zeros to measure the eye")
    mu1, s1, mu0, s0 = float(ones.mean()), float(ones.std()), float(zeros.mean()), float(zeros.std())
    height = (mu1 - 3 * s1) - (mu0 + 3 * s0)
    width = clock.ui_s - 6.0 * tie_rms_s
    # 2-UI histogram
    pos = np.mod(u + 0.5, 2.0) - 0.5
    span = mu1 - mu0
    v_lo, v_hi = mu0 - 0.5 * span, mu1 + 0.5 * span
    ti = np.floor((pos + 0.5) / 2.0 * time_bins).astype(np.int64)
    vi = np.floor((v - v_lo) / (v_hi - v_lo) * voltage_bins).astype(np.int64)
    inside = (vi >= 0) & (vi < voltage_bins) & (ti >= 0) & (ti < time_bins)
    hist = np.bincount(vi[inside] * time_bins + ti[inside], minlength=voltage_bins * time_bins)
    return EyeResult(
        histogram=hist.reshape(voltage_bins, time_bins).astype(np.int32),
        time_edges_ui=np.linspace(-0.5, 1.5, time_bins + 1),
        voltage_edges_v=np.linspace(v_lo, v_hi, voltage_bins + 1),
        outside=int(np.count_nonzero(~inside)), one_mean_v=mu1, one_sigma_v=s1, zero_mean_v=mu0,
        zero_sigma_v=s0, eye_height_v=height, eye_width_s=width, eye_width_ui=width / clock.ui_s,
        ui_s=clock.ui_s)


@dataclass(frozen=True)
class TransitionTimes:
    rise_20_80_s: float
    fall_20_80_s: float
    rise_10_90_s: float
    fall_10_90_s: float
    edges_used: int


def _mean_transition(values, x0, dx, edges: Edges, levels: Levels, lo_frac: float, hi_frac: float,
                     rising: bool, max_s: float) -> tuple[float, int]:
    start_level = levels.at(lo_frac if rising else hi_frac)
    end_level = levels.at(hi_frac if rising else lo_frac)
    starts, _ = crossing_times(values, x0, dx, start_level, rising=rising, interpolate=False)
    ends, _ = crossing_times(values, x0, dx, end_level, rising=rising, interpolate=False)
    mids = edges.times_s[edges.rising == rising]
    if starts.size == 0 or ends.size == 0 or mids.size == 0:
        return float("nan"), 0
    i = np.searchsorted(starts, mids) - 1
    j = np.searchsorted(ends, mids)
    ok = (i >= 0) & (j < ends.size)
    t_start, t_end, mid = starts[i[ok]], ends[j[ok]], mids[ok]
    good = (mid - t_start < max_s) & (t_end - mid < max_s)
    if not np.any(good):
        return float("nan"), 0
    t_start = refine_crossings(values, x0, dx, t_start[good], start_level)
    t_end = refine_crossings(values, x0, dx, t_end[good], end_level)
    return float(np.mean(t_end - t_start)), int(t_start.size)


def transition_times(values: np.ndarray, x0: float, dx: float, edges: Edges, levels: Levels,
                     ui_s: float) -> TransitionTimes:
    """Rise/fall times between the eye levels' 20/80 % and 10/90 % points (complete edges only)."""
    r28, n = _mean_transition(values, x0, dx, edges, levels, 0.2, 0.8, True, ui_s)
    f28, _ = _mean_transition(values, x0, dx, edges, levels, 0.2, 0.8, False, ui_s)
    r19, _ = _mean_transition(values, x0, dx, edges, levels, 0.1, 0.9, True, ui_s)
    f19, _ = _mean_transition(values, x0, dx, edges, levels, 0.1, 0.9, False, ui_s)
    return TransitionTimes(r28, f28, r19, f19, n)

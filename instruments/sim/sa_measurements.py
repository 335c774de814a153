"""The simulated analyzer's own measurement arithmetic (channel power, OBW, ACP, power statistics, peak
search), written the way an analyzer does it and independently of labbench.analysis, so that the two
agreeing proves something.

Conventions (those of the X-series measurements, standards.md §3-§4): a trace point is the power the
Gaussian RBW filter passes (noise bandwidth 1.0645 x RBW); band power sums the points whose frequency lies
inside the band, each standing for one point spacing (rectangle rule, no partial bins); OBW leaves
(100 - percent) / 2 % of the total power below and above, interpolated between points; power statistics
are counted on sorted samples (at-or-above convention).
"""
from __future__ import annotations

import math

import numpy as np

from labbench.instruments.sim.rf_scene import ENBW_PER_RBW, mw_to_dbm

INVALID = 9.91e37           # the X-series "no result" value
PSTAT_PROBABILITIES_PCT = (10.0, 1.0, 0.1, 0.01, 0.001, 0.0001)
PSTAT_TRACE_DB = np.arange(501) * 0.1      # 0 to 50 dB in 0.1 dB steps


def band_power_mw(freq_hz: np.ndarray, reading_mw: np.ndarray, lo_hz: float, hi_hz: float, rbw_hz: float) -> float:
    """Sum of the points inside [lo, hi], each x point spacing / noise bandwidth."""
    if freq_hz.size < 2:
        return float("nan")
    step = (freq_hz[-1] - freq_hz[0]) / (freq_hz.size - 1)
    inside = (freq_hz >= lo_hz - 1e-6 * step) & (freq_hz <= hi_hz + 1e-6 * step)
    return float(reading_mw[inside].sum() * step / (ENBW_PER_RBW * rbw_hz))


def channel_power(freq_hz, reading_mw, center_hz: float, integration_hz: float, rbw_hz: float) -> tuple[float, float]:
    """(channel power dBm, density dBm/Hz) in the integration bandwidth around center_hz."""
    p = band_power_mw(freq_hz, reading_mw, center_hz - integration_hz / 2, center_hz + integration_hz / 2, rbw_hz)
    dbm = float(mw_to_dbm(p)) if p > 0 else float("nan")
    return dbm, dbm - 10.0 * math.log10(integration_hz)


def occupied_bandwidth(freq_hz, reading_mw, percent: float, center_hz: float, rbw_hz: float) -> tuple[float, float, float]:
    """(OBW Hz, total power dBm, transmit frequency error Hz): the edges where the running sum of the
    points reaches (100 - percent) / 2 % and (100 + percent) / 2 % of the total, interpolated between
    the midpoints of neighbouring points; the error is the OBW's centre minus the centre frequency."""
    cum = np.cumsum(reading_mw)
    total = cum[-1]
    if not total > 0:
        return INVALID, INVALID, INVALID
    step = (freq_hz[-1] - freq_hz[0]) / (freq_hz.size - 1)
    edges = freq_hz + step / 2                     # cum[i] is the power up to the upper edge of point i
    tail = (100.0 - percent) / 200.0 * total
    lo = float(np.interp(tail, np.r_[0.0, cum], np.r_[edges[0] - step, edges]))
    hi = float(np.interp(total - tail, np.r_[0.0, cum], np.r_[edges[0] - step, edges]))
    total_mw = total * step / (ENBW_PER_RBW * rbw_hz)
    return hi - lo, float(mw_to_dbm(total_mw)), 0.5 * (lo + hi) - center_hz


def xdb_bandwidth(freq_hz, reading_dbm, xdb: float) -> float:
    """Width between the outermost points at or above (peak + xdb) dB (xdb negative), each edge
    interpolated to the crossing with its outer neighbour."""
    peak = float(np.max(reading_dbm))
    level = peak + xdb
    above = np.flatnonzero(reading_dbm >= level)
    if above.size == 0:
        return INVALID
    i, j = int(above[0]), int(above[-1])
    if i == 0 or j == reading_dbm.size - 1:
        return INVALID                             # the signal runs off the span
    lo = np.interp(level, [reading_dbm[i - 1], reading_dbm[i]], [freq_hz[i - 1], freq_hz[i]])
    hi = np.interp(level, [reading_dbm[j + 1], reading_dbm[j]], [freq_hz[j + 1], freq_hz[j]])
    return float(hi - lo)


def power_statistics(power_mw: np.ndarray) -> tuple[list[float], np.ndarray, np.ndarray]:
    """CCDF of instantaneous power samples, at-or-above convention.

    Returns the scalars of `:READ:PSTatistic1?` (average dBm, probability at the average %, levels dB
    above the average at 10/1/0.1/0.01/0.001/0.0001 % (INVALID when the count is too small), peak dB
    above the average, sample count), the measured trace (% at 0..50 dB, 0.1 dB steps) and the
    complex-Gaussian reference trace (exp(-10^(x/10)), %)."""
    p = np.sort(np.asarray(power_mw, dtype=np.float64))       # ascending
    n = p.size
    mean = float(p.mean())
    at_or_above = lambda level: (n - np.searchsorted(p, level, side="left")) / n   # noqa: E731
    levels = []
    for pct in PSTAT_PROBABILITIES_PCT:
        k = math.ceil(pct / 100.0 * n - 1e-9)                  # the k-th largest sample
        levels.append(10.0 * math.log10(p[n - k] / mean) if k >= 1 and pct / 100.0 * n >= 1.0 - 1e-9 else INVALID)
    scalars = [float(mw_to_dbm(mean)), 100.0 * float(at_or_above(mean)), *levels,
               10.0 * math.log10(p[-1] / mean), float(n)]
    trace = 100.0 * at_or_above(mean * 10.0 ** (PSTAT_TRACE_DB / 10.0))
    gaussian = 100.0 * np.exp(-(10.0 ** (PSTAT_TRACE_DB / 10.0)))
    return scalars, trace, gaussian


def peak_indices(reading_dbm: np.ndarray, excursion_db: float = 6.0) -> np.ndarray:
    """Local maxima that rise at least excursion_db above the lowest point between them and every
    higher point (the analyzer's peak excursion), in index order."""
    y = np.asarray(reading_dbm, dtype=np.float64)
    if y.size < 3:
        return np.array([int(np.argmax(y))]) if y.size else np.array([], dtype=int)
    from scipy.signal import find_peaks
    idx, _ = find_peaks(np.r_[-np.inf, y, -np.inf], prominence=excursion_db)
    return idx - 1

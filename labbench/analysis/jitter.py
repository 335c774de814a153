"""Jitter of NRZ data: TIE, period and cycle-to-cycle jitter, DCD, RJ/DJ separation and TJ at a BER.

Definitions (standards.md §2):
- TIE_i = t_i - t_hat_i against the recovered clock.
- Period jitter: P_i - n_i UI between neighbouring edges = TIE_{i+1} - TIE_i; cycle-to-cycle jitter:
  its first difference. Independent TIE of sigma gives sqrt(2) sigma and sqrt(6) sigma.
- DCD = |mean TIE of rising edges - mean TIE of falling edges| (PyBERT convention).
- Data-dependent jitter (ISI + DCD): the mean TIE of the edges that share the same preceding run
  lengths and polarity (pattern averaging); it is removed before the spectral step.
- Periodic jitter: spectral lines of the remaining TIE (Hann-windowed periodogram; a line is a local
  maximum more than ln(N) + 12 times the local mean noise power, i.e. about 1e-5 false lines per
  record), each frequency refined by parabolic interpolation, all fitted jointly as sinusoids by least
  squares on the edges and subtracted.
- RJ: rms of what is left.
- TJ(BER) from the exact tails: the DJ distribution (DDJ + PJ per edge) convolved with the Gaussian
  RJ; on each side the x where the tail probability equals BER; TJ = x_right + x_left. So sinusoidal
  PJ 10 ps pk-pk with RJ 1 ps gives 23.30 ps at 1e-12, not the dual-Dirac's 24.07 ps.
- DJ(delta-delta) = TJ - 2 Q(BER) RJ, Q = sqrt(2) erfcinv(2 BER): the dual-Dirac DJ consistent with
  that TJ (9.23 ps in the example above).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import erfcinv, ndtr

from labbench.analysis.clock import Clock
from labbench.analysis.edges import Edges
from labbench.errors import AnalysisError

MAX_PJ_TONES = 16
MIN_EDGES_PER_PATTERN = 20
MIN_SPECTRAL_EDGES = 256


def q_ber(ber: float) -> float:
    """Q(BER) = sqrt(2) erfcinv(2 BER): 7.0345 at 1e-12."""
    if not 0 < ber < 0.5:
        raise AnalysisError(f"BER {ber} must be between 0 and 0.5")
    return float(np.sqrt(2.0) * erfcinv(2.0 * ber))


@dataclass(frozen=True)
class PeriodicTone:
    frequency_hz: float
    amplitude_pp_s: float


@dataclass(frozen=True)
class JitterResult:
    tie_s: np.ndarray
    tie_rms_s: float
    tie_pp_s: float
    period_jitter_rms_s: float
    c2c_jitter_rms_s: float
    dcd_s: float
    ddj_pp_s: float
    pj_tones: list[PeriodicTone]
    pj_pp_s: float
    rj_rms_s: float
    dj_pp_s: float
    tj_s: float
    dj_dd_s: float
    ber: float
    residual_s: np.ndarray = field(repr=False, default=None)   # what RJ was measured on
    ddj_per_edge_s: np.ndarray = field(repr=False, default=None)
    pj_per_edge_s: np.ndarray = field(repr=False, default=None)


def _within_burst_diff(x: np.ndarray, burst: np.ndarray) -> np.ndarray:
    d = np.diff(x)
    return d[burst[1:] == burst[:-1]]


def period_and_c2c(tie: np.ndarray, burst: np.ndarray) -> tuple[float, float]:
    same = burst[1:] == burst[:-1]
    period = np.diff(tie)
    p_ok = period[same]
    c2c = np.diff(period)[same[1:] & same[:-1]]
    return (float(np.std(p_ok)) if p_ok.size > 1 else float("nan"),
            float(np.std(c2c)) if c2c.size > 1 else float("nan"))


def pattern_keys(bit_index: np.ndarray, burst: np.ndarray, rising: np.ndarray, depth: int, cap: int = 6) -> np.ndarray:
    """An integer per edge naming its polarity and the `depth` run lengths before it (capped)."""
    runs = np.diff(bit_index, prepend=np.nan)
    runs[np.concatenate(([True], burst[1:] != burst[:-1]))] = cap + 1    # unknown at a burst start
    runs = np.clip(np.nan_to_num(runs, nan=cap + 1), 1, cap + 1).astype(np.int64)
    key = rising.astype(np.int64)
    for k in range(depth):
        shifted = np.roll(runs, k)
        if k:
            shifted[:k] = cap + 1
        key = key * (cap + 2) + shifted
    return key


def data_dependent_jitter(tie: np.ndarray, clock: Clock, rising: np.ndarray) -> np.ndarray:
    """Per-edge DDJ (ISI + DCD) by pattern averaging, deepest history the record supports."""
    best = np.zeros_like(tie)
    for depth in (4, 3, 2, 1):
        keys = pattern_keys(clock.bit_index, clock.burst_id, rising, depth)
        uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if tie.size / uniq.size >= MIN_EDGES_PER_PATTERN or depth == 1:
            means = np.bincount(inverse, tie) / counts
            well = counts[inverse] >= 3
            best = np.where(well, means[inverse], 0.0)
            break
    return best - np.mean(best)


def _largest_burst(clock: Clock) -> np.ndarray:
    counts = np.bincount(clock.burst_id)
    return np.flatnonzero(clock.burst_id == np.argmax(counts))


def _noise_floor(power: np.ndarray, block: int = 64) -> np.ndarray:
    """Local mean noise power per bin: block medians / ln 2 (the median of an exponential variable is
    ln 2 times its mean), interpolated between blocks; robust to the lines it must not include."""
    n_blocks = max(power.size // block, 1)
    medians = np.median(power[: n_blocks * block].reshape(n_blocks, -1), axis=1) / np.log(2.0)
    centres = (np.arange(n_blocks) + 0.5) * (power.size / n_blocks)
    return np.interp(np.arange(power.size), centres, medians)


def periodic_jitter(residual: np.ndarray, clock: Clock) -> tuple[list[PeriodicTone], np.ndarray]:
    """Spectral lines of the residual TIE, fitted jointly as sinusoids (over the largest burst)."""
    sel = _largest_burst(clock)
    pj = np.zeros_like(residual)
    if sel.size < MIN_SPECTRAL_EDGES:
        return [], pj
    n = clock.bit_index[sel]
    r = residual[sel]
    grid = np.arange(n[0], n[-1] + 1)
    if grid.size > 1 << 22:
        grid = np.linspace(n[0], n[-1], 1 << 22)
    step = (grid[-1] - grid[0]) / max(grid.size - 1, 1)     # UI per grid point
    window = np.hanning(grid.size)
    freqs: list[float] = []                                  # cycles per UI
    for _ in range(3):                                       # a strong line can hide a weak one: look again
        y = np.interp(grid, n, r - _fit_tones(n, r, freqs)[0])
        power = np.abs(np.fft.rfft((y - y.mean()) * window)) ** 2
        threshold = _noise_floor(power) * (np.log(power.size) + 12.0)
        k = np.arange(2, power.size - 1)
        peaks = k[(power[k] > threshold[k]) & (power[k] >= power[k - 1]) & (power[k] >= power[k + 1])]
        if peaks.size == 0:
            break
        peaks = peaks[np.argsort(power[peaks])[::-1]][: MAX_PJ_TONES - len(freqs)]
        for kk in peaks:
            a, b, c = np.log(power[kk - 1:kk + 2] + 1e-300)
            curvature = a - 2 * b + c
            delta = 0.5 * (a - c) / curvature if curvature != 0 else 0.0
            f = (kk + delta) / (grid.size * step)
            if all(abs(f - f0) * (n[-1] - n[0]) > 2.0 for f0 in freqs):   # a new line, not a sidelobe
                freqs.append(f)
        if len(freqs) >= MAX_PJ_TONES:
            break
    fitted, amplitudes = _fit_tones(n, r, freqs)
    pj[sel] = fitted
    tones = [PeriodicTone(f / clock.ui_s, 2 * amp) for f, amp in zip(freqs, amplitudes)]
    return sorted(tones, key=lambda t: -t.amplitude_pp_s), pj


def _fit_tones(n: np.ndarray, r: np.ndarray, freqs: list[float]) -> tuple[np.ndarray, list[float]]:
    """Least-squares sinusoids at the given frequencies (cycles per UI) on the edges themselves."""
    if not freqs:
        return np.zeros_like(r), []
    columns = [np.ones_like(n, dtype=np.float64)]
    for f in freqs:
        phase = 2 * np.pi * f * (n - n[0])
        columns += [np.cos(phase), np.sin(phase)]
    design = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    fitted = design[:, 1:] @ coef[1:]
    amplitudes = [float(np.hypot(coef[1 + 2 * i], coef[2 + 2 * i])) for i in range(len(freqs))]
    return fitted, amplitudes


def tj_from_tails(dj_s: np.ndarray, rj_rms_s: float, ber: float) -> float:
    """Total jitter at BER: DJ samples convolved with Gaussian RJ, per-side tail = BER."""
    dj = np.asarray(dj_s, dtype=np.float64)
    dj = dj - dj.mean()
    if dj.size > 4000:   # the distribution, not every sample, matters: compress to quantiles
        dj = np.quantile(dj, np.linspace(0, 1, 4001))
    if rj_rms_s <= 0:
        return float(np.ptp(dj))

    def side(samples: np.ndarray) -> float:
        lo, hi = float(samples.min()), float(samples.max()) + 40.0 * rj_rms_s
        for _ in range(200):   # bisection on a monotone tail
            mid = 0.5 * (lo + hi)
            if np.mean(ndtr((samples - mid) / rj_rms_s)) > ber:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-6 * rj_rms_s:
                break
        return 0.5 * (lo + hi)

    return side(dj) + side(-dj)


def jitter_metrics(edges: Edges, clock: Clock, ber: float = 1e-12) -> JitterResult:
    tie = edges.times_s - clock.ideal_times_s
    tie = tie - np.mean(tie)
    rising = edges.rising
    period_rms, c2c_rms = period_and_c2c(tie, clock.burst_id)
    dcd = abs(float(np.mean(tie[rising]) - np.mean(tie[~rising]))) if rising.any() and (~rising).any() else 0.0
    ddj = data_dependent_jitter(tie, clock, rising)
    tones, pj = periodic_jitter(tie - ddj, clock)
    residual = tie - ddj - pj
    rj = float(np.std(residual))
    dj = ddj + pj
    tj = tj_from_tails(dj, rj, ber)
    return JitterResult(
        tie_s=tie, tie_rms_s=float(np.std(tie)), tie_pp_s=float(np.ptp(tie)),
        period_jitter_rms_s=period_rms, c2c_jitter_rms_s=c2c_rms, dcd_s=dcd,
        ddj_pp_s=float(np.ptp(ddj)), pj_tones=tones, pj_pp_s=float(np.ptp(pj)) if tones else 0.0,
        rj_rms_s=rj, dj_pp_s=float(np.ptp(dj)), tj_s=tj, dj_dd_s=tj - 2 * q_ber(ber) * rj, ber=ber,
        residual_s=residual, ddj_per_edge_s=ddj, pj_per_edge_s=pj)

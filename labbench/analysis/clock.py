"""Clock recovery for NRZ data from its edge times.

Edges fall on whole unit intervals of the transmitter's clock, shifted by jitter. Each interval between
neighbouring edges is a whole number of UI; a record may hold several bursts (UART frames separated by
idle gaps that are not whole bits), each with its own phase but one common rate. The constant-rate
clock is the least-squares fit t_i = phase_burst + n_i * UI over all bursts at once; the PLL clock
then follows the slow part of the TIE through a first-order loop of the stated bandwidth (the "golden
PLL" jitter transfer, so jitter below the loop bandwidth is tracked out, as a receiver would).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.errors import AnalysisError

MAX_RUN_UI = 64            # an interval longer than this many UI starts a new burst
ON_GRID_TOLERANCE_UI = 0.3  # an interval this far from a whole number of UI starts a new burst
MAX_BURSTS_PER_EDGE = 0.35  # more bursts than this per edge: the nominal rate is wrong (UART frames: ~0.2)


@dataclass(frozen=True)
class Clock:
    ui_s: float
    bit_index: np.ndarray       # whole-UI position of each edge (counted from its burst's first edge)
    ideal_times_s: np.ndarray   # the recovered clock's edge time for each edge
    burst_id: np.ndarray        # which burst each edge belongs to
    method: str
    loop_bandwidth_hz: float | None = None

    @property
    def rate_bps(self) -> float:
        return 1.0 / self.ui_s

    @property
    def n_bursts(self) -> int:
        return int(self.burst_id[-1]) + 1 if self.burst_id.size else 0


def estimate_ui(edge_times_s: np.ndarray) -> float:
    """A first UI guess with no nominal rate: the typical shortest interval between edges."""
    d = np.diff(edge_times_s)
    d = d[d > 0]
    if d.size < 4:
        raise AnalysisError(f"{d.size + 1} edges: too few to estimate the bit rate")
    shortest = np.percentile(d, 2)
    return float(np.median(d[d < 1.5 * shortest]))


def _segment(edge_times_s: np.ndarray, ui: float, forced: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(edge_times_s)
    ratio = d / ui
    steps = np.rint(ratio)
    breaks = (steps < 1) | (steps > MAX_RUN_UI) | (np.abs(ratio - steps) > ON_GRID_TOLERANCE_UI)
    if forced is not None:
        breaks |= forced
    burst = np.concatenate(([0], np.cumsum(breaks)))
    steps = np.where(breaks, 0, steps)
    # whole-UI index within each burst: cumulative steps, restarted at each break
    cum = np.concatenate(([0.0], np.cumsum(steps)))
    start_of_burst = np.concatenate(([0], np.flatnonzero(breaks) + 1))
    n = cum - np.repeat(cum[start_of_burst], np.diff(np.append(start_of_burst, cum.size)))
    return n, burst


def _phase_jumps(tie: np.ndarray, burst: np.ndarray, ui: float) -> np.ndarray:
    """Intervals where the TIE jumps by far more than the period jitter: an idle gap of a fraction of
    a UI that happened to look like whole bits (UART frames), so the phase must restart there."""
    d = np.diff(tie)
    same = burst[1:] == burst[:-1]
    if np.count_nonzero(same) < 8:
        return np.zeros(d.size, dtype=bool)
    inside = d[same]
    sigma = 1.4826 * np.median(np.abs(inside - np.median(inside)))
    threshold = max(10.0 * sigma, 0.05 * ui)
    return same & (np.abs(d) > threshold)


def _fit_common_rate(t: np.ndarray, n: np.ndarray, burst: np.ndarray) -> tuple[float, np.ndarray]:
    """Least squares of t = phase_b + n * UI with one UI and a phase per burst (closed form)."""
    counts = np.bincount(burst)
    mean_t = np.bincount(burst, t) / counts
    mean_n = np.bincount(burst, n) / counts
    dn = n - mean_n[burst]
    dt = t - mean_t[burst]
    denom = float(np.dot(dn, dn))
    if denom <= 0:
        raise AnalysisError("no burst holds two edges a whole number of UI apart: cannot fit a clock")
    ui = float(np.dot(dn, dt) / denom)
    phase = mean_t - ui * mean_n
    return ui, phase


def recover_clock(edge_times_s: np.ndarray, nominal_rate_bps: float | None = None, method: str = "constant",
                  loop_bandwidth_hz: float | None = None) -> Clock:
    """Recover the data clock. `method` is "constant" (one rate, a phase per burst) or "pll"
    (first-order loop of `loop_bandwidth_hz`, default rate/1667 as in 10GBASE-R/PCIe CDRs)."""
    t = np.asarray(edge_times_s, dtype=np.float64)
    if t.size < 8:
        raise AnalysisError(f"{t.size} edges: too few to recover a clock")
    ui = 1.0 / nominal_rate_bps if nominal_rate_bps else estimate_ui(t)
    forced = np.zeros(t.size - 1, dtype=bool)
    for _ in range(8):   # refine: a better UI counts long runs right; a TIE jump marks a gap
        n, burst = _segment(t, ui, forced)
        ui, phase = _fit_common_rate(t, n, burst)
        jumps = _phase_jumps(t - (phase[burst] + n * ui), burst, ui)
        if not jumps.any():
            break
        forced |= jumps
    counts = np.bincount(burst)
    if nominal_rate_bps and counts.size > MAX_BURSTS_PER_EDGE * t.size:
        # a nominal rate near half or double the real one still "fits" every other interval
        raise AnalysisError(f"{counts.size} of {t.size} edges start a new burst: the edges do not fall on the grid "
                            f"of the nominal {nominal_rate_bps:.6g} b/s (they suggest about "
                            f"{1 / estimate_ui(t):.6g} b/s); check nominal_rate_bps")
    steps = np.diff(n)[burst[1:] == burst[:-1]]
    if nominal_rate_bps and steps.size > 32 and np.mean(steps % 2 == 1) < 0.02:
        raise AnalysisError(f"every interval between edges is an even number of UI at the nominal "
                            f"{nominal_rate_bps:.6g} b/s: the data runs at about half that rate; check nominal_rate_bps")
    if counts.max() < 3:
        raise AnalysisError("edges never fall on a common unit-interval grid: not NRZ data at this rate "
                            f"(UI guess {ui:.4g} s)")
    ideal = phase[burst] + n * ui
    if method == "constant":
        return Clock(ui, n, ideal, burst, "constant")
    if method != "pll":
        raise AnalysisError(f"clock recovery method {method!r}: use 'constant' or 'pll'")
    from scipy.signal import lfilter   # here: importing scipy.signal costs ~2 s at start-up

    bandwidth = loop_bandwidth_hz or (1.0 / ui) / 1667.0
    if not 0 < bandwidth < 0.1 / ui:
        raise AnalysisError(f"PLL loop bandwidth {bandwidth:.4g} Hz: must be below a tenth of the bit rate "
                            f"({0.1 / ui:.4g} Hz)")
    tie = t - ideal
    tracked = np.empty_like(tie)
    alpha = 1.0 - np.exp(-2.0 * np.pi * bandwidth * ui)     # per-UI update of a first-order loop
    for b in range(int(burst[-1]) + 1):
        sel = np.flatnonzero(burst == b)
        nb = n[sel]
        grid = np.arange(nb[0], nb[-1] + 1)
        on_grid = np.interp(grid, nb, tie[sel])           # the loop sees a phase error every UI
        smooth = lfilter([alpha], [1.0, alpha - 1.0], on_grid, zi=[(1 - alpha) * on_grid[0]])[0]
        tracked[sel] = smooth[(nb - nb[0]).astype(np.int64)]
    return Clock(ui, n, ideal + tracked, burst, "pll", bandwidth)

"""Plot helpers for notebooks, reports and procedures' `figures()`: matplotlib, array-level inputs.

Every function takes plain numpy arrays in SI units (the same arrays a procedure stores under
`results/`), draws on `ax` (a new figure when None) and returns that Axes, so callers can add to it,
set limits, or put several plots on one figure. Axes are labelled with engineering prefixes chosen
from the data (ps, mV, MHz, uA ...). No function shows or saves a figure.

Conventions:
- bathtub: BER(x) = rho_T * [P(J > x) + P(J < x - UI)], x the sampling instant after the left crossing,
  J the crossing-time jitter. rho_T (transition density) defaults to 1, the per-side tail convention the
  TJ metric uses (labbench.analysis.jitter, standards.md §2), so the bathtub's opening at BER is UI - TJ.
- jitter spectrum: TIE resampled onto a uniform grid, Hann-windowed periodogram, shown as the pk-pk
  amplitude a sinusoid in that bin would have (4 |X| / sum(w)).
- CCDF: probability that the level exceeds x dB above the mean (standards.md §3).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable

import numpy as np

__all__ = ["plot_eye", "plot_bathtub", "plot_jitter_histogram", "plot_jitter_spectrum", "plot_spectrum",
           "plot_spectrogram", "plot_dfs_timeline", "plot_current_profile", "plot_ccdf", "plot_rail_psd",
           "engineering_scale"]

_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
             (1e6, "M"), (1e9, "G"), (1e12, "T"))


def engineering_scale(values: Any, unit: str) -> tuple[float, str]:
    """(factor, label) so that values / factor reads in 1..1000 of the labelled unit: (1e-12, 'ps')."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1.0, unit
    typical = float(np.max(v))
    factor, prefix = _PREFIXES[0]
    for f, p in _PREFIXES:
        if typical >= f * 0.9999:
            factor, prefix = f, p
    return factor, prefix + unit


def _axes(ax, figsize=(6.4, 4.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _pairs(items) -> list[tuple]:
    """Events or states given as a sequence of tuples, a {label: value} mapping, or a table of columns."""
    if items is None:
        return []
    if isinstance(items, Mapping):
        keys = list(items)
        columns = {k: np.atleast_1d(np.asarray(items[k])) for k in keys}
        if {"start_s", "end_s"} <= set(columns):
            names = columns.get("name", columns.get("state", np.array([""] * len(columns["start_s"]))))
            return [(float(a), float(b), _text(n)) for a, b, n in zip(columns["start_s"], columns["end_s"], names)]
        if {"time_s"} <= set(columns):
            names = columns.get("name", columns.get("event", np.array([""] * len(columns["time_s"]))))
            return [(float(t), _text(n)) for t, n in zip(columns["time_s"], names)]
        return [(float(np.asarray(v)), str(k)) for k, v in items.items()]
    return [tuple(item) for item in items]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- serial links: eye and jitter

def plot_eye(histogram, time_edges_ui, voltage_edges_v, ax=None, *, title: str = "Eye diagram",
             cmap: str = "inferno", log: bool = True):
    """Eye diagram from a 2-D histogram of counts [voltage bin, time bin] (labbench.analysis.eye layout).

    `log` colours by log10(counts) so rare traces (the ones that close the eye) stay visible; empty bins
    are left blank.
    """
    from matplotlib.colors import LogNorm, Normalize

    ax = _axes(ax)
    counts = np.asarray(histogram, dtype=np.float64)
    t_edges = np.asarray(time_edges_ui, dtype=np.float64)
    v_edges = np.asarray(voltage_edges_v, dtype=np.float64)
    if counts.shape != (v_edges.size - 1, t_edges.size - 1):
        raise ValueError(f"histogram shape {counts.shape} does not match {v_edges.size - 1} voltage bins x "
                         f"{t_edges.size - 1} time bins")
    scale, unit = engineering_scale(v_edges, "V")
    shown = np.ma.masked_less_equal(counts, 0)
    top = float(shown.max()) if shown.count() else 1.0
    norm = LogNorm(vmin=1.0, vmax=max(top, 1.0 + 1e-9)) if log else Normalize(vmin=0.0, vmax=top)
    mesh = ax.pcolormesh(t_edges, v_edges / scale, shown, cmap=cmap, norm=norm, shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label="hits")
    ax.set_xlabel("time (UI)")
    ax.set_ylabel(f"voltage ({unit})")
    ax.set_title(title)
    return ax


def bathtub_curve(jitter_s, ui_s: float, *, rj_rms_s: float | None = None, transition_density: float = 1.0,
                  points: int = 401) -> tuple[np.ndarray, np.ndarray]:
    """(x_ui, ber): BER against the sampling instant across one UI (convention in the module docstring).

    With `rj_rms_s` None, `jitter_s` is the measured TIE and the curve is its empirical distribution
    (it cannot reach below 1 / N). With `rj_rms_s`, `jitter_s` holds the deterministic jitter per edge
    (DDJ + PJ) and the curve is DJ convolved with Gaussian RJ, extrapolated to any BER.
    """
    from scipy.special import ndtr

    j = np.asarray(jitter_s, dtype=np.float64)
    j = j[np.isfinite(j)]
    if j.size == 0:
        raise ValueError("bathtub: no jitter samples")
    if not ui_s > 0:
        raise ValueError(f"bathtub: ui_s must be positive, got {ui_s!r}")
    j = j - j.mean()
    x_ui = np.linspace(0.0, 1.0, points)
    x_s = x_ui * ui_s
    if rj_rms_s is None or rj_rms_s <= 0:
        ordered = np.sort(j)
        late = 1.0 - np.searchsorted(ordered, x_s, side="right") / j.size          # P(J > x)
        early = np.searchsorted(ordered, x_s - ui_s, side="left") / j.size           # P(J < x - UI)
    else:
        if j.size > 4000:   # the distribution matters, not every edge: compress to quantiles
            j = np.quantile(j, np.linspace(0.0, 1.0, 4001))
        late = ndtr((j[None, :] - x_s[:, None]) / rj_rms_s).mean(axis=1)
        early = ndtr(((x_s[:, None] - ui_s) - j[None, :]) / rj_rms_s).mean(axis=1)
    return x_ui, np.clip(transition_density * (late + early), 0.0, 1.0)


def plot_bathtub(jitter_s, ui_s: float, ax=None, *, rj_rms_s: float | None = None, ber: float = 1e-12,
                 transition_density: float = 1.0, ber_floor: float = 1e-18, title: str = "Bathtub"):
    """Bathtub curve (log BER against sampling instant in UI) with the target BER and the opening there.

    Pass the TIE alone for the measured curve, or DJ samples with `rj_rms_s` for the DJ+RJ model (see
    `bathtub_curve`). The opening at `ber` is annotated in UI.
    """
    ax = _axes(ax)
    x_ui, curve = bathtub_curve(jitter_s, ui_s, rj_rms_s=rj_rms_s, transition_density=transition_density)
    shown = np.where(curve > 0, curve, np.nan)
    label = "DJ + RJ model" if rj_rms_s else "measured TIE"
    ax.semilogy(x_ui, shown, label=label)
    ax.axhline(ber, color="grey", linestyle="--", linewidth=0.8, label=f"BER {ber:.0e}")
    open_ = x_ui[curve <= ber]
    if open_.size:
        ax.axvspan(open_.min(), open_.max(), color="tab:green", alpha=0.12,
                   label=f"opening {open_.max() - open_.min():.3f} UI")
    ax.set_ylim(max(ber_floor, min(ber / 100, np.nanmin(shown) if np.isfinite(shown).any() else ber)), 1.0)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("sampling instant (UI)")
    ax.set_ylabel("BER")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", fontsize="small")
    return ax


def plot_jitter_histogram(tie_s, ax=None, *, bins: int = 100, rj_rms_s: float | None = None,
                          title: str = "TIE histogram"):
    """Histogram of the time interval error; with `rj_rms_s`, a Gaussian of that sigma (same area) on it."""
    ax = _axes(ax)
    tie = np.asarray(tie_s, dtype=np.float64)
    tie = tie[np.isfinite(tie)]
    scale, unit = engineering_scale(tie, "s")
    counts, edges, _ = ax.hist(tie / scale, bins=bins, color="tab:blue", alpha=0.8, label=f"{tie.size} edges")
    if rj_rms_s and tie.size:
        x = np.linspace(edges[0], edges[-1], 400)
        sigma = rj_rms_s / scale
        width = edges[1] - edges[0]
        gauss = tie.size * width / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - tie.mean() / scale) / sigma) ** 2)
        ax.plot(x, gauss, color="tab:red", label=f"RJ {rj_rms_s / scale:.3g} {unit} rms")
    ax.set_xlabel(f"TIE ({unit})")
    ax.set_ylabel("edges")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def jitter_spectrum(tie_s, edge_times_s=None, *, ui_s: float | None = None,
                    max_points: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """(freq_hz, amplitude_pp_s) of the TIE: uniform resampling, Hann window, sinusoid pk-pk per bin.

    `edge_times_s` gives each TIE sample's time (gaps between bursts are bridged linearly); without it
    the TIE samples are taken as one per `ui_s`. The grid step is `ui_s` when given, else the median
    edge spacing (coarsened to at most `max_points` points).
    """
    tie = np.asarray(tie_s, dtype=np.float64)
    if edge_times_s is None:
        if not ui_s:
            raise ValueError("jitter spectrum: give edge_times_s or ui_s")
        t = np.arange(tie.size) * ui_s
    else:
        t = np.asarray(edge_times_s, dtype=np.float64)
        if t.shape != tie.shape:
            raise ValueError(f"jitter spectrum: {tie.size} TIE samples but {t.size} edge times")
    ok = np.isfinite(tie) & np.isfinite(t)
    t, tie = t[ok], tie[ok]
    if tie.size < 8:
        raise ValueError(f"jitter spectrum: {tie.size} samples, need at least 8")
    step = ui_s if ui_s else float(np.median(np.diff(t)))
    span = t[-1] - t[0]
    n = int(span / step) + 1
    if n > max_points:
        n, step = max_points, span / (max_points - 1)
    grid = t[0] + np.arange(n) * step
    y = np.interp(grid, t, tie)
    y -= y.mean()
    window = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(y * window))
    amplitude_pp = 4.0 * spectrum / window.sum()
    freq = np.fft.rfftfreq(n, step)
    return freq[1:], amplitude_pp[1:]


def plot_jitter_spectrum(tie_s, edge_times_s=None, ax=None, *, ui_s: float | None = None,
                         tones_hz=None, tones_pp_s=None, title: str = "Jitter spectrum"):
    """TIE spectrum (pk-pk amplitude per bin against frequency, log-log); found PJ tones marked."""
    ax = _axes(ax)
    freq, amp = jitter_spectrum(tie_s, edge_times_s, ui_s=ui_s)
    scale, unit = engineering_scale(amp, "s")
    fscale, funit = engineering_scale(freq, "Hz")
    ax.loglog(freq / fscale, np.where(amp > 0, amp / scale, np.nan), linewidth=0.7, label="TIE")
    if tones_hz is not None and len(tones_hz):
        pp = np.asarray(tones_pp_s if tones_pp_s is not None else np.interp(tones_hz, freq, amp), dtype=float)
        ax.plot(np.asarray(tones_hz) / fscale, pp / scale, "v", color="tab:red", label="PJ tones")
    ax.set_xlabel(f"frequency ({funit})")
    ax.set_ylabel(f"amplitude ({unit} pk-pk)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# ---------------------------------------------------------------- RF

def plot_spectrum(freq_hz, power_dbm, mask=None, ax=None, *, label: str = "trace", title: str = "Spectrum"):
    """Spectrum trace in dBm; `mask` (freq_hz, limit_dbm) drawn as a limit line, violations marked."""
    ax = _axes(ax)
    f = np.asarray(freq_hz, dtype=np.float64)
    p = np.asarray(power_dbm, dtype=np.float64)
    fscale, funit = engineering_scale(f, "Hz")
    ax.plot(f / fscale, p, linewidth=0.8, label=label)
    if mask is not None:
        mf, ml = (np.asarray(a, dtype=np.float64) for a in mask)
        ax.plot(mf / fscale, ml, color="tab:red", linewidth=1.0, label="mask")
        inside = (f >= mf.min()) & (f <= mf.max())
        over = inside & (p > np.interp(f, mf, ml, left=np.inf, right=np.inf))
        if over.any():
            ax.plot(f[over] / fscale, p[over], ".", color="tab:red", markersize=3, label="over mask")
    ax.set_xlabel(f"frequency ({funit})")
    ax.set_ylabel("power (dBm)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_spectrogram(time_s, freq_hz, power_dbm, ax=None, *, cmap: str = "viridis",
                     title: str = "Spectrogram"):
    """Power in dBm against time (x) and frequency (y); `power_dbm` rows are time, columns frequency."""
    ax = _axes(ax)
    t = np.asarray(time_s, dtype=np.float64)
    f = np.asarray(freq_hz, dtype=np.float64)
    p = np.asarray(power_dbm, dtype=np.float64)
    if p.shape != (t.size, f.size):
        raise ValueError(f"spectrogram: power shape {p.shape}, expected (time {t.size}, frequency {f.size})")
    tscale, tunit = engineering_scale(t, "s")
    fscale, funit = engineering_scale(f, "Hz")
    mesh = ax.pcolormesh(t / tscale, f / fscale, p.T, cmap=cmap, shading="nearest")
    ax.figure.colorbar(mesh, ax=ax, label="dBm")
    ax.set_xlabel(f"time ({tunit})")
    ax.set_ylabel(f"frequency ({funit})")
    ax.set_title(title)
    return ax


def plot_dfs_timeline(time_s, power_dbm, events=(), ax=None, *, title: str = "DFS timeline"):
    """Zero-span power against time with events: (time_s, label) as lines, (start_s, end_s, label) as spans.

    `events` may also be a {label: time_s} mapping or a table with time_s/name columns.
    """
    ax = _axes(ax, figsize=(8.0, 4.0))
    t = np.asarray(time_s, dtype=np.float64)
    tscale, tunit = engineering_scale(t, "s")
    ax.plot(t / tscale, np.asarray(power_dbm, dtype=np.float64), linewidth=0.6, label="power")
    colors = iter(["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"] * 8)
    for event in _pairs(events):
        color = next(colors)
        if len(event) == 3:
            start, end, name = event
            ax.axvspan(start / tscale, end / tscale, color=color, alpha=0.15, label=str(name))
        else:
            when, name = event
            ax.axvline(when / tscale, color=color, linestyle="--", linewidth=1.0, label=str(name))
    ax.set_xlabel(f"time ({tunit})")
    ax.set_ylabel("power (dBm)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return ax


def plot_ccdf(level_db, probability, reference=None, ax=None, *, label: str = "measured",
              title: str = "CCDF"):
    """CCDF: probability (log) that the level exceeds x dB above the mean.

    `reference`: (level_db, probability) arrays, or 'complex' / 'real' for the Gaussian reference
    (labbench.analysis.ccdf.gaussian_ccdf, standards.md §3).
    """
    ax = _axes(ax)
    x = np.asarray(level_db, dtype=np.float64)
    q = np.asarray(probability, dtype=np.float64)
    ax.semilogy(x, np.where(q > 0, q, np.nan), label=label)
    if reference is not None:
        if isinstance(reference, str):
            from labbench.analysis.ccdf import gaussian_ccdf

            rx, rq, rlabel = x, np.asarray(gaussian_ccdf(x, reference)), f"Gaussian ({reference})"
        else:
            rx, rq = (np.asarray(a, dtype=np.float64) for a in reference)
            rlabel = "reference"
        ax.semilogy(rx, np.where(rq > 0, rq, np.nan), color="grey", linestyle="--", label=rlabel)
    positive = q[q > 0]
    ax.set_ylim(max(1e-6, positive.min() / 2) if positive.size else 1e-6, 1.0)
    ax.set_xlim(0, max(1.0, float(np.nanmax(x[q > 0])) + 1.0) if positive.size else None)
    ax.set_xlabel("level above mean (dB)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# ---------------------------------------------------------------- power

def plot_current_profile(time_s, current_a, states=None, ax=None, *, log: bool = False,
                         title: str = "Current profile"):
    """Current against time; `states` (start_s, end_s, name) tuples (or a table with start_s, end_s,
    name columns) shaded and labelled. `log` for a sleep current decades below the active one."""
    ax = _axes(ax, figsize=(8.0, 4.0))
    t = np.asarray(time_s, dtype=np.float64)
    i = np.asarray(current_a, dtype=np.float64)
    tscale, tunit = engineering_scale(t, "s")
    iscale, iunit = engineering_scale(i, "A")
    if log:
        iscale, iunit = 1.0, "A"
        ax.semilogy(t / tscale, np.where(i > 0, i, np.nan), linewidth=0.6, label="current")
    else:
        ax.plot(t / tscale, i / iscale, linewidth=0.6, label="current")
    colors: dict[str, str] = {}
    palette = ["tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:cyan", "tab:olive"]
    for start, end, name in _pairs(states):
        first = name not in colors
        color = colors.setdefault(name, palette[len(colors) % len(palette)])
        ax.axvspan(start / tscale, end / tscale, color=color, alpha=0.15, label=name if first else None)
    ax.set_xlabel(f"time ({tunit})")
    ax.set_ylabel(f"current ({iunit})")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return ax


def plot_rail_psd(freq_hz, psd_v2_hz, ax=None, *, spurs_hz: Iterable[float] | None = None,
                  title: str = "Rail noise PSD"):
    """Noise density of a supply rail, in dBV/sqrt(Hz) (10 log10 of V^2/Hz), log frequency; spurs marked."""
    ax = _axes(ax)
    f = np.asarray(freq_hz, dtype=np.float64)
    d = np.asarray(psd_v2_hz, dtype=np.float64)
    keep = f > 0
    f, d = f[keep], d[keep]
    db = 10.0 * np.log10(np.where(d > 0, d, np.nan))
    fscale, funit = engineering_scale(f, "Hz")
    ax.semilogx(f / fscale, db, linewidth=0.7, label="PSD")
    spurs = np.asarray(list(spurs_hz) if spurs_hz is not None else [], dtype=np.float64)
    if spurs.size:
        ax.plot(spurs / fscale, np.interp(spurs, f, db), "v", color="tab:red", label="spurs")
    ax.set_xlabel(f"frequency ({funit})")
    ax.set_ylabel("noise density (dBV/√Hz)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax

"""Spectrum-analyzer traces: channel power, PSD, 99 % OBW, 802.11 OFDM mask, ACPR, peaks and spurs.

References: standards.md §4 (definitions of OBW and ACLR/ACPR, the 802.11 OFDM 20 MHz mask) and §7.6
(known answers).

The one convention everything here rests on: a trace point is the power (dBm) that the resolution
filter passes when centred on that frequency. For a spectrum of density S(f) (W/Hz) and a filter with
peak-normalised power response |H|², the reading is ∫ S(f')·|H(f'−f)|² df', so the density is the reading
divided by the filter's equivalent noise bandwidth (ENBW = ∫|H|² df). Band power is then
Σ reading_i · Δf_i / ENBW, each point standing for the bin between the midpoints to its neighbours, with
partial bins at the band edges weighted by their overlap. This makes channel power independent of RBW,
window and point count (field-reports.md, "Spectrum"), provided that

- the trace uses a sample or RMS-average detector (a peak detector over-reads noise), and
- tones are sampled finely enough: with a Gaussian RBW filter, point spacing ≤ RBW/2 integrates a tone
  exactly and spacing = RBW within ±0.25 dB; wider spacing under- or over-reads it depending on where
  it falls between points. Noise-like spectra have no such limit.

ENBW of the analyzer's Gaussian RBW filter: 1.0645 × RBW (ideal Gaussian, ENBW/B3dB = √(π/(4 ln 2)));
pass ``enbw_hz`` explicitly when the instrument states another value. For an FFT with window w over
N points, ENBW = N·Σw²/(Σw)² bins (Hann 1.5).

Synthesis helpers for simulators and tests (an ideal 802.11 OFDM PSD shape that meets the mask, a BLE
shape, a Gaussian-RBW swept trace) are at the end of the module, clearly apart from the analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from labbench.errors import AnalysisError

GAUSSIAN_RBW_ENBW_RATIO = math.sqrt(math.pi / (4.0 * math.log(2.0)))  # 1.0645: ENBW / 3 dB bandwidth

# 802.11 OFDM 20 MHz transmit mask (standards.md §4): |offset| Hz -> limit dBr relative to the peak PSD,
# linear in dB between points, the first value inside, the last value beyond.
MASK_80211_OFDM_20MHZ: tuple[tuple[float, float], ...] = (
    (9e6, 0.0), (11e6, -20.0), (20e6, -28.0), (30e6, -40.0),
)


def _dbm_to_w(dbm):
    return 10.0 ** ((np.asarray(dbm, dtype=float) - 30.0) / 10.0)


def _w_to_dbm(w):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(w, dtype=float)) + 30.0


def _scalar(x) -> float:
    return float(np.asarray(x))


# --------------------------------------------------------------------------------------------------
# The trace
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SpectrumTrace:
    """A spectrum as a power spectral density (W/Hz) on an ascending frequency axis.

    ``enbw_hz`` is the noise bandwidth of the filter the readings were taken with (NaN for a trace
    built from an ideal PSD). Build it with :meth:`from_dbm` (analyzer trace), :meth:`from_psd_dbm_hz`
    or :meth:`from_psd_w_hz`.
    """

    freq_hz: np.ndarray
    psd_w_hz: np.ndarray
    enbw_hz: float = math.nan

    def __post_init__(self):
        f, p = np.asarray(self.freq_hz, dtype=float), np.asarray(self.psd_w_hz, dtype=float)
        if f.ndim != 1 or f.shape != p.shape:
            raise AnalysisError(f"spectrum trace: frequency axis {f.shape} and values {p.shape} differ")
        if f.size < 2:
            raise AnalysisError("spectrum trace: need at least 2 points")
        if not np.all(np.diff(f) > 0):
            raise AnalysisError("spectrum trace: frequency axis must be strictly ascending")
        object.__setattr__(self, "freq_hz", f)
        object.__setattr__(self, "psd_w_hz", p)

    @classmethod
    def from_dbm(cls, freq_hz, power_dbm, *, rbw_hz: float | None = None,
                 enbw_hz: float | None = None) -> SpectrumTrace:
        """An analyzer trace: ``power_dbm`` read through the RBW filter at each ``freq_hz``.

        Give ``enbw_hz`` (the filter's noise bandwidth) or ``rbw_hz`` (3 dB bandwidth of a Gaussian
        RBW filter; ENBW = 1.0645 × RBW).
        """
        if enbw_hz is None:
            if rbw_hz is None:
                raise AnalysisError("spectrum trace from dBm: give rbw_hz or enbw_hz")
            enbw_hz = GAUSSIAN_RBW_ENBW_RATIO * float(rbw_hz)
        if not enbw_hz > 0:
            raise AnalysisError(f"spectrum trace: noise bandwidth must be > 0, got {enbw_hz!r} Hz")
        return cls(np.asarray(freq_hz, dtype=float), _dbm_to_w(power_dbm) / enbw_hz, float(enbw_hz))

    @classmethod
    def from_psd_dbm_hz(cls, freq_hz, psd_dbm_hz) -> SpectrumTrace:
        """A density trace in dBm/Hz."""
        return cls(np.asarray(freq_hz, dtype=float), _dbm_to_w(psd_dbm_hz))

    @classmethod
    def from_psd_w_hz(cls, freq_hz, psd_w_hz) -> SpectrumTrace:
        """A density trace in W/Hz."""
        return cls(np.asarray(freq_hz, dtype=float), np.asarray(psd_w_hz, dtype=float))

    @property
    def bin_edges_hz(self) -> np.ndarray:
        """Edges of the bins the points stand for: midpoints between neighbours, half a spacing outside."""
        f = self.freq_hz
        mid = 0.5 * (f[1:] + f[:-1])
        return np.concatenate(([f[0] - (mid[0] - f[0])], mid, [f[-1] + (f[-1] - mid[-1])]))

    @property
    def bin_width_hz(self) -> np.ndarray:
        return np.diff(self.bin_edges_hz)

    def psd_dbm_hz(self) -> np.ndarray:
        """Power spectral density in dBm/Hz at each point."""
        return _w_to_dbm(self.psd_w_hz)

    def reading_dbm(self) -> np.ndarray:
        """Power per point in dBm as the analyzer shows it (density × ENBW; × bin width for ideal PSDs)."""
        bw = self.enbw_hz if math.isfinite(self.enbw_hz) else self.bin_width_hz
        return _w_to_dbm(self.psd_w_hz * bw)

    def band_power_w(self, f_lo_hz: float, f_hi_hz: float) -> float:
        """Power in [f_lo, f_hi] (W): Σ density × overlap of each bin with the band (module docstring)."""
        if not f_hi_hz > f_lo_hz:
            raise AnalysisError(f"band [{f_lo_hz}, {f_hi_hz}] Hz is empty")
        e = self.bin_edges_hz
        if f_lo_hz < e[0] - 1e-9 * abs(e[0]) or f_hi_hz > e[-1] + 1e-9 * abs(e[-1]):
            raise AnalysisError(f"band {f_lo_hz / 1e6:.6f}–{f_hi_hz / 1e6:.6f} MHz extends beyond the trace "
                                f"({e[0] / 1e6:.6f}–{e[-1] / 1e6:.6f} MHz)")
        overlap = np.clip(np.minimum(e[1:], f_hi_hz) - np.maximum(e[:-1], f_lo_hz), 0.0, None)
        return float(np.nansum(self.psd_w_hz * overlap))

    def cumulative_power_w(self) -> np.ndarray:
        """Integrated power from the lower trace edge up to each bin edge (len = points + 1)."""
        p = np.nan_to_num(self.psd_w_hz) * self.bin_width_hz
        return np.concatenate(([0.0], np.cumsum(p)))


def window_enbw_bins(window: str | tuple | np.ndarray, nfft: int) -> float:
    """Equivalent noise bandwidth of an FFT window in bins: N·Σw²/(Σw)² (rectangular 1, Hann 1.5)."""
    w = np.asarray(signal.get_window(window, nfft, fftbins=True) if not isinstance(window, np.ndarray)
                   else window, dtype=float)
    return float(w.size * np.sum(w * w) / np.sum(w) ** 2)


def periodogram_trace(samples: np.ndarray, fs_hz: float, *, center_hz: float = 0.0, window="hann",
                      nfft: int = 1024, watts_per_unit2: float = 1.0 / 50.0) -> SpectrumTrace:
    """Averaged periodogram (Welch, 50 % overlap, no detrending) of complex I/Q or real samples.

    Complex input gives a two-sided spectrum around ``center_hz``; real input a one-sided one.
    Instantaneous power is |x|²·``watts_per_unit2`` (volts into 50 Ω by default). The trace's ENBW is
    ``window_enbw_bins``·fs/nfft, so ``reading_dbm`` is what an FFT analyzer with that window shows.
    """
    x = np.asarray(samples)
    if x.ndim != 1 or x.size < nfft:
        raise AnalysisError(f"periodogram: need a 1-D record of at least nfft={nfft} samples, got {x.shape}")
    two_sided = np.iscomplexobj(x)
    f, pxx = signal.welch(x, fs=fs_hz, window=window, nperseg=nfft, noverlap=nfft // 2, detrend=False,
                          return_onesided=not two_sided, scaling="density")
    if two_sided:
        f, pxx = np.fft.fftshift(f), np.fft.fftshift(pxx)
    enbw = window_enbw_bins(window, nfft) * fs_hz / nfft
    return SpectrumTrace(f + center_hz, pxx * watts_per_unit2, enbw)


# --------------------------------------------------------------------------------------------------
# Channel power, OBW, ACPR
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelPower:
    """Power in an integration band and its mean density (standards.md §4)."""

    power_dbm: float
    psd_dbm_hz: float
    center_hz: float
    bandwidth_hz: float

    @property
    def psd_dbm_mhz(self) -> float:
        return self.psd_dbm_hz + 60.0


def channel_power(trace: SpectrumTrace, center_hz: float, bandwidth_hz: float) -> ChannelPower:
    """Channel power in [center − bw/2, center + bw/2]: ∫ PSD df with partial edge bins (module docstring).

    ``psd_dbm_hz`` is the power divided by the integration bandwidth, as the analyzer's CHPower reports.
    """
    p = trace.band_power_w(center_hz - bandwidth_hz / 2, center_hz + bandwidth_hz / 2)
    dbm = _scalar(_w_to_dbm(p))
    return ChannelPower(dbm, dbm - 10.0 * math.log10(bandwidth_hz), float(center_hz), float(bandwidth_hz))


@dataclass(frozen=True)
class OccupiedBandwidth:
    """99 % occupied bandwidth and its edges (standards.md §4)."""

    obw_hz: float
    lower_hz: float
    upper_hz: float
    center_hz: float
    total_power_dbm: float
    percent: float


def occupied_bandwidth(trace: SpectrumTrace, percent: float = 99.0, *, f_lo_hz: float | None = None,
                       f_hi_hz: float | None = None) -> OccupiedBandwidth:
    """Occupied bandwidth: (100 − percent)/2 % of the total power below the lower edge and as much above
    the upper one (99 %: 0.5 % each side; standards.md §4, 47 CFR / Keysight X-series definition).

    Total power is integrated over the whole trace, or over [f_lo, f_hi] when given. Edges are
    interpolated linearly in the cumulative power within a bin. Known answers (§7.6): a flat spectrum of
    width B gives 0.99 B; a Gaussian PSD of standard deviation σ gives 5.152 σ.
    """
    if not 0.0 < percent < 100.0:
        raise AnalysisError(f"occupied bandwidth: percent must be in (0, 100), got {percent}")
    t = trace
    if f_lo_hz is not None or f_hi_hz is not None:
        sel = (t.freq_hz >= (f_lo_hz if f_lo_hz is not None else -np.inf)) & \
              (t.freq_hz <= (f_hi_hz if f_hi_hz is not None else np.inf))
        if np.count_nonzero(sel) < 2:
            raise AnalysisError("occupied bandwidth: fewer than 2 trace points in the band")
        t = SpectrumTrace(t.freq_hz[sel], t.psd_w_hz[sel], t.enbw_hz)
    cum = t.cumulative_power_w()
    total = cum[-1]
    if not total > 0:
        raise AnalysisError("occupied bandwidth: the trace holds no power")
    tail = (100.0 - percent) / 200.0 * total
    edges = t.bin_edges_hz
    # cum is non-decreasing and piecewise linear between bin edges: invert it at the two tails.
    lo = float(np.interp(tail, cum, edges))
    hi = float(np.interp(total - tail, cum, edges))
    return OccupiedBandwidth(hi - lo, lo, hi, 0.5 * (lo + hi), _scalar(_w_to_dbm(total)), float(percent))


@dataclass(frozen=True)
class Acpr:
    """Adjacent channel power ratio for one offset (standards.md §4): 10·log10(P_adj/P_main) in dBc."""

    main_power_dbm: float
    lower_power_dbm: float
    upper_power_dbm: float
    lower_dbc: float
    upper_dbc: float
    offset_hz: float
    main_bandwidth_hz: float
    adjacent_bandwidth_hz: float


def acpr(trace: SpectrumTrace, center_hz: float, main_bandwidth_hz: float, offset_hz: float,
         adjacent_bandwidth_hz: float | None = None) -> Acpr:
    """ACPR (ACLR) at ±``offset_hz`` from ``center_hz``: each channel integrated over its own bandwidth
    (``adjacent_bandwidth_hz`` defaults to the main one), ratio to the main channel in dBc."""
    adj_bw = main_bandwidth_hz if adjacent_bandwidth_hz is None else adjacent_bandwidth_hz
    main = channel_power(trace, center_hz, main_bandwidth_hz).power_dbm
    lower = channel_power(trace, center_hz - offset_hz, adj_bw).power_dbm
    upper = channel_power(trace, center_hz + offset_hz, adj_bw).power_dbm
    return Acpr(main, lower, upper, lower - main, upper - main, float(offset_hz), float(main_bandwidth_hz),
                float(adj_bw))


# --------------------------------------------------------------------------------------------------
# Spectral mask
# --------------------------------------------------------------------------------------------------

def mask_limit_dbr(offset_hz, mask: tuple[tuple[float, float], ...] = MASK_80211_OFDM_20MHZ):
    """Mask limit in dBr at each offset from the carrier: linear in dB between the (|offset|, dBr)
    points of ``mask``, its first value inside the first offset and its last value beyond the last
    (standards.md §4; default the 802.11 OFDM 20 MHz mask)."""
    pts = np.asarray(mask, dtype=float)
    out = np.interp(np.abs(np.asarray(offset_hz, dtype=float)), pts[:, 0], pts[:, 1])
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True, eq=False)
class MaskResult:
    """Worst margin of a trace to a relative mask (negative = violation) and where it occurs.

    ``limit_dbm`` is the mask on the trace's own scale (reading dBm), NaN inside the flat top where
    the mask is not evaluated; ``margin_db`` per point = limit − reading.
    """

    margin_db: float
    worst_freq_hz: float
    worst_offset_hz: float
    reference_dbm: float
    freq_hz: np.ndarray
    limit_dbm: np.ndarray
    point_margin_db: np.ndarray


def mask_margin(trace: SpectrumTrace, center_hz: float,
                mask: tuple[tuple[float, float], ...] = MASK_80211_OFDM_20MHZ, *,
                reference_dbm: float | None = None) -> MaskResult:
    """Worst margin to a spectral mask given in dBr relative to the peak PSD (standards.md §4).

    The reference is the highest reading within the mask's first offset (±9 MHz for 802.11 OFDM
    20 MHz), unless ``reference_dbm`` is given. The mask is evaluated at every trace point farther from
    the carrier than its first offset (inside, the limit is the peak itself and says nothing).
    Readings are used as the analyzer shows them; the 802.11 measurement takes them with 100 kHz RBW.
    Margin = limit − reading, its minimum over the evaluated points; negative means a violation.
    """
    off = trace.freq_hz - center_hz
    reading = trace.reading_dbm()
    first = float(mask[0][0])
    inside = np.abs(off) <= first
    if reference_dbm is None:
        if not np.any(inside):
            raise AnalysisError(f"mask: no trace point within ±{first / 1e6:g} MHz of {center_hz / 1e6:g} MHz "
                                "to take the reference from")
        reference_dbm = float(np.nanmax(reading[inside]))
    evaluated = ~inside
    if not np.any(evaluated):
        raise AnalysisError(f"mask: the trace does not reach beyond ±{first / 1e6:g} MHz of the carrier")
    limit = np.where(evaluated, reference_dbm + mask_limit_dbr(off, mask), np.nan)
    margin = limit - reading
    i = int(np.nanargmin(np.where(evaluated, margin, np.nan)))
    return MaskResult(float(margin[i]), float(trace.freq_hz[i]), float(off[i]), float(reference_dbm),
                      trace.freq_hz, limit, margin)


# --------------------------------------------------------------------------------------------------
# Peaks and spurs
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Peak:
    """A spectral peak: frequency and reading refined by a parabola through the top three points (in dB;
    exact for a tone seen through a Gaussian RBW filter), and its prominence over the surroundings."""

    freq_hz: float
    power_dbm: float
    prominence_db: float


def noise_floor_dbm(trace: SpectrumTrace) -> float:
    """Noise floor as the median reading (dBm): robust while signals cover under half of the span."""
    return float(np.nanmedian(trace.reading_dbm()))


def find_peaks(trace: SpectrumTrace, *, threshold_dbm: float | None = None, min_prominence_db: float = 6.0,
               max_peaks: int = 10) -> tuple[Peak, ...]:
    """Local maxima of the reading that stand ``min_prominence_db`` above their surroundings and reach
    ``threshold_dbm`` (any level when None), strongest first, at most ``max_peaks``."""
    y = np.nan_to_num(trace.reading_dbm(), nan=-np.inf, neginf=-400.0)
    idx, props = signal.find_peaks(y, height=threshold_dbm, prominence=min_prominence_db)
    if idx.size == 0:
        return ()
    order = np.argsort(y[idx])[::-1][:max_peaks]
    idx, prom = idx[order], props["prominences"][order]
    f = trace.freq_hz
    # Parabolic refinement on (possibly non-uniform) neighbours: vertex of the parabola through 3 points.
    i0 = np.clip(idx, 1, y.size - 2)
    x1, x2, x3 = f[i0 - 1] - f[i0], np.zeros(i0.size), f[i0 + 1] - f[i0]  # centred: no cancellation
    y1, y2, y3 = y[i0 - 1], y[i0], y[i0 + 1]
    denom = (x1 - x2) * (x1 - x3) * (x2 - x3)
    a = (x3 * (y2 - y1) + x2 * (y1 - y3) + x1 * (y3 - y2)) / denom
    b = (x3 ** 2 * (y1 - y2) + x2 ** 2 * (y3 - y1) + x1 ** 2 * (y2 - y3)) / denom
    c = (x2 * x3 * (x2 - x3) * y1 + x3 * x1 * (x3 - x1) * y2 + x1 * x2 * (x1 - x2) * y3) / denom
    ok = (a < 0) & (idx == i0) & np.isfinite(a + b + c)
    with np.errstate(divide="ignore", invalid="ignore"):
        fv = f[i0] + np.clip(np.where(ok, -b / (2 * a), f[idx] - f[i0]), x1, x3)
        yv = np.where(ok, c - b * b / (4 * a), y[idx])
    return tuple(Peak(float(fq), float(p), float(pr)) for fq, p, pr in zip(fv, yv, prom))


def find_spurs(trace: SpectrumTrace, *, exclude: tuple[tuple[float, float], ...] = (),
               threshold_db_above_floor: float = 10.0, limit_dbm: float | None = None,
               max_spurs: int = 20) -> tuple[Peak, ...]:
    """Spurs: peaks outside the ``exclude`` bands (Hz pairs, e.g. the wanted channel) above
    ``limit_dbm`` if given, else ``threshold_db_above_floor`` over :func:`noise_floor_dbm`."""
    level = limit_dbm if limit_dbm is not None else noise_floor_dbm(trace) + threshold_db_above_floor
    peaks = find_peaks(trace, threshold_dbm=level, min_prominence_db=3.0, max_peaks=10 * max_spurs + 10)
    keep = [p for p in peaks if not any(lo <= p.freq_hz <= hi for lo, hi in exclude)]
    return tuple(keep[:max_spurs])


# --------------------------------------------------------------------------------------------------
# Synthesis: shapes for simulators and tests (not analysis)
# --------------------------------------------------------------------------------------------------

# Ideal 802.11 OFDM 20 MHz PSD (|offset| Hz, dBr): flat over the occupied subcarriers (±8.3 MHz), skirts
# that keep 7 dB (at 11 MHz) to 8 dB below the mask, then a floor. Not from a standard: a plausible
# well-behaved transmitter, linear in dB between points.
OFDM20_SHAPE_DBR: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (8.2e6, 0.0), (9.0e6, -14.0), (11e6, -27.0), (20e6, -36.0), (30e6, -48.0), (40e6, -55.0),
)


def ofdm20_psd_dbr(offset_hz, regrowth_db: float = 0.0):
    """Shape of an ideal 802.11 OFDM 20 MHz PSD in dBr vs offset from the carrier (``OFDM20_SHAPE_DBR``).

    Its worst margin to the mask is 7 dB, at ±11 MHz. ``regrowth_db`` raises every skirt point at or
    beyond 9 MHz by that much (spectral regrowth of a compressed PA): more than 7 dB breaks the mask.
    """
    pts = np.asarray(OFDM20_SHAPE_DBR, dtype=float)
    y = pts[:, 1] + np.where(pts[:, 0] >= 9e6, regrowth_db, 0.0)
    out = np.interp(np.abs(np.asarray(offset_hz, dtype=float)), pts[:, 0], y)
    return float(out) if np.ndim(out) == 0 else out


def _shape_integral_hz(shape, half_width_hz: float, *, n: int = 20001) -> float:
    f = np.linspace(-half_width_hz, half_width_hz, n)
    return float(np.trapezoid(10.0 ** (shape(f) / 10.0), f))


def ofdm20_psd_w_hz(freq_hz, center_hz: float, channel_power_dbm: float, regrowth_db: float = 0.0):
    """802.11 OFDM 20 MHz PSD (W/Hz) at ``freq_hz``, scaled so the power within ±10 MHz of
    ``center_hz`` is ``channel_power_dbm``."""
    norm = _shape_integral_hz(lambda f: ofdm20_psd_dbr(f, regrowth_db), 10e6)
    return _dbm_to_w(channel_power_dbm) / norm * 10.0 ** (ofdm20_psd_dbr(np.asarray(freq_hz) - center_hz,
                                                                         regrowth_db) / 10.0)


BOLTZMANN_J_K = 1.380649e-23


def thermal_noise_dbm(bandwidth_hz: float, noise_figure_db: float = 0.0, temperature_k: float = 290.0) -> float:
    """Thermal noise power kTB in ``bandwidth_hz`` (use the ENBW) plus a noise figure, in dBm:
    −174 dBm/Hz at 290 K; an analyzer with NF 10 dB in 100 kHz RBW (ENBW 106.45 kHz) reads −113.7 dBm."""
    return 10.0 * math.log10(BOLTZMANN_J_K * temperature_k * bandwidth_hz) + 30.0 + noise_figure_db


def ble_psd_dbr(offset_hz, floor_dbr: float = -60.0):
    """Shape of a BLE 1M GFSK PSD in dBr: Gaussian with σ = 350 kHz (−20 dB width 1.5 MHz) on a floor."""
    f = np.asarray(offset_hz, dtype=float)
    out = np.maximum(-10.0 * np.log10(np.e) * f * f / (2 * 0.35e6 ** 2), floor_dbr)
    return float(out) if np.ndim(out) == 0 else out


def rbw_filtered_dbm(fine_freq_hz, psd_w_hz, rbw_hz: float, freq_hz, *,
                     tones: tuple[tuple[float, float], ...] = ()) -> np.ndarray:
    """What a swept analyzer with a Gaussian RBW filter (3 dB bandwidth ``rbw_hz``) and a sample/RMS
    detector reads at ``freq_hz``: ∫ S(f')·|H(f'−f)|² df' for the density ``psd_w_hz`` given on the
    uniform grid ``fine_freq_hz`` (spacing well below the RBW), plus CW ``tones`` as (Hz, dBm) pairs
    read as P·|H(f0−f)|². Returns dBm."""
    ff = np.asarray(fine_freq_hz, dtype=float)
    df = float(ff[1] - ff[0])
    half = int(math.ceil(3.0 * rbw_hz / df))  # |H|² < 1e-10 beyond ±3 RBW
    k = np.arange(-half, half + 1) * df
    h2 = np.exp(-4.0 * math.log(2.0) * (k / rbw_hz) ** 2)  # |H|² of a Gaussian filter, 3 dB width RBW
    smoothed = signal.fftconvolve(np.asarray(psd_w_hz, dtype=float), h2, mode="same") * df
    smoothed = np.maximum(smoothed, 0.0)  # FFT round-off can leave tiny negatives far from any signal
    fq = np.asarray(freq_hz, dtype=float)
    out = np.interp(fq, ff, smoothed, left=0.0, right=0.0)
    for f0, p_dbm in tones:
        out = out + _dbm_to_w(p_dbm) * np.exp(-4.0 * math.log(2.0) * ((fq - f0) / rbw_hz) ** 2)
    return _w_to_dbm(out)

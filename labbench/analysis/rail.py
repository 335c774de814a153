"""Power-rail noise: DC level, ripple pk-pk and AC RMS in a stated bandwidth, noise spectrum, spurs,
switching frequency and the worst deviation from nominal (standards.md §6).

Definitions
- Bandwidth: ripple is specified in a 20 MHz bandwidth (standards.md §6). The record is low-passed by a
  Butterworth filter run forward and backward (``scipy.signal.sosfiltfilt``). Zero phase because a
  one-way filter delays and skews the waveform: a load-step dip would move in time against the current
  bursts it belongs to, and the asymmetric ringing of a causal filter changes pk-pk. Forward-backward
  squares the magnitude response, so the single-pass cutoff is raised by (sqrt(2) - 1)^(-1/(2*order))
  (in prewarped frequency) to put the -3 dB point of the whole filter at the stated bandwidth. With bandwidth >= 0.45 fs no
  filter is applied and the bandwidth reported is fs/2.
- DC (``rail_dc_v``): mean over the samples present. pk-pk (``ripple_pp_v``): max - min of the band-
  limited record. AC RMS (``noise_rms_v``): population standard deviation of the band-limited record
  (for a sine, pk-pk = 2*sqrt(2)*RMS).
- Worst deviation (``worst_deviation_pct``): max |v - nominal| / nominal * 100 over the band-limited
  record, DC error and ripple together (the UltraScale+ style window, standards.md §6); judged against
  +-``tolerance_pct``.
- Spectrum: Welch PSD of the unfiltered record in V^2/Hz (``labbench.analysis.welch`` for the
  convention), also as dB re 1 V^2/Hz (dBV/sqrt(Hz)). Spur levels are RMS in dBV (re 1 V RMS).
  ``switching_freq_hz`` is the strongest spur inside ``switching_band_hz``; ``spur_max_dbv`` the
  strongest spur anywhere above 3 bins.
- Holes (NaN) are skipped by every statistic. The filter needs a gap-free record, so holes are bridged
  by linear interpolation for filtering only and are NaN again afterwards.
- Clipping: samples at or beyond ``adc_limits_v`` (the screen/ADC edges) mean the true waveform is
  unknown there. ``on_clip="flag"`` (default) returns ``clipped=True`` with every amplitude metric NaN
  (a NaN never passes a limit), keeping the switching frequency, which clipping does not move;
  ``"raise"`` raises AnalysisError; ``"measure"`` computes the amplitudes anyway (then bounds only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from labbench.analysis.welch import PowerSpectrum, Spur, find_spurs, welch_psd
from labbench.errors import AnalysisError, UsageError

_CLIP_POLICIES = ("flag", "raise", "measure")


@dataclass(frozen=True, eq=False)
class RailNoise:
    """Rail noise metrics (SI units); the first six fields are the procedure's metric names."""

    rail_dc_v: float
    ripple_pp_v: float
    noise_rms_v: float
    switching_freq_hz: float
    spur_max_dbv: float
    worst_deviation_pct: float
    nominal_v: float
    tolerance_pct: float
    within_tolerance: bool
    deviation_min_pct: float      # most negative (v - nominal) / nominal * 100
    deviation_max_pct: float      # most positive
    bandwidth_hz: float           # -3 dB bandwidth the amplitudes were measured in
    spurs: tuple[Spur, ...]
    spectrum: PowerSpectrum       # V^2/Hz; spectrum.density_db() for dBV/sqrt(Hz)
    n_samples: int
    missing_samples: int          # NaN holes in the record
    clipped: bool
    clipped_samples: int

    def metric_values(self) -> dict[str, float]:
        """The procedure's metrics by name (values in the unit their suffix names)."""
        return {
            "rail_dc_v": self.rail_dc_v,
            "ripple_pp_v": self.ripple_pp_v,
            "noise_rms_v": self.noise_rms_v,
            "switching_freq_hz": self.switching_freq_hz,
            "spur_max_dbv": self.spur_max_dbv,
            "worst_deviation_pct": self.worst_deviation_pct,
        }


def bandlimit(voltage_v: np.ndarray, dt_s: float, bandwidth_hz: float, *, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass with its overall -3 dB point at ``bandwidth_hz``.

    NaN holes are bridged by linear interpolation for the filter and returned as NaN.
    """
    v = np.asarray(voltage_v, dtype=np.float64)
    fs = 1.0 / dt_s
    present = np.isfinite(v)
    if not np.any(present):
        raise AnalysisError("rail: the record has no valid sample (all NaN)")
    if bandwidth_hz >= 0.45 * fs:
        return v.copy()
    filled = v
    if not np.all(present):
        idx = np.arange(v.size)
        filled = np.interp(idx, idx[present], v[present])
    # forward-backward squares |H|: place the single-pass cutoff so |H|^2 is -3 dB at bandwidth_hz
    # (in the bilinear transform's prewarped frequency tan(pi f / fs), where the digital Butterworth is exact)
    warped = np.tan(np.pi * bandwidth_hz / fs) / (np.sqrt(2.0) - 1.0) ** (1.0 / (2 * order))
    fc = min(fs / np.pi * np.arctan(warped), 0.49 * fs)
    sos = signal.butter(order, fc, btype="low", fs=fs, output="sos")
    padlen = min(v.size - 1, int(np.ceil(3.0 * fs / fc)) + 1)
    out = signal.sosfiltfilt(sos, filled, padlen=padlen)
    out[~present] = np.nan
    return out


def analyze_rail(
    voltage_v: np.ndarray,
    dt_s: float,
    *,
    nominal_v: float | None = None,
    tolerance_pct: float = 3.0,
    bandwidth_hz: float | None = 20e6,
    filter_order: int = 4,
    adc_limits_v: tuple[float, float] | None = None,
    on_clip: str = "flag",
    nperseg: int = 16384,
    switching_band_hz: tuple[float, float] = (10e3, np.inf),
    spur_threshold_db: float = 10.0,
    max_spurs: int = 5,
) -> RailNoise:
    """Rail noise of one capture (volts, NaN for holes) sampled every ``dt_s`` (module docstring).

    nominal_v: the rail's nominal voltage; None takes the measured DC (then the deviation is AC only).
    bandwidth_hz: measurement bandwidth for pk-pk, RMS and deviation (None: full band, fs/2).
    adc_limits_v: (low, high) edges of the ADC/screen range; samples at or beyond them are clipped.
    """
    v = np.asarray(voltage_v, dtype=np.float64).ravel()
    if not (np.isfinite(dt_s) and dt_s > 0):
        raise UsageError(f"rail: dt_s must be a positive sample interval, got {dt_s!r}")
    if on_clip not in _CLIP_POLICIES:
        raise UsageError(f"rail: on_clip={on_clip!r}; valid: {', '.join(_CLIP_POLICIES)}")
    if v.size < 16:
        raise AnalysisError(f"rail: {v.size} samples is too few to analyse (need at least 16)")
    fs = 1.0 / dt_s
    present = np.isfinite(v)
    missing = int(v.size - np.count_nonzero(present))
    if missing == v.size:
        raise AnalysisError("rail: the record has no valid sample (all NaN)")

    clipped_samples = 0
    if adc_limits_v is not None:
        lo, hi = adc_limits_v
        tol = 1e-9 * abs(hi - lo)
        clipped_samples = int(np.count_nonzero(present & ((v <= lo + tol) | (v >= hi - tol))))
    clipped = clipped_samples > 0
    if clipped and on_clip == "raise":
        raise AnalysisError(
            f"rail: {clipped_samples} of {v.size} samples at the ADC limits {adc_limits_v} V: the rail is "
            "off screen; change offset/scale and measure again")

    bw = fs / 2 if bandwidth_hz is None or bandwidth_hz >= 0.45 * fs else float(bandwidth_hz)
    vb = bandlimit(v, dt_s, bw, order=filter_order) if bw < fs / 2 else v
    dc = float(np.nanmean(v))
    nominal = dc if nominal_v is None else float(nominal_v)
    if nominal == 0:
        raise UsageError("rail: nominal_v is 0 V; a deviation in percent needs a non-zero nominal")
    dev = (vb - nominal) / nominal * 100.0
    dev_min, dev_max = float(np.nanmin(dev)), float(np.nanmax(dev))
    worst = max(abs(dev_min), abs(dev_max))
    pp = float(np.nanmax(vb) - np.nanmin(vb))
    rms = float(np.nanstd(vb))

    spectrum = welch_psd(v, fs, nperseg=nperseg, unit="V^2/Hz")
    spurs = find_spurs(spectrum, threshold_db=spur_threshold_db, max_spurs=max_spurs)
    in_band = find_spurs(spectrum, threshold_db=spur_threshold_db, max_spurs=1,
                         f_lo_hz=switching_band_hz[0], f_hi_hz=switching_band_hz[1])
    f_sw = in_band[0].freq_hz if in_band else float("nan")
    spur_max = spurs[0].level_db if spurs else float("nan")

    if clipped and on_clip == "flag":
        nan = float("nan")
        dc = pp = rms = worst = dev_min = dev_max = spur_max = nan
    within = bool(np.isfinite(worst) and worst <= tolerance_pct)
    return RailNoise(
        rail_dc_v=dc, ripple_pp_v=pp, noise_rms_v=rms, switching_freq_hz=f_sw, spur_max_dbv=spur_max,
        worst_deviation_pct=worst, nominal_v=nominal, tolerance_pct=float(tolerance_pct),
        within_tolerance=within, deviation_min_pct=dev_min, deviation_max_pct=dev_max, bandwidth_hz=bw,
        spurs=spurs, spectrum=spectrum, n_samples=int(v.size), missing_samples=missing,
        clipped=clipped, clipped_samples=clipped_samples)

"""Welch power spectral density of a sampled waveform, fed in chunks, NaN-aware; spur picking.

Used by the current (A^2/Hz) and rail (V^2/Hz) analyses. Convention, identical to
``scipy.signal.welch(x, fs, window="hann", nperseg=N, noverlap=N//2, detrend="constant",
scaling="density")`` on data without holes:

    P[k] = c_k * |FFT(w * (x - mean(x)))[k]|^2 / (fs * sum(w^2)),   c_k = 2 except DC and Nyquist,

averaged over segments. sum(P) * df equals the mean square of the windowed segment (Parseval), so
integrating the density over a band gives the power in that band whatever N or the window.

Holes (NaN): a segment is used when at most ``max_hole_fraction`` of it is missing. Missing samples are
set to the segment mean over the samples present (zero after detrending) and sum(w^2) is taken over the
samples present only, which keeps the density of noise unbiased. Segments with more holes are skipped
and counted. Segments start at multiples of N//2 from the first sample fed, so chunked and one-shot
feeding give the same segments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage, signal

from labbench.errors import AnalysisError

_BATCH_SAMPLES = 1 << 21  # samples per FFT batch: bounds the temporaries to a few tens of MB


@dataclass(frozen=True, eq=False)
class PowerSpectrum:
    """One-sided power spectral density. ``density`` is in ``unit`` (e.g. "V^2/Hz", "A^2/Hz")."""

    freq_hz: np.ndarray
    density: np.ndarray
    unit: str
    nperseg: int
    segments: int           # segments averaged
    segments_skipped: int   # segments dropped for holes

    @property
    def resolution_hz(self) -> float:
        """Bin spacing fs/N (the Hann window's noise bandwidth is 1.5 bins)."""
        return float(self.freq_hz[1] - self.freq_hz[0]) if self.freq_hz.size > 1 else float("nan")

    def density_db(self) -> np.ndarray:
        """10*log10(density): dB re 1 unit^2/Hz, i.e. dBV/sqrt(Hz) for volts."""
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.density)

    def band_power(self, f_lo_hz: float = 0.0, f_hi_hz: float = np.inf) -> float:
        """Power (unit^2) between f_lo and f_hi, bins included by their centre frequency."""
        sel = (self.freq_hz >= f_lo_hz) & (self.freq_hz <= f_hi_hz)
        return float(np.sum(self.density[sel]) * self.resolution_hz)


@dataclass(frozen=True)
class Spur:
    """A discrete line in a PSD: frequency, RMS amplitude (V or A) and level in dB re 1 unit RMS."""

    freq_hz: float
    rms: float
    level_db: float       # 20*log10(rms): dBV for a voltage, dBA for a current
    prominence_db: float  # peak bin over the local noise floor


class WelchAccumulator:
    """Welch PSD over a waveform fed in consecutive chunks (see the module docstring for the convention)."""

    def __init__(self, fs_hz: float, nperseg: int, *, max_hole_fraction: float = 0.1):
        if not (np.isfinite(fs_hz) and fs_hz > 0):
            raise AnalysisError(f"Welch PSD: sample rate must be positive, got {fs_hz!r} Hz")
        if int(nperseg) < 8:
            raise AnalysisError(f"Welch PSD: nperseg must be at least 8, got {nperseg!r}")
        self.fs_hz = float(fs_hz)
        self.nperseg = int(nperseg)
        self.step = self.nperseg // 2
        self.max_hole_fraction = float(max_hole_fraction)
        self._window = signal.get_window("hann", self.nperseg)  # periodic Hann, as scipy.signal.welch
        self._w2 = self._window**2
        self._sum = np.zeros(self.nperseg // 2 + 1)
        self._segments = 0
        self._skipped = 0
        self._tail = np.empty(0)

    def add(self, x: np.ndarray) -> None:
        """Feed the next chunk (contiguous with the previous one)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        buf = np.concatenate((self._tail, x)) if self._tail.size else x
        if buf.size < self.nperseg:
            self._tail = buf.copy()
            return
        m = (buf.size - self.nperseg) // self.step + 1
        segs = sliding_window_view(buf, self.nperseg)[:: self.step][:m]
        batch = max(1, _BATCH_SAMPLES // self.nperseg)
        for i in range(0, m, batch):
            self._add_segments(segs[i : i + batch])
        self._tail = buf[m * self.step :].copy()

    def _add_segments(self, segs: np.ndarray) -> None:
        present = np.isfinite(segs)
        n_present = present.sum(axis=1)
        use = (self.nperseg - n_present) <= self.max_hole_fraction * self.nperseg
        use &= n_present >= 2
        self._skipped += int(np.count_nonzero(~use))
        if not np.any(use):
            return
        segs, present, n_present = segs[use], present[use], n_present[use]
        if np.all(present):
            y = segs - segs.mean(axis=1, keepdims=True)
            norm = np.full(segs.shape[0], self._w2.sum())
        else:
            mean = np.where(present, segs, 0.0).sum(axis=1, keepdims=True) / n_present[:, None]
            y = np.where(present, segs - mean, 0.0)
            norm = present @ self._w2
        spec = np.fft.rfft(y * self._window, axis=1)
        p = (spec.real**2 + spec.imag**2) / norm[:, None]
        self._sum += p.sum(axis=0)
        self._segments += segs.shape[0]

    def result(self, unit: str) -> PowerSpectrum:
        """The averaged one-sided density. A record shorter than nperseg is analysed as one segment."""
        if self._segments == 0 and self._skipped == 0 and self._tail.size >= 16:
            n = 1 << int(np.log2(self._tail.size))
            short = WelchAccumulator(self.fs_hz, n, max_hole_fraction=self.max_hole_fraction)
            short.add(self._tail)
            return short.result(unit)
        freq = np.fft.rfftfreq(self.nperseg, 1.0 / self.fs_hz)
        if self._segments == 0:
            return PowerSpectrum(freq, np.full(freq.size, np.nan), unit, self.nperseg, 0, self._skipped)
        density = self._sum / (self._segments * self.fs_hz)
        density[1:] *= 2.0
        if self.nperseg % 2 == 0:
            density[-1] /= 2.0  # the Nyquist bin has no mirror image
        return PowerSpectrum(freq, density, unit, self.nperseg, self._segments, self._skipped)


def welch_psd(x: np.ndarray, fs_hz: float, *, nperseg: int = 8192, unit: str = "V^2/Hz",
              max_hole_fraction: float = 0.1) -> PowerSpectrum:
    """One-shot Welch PSD (Hann, 50 % overlap, mean removed per segment); nperseg is cut to the record."""
    n = int(np.size(x))
    if n < 16:
        raise AnalysisError(f"Welch PSD: {n} samples is too few for a spectrum (need at least 16)")
    nperseg = min(int(nperseg), 1 << int(np.log2(n)))
    acc = WelchAccumulator(fs_hz, nperseg, max_hole_fraction=max_hole_fraction)
    acc.add(x)
    return acc.result(unit)


def find_spurs(spectrum: PowerSpectrum, *, threshold_db: float = 10.0, max_spurs: int = 5,
               f_lo_hz: float = 0.0, f_hi_hz: float = np.inf, floor_window_bins: int = 65) -> tuple[Spur, ...]:
    """Discrete lines standing ``threshold_db`` above the local noise floor, strongest first.

    Floor: running median of the density over ``floor_window_bins`` bins. A spur's power is the density
    above the floor summed over +-3 bins (the Hann main lobe is +-2 bins) times the bin width, so its RMS
    does not depend on the resolution. Frequency: Gaussian (log-parabolic) interpolation of the peak bin
    and its neighbours, good to a small fraction of a bin. The first 3 bins (DC leakage) are never spurs.
    """
    p = spectrum.density
    if p.size < 8 or not np.all(np.isfinite(p)):
        return ()
    df = spectrum.resolution_hz
    floor = ndimage.median_filter(p, size=floor_window_bins, mode="nearest")
    floor = np.maximum(floor, np.finfo(float).tiny)
    peaks, _ = signal.find_peaks(p, distance=4)
    f = spectrum.freq_hz
    ratio = p[peaks] / floor[peaks]
    keep = (peaks >= 3) & (f[peaks] >= f_lo_hz) & (f[peaks] <= f_hi_hz) & (ratio >= 10 ** (threshold_db / 10))
    peaks = peaks[keep]
    if peaks.size == 0:
        return ()
    spurs = []
    for k in peaks:
        lo, hi = max(k - 3, 0), min(k + 4, p.size)
        power = float(np.sum(np.maximum(p[lo:hi] - floor[lo:hi], 0.0)) * df)
        freq = float(f[k])
        if 0 < k < p.size - 1 and p[k - 1] > 0 and p[k + 1] > 0:
            a, b, c = np.log(p[k - 1]), np.log(p[k]), np.log(p[k + 1])
            den = a - 2 * b + c
            if den < 0:
                freq += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) * df
        rms = np.sqrt(power)
        spurs.append(Spur(freq, float(rms), float(20 * np.log10(rms)) if rms > 0 else float("-inf"),
                          float(10 * np.log10(p[k] / floor[k]))))
    spurs.sort(key=lambda s: s.rms, reverse=True)
    return tuple(spurs[:max_spurs])

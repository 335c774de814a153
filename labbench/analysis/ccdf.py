"""Power statistics (CCDF) of RF samples and of current waveforms (standards.md §3, reference case §7.4).

Convention (Keysight 89600 help, standards.md §3): the CCDF is the fraction of samples **at or above** a
level, P(X ≥ x). With N samples its ends are exact: 1 at the smallest sample, 1/N at the largest, 0
just above it. "The level at probability q" is the level exceeded, at or above, by q of the samples:
the k-th largest sample with k = ⌈q·N⌉; it is NaN when q·N < 1 (the record is too short to say).

Speed and memory: samples are never sorted. Each chunk of 2^18 samples is turned into instantaneous
power in a float32 buffer and counted by ``np.bincount`` on the top 17 bits of the float32 bit pattern
(sign, exponent, 8 mantissa bits): bins 1/256 of an octave wide, ≤ 0.017 dB, whose order is the order of
the values. Levels and probabilities are interpolated inside a bin; mean, peak and minimum are kept
exactly. A 1e8-sample float32 record costs about two to three numpy passes, and any length can be fed
in chunks to :class:`CcdfAccumulator` (RF) or :class:`LevelHistogram` (any real quantity, e.g. a
current). NaN and ±inf samples are counted as invalid and left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc, erfcinv

from labbench.errors import AnalysisError

CHUNK_SAMPLES = 1 << 18
_SHIFT = 15
_NBINS = 1 << (32 - _SHIFT)            # 131072: every uint32 >> 15
_HALF = _NBINS // 2                      # 65536: sign bit set above this
_FINITE = 0x7F800000 >> _SHIFT           # 65280: bins below hold finite magnitudes
RESOLUTION_DB = 10.0 * math.log10(1.0 + 1.0 / 256.0)  # widest bin, 0.017 dB

# Standard probabilities reported by the analyzer (standards.md §3): 10, 1, 0.1, 0.01, 0.001, 0.0001 %.
STANDARD_PROBABILITIES = (0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6)
CURVE_X_DB = np.round(np.arange(501) * 0.1, 1)  # 0..50 dB in 0.1 dB steps, as `:READ:PSTatistic2?`


def _edges() -> np.ndarray:
    """Value edges of the ordered bins: negative magnitudes descending, then positive ascending."""
    b = (np.arange(_FINITE + 1, dtype=np.uint32) << _SHIFT).view(np.float32).astype(np.float64)
    return np.concatenate((-b[::-1], b[1:]))  # length 2·65280 + 1; −0 and +0 meet in the middle


_EDGES = _edges()
_ORDER = np.concatenate((_HALF + np.arange(_FINITE - 1, -1, -1), np.arange(_FINITE)))  # bincount -> ordered


class LevelHistogram:
    """Counts of real values in ordered bins ≤ 0.017 dB wide, fed in chunks; exact count, mean, min, max.

    ``fraction_at_or_above`` and ``level_at_fraction`` follow the module's P(X ≥ x) convention. Values
    are binned as float32 (|x| from 1.2e-38 to 3.4e38); NaN and ±inf are invalid and not counted.
    A level inside a bin gets the bin's count interpolated linearly in value, so a level that equals
    sample values exactly (quantised data, plateaus) may be off by part of that bin's count; declare
    such levels in ``thresholds`` and they are counted exactly while feeding.
    """

    def __init__(self, thresholds=()):
        self.thresholds = tuple(float(t) for t in thresholds)
        self._threshold_counts = np.zeros(len(self.thresholds), dtype=np.int64)
        self._counts = np.zeros(_NBINS, dtype=np.int64)
        self._sum = 0.0
        self._max = -math.inf
        self._min = math.inf
        self.invalid_count = 0
        self._buf = np.empty(CHUNK_SAMPLES, dtype=np.float32)
        self._ibuf = np.empty(CHUNK_SAMPLES, dtype=np.intp)
        self._ordered = None

    # ---- feeding ----------------------------------------------------------------------------------
    def add(self, values) -> None:
        """Count real values (any float/int dtype)."""
        x = np.asarray(values)
        if np.iscomplexobj(x):
            raise AnalysisError("level histogram: complex values; give power or magnitude")
        x = x.reshape(-1)
        for i in range(0, x.size, CHUNK_SAMPLES):
            c = x[i:i + CHUNK_SAMPLES]
            buf = self._buf[:c.size]
            np.copyto(buf, c, casting="unsafe")
            self._count_buffer(buf, c)

    def _count_buffer(self, buf: np.ndarray, orig: np.ndarray | None = None) -> None:
        """Count a float32 buffer (callers fill it with instantaneous power in place). Sum, max and min
        are taken from ``orig`` (the values in their own precision) when given, else from the buffer."""
        if buf.size == 0:
            return
        src = buf if orig is None else orig
        ib = self._ibuf[:buf.size]
        np.right_shift(buf.view(np.uint32), _SHIFT, out=ib, casting="unsafe")
        h = np.bincount(ib, minlength=_NBINS)
        bad = int(h[_FINITE:_HALF].sum() + h[_HALF + _FINITE:].sum())
        self._counts += h
        self._ordered = None
        for i, t in enumerate(self.thresholds):
            self._threshold_counts[i] += np.count_nonzero(src >= t)  # NaN compares False
        if bad:
            self.invalid_count += bad
            src = src[np.isfinite(buf)]
            if src.size == 0:
                return
        self._sum += float(src.sum())  # pairwise summation within the chunk, float64 across chunks
        # The extremes can only move when the chunk has counts in or beyond the current extreme bins.
        if bad or self._may_extend(h):
            self._max = max(self._max, float(src.max()))
            self._min = min(self._min, float(src.min()))

    def _may_extend(self, h: np.ndarray) -> bool:
        if not math.isfinite(self._max):
            return True
        return bool(self._ordered_any(h, self._max, above=True) or self._ordered_any(h, self._min, above=False))

    @staticmethod
    def _ordered_any(h: np.ndarray, value: float, *, above: bool) -> bool:
        """Whether h has counts in the bin of ``value`` or in any bin beyond it (above or below)."""
        rb = int(np.array(value, dtype=np.float32).view(np.uint32)) >> _SHIFT
        neg = rb >= _HALF
        if above:   # bins with values >= bin(value)
            return bool(h[rb:_FINITE].any()) if not neg else bool(h[:_FINITE].any() or h[_HALF:rb + 1].any())
        # bins with values <= bin(value)
        return bool(h[rb:_HALF + _FINITE].any()) if neg else bool(h[:rb + 1].any() or h[_HALF:_HALF + _FINITE].any())

    # ---- results ----------------------------------------------------------------------------------
    def _ordered_counts(self) -> np.ndarray:
        if self._ordered is None:
            self._ordered = self._counts[_ORDER]
        return self._ordered

    @property
    def count(self) -> int:
        """Valid (finite) values counted."""
        return int(self._ordered_counts().sum())

    @property
    def mean(self) -> float:
        n = self.count
        return self._sum / n if n else math.nan

    @property
    def max(self) -> float:
        return self._max if self.count else math.nan

    @property
    def min(self) -> float:
        return self._min if self.count else math.nan

    def fraction_at_or_above(self, level) -> np.ndarray | float:
        """P(X ≥ level) for each level: exact at and beyond the extremes, interpolated inside a bin."""
        lv = np.asarray(level, dtype=np.float64)
        n = self.count
        if n == 0:
            raise AnalysisError("CCDF: no valid samples")
        c = self._ordered_counts()
        above = np.concatenate((np.cumsum(c[::-1])[::-1], [0]))  # above[j] = count in bins >= j
        t = lv.astype(np.float32).astype(np.float64)  # compare as the samples were counted
        j = np.clip(np.searchsorted(_EDGES, t, side="right") - 1, 0, c.size - 1)
        lo, hi = _EDGES[j], _EDGES[j + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(np.isfinite(hi - lo) & (hi > lo), (hi - t) / (hi - lo), 0.5)
        cnt = above[j + 1] + c[j] * np.clip(frac, 0.0, 1.0)
        cnt = np.clip(cnt, 1.0, n - 1.0) if n > 1 else np.ones_like(cnt)
        mn, mx = float(np.float32(self._min)), float(np.float32(self._max))
        cnt = np.where(t <= mn, n, np.where(t > mx, 0.0, cnt))
        for i, th in enumerate(self.thresholds):  # declared levels: exact counts
            cnt = np.where(lv == th, self._threshold_counts[i], cnt)
        out = cnt / n
        return float(out) if out.ndim == 0 else out

    def level_at_fraction(self, fraction) -> np.ndarray | float:
        """Level exceeded (at or above) by ``fraction`` of the samples: the ⌈q·N⌉-th largest, interpolated
        by rank inside its bin and clamped to [min, max]; NaN when q·N < 1."""
        q = np.asarray(fraction, dtype=np.float64)
        n = self.count
        if n == 0:
            raise AnalysisError("CCDF: no valid samples")
        if np.any((q <= 0) | (q > 1)):
            raise AnalysisError(f"CCDF: probabilities must be in (0, 1], got {fraction!r}")
        c = self._ordered_counts()
        above = np.concatenate((np.cumsum(c[::-1])[::-1], [0]))
        k = np.ceil(q * n - 1e-9 * n)
        k = np.maximum(k, 1.0)
        # bin j holds the k-th largest: above[j] >= k > above[j + 1]; `above` is non-increasing
        j = np.clip(np.searchsorted(-above, -k, side="right") - 1, 0, c.size - 1)
        r = k - above[j + 1]
        lo, hi = _EDGES[j], _EDGES[j + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(np.isfinite(hi - lo), hi - (hi - lo) * (r - 0.5) / np.maximum(c[j], 1), lo)
        v = np.clip(v, self._min, self._max)
        v = np.where(k == 1, self._max, np.where(k >= n, self._min, v))
        v = np.where(q * n < 1.0 - 1e-9, np.nan, v)
        return float(v) if v.ndim == 0 else v


# --------------------------------------------------------------------------------------------------
# Gaussian references
# --------------------------------------------------------------------------------------------------

def gaussian_ccdf(x_db, kind: str = "complex"):
    """Reference CCDF of Gaussian noise at x dB above the mean power (standards.md §3).

    complex (Rayleigh envelope, exponential power): exp(−10^(x/10)) — the analyzer's reference trace;
    real (e.g. a noise-like current): erfc(√(γ/2)) with γ = 10^(x/10).
    """
    g = 10.0 ** (np.asarray(x_db, dtype=float) / 10.0)
    if kind == "complex":
        out = np.exp(-g)
    elif kind == "real":
        out = erfc(np.sqrt(g / 2.0))
    else:
        raise AnalysisError(f"Gaussian CCDF kind {kind!r}: use 'complex' or 'real'")
    return float(out) if np.ndim(out) == 0 else out


def gaussian_level_db(probability, kind: str = "complex"):
    """Inverse of :func:`gaussian_ccdf`: dB above mean exceeded with the given probability (fraction).
    Complex: 10·log10(−ln q) (0.1 % → 8.393 dB); real: 10·log10(2·erfcinv(q)²) (0.1 % → 10.345 dB)."""
    q = np.asarray(probability, dtype=float)
    if kind == "complex":
        out = 10.0 * np.log10(-np.log(q))
    elif kind == "real":
        out = 10.0 * np.log10(2.0 * erfcinv(q) ** 2)
    else:
        raise AnalysisError(f"Gaussian CCDF kind {kind!r}: use 'complex' or 'real'")
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------------------------------
# RF power statistics
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Ccdf:
    """Power statistics as the analyzer's `:READ:PSTatistic?` reports them (standards.md §3).

    Levels are dB above the average power; probabilities are fractions (× 100 for %). ``probability``
    is P(P/P_avg ≥ x) on ``x_db`` (0..50 dB, 0.1 dB steps, 501 points); ``gaussian_probability`` is the
    reference curve of the same ``reference`` kind. Levels are NaN when the record holds fewer than
    1/q samples.
    """

    avg_power_dbm: float
    prob_at_avg: float
    ccdf_10pct_db: float
    ccdf_1pct_db: float
    ccdf_0p1pct_db: float
    ccdf_0p01pct_db: float
    ccdf_0p001pct_db: float
    ccdf_0p0001pct_db: float
    papr_db: float
    peak_dbm: float
    sample_count: int
    invalid_count: int
    x_db: np.ndarray
    probability: np.ndarray
    gaussian_probability: np.ndarray
    reference: str
    resolution_db: float = RESOLUTION_DB


_KINDS = ("complex", "real", "power")


class CcdfAccumulator:
    """RF power statistics over a record fed in chunks (see the module docstring).

    ``kind``: "complex" I/Q samples (power |x|²), "real" samples (power x²), or "power" (instantaneous
    power already). Power in watts is |x|²·``watts_per_unit2`` (volts into 50 Ω by default; "power"
    samples are taken as watts). ``reference`` picks the Gaussian reference curve: complex for complex
    and power input, real for real input, unless given.
    """

    def __init__(self, kind: str = "complex", *, watts_per_unit2: float = 1.0 / 50.0,
                 reference: str | None = None):
        if kind not in _KINDS:
            raise AnalysisError(f"CCDF kind {kind!r}: use one of {', '.join(_KINDS)}")
        self.kind = kind
        self.watts_per_unit2 = 1.0 if kind == "power" else float(watts_per_unit2)
        self.reference = reference or ("real" if kind == "real" else "complex")
        self.histogram = LevelHistogram()
        self._tmp = np.empty(CHUNK_SAMPLES, dtype=np.float32)

    def add(self, samples) -> None:
        """Feed the next chunk of samples (any length)."""
        x = np.asarray(samples).reshape(-1)
        is_c = np.iscomplexobj(x)
        if self.kind == "complex" and not is_c:
            raise AnalysisError("CCDF kind 'complex' needs complex I/Q samples; use kind='real' for real ones")
        if self.kind != "complex" and is_c:
            raise AnalysisError(f"CCDF kind {self.kind!r} got complex samples; use kind='complex'")
        h = self.histogram
        for i in range(0, x.size, CHUNK_SAMPLES):
            c = x[i:i + CHUNK_SAMPLES]
            buf = h._buf[:c.size]
            if self.kind == "complex":
                tmp = self._tmp[:c.size]
                np.multiply(c.real, c.real, out=buf, casting="unsafe")
                np.multiply(c.imag, c.imag, out=tmp, casting="unsafe")
                buf += tmp
            elif self.kind == "real":
                np.multiply(c, c, out=buf, casting="unsafe")
            else:
                np.copyto(buf, c, casting="unsafe")
            h._count_buffer(buf)

    def level_db(self, probability) -> np.ndarray | float:
        """dB above average exceeded (at or above) with ``probability`` (fraction)."""
        h = self.histogram
        with np.errstate(divide="ignore", invalid="ignore"):
            return 10.0 * np.log10(np.asarray(h.level_at_fraction(probability)) / h.mean)

    def result(self) -> Ccdf:
        h = self.histogram
        n = h.count
        if n == 0:
            raise AnalysisError(f"CCDF: no valid samples ({h.invalid_count} invalid)")
        mean = h.mean
        if not mean > 0:
            raise AnalysisError("CCDF: average power is zero; nothing to reference the levels to")
        levels = np.asarray(self.level_db(np.array(STANDARD_PROBABILITIES)), dtype=float)
        prob = np.asarray(h.fraction_at_or_above(mean * 10.0 ** (CURVE_X_DB / 10.0)), dtype=float)
        to_dbm = lambda w: 10.0 * math.log10(w * self.watts_per_unit2) + 30.0  # noqa: E731
        return Ccdf(
            avg_power_dbm=to_dbm(mean), prob_at_avg=float(h.fraction_at_or_above(mean)),
            ccdf_10pct_db=float(levels[0]), ccdf_1pct_db=float(levels[1]), ccdf_0p1pct_db=float(levels[2]),
            ccdf_0p01pct_db=float(levels[3]), ccdf_0p001pct_db=float(levels[4]),
            ccdf_0p0001pct_db=float(levels[5]),
            papr_db=10.0 * math.log10(h.max / mean), peak_dbm=to_dbm(h.max), sample_count=n,
            invalid_count=h.invalid_count, x_db=CURVE_X_DB.copy(), probability=prob,
            gaussian_probability=np.asarray(gaussian_ccdf(CURVE_X_DB, self.reference)), reference=self.reference,
        )


def ccdf(samples, kind: str | None = None, *, watts_per_unit2: float = 1.0 / 50.0,
         reference: str | None = None) -> Ccdf:
    """Power statistics of one record: complex I/Q (default for complex input), real samples, or
    instantaneous power (``kind="power"``). See :class:`CcdfAccumulator` and the module docstring.

    Known answer (§7.4): complex Gaussian noise gives 3.622 dB at 10 %, 6.632 dB at 1 %, 8.393 dB at
    0.1 %, 9.643 dB at 0.01 %, and P(≥ average) = 36.79 %.
    """
    x = np.asarray(samples)
    if kind is None:
        kind = "complex" if np.iscomplexobj(x) else "real"
    acc = CcdfAccumulator(kind, watts_per_unit2=watts_per_unit2, reference=reference)
    acc.add(x)
    return acc.result()


# --------------------------------------------------------------------------------------------------
# Current CCDF (a real, normally non-negative waveform, absolute levels)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CurrentCcdf:
    """Time statistics of a current waveform in absolute levels (standards.md §3, "CCDF of current").

    ``levels_a[i]`` is the current exceeded (at or above) ``probabilities[i]`` of the time (0.01 % →
    the 99.99th percentile, e.g. for sizing a regulator); ``fraction_at_or_above[i]`` is the fraction
    of time at or above ``thresholds_a[i]`` (e.g. the time spent transmitting). Uniform sampling is
    assumed, so a fraction of samples is a fraction of time.
    """

    mean_a: float
    peak_a: float
    min_a: float
    sample_count: int
    invalid_count: int
    probabilities: tuple[float, ...]
    levels_a: tuple[float, ...]
    thresholds_a: tuple[float, ...]
    fraction_at_or_above: tuple[float, ...]


def current_ccdf(current_a, *, probabilities=(0.1, 0.01, 1e-3, 1e-4), thresholds_a=()) -> CurrentCcdf:
    """CCDF statistics of a current waveform (array, or a :class:`LevelHistogram` already fed in chunks).

    Negative samples (probe noise around zero) are valid and simply lie below every positive level; NaN
    samples are left out. Levels are within one histogram bin (0.4 %) or better; fractions at
    ``thresholds_a`` are exact (declare them as the histogram's ``thresholds`` when feeding chunks).
    """
    if isinstance(current_a, LevelHistogram):
        h = current_a
    else:
        h = LevelHistogram(thresholds=thresholds_a)
        h.add(current_a)
    if h.count == 0:
        raise AnalysisError(f"current CCDF: no valid samples ({h.invalid_count} invalid)")
    probs = tuple(float(p) for p in probabilities)
    lv = np.atleast_1d(h.level_at_fraction(np.array(probs))) if probs else np.array([])
    th = tuple(float(t) for t in thresholds_a)
    fr = np.atleast_1d(h.fraction_at_or_above(np.array(th))) if th else np.array([])
    return CurrentCcdf(h.mean, h.max, h.min, h.count, h.invalid_count, probs,
                       tuple(float(v) for v in lv), th, tuple(float(v) for v in fr))


def fraction_at_or_above(values, level: float) -> float:
    """Exact fraction of valid (non-NaN) samples at or above ``level``: one pass, no histogram."""
    x = np.asarray(values)
    valid = np.count_nonzero(~np.isnan(x)) if x.dtype.kind == "f" else x.size
    if valid == 0:
        raise AnalysisError("fraction above level: no valid samples")
    return np.count_nonzero(x >= level) / valid


def level_at_probability(values, probability: float) -> float:
    """Exact level exceeded (at or above) by ``probability`` of the valid samples: the ⌈q·N⌉-th largest
    (np.partition, no full sort); NaN when q·N < 1."""
    x = np.asarray(values, dtype=float).reshape(-1)
    n_nan = int(np.count_nonzero(np.isnan(x)))
    n = x.size - n_nan
    if n == 0:
        raise AnalysisError("level at probability: no valid samples")
    if not 0 < probability <= 1:
        raise AnalysisError(f"level at probability: probability must be in (0, 1], got {probability}")
    if probability * n < 1.0 - 1e-9:
        return math.nan
    k = max(1, math.ceil(probability * n - 1e-9 * n))
    idx = n - k  # ascending index among valid values; NaNs sort to the end
    return float(np.partition(x, idx)[idx])

"""Differential channel models from measured Touchstone files, through scikit-rf.

Two jobs: turn a single-ended 4-port measurement of a pair into its 2-port differential (Sdd) network,
and turn Sdd21 into an FIR impulse response a simulator can convolve a sampled waveform with.

Port pairing: scikit-rf's ``se2gmm(p=2)`` pairs single-ended ports (1, 2) into differential port 1 and
(3, 4) into differential port 2, with thru paths 1->3 and 2->4 (see its docstring). Measurements are
often numbered with thru paths 1->2 and 3->4 instead (the CABLE1_TX_pair.s4p cable is), so the ports are
renumbered first: new order [in_a, in_b, out_a, out_b]. Converting without renumbering pairs an input
with an output and gives garbage (about -15 dB at 1 GHz instead of -2.8 dB for that cable).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import skrf

from labbench.errors import ConfigError, FileFormatError

__all__ = ["load_differential_thru", "impulse_response", "dc_gain", "sdd21"]


@functools.lru_cache(maxsize=16)
def _differential(path: str, mtime_ns: int, size: int, thru_pairs: tuple) -> skrf.Network:
    """Parse and convert once per (file version, pairing); callers get copies."""
    try:
        net = skrf.Network(path)
    except Exception as exc:  # scikit-rf raises many types for a malformed file
        raise FileFormatError(f"{path}: cannot read as Touchstone: {exc}".splitlines()[0]) from None
    if net.nports != 4:
        raise FileFormatError(f"{path}: {net.nports}-port network, a differential thru needs 4 ports")
    (a_in, a_out), (b_in, b_out) = thru_pairs
    _check_thru(path, net, thru_pairs)
    order = [a_in - 1, b_in - 1, a_out - 1, b_out - 1]
    net.renumber(order, [0, 1, 2, 3])
    net.se2gmm(p=2)
    sdd = net.subnetwork([0, 1])  # mixed-mode ports: d1, d2, c1, c2
    sdd.name = f"{Path(path).stem} Sdd"
    return sdd


def _check_thru(path: str, net: skrf.Network, thru_pairs) -> None:
    """Refuse a pairing whose 'thru' is not the strongest transmission out of its input at low frequency."""
    low = slice(0, max(1, net.frequency.npoints // 20))
    mag = np.median(np.abs(net.s[low]), axis=0)  # [out, in]
    for p_in, p_out in thru_pairs:
        others = [j for j in range(4) if j not in (p_in - 1, p_out - 1)]
        strongest = max(others, key=lambda j: mag[j, p_in - 1])
        if mag[p_out - 1, p_in - 1] < mag[strongest, p_in - 1]:
            db = lambda x: 20 * np.log10(max(x, 1e-30))  # noqa: E731
            raise ConfigError(
                f"{path}: thru_pairs {thru_pairs}: {p_in}->{p_out} is not a thru path "
                f"(|S{p_out}{p_in}| {db(mag[p_out - 1, p_in - 1]):.1f} dB but "
                f"|S{strongest + 1}{p_in}| {db(mag[strongest, p_in - 1]):.1f} dB at low frequency)")


def load_differential_thru(path: str | os.PathLike, thru_pairs=((1, 2), (3, 4))) -> skrf.Network:
    """2-port differential-mode network (Sdd11, Sdd12, Sdd21, Sdd22) of a single-ended 4-port thru.

    ``thru_pairs`` are the 1-based single-ended thru paths (input, output) of the two legs, first leg
    positive. The parsed result is cached per path, file modification time and pairing (a simulator calls
    this per acquisition); each call returns a copy, so callers may modify it.
    """
    path = Path(path)
    try:
        pairs = tuple((int(i), int(o)) for i, o in thru_pairs)
    except (TypeError, ValueError):
        raise ConfigError(f"thru_pairs {thru_pairs!r}: expected two (input, output) port pairs") from None
    if len(pairs) != 2 or sorted(p for pair in pairs for p in pair) != [1, 2, 3, 4]:
        raise ConfigError(f"thru_pairs {thru_pairs!r}: expected two (input, output) pairs using ports 1-4 once each")
    try:
        st = path.stat()
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read Touchstone file: {exc.strerror or exc}") from None
    return _differential(str(path.resolve()), st.st_mtime_ns, st.st_size, pairs).copy()


def sdd21(network_or_sdd21) -> tuple[np.ndarray, np.ndarray]:
    """(f_hz, transfer) from a 2-port network (S21), a 1-port network (S11 as the transfer function) or a
    (f_hz, complex transfer) pair. Frequencies must be increasing and positive or zero."""
    if isinstance(network_or_sdd21, skrf.Network):
        net = network_or_sdd21
        if net.nports == 2:
            f_hz, h = net.f, net.s[:, 1, 0]
        elif net.nports == 1:
            f_hz, h = net.f, net.s[:, 0, 0]
        else:
            raise ConfigError(f"{net.name}: {net.nports}-port network; pass the 2-port Sdd network "
                              f"from load_differential_thru")
    else:
        f_hz, h = network_or_sdd21
    f_hz = np.asarray(f_hz, dtype=np.float64)
    h = np.asarray(h, dtype=np.complex128)
    if f_hz.ndim != 1 or f_hz.shape != h.shape or f_hz.size < 2:
        raise ConfigError(f"transfer function needs matching 1-D frequency and value arrays of 2+ points, "
                          f"got {f_hz.shape} and {h.shape}")
    if f_hz[0] < 0 or np.any(np.diff(f_hz) <= 0):
        raise ConfigError("transfer function frequencies must be non-negative and strictly increasing")
    return f_hz, h


def _with_dc(f_hz: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies, magnitude and unwrapped phase with a point at f = 0.

    DC magnitude: least-squares line through |H| over the lowest points (up to 8, f <= 5 f_min), evaluated
    at 0. DC phase: the phase line through the same points, evaluated at 0 and rounded to a multiple of pi,
    since the response of a real channel is real at DC (the sign of the DC gain follows).
    """
    mag = np.abs(h)
    phase = np.unwrap(np.angle(h))
    if f_hz[0] == 0:
        phase[0] = np.round(phase[0] / np.pi) * np.pi
        return f_hz, mag, phase
    k = int(np.clip(np.count_nonzero(f_hz <= 5 * f_hz[0]), 2, 8))
    mag0 = float(np.polyval(np.polyfit(f_hz[:k], mag[:k], 1), 0.0))
    phase0 = float(np.round(np.polyval(np.polyfit(f_hz[:k], phase[:k], 1), 0.0) / np.pi) * np.pi)
    return np.r_[0.0, f_hz], np.r_[max(mag0, 0.0), mag], np.r_[phase0, phase]


def dc_gain(network_or_sdd21) -> float:
    """The transfer function extrapolated to f = 0 (real; negative for an inverting channel)."""
    f_hz, mag, phase = _with_dc(*sdd21(network_or_sdd21))
    return float(mag[0] * np.cos(phase[0]))


def impulse_response(network_or_sdd21, sample_interval_s: float, n_taps: int | None = None,
                     rolloff: float = 0.2) -> np.ndarray:
    """The channel's impulse response as FIR taps at ``sample_interval_s``: y = np.convolve(x, h).

    Method: the transfer function (Sdd21) gets a DC point (see :func:`dc_gain`); magnitude and unwrapped
    phase are interpolated linearly onto the FFT grid (interpolating real and imaginary parts instead
    would lose magnitude where the phase turns fast, as it does through a long cable); above the
    measured band, or the Nyquist frequency if lower, the response is zero, reached through a raised-cosine
    taper over the top ``rolloff`` fraction of that band (to avoid Gibbs ringing); the inverse real FFT
    then gives the response with the channel's own delay (taps from t = 0, so it is causal; what the
    band limit puts before t = 0 wraps to the end of the FFT record and is dropped). The FFT record is
    at least 1 / (median measured frequency step) long, so the measurement's time span is kept without
    aliasing.

    ``n_taps``: None keeps taps up to where the remaining energy is below 1e-6 of the total. The taps are
    then corrected so that sum(h) equals the DC gain exactly (the step response settles to it).
    """
    if not sample_interval_s > 0:
        raise ConfigError(f"sample_interval_s must be positive, got {sample_interval_s!r}")
    if not 0 < rolloff <= 1:
        raise ConfigError(f"rolloff must be in (0, 1], got {rolloff!r}")
    f_hz, mag, phase = _with_dc(*sdd21(network_or_sdd21))
    gain_dc = float(mag[0] * np.cos(phase[0]))

    df_meas_hz = float(np.median(np.diff(f_hz[1:]))) if f_hz.size > 2 else float(f_hz[1])
    n_min = max(int(np.ceil(1.0 / (df_meas_hz * sample_interval_s))), 2 * (n_taps or 0), 64)
    n_fft = 1 << int(np.ceil(np.log2(n_min)))
    fk = np.fft.rfftfreq(n_fft, sample_interval_s)

    f_edge = min(f_hz[-1], 0.5 / sample_interval_s)
    f_taper = (1.0 - rolloff) * f_edge
    window = np.where(fk <= f_taper, 1.0,
                      0.5 * (1 + np.cos(np.pi * np.clip((fk - f_taper) / (f_edge - f_taper), 0, 1))))
    window[fk >= f_edge] = 0.0
    hk = np.interp(fk, f_hz, mag) * window * np.exp(1j * np.interp(fk, f_hz, phase))
    hk[0] = gain_dc
    if n_fft % 2 == 0:
        hk[-1] = hk[-1].real  # the Nyquist bin of a real sequence is real
    h = np.fft.irfft(hk, n_fft)

    causal = h[: n_fft // 2]
    if n_taps is None:
        energy = np.cumsum(causal[::-1] ** 2)[::-1]  # energy from tap i to the end
        n_taps = max(1, int(np.searchsorted(-energy, -1e-6 * energy[0])))
    elif n_taps < 1:
        raise ConfigError(f"n_taps must be positive, got {n_taps!r}")
    taps = causal[:n_taps].copy()
    # What truncation dropped (the tail, and what the band limit put before t = 0) is mostly slow,
    # low-frequency content. Put its sum back as one smooth Hann-shaped pedestal over the kept taps: sum(h)
    # becomes the DC gain while frequencies above ~2 / (n_taps * sample_interval_s) are untouched
    # (scaling the taps instead would shift the whole response by the same ratio).
    pedestal = np.hanning(n_taps + 2)[1:-1]
    taps += (gain_dc - taps.sum()) * pedestal / pedestal.sum()
    return taps

"""The simulated DUT's serial transmitter: PRBS NRZ with jitter, finite edges, noise and channel ISI.

The waveform is built from edge times, not from samples per bit, so the scope's 80 GSa/s never needs
to be a whole multiple of the data rate (pyarbtools#8). Each edge is a Gaussian step
(10-90 % rise time = 2.563 sigma); the value at time t is the level before the nearest edges plus
their partial steps, so rendering is vectorised and can run chunk by chunk for long records.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from labbench.errors import ConfigError

# PRBS polynomials x^p + x^q + 1 (ITU-T O.150)
PRBS_TAPS = {"PRBS7": (7, 6), "PRBS9": (9, 5), "PRBS15": (15, 14), "PRBS23": (23, 18), "PRBS31": (31, 28)}
RISE_10_90_PER_SIGMA = 2.0 * 1.2815515655446004


@dataclass(frozen=True)
class SerialLink:
    pattern: str = "PRBS7"
    rate_bps: float = 10.3125e9
    rate_offset_ppm: float = 0.0
    amplitude_v: float = 0.4
    offset_v: float = 0.0
    rise_time_s: float = 24e-12
    rj_rms_s: float = 0.0
    pj_pp_s: float = 0.0
    pj_freq_hz: float = 1e6
    dcd_s: float = 0.0
    noise_rms_v: float = 0.0
    channel: str = ""
    channel_thru: list = field(default_factory=lambda: [[1, 2], [3, 4]])
    points: int = 1_000_000
    seed: int = 7

    def __post_init__(self):
        if self.pattern.upper() not in PRBS_TAPS:
            raise ConfigError(f"[serial] pattern {self.pattern!r}: use one of {', '.join(PRBS_TAPS)}")
        if not self.rate_bps > 0:
            raise ConfigError(f"[serial] rate_bps must be positive, got {self.rate_bps}")

    @property
    def actual_rate_bps(self) -> float:
        return self.rate_bps * (1.0 + self.rate_offset_ppm * 1e-6)


def prbs_bits(pattern: str, n_bits: int, start: int = 0) -> np.ndarray:
    """n_bits of the PRBS from position `start` of its sequence (all-ones seed), as uint8.

    Uses b[n] = b[n-p] xor b[n-q], computed q bits at a time.
    """
    p, q = PRBS_TAPS[pattern.upper()]
    period = (1 << p) - 1
    total = start + n_bits
    if period <= 1 << 16:                      # short sequences: one period, then tile
        seq = _lfsr(p, q, period)
        idx = (start + np.arange(n_bits)) % period
        return seq[idx]
    return _lfsr(p, q, total)[start:]


def _lfsr(p: int, q: int, n: int) -> np.ndarray:
    out = np.empty(n + p, dtype=np.uint8)
    out[:p] = 1
    i = p
    while i < n + p:
        step = min(q, n + p - i)
        out[i:i + step] = out[i - p:i - p + step] ^ out[i - q:i - q + step]
        i += step
    return out[p:]


@dataclass
class SerialWaveform:
    """One acquisition's worth of the transmitted signal: bits, edge times and the render function."""

    link: SerialLink
    edge_times_s: np.ndarray          # actual (jittered) edge times
    edge_steps_v: np.ndarray          # +amplitude for a rising edge, -amplitude for a falling one
    first_level_v: float              # level before the first edge
    ideal_edge_times_s: np.ndarray    # the same edges without jitter (the transmitter's clock)
    random_jitter_s: np.ndarray       # the random part of each edge's displacement
    deterministic_jitter_s: np.ndarray  # PJ + DCD part of each edge's displacement
    ui_s: float
    bits: np.ndarray
    t_first_bit_s: float
    fir: np.ndarray | None = None     # channel impulse response per sample, if a channel is set
    edge_sigma_s: float = 0.0         # Gaussian edge: transmitter and receiver front end together

    @classmethod
    def generate(cls, link: SerialLink, t_end_s: float, rng: np.random.Generator,
                 fir: np.ndarray | None = None, front_end_bandwidth_hz: float | None = None) -> "SerialWaveform":
        """Bits and jittered edges up to t_end_s. A receiver front end of the given -3 dB bandwidth
        (Gaussian response, sigma_t = sqrt(ln 2) / (2 pi f3dB)) widens the edges."""
        ui = 1.0 / link.actual_rate_bps
        n_bits = int(np.ceil(t_end_s / ui)) + 8
        start = int(rng.integers(0, 1 << 20))
        bits = prbs_bits(link.pattern, n_bits, start)
        t_first = -4 * ui
        boundaries = np.flatnonzero(np.diff(bits)) + 1            # bit index where the level changes
        ideal = t_first + boundaries * ui
        rising = bits[boundaries] == 1
        rj = rng.normal(0.0, link.rj_rms_s, boundaries.size) if link.rj_rms_s > 0 else np.zeros(boundaries.size)
        phase = rng.uniform(0, 2 * np.pi)
        dj = 0.5 * link.pj_pp_s * np.sin(2 * np.pi * link.pj_freq_hz * ideal + phase)
        dj = dj + np.where(rising, 0.5 * link.dcd_s, -0.5 * link.dcd_s)
        steps = np.where(rising, link.amplitude_v, -link.amplitude_v)
        first_level = link.offset_v + (0.5 if bits[0] else -0.5) * link.amplitude_v
        sigma = link.rise_time_s / RISE_10_90_PER_SIGMA
        if front_end_bandwidth_hz:
            sigma = float(np.hypot(sigma, np.sqrt(np.log(2.0)) / (2 * np.pi * front_end_bandwidth_hz)))
        return cls(link, ideal + dj + rj, steps, first_level, ideal, rj, dj, ui, bits, t_first, fir, sigma)

    def render(self, t_s: np.ndarray, neighbours: int = 3) -> np.ndarray:
        """Noise-free transmitter output at times t_s (vectorised over samples)."""
        sigma = max(self.edge_sigma_s or self.link.rise_time_s / RISE_10_90_PER_SIGMA, 1e-15)
        edges = self.edge_times_s
        steps = self.edge_steps_v
        # level before edge j = first level + sum of the steps before it
        level_before = self.first_level_v + np.concatenate(([0.0], np.cumsum(steps)))
        idx = np.searchsorted(edges, t_s)
        lo = np.clip(idx - neighbours, 0, edges.size)
        out = level_before[lo].astype(np.float64)
        for k in range(-neighbours, neighbours):
            j = idx + k
            valid = (j >= lo) & (j >= 0) & (j < edges.size)
            jj = np.clip(j, 0, max(edges.size - 1, 0))
            if edges.size == 0:
                break
            out += np.where(valid, steps[jj] * ndtr((t_s - edges[jj]) / sigma), 0.0)
        return out


def render_record(wave: SerialWaveform, t0_s: float, dt_s: float, n: int, rng: np.random.Generator,
                  chunk: int = 1 << 20) -> np.ndarray:
    """n samples from t0_s at dt_s: transmitter output through the channel, plus vertical noise."""
    out = np.empty(n, dtype=np.float64)
    fir = wave.fir
    history = 0 if fir is None else fir.size - 1
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        t = t0_s + np.arange(start - history, stop, dtype=np.float64) * dt_s
        clean = wave.render(t)
        if fir is not None:
            from scipy.signal import oaconvolve
            clean = oaconvolve(clean, fir, mode="valid")
        out[start:stop] = clean
    if wave.link.noise_rms_v > 0:
        out += rng.normal(0.0, wave.link.noise_rms_v, n)
    return out

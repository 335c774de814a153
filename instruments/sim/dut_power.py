"""The simulated DUT's supply current: the `[power]` section of the DUT profile, rendered at any
sample instants.

One wake event per period, at first_wake_s + k * period_s plus a timing jitter. The jitter is drawn
from (seed, k), so event k falls at the same time in every acquisition, however the record is cut.
Each event follows the same course:
  sleep -> linear wake ramp to the MCU level plus an inrush overshoot, which decays exponentially
  (wake_settle_tau_s) -> MCU active -> radio RX -> a train of tx_packets radio TX packets, one every
  tx_interval_s, with the MCU level between them -> MCU tail -> back to sleep.
The packet train is what puts lines into the current spectrum (at 1 / tx_interval_s and its
harmonics): no other part of the event lasts long enough to make a line narrower than the spectrum's
noise-floor window.
After the wake ramp, each state is approached first-order with edge_tau_s. Noise: white leakage
noise in every state, plus a multiplicative part in the active states. An optional ripple (the bench
supply's ripple through the DUT's input capacitance) is added throughout. Time is virtual: rendering
60 s of current costs what its samples cost, nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerProfile:
    """The `[power]` section (units in the names)."""

    supply_v: float = 3.0               # battery voltage: for energy, not for the current itself
    period_s: float = 25.0              # wake events (RTC alarm) every period
    first_wake_s: float = 2.0           # first event after power-up (virtual time 0)
    wake_jitter_s: float = 0.02         # each wake time moves by up to +- this (uniform)
    sleep_a: float = 1.5e-6
    sleep_noise_a: float = 0.05e-6      # leakage noise, rms (white)
    wake_ramp_s: float = 300e-6         # sleep to MCU level: regulator soft start and clock start
    wake_overshoot_pct: float = 20.0    # inrush on top of the MCU level at the end of the ramp
    wake_settle_tau_s: float = 150e-6   # the overshoot decays with this time constant
    mcu_a: float = 3.0e-3
    mcu_s: float = 4e-3                 # MCU active before the radio (the wake ramp included)
    rx_a: float = 11e-3
    rx_s: float = 1.5e-3
    tx_a: float = 0.15
    tx_s: float = 100e-6                # one packet
    tx_packets: int = 12
    tx_interval_s: float = 3e-3         # packet start to packet start
    tail_s: float = 2e-3                # MCU active after the radio, then sleep
    edge_tau_s: float = 20e-6           # first-order transitions between the later states
    active_noise_pct: float = 0.5       # multiplicative noise in the active states, rms
    ripple_a: float = 0.0               # bench-supply ripple current amplitude (peak)
    ripple_hz: float = 0.0
    seed: int = 11

    def __post_init__(self):
        positive = ("period_s", "wake_ramp_s", "wake_settle_tau_s", "mcu_s", "edge_tau_s", "sleep_a")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be positive")
        for name in ("rx_s", "tx_s", "tail_s", "wake_jitter_s", "sleep_noise_a", "active_noise_pct",
                     "ripple_a", "ripple_hz", "first_wake_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must not be negative")
        if self.tx_packets < 0 or self.tx_packets and self.tx_interval_s < self.tx_s:
            raise ValueError(f"tx_packets = {self.tx_packets} must not be negative and tx_interval_s = "
                             f"{self.tx_interval_s} must be at least tx_s = {self.tx_s}")
        if self.wake_ramp_s >= self.mcu_s:
            raise ValueError(f"wake_ramp_s = {self.wake_ramp_s} must be shorter than mcu_s = {self.mcu_s}")
        if self.event_s + 2 * self.wake_jitter_s >= self.period_s:
            raise ValueError(f"a wake event ({self.event_s:g} s) and its jitter must fit in period_s = {self.period_s}")

    @property
    def event_s(self) -> float:
        """From the wake trigger until the current is back within 0.1 % of the way to sleep."""
        return self.mcu_s + self.rx_s + self.tx_packets * self.tx_interval_s + self.tail_s + 10 * self.edge_tau_s

    @property
    def peak_a(self) -> float:
        return max(self.mcu_a * (1 + self.wake_overshoot_pct / 100), self.rx_a, self.tx_a)


class SupplyCurrent:
    """The DUT's supply current over virtual time (A)."""

    def __init__(self, profile: PowerProfile):
        self.p = profile

    # ------------------------------------------------------------ the event schedule
    def wake_time_s(self, k: int) -> float:
        p = self.p
        jitter = np.random.default_rng([p.seed, k]).uniform(-1.0, 1.0) * p.wake_jitter_s if p.wake_jitter_s else 0.0
        return p.first_wake_s + k * p.period_s + float(jitter)

    def wake_times_s(self, t0_s: float, t1_s: float) -> list[float]:
        """Start times of every event that overlaps [t0_s, t1_s)."""
        p = self.p
        k0 = max(0, int(np.floor((t0_s - p.first_wake_s - p.event_s - p.wake_jitter_s) / p.period_s)))
        k1 = int(np.ceil((t1_s - p.first_wake_s + p.wake_jitter_s) / p.period_s))
        out = []
        for k in range(k0, k1 + 1):
            t = self.wake_time_s(k)
            if t < t1_s and t + p.event_s > t0_s:
                out.append(t)
        return out

    # ------------------------------------------------------------ one event, noise-free
    def event_shape(self, tau_s: np.ndarray) -> np.ndarray:
        """Noise-free current at tau_s after an event's wake trigger (tau may be negative: sleep)."""
        p = self.p
        tau = np.asarray(tau_s, dtype=np.float64)
        out = np.full(tau.shape, p.sleep_a)
        peak = p.mcu_a * (1 + p.wake_overshoot_pct / 100)
        ramp = (tau >= 0) & (tau < p.wake_ramp_s)
        out[ramp] = p.sleep_a + (peak - p.sleep_a) * tau[ramp] / p.wake_ramp_s
        settle = (tau >= p.wake_ramp_s) & (tau < p.mcu_s)
        out[settle] = p.mcu_a + (peak - p.mcu_a) * np.exp(-(tau[settle] - p.wake_ramp_s) / p.wake_settle_tau_s)
        value = p.mcu_a + (peak - p.mcu_a) * np.exp(-(p.mcu_s - p.wake_ramp_s) / p.wake_settle_tau_s)
        start = p.mcu_s
        pieces = [(p.rx_a, p.rx_s)] + [(p.tx_a, p.tx_s), (p.mcu_a, p.tx_interval_s - p.tx_s)] * p.tx_packets
        for level, length in pieces + [(p.mcu_a, p.tail_s), (p.sleep_a, np.inf)]:   # a handful of pieces
            sel = (tau >= start) & (tau < start + length)
            out[sel] = level + (value - level) * np.exp(-(tau[sel] - start) / p.edge_tau_s)
            if np.isfinite(length):
                value = level + (value - level) * np.exp(-length / p.edge_tau_s)
                start += length
        return out

    def first_crossing_s(self, t_from_s: float, level_a: float, rising: bool = True,
                         horizon_events: int = 10) -> float | None:
        """The first time after t_from_s at which the noise-free current crosses level_a, or None
        within the next horizon_events events (a trigger level the DUT never reaches)."""
        p = self.p
        if rising and level_a <= p.sleep_a or not rising and level_a >= p.peak_a:
            return None
        step = min(p.wake_ramp_s, p.edge_tau_s) / 50
        tau = np.arange(-step, p.event_s, step)
        y = self.event_shape(tau)
        hit = (y[:-1] < level_a) & (y[1:] >= level_a) if rising else (y[:-1] > level_a) & (y[1:] <= level_a)
        idx = np.flatnonzero(hit)
        if idx.size == 0:
            return None
        offsets = tau[idx] + step * (level_a - y[idx]) / (y[idx + 1] - y[idx])
        k0 = max(0, int(np.floor((t_from_s - p.first_wake_s - p.event_s - p.wake_jitter_s) / p.period_s)))
        for k in range(k0, k0 + horizon_events + 2):
            t_wake = self.wake_time_s(k)
            later = t_wake + offsets[t_wake + offsets >= t_from_s]
            if later.size:
                return float(later[0])
        return None

    # ------------------------------------------------------------ rendering
    def render(self, t0_s: float, dt_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """The supply current (A, float64) at t0_s + i * dt_s, i < n, with noise."""
        p = self.p
        x = np.full(n, p.sleep_a)
        t1 = t0_s + n * dt_s
        for t_wake in self.wake_times_s(t0_s, t1):                 # per event, not per sample
            i0 = max(0, int(np.floor((t_wake - t0_s) / dt_s)))
            i1 = min(n, int(np.ceil((t_wake + p.event_s - t0_s) / dt_s)) + 1)
            if i1 <= i0:
                continue
            tau = t0_s + np.arange(i0, i1) * dt_s - t_wake
            shape = self.event_shape(tau)
            if p.active_noise_pct:
                active = shape > 2 * p.sleep_a
                shape[active] *= 1 + p.active_noise_pct / 100 * rng.standard_normal(int(active.sum()))
            x[i0:i1] = shape
        if p.sleep_noise_a:
            x += p.sleep_noise_a * rng.standard_normal(n)
        if p.ripple_a and p.ripple_hz:
            x += p.ripple_a * np.sin(2 * np.pi * p.ripple_hz * (t0_s + np.arange(n) * dt_s))
        return x

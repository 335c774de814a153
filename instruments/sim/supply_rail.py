"""The simulated DUT's core supply rail, as a power-rail probe on the MSOS604A sees it ([rail]).

    v(t) = nominal + dc_error                                regulator set point
           + switching ripple: f_sw and its harmonics         buck converter
           - load response to the DUT's supply current i(t)   the same [power] the current analyzer sees
           + broadband noise (DUT) + probe noise              white, band-limited by the scope front end

The current is ``dut_power.SupplyCurrent`` without its noise, so every dip on the rail sits where the
current analyzer sees a burst. The regulator's output impedance turns it into volts:

    V_load(s) = -[R_load + R_transient * s (s + a) / ((s + a)^2 + w^2)] * I(s),  a = 1/recovery_s, w = 2 pi f_ring

i.e. a current step dI gives a dip of dI * (R_load + R_transient) (less when the current's own edge is
slower than the loop) that rings out at f_ring with time constant recovery_s and settles at the static
droop dI * R_load. The dynamic part is a second-order IIR filter on the sampled current (bilinear
transform), started in its steady state a few recovery times before the record.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from labbench.errors import ConfigError
from labbench.instruments.sim.dut import DutProfile, section_dataclass
from labbench.instruments.sim.dut_power import PowerProfile, SupplyCurrent

LOOKBACK_RECOVERIES = 10        # the load filter starts this many recovery times before the record
SEARCH_CHUNK_S = 1e-3          # the trigger search evaluates a wake event this much at a time
RIPPLE_TABLE = 8192             # points per switching period (linear interpolation: < 1e-5 relative)


@dataclass(frozen=True)
class RailModel:
    """The [rail] section of a DUT profile (volts, ohms, seconds, hertz)."""
    nominal_v: float = 1.0
    dc_error_v: float = 0.0            # set-point error of the regulator
    switching_freq_hz: float = 1.2e6
    ripple_pp_v: float = 3e-3          # switching ripple (fundamental + harmonics), peak to peak
    ripple_harmonics: list = field(default_factory=lambda: [1.0, 0.35, 0.15, 0.08])   # f_sw, 2 f_sw, ...
    noise_rms_v: float = 0.2e-3        # broadband DUT noise, white up to noise_bandwidth_hz
    noise_bandwidth_hz: float = 100e6
    probe_noise_rms_v: float = 0.1e-3  # power-rail probe and front end, white up to probe_bandwidth_hz
    probe_bandwidth_hz: float = 2e9
    load_regulation_ohm: float = 0.02  # static droop per ampere of load current
    transient_ohm: float = 0.2         # output impedance peak: extra dip per ampere of a fast step
    recovery_s: float = 20e-6          # regulator loop recovery time constant
    ring_freq_hz: float = 30e3         # loop ringing after a step
    channel: int = 1                   # the scope channel the probe is on
    sample_rate_sa_s: float = 200e6    # the scope's power-on record: rate and length
    points: int = 2_000_000
    seed: int = 11

    def __post_init__(self):
        if not self.nominal_v > 0:
            raise ValueError(f"nominal_v = {self.nominal_v!r}: must be positive")
        for name in ("switching_freq_hz", "recovery_s", "noise_bandwidth_hz", "probe_bandwidth_hz",
                     "sample_rate_sa_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be positive")
        for name in ("ripple_pp_v", "noise_rms_v", "probe_noise_rms_v", "load_regulation_ohm", "transient_ohm",
                     "ring_freq_hz"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must not be negative")
        if not self.ripple_harmonics or any(isinstance(a, bool) or not isinstance(a, (int, float))
                                            for a in self.ripple_harmonics):
            raise ValueError(f"ripple_harmonics = {self.ripple_harmonics!r}: must be a list of numbers")


@dataclass(frozen=True)
class SupplyRail:
    """The rail of one DUT: its [rail] model and the [power] current that loads it."""
    model: RailModel
    supply: SupplyCurrent

    @classmethod
    def from_profile(cls, profile: DutProfile) -> "SupplyRail":
        model = section_dataclass(RailModel, profile, "rail")
        power = section_dataclass(PowerProfile, profile, "power")
        if model.channel < 1:
            raise ConfigError(f"DUT profile {profile.path}: [rail] channel = {model.channel}: channels start at 1")
        return cls(model, SupplyCurrent(power))

    # ------------------------------------------------------------ deterministic parts
    def current_a(self, t_s: np.ndarray) -> np.ndarray:
        """The DUT's supply current without its noise at sorted times t_s (one slice per wake event)."""
        t = np.asarray(t_s, dtype=np.float64)
        out = np.full(t.shape, self.supply.p.sleep_a)
        if t.size == 0:
            return out
        for t_wake in self.supply.wake_times_s(float(t[0]), float(t[-1]) + 1e-12):
            i0, i1 = np.searchsorted(t, [t_wake, t_wake + self.supply.p.event_s])
            out[i0:i1] = self.supply.event_shape(t[i0:i1] - t_wake)
        return out

    def ripple_v(self, t_s: np.ndarray) -> np.ndarray:
        """Switching ripple: harmonics of f_sw with fixed phases, scaled to ripple_pp_v peak to peak
        (one period tabulated at RIPPLE_TABLE points, read by phase)."""
        m = self.model
        weights = np.asarray(m.ripple_harmonics, dtype=np.float64)
        phases = np.linspace(0.0, 1.3, weights.size)
        cycle = np.linspace(0.0, 1.0, RIPPLE_TABLE + 1)
        table = np.zeros(cycle.size)
        for h, (a, phi) in enumerate(zip(weights, phases), start=1):
            table += a * np.sin(2 * np.pi * h * cycle + phi)
        span = float(np.ptp(table))
        table *= m.ripple_pp_v / span if span > 0 else 0.0
        phase = np.asarray(t_s, dtype=np.float64) * m.switching_freq_hz
        return np.interp(phase - np.floor(phase), cycle, table)

    def load_response_v(self, t0_s: float, dt_s: float, n: int) -> np.ndarray:
        """-[R_load i + dynamic part] at t0 + k dt (module docstring)."""
        m = self.model
        lookback = int(np.ceil(LOOKBACK_RECOVERIES * m.recovery_s / dt_s))
        t = t0_s + np.arange(-lookback, n) * dt_s
        i = self.current_a(t)
        if m.transient_ohm == 0:
            return -(m.load_regulation_ohm * i)[lookback:]
        alpha, omega = 1.0 / m.recovery_s, 2 * np.pi * m.ring_freq_hz
        b, a = signal.bilinear([m.transient_ohm, m.transient_ohm * alpha, 0.0],
                               [1.0, 2 * alpha, alpha ** 2 + omega ** 2], fs=1.0 / dt_s)
        dynamic, _ = signal.lfilter(b, a, i, zi=signal.lfilter_zi(b, a) * i[0])
        return -(m.load_regulation_ohm * i + dynamic)[lookback:]

    def clean_v(self, t0_s: float, dt_s: float, n: int) -> np.ndarray:
        """The rail without noise: set point, ripple and load response."""
        m = self.model
        t = t0_s + np.arange(n) * dt_s
        return m.nominal_v + m.dc_error_v + self.ripple_v(t) + self.load_response_v(t0_s, dt_s, n)

    # ------------------------------------------------------------ as the scope digitizes it
    def render(self, t0_s: float, dt_s: float, n: int, bandwidth_hz: float, rng: np.random.Generator) -> np.ndarray:
        """n samples from t0 every dt (before quantisation): the clean rail plus white DUT and probe noise,
        through the front end (4th-order Butterworth at bandwidth_hz, causal like the hardware; none at
        or above 0.45 fs)."""
        m = self.model
        v = self.clean_v(t0_s, dt_s, n)
        fs = 1.0 / dt_s
        density = m.noise_rms_v ** 2 / m.noise_bandwidth_hz + m.probe_noise_rms_v ** 2 / m.probe_bandwidth_hz
        v += rng.normal(0.0, np.sqrt(density * fs / 2.0), n)     # V^2/Hz over 0..fs/2
        if bandwidth_hz < 0.45 * fs:
            sos = signal.butter(4, bandwidth_hz, btype="low", fs=fs, output="sos")
            ac, _ = signal.sosfilt(sos, v - m.nominal_v, zi=signal.sosfilt_zi(sos) * (v[0] - m.nominal_v))
            v = ac + m.nominal_v
        return v

    # ------------------------------------------------------------ trigger
    def first_crossing_s(self, t_from_s: float, level_v: float, falling: bool, horizon_s: float) -> float | None:
        """When the noiseless rail first crosses level_v (falling or rising) at or after t_from_s, within
        horizon_s; None if it does not. Ripple crossings are looked for over two switching periods; then
        each wake event in turn (a loop over events, not samples), only when an event's load response
        can reach the level at all."""
        m = self.model
        period = 1.0 / m.switching_freq_hz
        dt = period / 32

        def crossing(t0: float, t1: float) -> float | None:
            n = max(int(np.ceil((t1 - t0) / dt)), 2)
            v = self.clean_v(t0, dt, n)
            below = v < level_v
            hit = np.flatnonzero(~below[:-1] & below[1:] if falling else below[:-1] & ~below[1:])
            times = t0 + (hit + 1) * dt
            times = times[times >= t_from_s]
            return float(times[0]) if times.size else None

        found = crossing(t_from_s, t_from_s + 2 * period)
        if found is not None:
            return found
        p = self.supply.p
        # does an event reach the level? (all events have the same shape; ripple adds +-pp/2)
        coarse_dt = min(p.edge_tau_s, m.recovery_s, p.wake_ramp_s) / 20
        span = p.event_s + LOOKBACK_RECOVERIES * m.recovery_s
        shape = m.nominal_v + m.dc_error_v + self.load_response_v(self.supply.wake_time_s(0) - coarse_dt, coarse_dt,
                                                                  int(span / coarse_dt))
        half = 0.5 * m.ripple_pp_v
        if not shape.min() - half < level_v < shape.max() + half:      # crossing needs both sides
            return None
        for t_wake in self.supply.wake_times_s(t_from_s, t_from_s + horizon_s):
            start = max(t_wake - 2 * period, t_from_s)
            for t0 in np.arange(start, t_wake + span, SEARCH_CHUNK_S):     # the first crossing ends the search
                found = crossing(t0, min(t0 + SEARCH_CHUNK_S + dt, t_wake + span))
                if found is not None:
                    return found
        return None

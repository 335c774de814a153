"""Simulated DSAZ334A: channel 1 sees the DUT's serial transmitter (or a replayed real capture);
EZJIT, RJ/DJ and eye queries answer from the scope's own measurement code."""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import erfcinv, ndtr

from labbench.errors import ConfigError
from labbench.instruments.sim.dut import DutProfile, load_profile, section_dataclass
from labbench.instruments.sim.infiniium import INVALID, Record, SimInfiniium
from labbench.instruments.sim.serial_link import SerialLink, SerialWaveform, render_record
from labbench.scpi.commands import Command, Query, ScpiCommandError, format_number, parse_number


MAX_SIMULATED_BITS = 5e7     # bits rendered per acquisition (about 400 MB of edge data)


class SimDSAZ334A(SimInfiniium):
    idn = ("KEYSIGHT TECHNOLOGIES", "DSAZ334A", "MY00SIM334", "11.50.00101")
    n_channels = 4
    max_sample_rate = 80e9
    max_bandwidth_hz = 33e9
    scale_limits = (1e-3, 1.0)       # 50-ohm inputs: 1 mV/div to 1 V/div
    offset_limits = (-4.0, 4.0)

    def __init__(self, profile: DutProfile | None = None, replay: str | None = None, real_time: bool = False):
        self.profile = profile or load_profile()
        self.link: SerialLink = section_dataclass(SerialLink, self.profile, "serial")
        self.replay_path = replay
        self.replay = None
        if replay:
            from labbench.fileformats.keysight_bin import read_keysight_bin
            waves = read_keysight_bin(replay)
            if not waves:
                raise ConfigError(f"replay file {replay}: holds no waveform")
            self.replay = waves[0]
        self.last_wave: SerialWaveform | None = None
        self._fir = None
        super().__init__(real_time=real_time)
        self.reset()

    def options(self) -> str:
        return '"EZJIT,SDA,DSAZ-800"'

    def reset(self) -> None:
        super().reset()
        # Power-on state that follows the signal source: a replayed file sets record length and rate.
        if self.replay is not None:
            values = np.asarray(self.replay.values, dtype=np.float64)
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            self.set("points", int(values.size))
            self.set("srate", 1.0 / self.replay.x_increment_s)
            self.set("ch_scale", 1, max((hi - lo) / 6.0, 1e-3))
            self.set("ch_offset", 1, 0.5 * (hi + lo))
        else:
            self.set("points", int(self.link.points))

    @property
    def commands(self) -> list[Command]:  # type: ignore[override]
        return self.infiniium_commands() + [
            Query(":MEASure:DATarate", lambda s, f, p: s._measure(p, lambda v, r: 1.0 / s.m_unit_interval(v, r))),
            Query(":MEASure:UNITinterval", lambda s, f, p: s._measure(p, s.m_unit_interval)),
            Command(":MEASure:TIEData", on_set=lambda s, f, p: None, on_query=self._tie_query),
            Query(":MEASure:CGRade:EHEight", lambda s, f, p: s._eye_query(p, height=True)),
            Query(":MEASure:CGRade:EWIDth", lambda s, f, p: s._eye_query(p, height=False)),
            Command(":MEASure:RJDJ:SOURce", on_set=lambda s, f, p: s.set("rjdj_source", p[0] if p else "CHAN1"),
                    on_query=lambda s, f, p: s.get("rjdj_source", default="CHAN1")),
            Command(":MEASure:RJDJ:STATe", on_set=lambda s, f, p: None, on_query=lambda s, f, p: "1"),
            Command(":MEASure:RJDJ:BER", on_set=self._set_ber, on_query=lambda s, f, p: f"E{s.get('rjdj_ber', default=12)}"),
            Command(":MEASure:RJDJ:UNITs", on_set=lambda s, f, p: None, on_query=lambda s, f, p: "SEC"),
            Command(":MEASure:RJDJ:METHod", on_set=lambda s, f, p: None, on_query=lambda s, f, p: "BOTH"),
            Command(":MEASure:RJDJ:EDGE", on_set=lambda s, f, p: None, on_query=lambda s, f, p: "BOTH"),
            Query(":MEASure:RJDJ:TJRJDJ", lambda s, f, p: s._tjrjdj()),
        ]

    # ------------------------------------------------------------ the signal at the inputs
    def synthesize(self, channel: int, t0_s: float, dt_s: float, n: int):
        if channel != 1:
            return super().synthesize(channel, t0_s, dt_s, n)
        if self.replay is not None:
            values = np.asarray(self.replay.values, dtype=np.float64)
            return values[:n], self.replay.x_origin_s, self.replay.x_increment_s
        bits = n * dt_s * self.link.actual_rate_bps
        if bits > MAX_SIMULATED_BITS:
            raise ScpiCommandError(-221, f"{n} points at {1 / dt_s:.4g} Sa/s span {bits:.3g} bits of the serial "
                                         f"link; this simulator renders at most {MAX_SIMULATED_BITS:.0e}")
        rng = np.random.default_rng([self.link.seed, self.acquisitions])
        t_start = float(rng.uniform(0, 1e-9))
        wave = SerialWaveform.generate(self.link, t_start + (n + 64) * dt_s, rng, fir=self._channel_fir(dt_s),
                                       front_end_bandwidth_hz=self.get("bandwidth", default=self.max_bandwidth_hz))
        # trigger: the first rising edge after mid-record sits at t = 0
        mid = t_start + 0.5 * n * dt_s
        rising = wave.edge_times_s[(wave.edge_steps_v > 0) & (wave.edge_times_s > mid)]
        t_trigger = float(rising[0]) if rising.size else mid
        volts = render_record(wave, t_start, dt_s, n, rng)
        self.last_wave = wave
        self._t_trigger = t_trigger
        return volts, t_start - t_trigger, dt_s

    def _channel_fir(self, dt_s: float):
        if not self.link.channel:
            return None
        if self._fir is None or self._fir[0] != dt_s:
            from pathlib import Path

            from labbench.fileformats.touchstone import impulse_response, load_differential_thru
            path = Path(self.link.channel)
            if not path.is_absolute():       # relative to the profile that names it
                path = Path(self.profile.path).parent / path
            if not path.is_file():
                raise ConfigError(f"DUT profile {self.profile.path}: [serial] channel file {path} not found")
            thru = tuple(tuple(p) for p in self.link.channel_thru)
            net = load_differential_thru(path, thru_pairs=thru)
            self._fir = (dt_s, impulse_response(net, dt_s))
        return self._fir[1]

    # ------------------------------------------------------------ EZJIT-style measurements
    def _clock_fit(self, v: np.ndarray, rec: Record):
        """Edges at the middle threshold and a constant-frequency clock fitted through them."""
        edges = self.m_edges(v, rec)
        ui = self.m_unit_interval(v, rec)
        if edges.size < 8 or not np.isfinite(ui) or ui >= INVALID:
            return None
        n = np.rint((edges - edges[0]) / ui)
        slope, intercept = np.polyfit(n, edges, 1)
        tie = edges - (intercept + slope * n)
        return edges, slope, intercept, tie

    def _tie_query(self, sim, sfx, params):
        return self._measure(params[:1], lambda v, r: (lambda fit: np.std(fit[3]) if fit else INVALID)(self._clock_fit(v, r)))

    def _eye_query(self, params, height: bool) -> str:
        """Eye height (mu1 - 3 sigma1) - (mu0 + 3 sigma0) in the central 20 % of the UI; eye width
        UI - 6 sigma of the crossing times (standards.md §2)."""
        def measure(v, rec):
            fit = self._clock_fit(v, rec)
            if fit is None:
                return INVALID
            edges, ui, t_ref, tie = fit
            if not height:
                return ui - 6.0 * np.std(tie)
            t = rec.x0_s + np.arange(v.size) * rec.dx_s
            phase = ((t - t_ref) / ui) % 1.0
            centre = (phase > 0.4) & (phase < 0.6) & np.isfinite(v)
            x = v[centre]
            top, base = self.top_base(v)
            mid = 0.5 * (top + base)
            ones, zeros = x[x > mid], x[x <= mid]
            return (ones.mean() - 3 * ones.std()) - (zeros.mean() + 3 * zeros.std())
        source = params[:1] or [self.get("meas_source", default="CHANnel1")]
        return self._measure(source, measure)

    def _set_ber(self, sim, sfx, params):
        text = (params[0] if params else "E12").upper().lstrip("E")
        exponent = parse_number(text)
        if not (1 <= exponent <= 18) or exponent != int(exponent):
            raise ScpiCommandError(-222, f"RJDJ:BER E{text}: E1 to E18")
        self.set("rjdj_ber", int(exponent))

    def _tjrjdj(self) -> str:
        """TJ at the BER from the transmitter's jitter as generated: RJ the random part's rms, DJ its
        deterministic part, TJ from the exact tails of DJ convolved with the Gaussian (an instrument
        with a perfect separation); a replayed capture carries no model, so: not measurable."""
        wave = self.last_wave
        ber = 10.0 ** -self.get("rjdj_ber", default=12)
        if wave is None or self.replay is not None or wave.random_jitter_s.size < 16:
            return f"TJ({ber:.0E}),{format_number(INVALID)},0,RJ(rms),{format_number(INVALID)},0,DJ(d-d),{format_number(INVALID)},0"
        rj = float(np.std(wave.random_jitter_s))
        dj = wave.deterministic_jitter_s - np.mean(wave.deterministic_jitter_s)
        if rj <= 0 or ber >= 0.5:
            tj = float(np.ptp(dj))
        else:
            def tail(x):
                return float(np.mean(ndtr(-(x - dj) / rj))) - ber
            hi = float(dj.max()) + 20 * rj
            right = brentq(tail, float(dj.min()), hi, xtol=1e-6 * rj)
            left = -brentq(lambda x: float(np.mean(ndtr(-(x + dj) / rj))) - ber, float((-dj).min()), float((-dj).max()) + 20 * rj, xtol=1e-6 * rj)
            tj = right - left
        q = np.sqrt(2.0) * erfcinv(2.0 * ber)
        dj_dd = tj - 2 * q * rj
        return (f"TJ({ber:.0E}),{format_number(tj)},1,RJ(rms),{format_number(rj)},1,"
                f"DJ(d-d),{format_number(dj_dd)},1")

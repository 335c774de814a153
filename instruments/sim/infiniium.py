"""Simulated Infiniium: the classic command tree (scpi.md §1), ADC codes sent as WORD (8-bit or 10-bit by
model, `infiniium_wire.adc_resolution`), FFT math functions, and the scope's own measurements computed
here with instrument-style code (independent of labbench.analysis, so comparing the two proves something).

A subclass supplies the signal: `synthesize(channel, t0_s, dt_s, n)` returns volts at the input.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from labbench.instruments.keysight.infiniium_wire import (
    SCREEN_DIVISIONS,
    WORD_CLIP_HIGH,
    WORD_HOLE_CODE,
    AdcResolution,
    Preamble,
    adc_resolution,
)
from labbench.scpi.block import encode_header
from labbench.scpi.commands import (
    Action,
    Bool,
    Choice,
    Command,
    Number,
    Query,
    ScpiCommandError,
    channel_number,
    format_number,
    parse_integer,
    parse_number,
    split_params,
)
from labbench.scpi.instrument import SimInstrument

INVALID = 9.99999e37
ADC_MAX = WORD_CLIP_HIGH // 256


@dataclass
class Record:
    """The last acquisition of one source, as the scope holds it."""
    codes: np.ndarray          # int16 WORD codes
    x0_s: float
    dx_s: float
    y_increment: float
    y_origin: float
    y_units: int = 1
    x_units: int = 2           # preamble unit codes: 2 s, 6 Hz (an FFT), 5 dB

    def volts(self) -> np.ndarray:
        v = self.codes.astype(np.float64) * self.y_increment + self.y_origin
        v[self.codes == WORD_HOLE_CODE] = np.nan
        return v


class SimInfiniium(SimInstrument):
    idn = ("KEYSIGHT TECHNOLOGIES", "INFINIIUM", "SIM0000", "07.50.0000")
    error_string_default = False        # Infiniium: the number alone unless STRing is asked for
    n_channels = 4
    max_sample_rate = 80e9
    max_points = 2_000_000_000
    scale_limits = (1e-3, 1.0)
    offset_limits = (-4.0, 4.0)
    max_bandwidth_hz = 33e9
    max_simulated_points = 250_000_000   # the instrument holds more; the simulator's memory does not
    bw_limit_hz = 20e6              # I: the `:CHANnel<N>:BWLimit` filter (the usual ripple bandwidth)

    def __init__(self, real_time: bool = False):
        self.records: dict[str, Record] = {}
        self.real_time = real_time
        self.acquisitions = 0
        super().__init__()

    # ------------------------------------------------------------ command table
    @property
    def commands(self) -> list[Command]:  # type: ignore[override]
        return self.infiniium_commands()

    def infiniium_commands(self) -> list[Command]:
        ch = ":CHANnel<N>"

        def check_channel(sim, sfx, value):
            if not 1 <= sfx[0] <= sim.n_channels:
                raise ScpiCommandError(-114, f"CHANnel{sfx[0]}")

        return [
            Number(":TIMebase:SCALe", "tb_scale", 1e-9, (2e-12, 20.0)),
            Number(":TIMebase:POSition", "tb_position", 0.0, (-200.0, 200.0)),
            Number(":TIMebase:RANGe", "tb_range", 1e-8, (2e-11, 200.0),
                   after_set=lambda s, f, v: s.set("tb_scale", v / 10)),
            Choice(":TIMebase:REFerence", "tb_reference", "CENTer", ["LEFT", "CENTer", "RIGHt"]),
            Number(":ACQuire:SRATe[:ANALog]", "srate", self.max_sample_rate, (10.0, self.max_sample_rate),
                   special={"AUTO": self.max_sample_rate}),
            Number(":ACQuire:POINts[:ANALog]", "points", 1_000_000, (16, self.max_points), integer=True,
                   special={"AUTO": 1_000_000}),
            Choice(":ACQuire:MODE", "acq_mode", "RTIMe",
                   ["RTIMe", "ETIMe", "PDETect", "HRESolution", "SEGMented", "SEGPdetect", "SEGHres"]),
            Number(":ACQuire:BANDwidth", "bandwidth", self.max_bandwidth_hz, (1e6, self.max_bandwidth_hz),
                   special={"AUTO": self.max_bandwidth_hz, "MAX": self.max_bandwidth_hz}),
            Bool(":ACQuire:AVERage", "average", False),
            Number(":ACQuire:AVERage:COUNt", "average_count", 16, (2, 65534), integer=True),
            Number(":ACQuire:COMPlete", "complete", 100, (0, 100), integer=True),
            Number(f"{ch}:SCALe", "ch_scale", 0.05, self.scale_limits, after_set=check_channel),
            Number(f"{ch}:OFFSet", "ch_offset", 0.0, self.offset_limits, after_set=check_channel),
            Number(f"{ch}:RANGe", "ch_range", 0.4, (self.scale_limits[0] * 8, self.scale_limits[1] * 8),
                   after_set=lambda s, f, v: s.set("ch_scale", f[0], v / 8)),
            Choice(f"{ch}:INPut", "ch_input", "DC50", ["DC", "DC50", "AC", "LFR1", "LFR2"]),
            Bool(f"{ch}:DISPlay", "ch_display", True),
            Bool(f"{ch}:BWLimit", "ch_bwlimit", False, after_set=check_channel),
            Choice(":TRIGger:MODE", "trig_mode", "EDGE", ["EDGE", "GLITch", "PATTern", "STATe", "WIDTh"]),
            Choice(":TRIGger:EDGE:SOURce", "trig_source", "CHANnel1",
                   [f"CHANnel{i}" for i in range(1, 5)] + ["AUX", "LINE"]),
            Choice(":TRIGger:EDGE:SLOPe", "trig_slope", "POSitive", ["POSitive", "NEGative", "EITHer"]),
            Choice(":TRIGger:SWEep", "trig_sweep", "TRIGgered", ["AUTO", "TRIGgered", "SINGle"]),
            Command(":TRIGger:LEVel", on_set=self._set_trigger_level, on_query=self._query_trigger_level),
            Choice(":WAVeform:SOURce", "wf_source", "CHANnel1",
                   [f"CHANnel{i}" for i in range(1, 5)] + [f"FUNCtion{i}" for i in range(1, 5)]),
            Choice(":WAVeform:FORMat", "wf_format", "ASCii", ["ASCii", "BYTE", "WORD", "BINary", "FLOat"]),
            Choice(":WAVeform:BYTeorder", "wf_byteorder", "MSBFirst", ["LSBFirst", "MSBFirst"]),
            Bool(":WAVeform:STReaming", "wf_streaming", False),
            Query(":WAVeform:PREamble", lambda s, f, p: s.preamble(s.wf_source()).to_text()),
            Query(":WAVeform:POINts", lambda s, f, p: str(s.record(s.wf_source()).codes.size)),
            Query(":WAVeform:XINCrement", lambda s, f, p: format_number(s.record(s.wf_source()).dx_s)),
            Query(":WAVeform:XORigin", lambda s, f, p: format_number(s.record(s.wf_source()).x0_s)),
            Query(":WAVeform:YINCrement", lambda s, f, p: format_number(s.record(s.wf_source()).y_increment)),
            Query(":WAVeform:YORigin", lambda s, f, p: format_number(s.record(s.wf_source()).y_origin)),
            Query(":WAVeform:DATA", self._waveform_data),
            Bool(":DISPlay:CGRade", "cgrade", False),
            Action(":DIGitize", self._digitize),
            Action(":SINGle", lambda s, f, p: s._digitize(s, f, [])),
            Action(":RUN", lambda s, f, p: s.set("run_state", "RUN")),
            Action(":STOP", lambda s, f, p: s.set("run_state", "STOP")),
            Action(":AUToscale", lambda s, f, p: None),
            Query(":RSTate", lambda s, f, p: s.get("run_state", default="RUN")),
            Query(":ASTate", lambda s, f, p: "ADONE" if s.records else "ARM"),
            Query(":TER", lambda s, f, p: "1" if s.records else "0"),
            Query(":ADER", lambda s, f, p: "1"),
            Query(":PDER", lambda s, f, p: "1"),
            Query(":MEASure:VPP", lambda s, f, p: s._measure(p, s.m_vpp)),
            Query(":MEASure:VMAX", lambda s, f, p: s._measure(p, lambda v, r: np.nanmax(v))),
            Query(":MEASure:VMIN", lambda s, f, p: s._measure(p, lambda v, r: np.nanmin(v))),
            Query(":MEASure:VTOP", lambda s, f, p: s._measure(p, lambda v, r: s.top_base(v)[0])),
            Query(":MEASure:VBASe", lambda s, f, p: s._measure(p, lambda v, r: s.top_base(v)[1])),
            Query(":MEASure:VAMPlitude", lambda s, f, p: s._measure(p, lambda v, r: np.subtract(*s.top_base(v)))),
            Query(":MEASure:VAVerage", self._measure_vaverage),
            Query(":MEASure:VRMS", self._measure_vrms),
            Query(":MEASure:RISetime", lambda s, f, p: s._measure(p, lambda v, r: s.m_transition(v, r, True))),
            Query(":MEASure:FALLtime", lambda s, f, p: s._measure(p, lambda v, r: s.m_transition(v, r, False))),
            Query(":MEASure:FREQuency", lambda s, f, p: s._measure(p, s.m_frequency)),
            Query(":MEASure:PERiod", lambda s, f, p: s._measure(p, lambda v, r: 1.0 / s.m_frequency(v, r))),
            Action(":MEASure:CLEar", lambda s, f, p: None),
            Action(":MEASure:SOURce", lambda s, f, p: s.set("meas_source", p[0] if p else "CHANnel1")),
            *self.function_commands(),
        ]

    def function_commands(self) -> list[Command]:
        """FFT magnitude math functions (scpi.md §2): `:FUNCtion<F>:FFTMagnitude <src>`, the frequency
        range (`:FFT:FREQuency` centre, `:FFT:SPAN`, `:FFT:STOP`), window and vertical units; the result
        is read as `:WAVeform:SOURce FUNCtion<F>` with x in Hz. Window and units are I."""
        fn = ":FUNCtion<N>"

        def check_function(sim, sfx, value=None):
            if not 1 <= sfx[0] <= 4:
                raise ScpiCommandError(-114, f"FUNCtion{sfx[0]}")

        def define_fft(sim, sfx, params):
            check_function(sim, sfx)
            if len(params) != 1:
                raise ScpiCommandError(-109 if not params else -108, "FFTMagnitude takes one source")
            c = channel_number(params[0])
            if not 1 <= c <= sim.n_channels:
                raise ScpiCommandError(-114, f"CHANnel{c}")
            sim.set("func_source", sfx[0], f"CHAN{c}")
            sim.set("func_operation", sfx[0], "FFTM")

        def query_function(sim, sfx, params):
            check_function(sim, sfx)
            source = sim.get("func_source", sfx[0])
            if source is None:
                return '""'
            return f"{sim.get('func_operation', sfx[0], default='FFTM')} {source}"

        def range_handlers(which: str):
            def on_set(sim, sfx, params):
                check_function(sim, sfx)
                if len(params) != 1:
                    raise ScpiCommandError(-109 if not params else -108, f"FFT:{which} takes one value")
                value = parse_number(params[0])
                start, stop = sim.fft_range_hz(sfx[0])
                if which == "STOP":
                    start, stop = start, value
                elif which == "SPAN":
                    centre = 0.5 * (start + stop)
                    start, stop = centre - 0.5 * value, centre + 0.5 * value
                else:   # FREQuency: the centre
                    half = 0.5 * (stop - start)
                    start, stop = value - half, value + half
                start = max(start, 0.0)
                if not (np.isfinite(value) and 0.0 <= start < stop <= 0.5 * sim.max_sample_rate):
                    raise ScpiCommandError(-222, f"FFT {which} {value:g} Hz gives {start:g}..{stop:g} Hz")
                sim.set("fft_start", sfx[0], start)
                sim.set("fft_stop", sfx[0], stop)

            def on_query(sim, sfx, params):
                check_function(sim, sfx)
                start, stop = sim.fft_range_hz(sfx[0])
                return format_number({"STOP": stop, "SPAN": stop - start}.get(which, 0.5 * (start + stop)))
            return on_set, on_query

        def resolution(sim, sfx, params):
            check_function(sim, sfx)
            source = sim.get("func_source", sfx[0])
            try:
                rec = sim.record(source) if source else None
            except ScpiCommandError:
                rec = None
            return format_number(1.0 / (rec.codes.size * rec.dx_s) if rec is not None else INVALID)

        return [
            Command(f"{fn}:FFTMagnitude", on_set=define_fft,
                    on_query=lambda s, f, p: s.get("func_source", f[0], default='""')),
            Query(fn, query_function),
            Bool(f"{fn}:DISPlay", "func_display", False, after_set=check_function),
            Command(f"{fn}:FFT:STOP", *range_handlers("STOP")),
            Command(f"{fn}:FFT:SPAN", *range_handlers("SPAN")),
            Command(f"{fn}:FFT:FREQuency", *range_handlers("FREQuency")),
            Choice(f"{fn}:FFT:WINDow", "fft_window", "HANNing",
                   ["RECTangular", "HANNing", "FLATtop", "BHARris", "HAMMing"], after_set=check_function),
            Choice(f"{fn}:FFT:VUNits", "fft_vunits", "DBM", ["DBM", "DBUV"], after_set=check_function),
            Query(f"{fn}:FFT:RESolution", resolution),
        ]

    def fft_range_hz(self, function: int) -> tuple[float, float]:
        """(start, stop) of an FFT function: 0 to half the sample rate unless set."""
        nyquist = 0.5 * self.get("srate", default=self.max_sample_rate)
        return (self.get("fft_start", function, default=0.0),
                min(self.get("fft_stop", function, default=nyquist), nyquist))

    def function_record(self, function: int) -> Record:
        """The FFT magnitude of the function's source record, computed when first read after an
        acquisition (cached per acquisition and settings)."""
        source = self.get("func_source", function)
        if source is None:
            raise ScpiCommandError(-221, f"FUNCtion{function} is not defined (:FUNCtion{function}:FFTMagnitude)")
        rec = self.record(source)
        window = self.get("fft_window", function, default="HANN")
        units = self.get("fft_vunits", function, default="DBM")
        start, stop = self.fft_range_hz(function)
        key = (id(rec), self.acquisitions, window, units, start, stop)
        cache = self.__dict__.setdefault("_fft_cache", {})
        if cache.get(function, (None,))[0] != key:
            cache[function] = (key, fft_magnitude_record(rec, window, units, start, stop))
        return cache[function][1]

    # ------------------------------------------------------------ helpers for subclasses
    def wf_source(self) -> str:
        return self.get("wf_source", default="CHAN1")

    def scale(self, ch: int) -> float:
        return self.get("ch_scale", ch, default=0.05)

    def offset(self, ch: int) -> float:
        return self.get("ch_offset", ch, default=0.0)

    def front_end_bandwidth_hz(self, ch: int) -> float:
        """The acquisition bandwidth (`:ACQuire:BANDwidth`), or the channel's bandwidth-limit filter
        (`:CHANnel<N>:BWLimit ON`, bw_limit_hz) when that is lower."""
        bandwidth = float(self.get("bandwidth", default=self.max_bandwidth_hz))
        if self.get("ch_bwlimit", ch, default=False):
            bandwidth = min(bandwidth, self.bw_limit_hz)
        return bandwidth

    def record(self, source: str) -> Record:
        key = source.upper().replace("CHANNEL", "CHAN").replace("FUNCTION", "FUNC")
        if key.startswith("FUNC") and key[4:].isdigit():
            return self.function_record(int(key[4:]))
        if key not in self.records:
            raise ScpiCommandError(-230, f"no acquisition on {source}")
        return self.records[key]

    def synthesize(self, channel: int, t0_s: float, dt_s: float, n: int) -> tuple[np.ndarray, float, float]:
        """Volts at the input for n samples; returns (volts, x origin, dx). Subclasses override."""
        rng = np.random.default_rng(self.acquisitions)
        return rng.normal(0.0, 1e-3, n), t0_s, dt_s

    @property
    def adc(self) -> AdcResolution:
        """The model's ADC (8 bits for the Z-series, 10 for the S-series; infiniium_wire.ADC_BITS)."""
        return adc_resolution(self.idn[1])

    def quantize(self, volts: np.ndarray, channel: int) -> tuple[np.ndarray, float, float]:
        """The ADC of the screen (offset +/- 4 divisions = +/- adc.screen_half steps), saturating at
        +/- adc.max_step, sent as WORD (value * adc.word_step)."""
        adc = self.adc
        scale, offset = self.scale(channel), self.offset(channel)
        lsb = adc.lsb_v(scale)
        steps = np.rint((volts - offset) / lsb)
        np.clip(steps, -adc.max_step, adc.max_step, out=steps)
        codes = (steps * adc.word_step).astype(np.int16)
        codes[np.isnan(volts)] = WORD_HOLE_CODE
        return codes, lsb / adc.word_step, offset

    # ------------------------------------------------------------ acquisition
    def _digitize(self, sim, sfx, params):
        channels = [channel_number(p) for p in params] if params else \
            [c for c in range(1, self.n_channels + 1) if self.get("ch_display", c, default=c == 1)]
        for c in channels:
            if not 1 <= c <= self.n_channels:
                raise ScpiCommandError(-114, f"CHANnel{c}")
        srate = self.get("srate", default=self.max_sample_rate)
        n = int(self.get("points", default=1_000_000))
        if n > self.max_simulated_points:
            raise ScpiCommandError(-221, f"{n} points: this simulator synthesizes at most "
                                         f"{self.max_simulated_points:,} per acquisition")
        dt = 1.0 / srate
        self.acquisitions += 1
        for c in channels:
            volts, x0, dx = self.synthesize(c, -0.5 * n * dt, dt, n)
            codes, yinc, yorg = self.quantize(volts, c)
            self.records[f"CHAN{c}"] = Record(codes, x0, dx, yinc, yorg)
        if params:   # :DIGitize CHANnel<N> leaves the others off
            for c in range(1, self.n_channels + 1):
                self.set("ch_display", c, c in channels)
        self.set("run_state", "STOP")
        if self.real_time:
            time.sleep(n * dt)

    def preamble(self, source: str) -> Preamble:
        rec = self.record(source)
        fmt = {"WORD": 2, "BYTE": 1, "ASC": 0, "BIN": 2, "FLO": 2}.get(self.get("wf_format", default="ASC"), 0)
        n = rec.codes.size
        scale = self.scale(channel_number(source)) if source.upper().startswith("CHAN") else 1.0
        return Preamble(
            format=fmt, type=1, points=n, count=1, x_increment=rec.dx_s, x_origin=rec.x0_s, x_reference=0.0,
            y_increment=rec.y_increment, y_origin=rec.y_origin, y_reference=0.0, coupling=1,
            x_display_range=n * rec.dx_s, x_display_origin=rec.x0_s, y_display_range=SCREEN_DIVISIONS * scale,
            y_display_origin=rec.y_origin - 4 * scale, date=time.strftime("%d %b %Y"),
            time=time.strftime("%H:%M:%S:00"), frame=f"{self.idn[1]}:{self.idn[2]}", acquisition_mode=0,
            completion_pct=100.0, x_units=rec.x_units, y_units=rec.y_units, max_bandwidth_hz=self.max_bandwidth_hz,
            min_bandwidth_hz=0.0)

    def _waveform_data(self, sim, sfx, params):
        rec = self.record(self.wf_source())
        codes = rec.codes
        if params:
            start = parse_integer(params[0]) - 1 if params else 0
            size = parse_integer(params[1]) if len(params) > 1 else codes.size - start
            if not (0 <= start < codes.size) or size < 0:
                raise ScpiCommandError(-222, f"start {start + 1} / size {size} outside 1..{codes.size}")
            codes = codes[start:start + size]
        fmt = self.get("wf_format", default="ASC")
        if fmt == "ASC":
            volts = codes.astype(np.float64) * rec.y_increment + rec.y_origin
            volts[codes == WORD_HOLE_CODE] = 99.999e36
            return ",".join(f"{v:.6E}" for v in volts) + ","     # the Infiniium's trailing comma
        if fmt == "BYTE":
            data = (codes // 256).astype(np.int8)
            data[codes == WORD_HOLE_CODE] = 125
            payload = data.tobytes()
        else:
            order = "<" if self.get("wf_byteorder", default="MSBF") == "LSBF" else ">"
            payload = memoryview(np.ascontiguousarray(codes.astype(order + "i2", copy=False))).cast("B")
        if self.get("wf_streaming", default=False):
            return [b"#0", payload]
        return [encode_header(len(payload)), payload]

    def _set_trigger_level(self, sim, sfx, params):
        if len(params) == 1:
            params = [self.get("trig_source", default="CHAN1"), params[0]]
        if len(params) != 2:
            raise ScpiCommandError(-109, "TRIGger:LEVel needs <source>,<level>")
        ch = channel_number(params[0])
        level = parse_number(params[1])
        limit = 4 * self.scale(ch) + abs(self.offset(ch)) + 1.0
        if abs(level) > limit:
            raise ScpiCommandError(-222, f"trigger level {level:g} V outside +/-{limit:g} V")
        self.set("trig_level", ch, level)

    def _query_trigger_level(self, sim, sfx, params):
        src = params[0] if params else self.get("trig_source", default="CHAN1")
        return format_number(self.get("trig_level", channel_number(src), default=0.0))

    # ------------------------------------------------------------ the scope's own measurements
    def _measure(self, params, fn) -> str:
        source = params[0] if params else self.get("meas_source", default="CHANnel1")
        try:
            rec = self.record(source)
        except ScpiCommandError:
            return format_number(INVALID)
        v = rec.volts()
        try:
            value = float(fn(v, rec))
        except (ValueError, ZeroDivisionError, IndexError, FloatingPointError):
            value = INVALID
        return format_number(value if np.isfinite(value) else INVALID)

    def _measure_vaverage(self, sim, sfx, params):
        params = [p for p in params if p.upper() not in ("DISPLAY", "DISP", "CYCLE", "CYCL")]
        return self._measure(params, lambda v, r: np.nanmean(v))

    def _measure_vrms(self, sim, sfx, params):
        """`:MEASure:VRMS? {CYCLe|DISPlay},{AC|DC}[,<src>]` (P90k-634)."""
        words = [p.upper() for p in params]
        ac = "AC" in words
        rest = [p for p in params if p.upper() not in ("DISPLAY", "DISP", "CYCLE", "CYCL", "AC", "DC", "VOLT", "DBM")]

        def rms(v, r):
            x = v[np.isfinite(v)]
            if ac:
                x = x - x.mean()
            return np.sqrt(np.mean(x * x))
        return self._measure(rest, rms)

    @staticmethod
    def m_vpp(v, rec) -> float:
        return float(np.nanmax(v) - np.nanmin(v))

    @staticmethod
    def top_base(v: np.ndarray) -> tuple[float, float]:
        """Top and base as the modes of the upper and lower halves of the histogram (scope style)."""
        x = v[np.isfinite(v)]
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            return hi, lo
        counts, edges = np.histogram(x, bins=256, range=(lo, hi))
        centres = 0.5 * (edges[1:] + edges[:-1])
        half = counts.size // 2
        base = centres[np.argmax(counts[:half])]
        top = centres[half + np.argmax(counts[half:])]
        # refine: mean of the samples within +/- 2 bins of each mode
        width = 2 * (edges[1] - edges[0])
        top = float(np.mean(x[np.abs(x - top) <= width]))
        base = float(np.mean(x[np.abs(x - base) <= width]))
        return top, base

    @classmethod
    def crossings(cls, v: np.ndarray, x0: float, dx: float, level: float, rising: bool) -> np.ndarray:
        """Times where v crosses `level` in one direction, by linear interpolation."""
        a, b = v[:-1], v[1:]
        idx = np.flatnonzero((a < level) & (b >= level)) if rising else np.flatnonzero((a > level) & (b <= level))
        frac = (level - a[idx]) / (b[idx] - a[idx])
        return x0 + (idx + frac) * dx

    @staticmethod
    def upsampled(v: np.ndarray, rec: Record, factor: int = 8) -> tuple[np.ndarray, float]:
        """sin(x)/x interpolation, as the Infiniium draws and measures between samples."""
        from scipy.signal import resample_poly

        x = v.copy()
        bad = ~np.isfinite(x)
        if bad.any():
            x[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), x[~bad])
        return resample_poly(x, factor, 1, window=("kaiser", 8.0)), rec.dx_s / factor

    def m_transition(self, v: np.ndarray, rec: Record, rising: bool) -> float:
        """Mean 10-90 % transition time over every complete edge, on the sin(x)/x-interpolated record."""
        top, base = self.top_base(v)
        v, dx = self.upsampled(v, rec)
        rec = Record(rec.codes, rec.x0_s, dx, rec.y_increment, rec.y_origin)
        amp = top - base
        lo_level, hi_level = base + 0.1 * amp, base + 0.9 * amp
        first = self.crossings(v, rec.x0_s, rec.dx_s, lo_level if rising else hi_level, rising)
        last = self.crossings(v, rec.x0_s, rec.dx_s, hi_level if rising else lo_level, rising)
        if first.size == 0 or last.size == 0:
            return INVALID
        j = np.searchsorted(last, first)
        ok = j < last.size
        first, j = first[ok], j[ok]
        # an edge is complete when no other start crossing lies between its start and its end
        nxt = np.append(first[1:], np.inf)
        dur = last[j] - first
        good = last[j] < nxt
        return float(np.mean(dur[good])) if np.any(good) else INVALID

    def m_frequency(self, v: np.ndarray, rec: Record) -> float:
        """Frequency of the first complete cycle (rising to rising at the middle threshold)."""
        top, base = self.top_base(v)
        c = self.crossings(v, rec.x0_s, rec.dx_s, 0.5 * (top + base), True)
        if c.size < 2:
            return INVALID
        return 1.0 / (c[1] - c[0])

    def m_edges(self, v: np.ndarray, rec: Record) -> np.ndarray:
        top, base = self.top_base(v)
        level = 0.5 * (top + base)
        both = np.concatenate([self.crossings(v, rec.x0_s, rec.dx_s, level, True),
                               self.crossings(v, rec.x0_s, rec.dx_s, level, False)])
        both.sort()
        return both

    def m_unit_interval(self, v: np.ndarray, rec: Record) -> float:
        """UI from edge intervals of up to 10 bits (frame gaps and idle times are left out)."""
        edges = self.m_edges(v, rec)
        d = np.diff(edges)
        if d.size < 4:
            return INVALID
        shortest = np.percentile(d, 2)
        ui0 = np.median(d[d < 1.5 * shortest])
        n = np.rint(d / ui0)
        keep = (n >= 1) & (n <= 10) & (np.abs(d / ui0 - n) < 0.25)
        return float(d[keep].sum() / n[keep].sum())


FFT_WINDOWS = {"RECT": "boxcar", "HANN": "hann", "FLAT": "flattop", "BHAR": "blackmanharris", "HAMM": "hamming"}
FFT_REFERENCE_V = {"DBM": float(np.sqrt(50.0 * 1e-3)), "DBUV": 1e-6}   # V rms at 0 dB: 1 mW in 50 ohm; 1 uV
FFT_DB_INCREMENT = 0.005       # dB per WORD code of an FFT record (I): +/-155 dB without reaching the hole code
FFT_CODE_LIMIT = 31000


def fft_magnitude_record(rec: Record, window: str, units: str, start_hz: float, stop_hz: float) -> Record:
    """One FFT of the whole record, as the scope's FFT magnitude function: windowed, each bin the RMS of
    a sine centred on it (amplitude * 2 / sum(w) / sqrt(2); DC as its mean), in dBm (50 ohm) or dBuV,
    from start to stop; WORD codes of FFT_DB_INCREMENT dB. Holes are filled with the record mean."""
    from scipy.signal import get_window

    v = rec.volts()
    bad = ~np.isfinite(v)
    if bad.all():
        raise ScpiCommandError(-230, "FFT source has no valid sample")
    if bad.any():
        v[bad] = np.mean(v[~bad])
    n = v.size
    w = get_window(FFT_WINDOWS.get(window, "hann"), n)
    spec = np.abs(np.fft.rfft(v * w))
    rms = spec * (np.sqrt(2.0) / w.sum())
    rms[0] = spec[0] / w.sum()
    if n % 2 == 0:
        rms[-1] /= np.sqrt(2.0)
    df = 1.0 / (n * rec.dx_s)
    k0 = int(np.ceil(start_hz / df - 1e-9))
    k1 = min(int(np.floor(stop_hz / df + 1e-9)), rms.size - 1)
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(rms[k0:k1 + 1] / FFT_REFERENCE_V.get(units, FFT_REFERENCE_V["DBM"]))
    codes = np.clip(np.rint(db / FFT_DB_INCREMENT), -FFT_CODE_LIMIT, FFT_CODE_LIMIT)   # an empty bin: the floor
    return Record(codes.astype(np.int16), k0 * df, df, FFT_DB_INCREMENT, 0.0, y_units=5, x_units=6)


def parse_source_list(text: str) -> list[str]:
    return split_params(text)

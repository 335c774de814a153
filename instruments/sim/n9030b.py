"""Simulated Keysight N9030B PXA signal analyzer, SA mode (scpi.md §3): the command table, the sweeps it
makes of the RF scene (instruments/sim/rf_scene.py) and its own measurements (sa_measurements.py).

What it answers like the real one (S = seen in a source, I = inferred, as scpi.md marks them):
- `*IDN?` in mixed case; `:SYSTem:ERRor?` as `+0,"No error"`; -222 for a frequency outside 2 Hz-26.5 GHz,
  an RBW outside 1 Hz-8 MHz, points outside 1-20001.
- `:INITiate:CONTinuous` (on at power-on), `:INITiate[:IMMediate]`; in single mode a sweep with
  averaging or a hold trace takes `:AVERage:COUNt` sweeps; in continuous mode every trace read sees a
  new sweep (there is no sweep-complete event to wait on).
- `:FORMat[:TRACe][:DATA] ASCii|INTeger,32|REAL,32|REAL,64` and `:FORMat:BORDer NORMal|SWAPped` apply to
  `:TRACe:DATA?` and to every `:READ|:FETCh|:MEASure` result (INTeger,32 in 1/1000 of the unit, I).
- `:CONFigure:<meas>` presets that measurement's own settings; `:CONFigure:<meas>:NDEFault` keeps them.
  Centre frequency, attenuation and reference level are the mode's and survive.
- `:READ:SANalyzer<n>?` sends x,y pairs; `:TRACe:DATA? TRACE<n>` y values only.
- `:READ:CHPower1?` power, density; `:READ:OBWidth1?` OBW, total power, transmit frequency error, x dB
  bandwidth (order after the first I); `:READ:ACPower1?` carrier power then per offset A-F lower dBc,
  lower dBm, upper dBc, upper dBm (order I), 9.91E37 for offsets that are off; `:READ:PSTatistic1?`
  average dBm, probability at the average %, dB at 10/1/0.1/0.01/0.001/0.0001 %, peak dB, count (the
  ESA/PSA ten; the X-series' eleventh value is unseen and not sent); `2?` the CCDF trace, `3?` the
  Gaussian reference (501 points, 0-50 dB, in %).
- `:SYSTem:PON:TIME?`: seconds since power-on, here the scene's virtual clock (I), so a capture can be
  placed in time.
Auto couplings (I, close to the X-series defaults): RBW = span / 106 on a 1-1.5-2-3-5-7.5 sequence up
to 3 MHz; VBW = RBW; swept sweep time 2.5 x span / (RBW x min(RBW, VBW)), at least 1 ms; attenuation =
reference level at the input + 10 dB, in 2 dB steps from 6 dB.
"""
from __future__ import annotations

import math
import time

import numpy as np

from labbench.instruments.sim import sa_measurements as sam
from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.instruments.sim.rf_scene import RfScene, SweepSpec, dbm_to_mw, mw_to_dbm
from labbench.scpi.block import encode_header
from labbench.scpi.commands import (
    Action,
    Bool,
    Choice,
    Command,
    Number,
    Query,
    ScpiCommandError,
    parse_number,
)
from labbench.scpi.instrument import SimInstrument

FREQ_LIMITS_HZ = (2.0, 26.5e9)
MIN_SPAN_HZ = 10.0
RBW_LIMITS_HZ = (1.0, 8e6)
VBW_LIMITS_HZ = (1.0, 50e6)
POINTS_LIMITS = (1, 20001)
SWEEP_TIME_LIMITS_S = (1e-6, 6000.0)
RBW_STEPS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.5)
TRACES = range(1, 7)
MARKERS = range(1, 13)
MEASUREMENTS = {"SAN": "SANalyzer", "CHP": "CHPower", "OBW": "OBWidth", "ACP": "ACPower", "PST": "PSTatistic"}
ACP_OFFSETS = 6                     # offsets A-F


def auto_rbw_hz(span_hz: float, ratio: float = 106.0) -> float:
    """span / ratio snapped down to the 1-1.5-2-3-5-7.5 sequence, 1 Hz to 3 MHz."""
    target = min(max(span_hz / ratio, 1.0), 3e6)
    decade = 10.0 ** math.floor(math.log10(target))
    return max(s * decade for s in RBW_STEPS if s * decade <= target * (1 + 1e-9))


def _freq_check(value: float, what: str) -> float:
    if not (math.isfinite(value) and FREQ_LIMITS_HZ[0] <= value <= FREQ_LIMITS_HZ[1]):
        raise ScpiCommandError(-222, f"{what} {value:g} Hz outside 2 Hz..26.5 GHz")
    return value


def _one_number(params: list[str], what: str) -> float:
    if len(params) != 1:
        raise ScpiCommandError(-109 if not params else -108, f"{what} takes one value")
    return parse_number(params[0])


class SimN9030B(SimInstrument):
    idn = ("Keysight Technologies", "N9030B", "MY00SIM030", "A.33.03")
    error_string_default = True         # X-series: `+0,"No error"`
    noise_figure_db = 12.0              # at 0 dB attenuation (I: a PXA's DANL near 2.4 GHz)

    def __init__(self, profile: DutProfile | None = None, real_time: bool = False):
        self.profile = profile or load_profile()
        self.scene = RfScene(self.profile, noise_figure_db=self.noise_figure_db)
        self.real_time = real_time
        self.traces: dict[int, np.ndarray] = {}
        self.trace_axis: tuple[float, float, bool] = (0.0, 1.0, False)   # x0, dx, zero span
        self.results: dict[str, tuple] = {}
        self.sweeps = 0
        super().__init__()
        self.reset()

    def options(self) -> str:
        return '"526,B40,EP0,MPB,P26,PFR"'

    def find(self, mnemonics: list[str]):
        """The command table lookup, memoised per header: a sweep loop sends the same few headers over
        and over, and the [:SENSe] tree is long."""
        key = tuple(m.upper() for m in mnemonics)
        cache = self.__dict__.setdefault("_find_cache", {})
        if key not in cache:
            if len(cache) > 4096:
                cache.clear()
            cache[key] = super().find(mnemonics)
        return cache[key]

    def reset(self) -> None:
        super().reset()
        self.traces.clear()
        self.results.clear()
        self.set("center", self.scene.radio.carrier_hz if self.scene.radio.enabled else 13.25e9)
        self.set("span", 26.5e9 - 2.0 if not self.scene.radio.enabled else 80e6)

    # ------------------------------------------------------------ command table
    @property
    def commands(self) -> list[Command]:  # type: ignore[override]
        sense = "[:SENSe]"
        fmt = nr3
        return [
            Command(":INSTrument[:SELect]", on_set=self._select_mode, on_query=lambda s, f, p: "SA"),
            Query(":INSTrument:CATalog", lambda s, f, p: '"SA 1"'),
            Action(":SYSTem:PRESet", lambda s, f, p: s.reset()),
            Query(":SYSTem:PON:TIME", lambda s, f, p: fmt(s.scene.now_s)),
            # frequency (mode-global centre, SA span)
            Command(f"{sense}:FREQuency:CENTer", on_set=self._set_center, on_query=lambda s, f, p: fmt(s.center_hz)),
            Command(f"{sense}:FREQuency:SPAN", on_set=self._set_span, on_query=lambda s, f, p: fmt(s.span_hz)),
            Command(f"{sense}:FREQuency:STARt", on_set=self._set_start,
                    on_query=lambda s, f, p: fmt(s.center_hz - s.span_hz / 2)),
            Command(f"{sense}:FREQuency:STOP", on_set=self._set_stop,
                    on_query=lambda s, f, p: fmt(s.center_hz + s.span_hz / 2)),
            # bandwidths, sweep, amplitude
            *self._coupled(f"{sense}:BANDwidth[:RESolution]", "rbw", RBW_LIMITS_HZ, lambda s: s.rbw_hz),
            *self._coupled(f"{sense}:BWIDth[:RESolution]", "rbw", RBW_LIMITS_HZ, lambda s: s.rbw_hz),
            *self._coupled(f"{sense}:BANDwidth:VIDeo", "vbw", VBW_LIMITS_HZ, lambda s: s.vbw_hz),
            *self._coupled(f"{sense}:SWEep:TIME", "sweep_time", SWEEP_TIME_LIMITS_S, lambda s: s.sweep_time_s),
            *self._coupled(f"{sense}:POWer[:RF]:ATTenuation", "atten", (0.0, 70.0), lambda s: s.attenuation_db),
            Number(f"{sense}:SWEep:POINts", "points", 1001, POINTS_LIMITS, integer=True),
            Choice(f"{sense}:SWEep:TYPE", "sweep_type", "SWEep", ["SWEep", "FFT"]),
            Command(":DISPlay:WINDow[1]:TRACe:Y[:SCALe]:RLEVel", on_set=self._set_ref_level,
                    on_query=lambda s, f, p: fmt(s.get("ref_level", default=0.0))),
            Number(":DISPlay:WINDow[1]:TRACe:Y[:SCALe]:RLEVel:OFFSet", "ref_offset", 0.0, (-327.6, 327.6)),
            Choice(f"{sense}:DETector:TRACe<N>", "detector", "NORMal",
                   ["NORMal", "AVERage", "POSitive", "SAMPle", "NEGative"], after_set=self._check_trace),
            Bool(f"{sense}:AVERage[:STATe]", "avg_state", False),
            Number(f"{sense}:AVERage:COUNt", "avg_count", 100, (1, 10000), integer=True),
            Choice(f"{sense}:AVERage:TYPE", "avg_type", "LOG", ["LOG", "RMS", "SCALar", "POWer"]),
            Action(f"{sense}:AVERage:CLEar", lambda s, f, p: None),
            Choice(":TRACe<N>:TYPE", "trace_type", "WRITe", ["WRITe", "AVERage", "MAXHold", "MINHold"],
                   after_set=self._check_trace),
            Query(":TRACe[:DATA]", self._trace_data),
            Choice(":TRIGger[:SEQuence]:SOURce", "trig_source", "IMMediate",
                   ["IMMediate", "VIDeo", "LINE", "EXTernal1", "EXTernal2", "RFBurst"]),
            # sweep control and data format
            Bool(":INITiate:CONTinuous", "continuous", True),
            Action(":INITiate[:IMMediate]", lambda s, f, p: s.initiate()),
            Action(":ABORt", lambda s, f, p: None),
            Command(":FORMat[:TRACe][:DATA]", on_set=self._set_format, on_query=lambda s, f, p: s.data_format),
            Choice(":FORMat:BORDer", "byte_order", "NORMal", ["NORMal", "SWAPped"]),
            # measurements
            Command(":CONFigure", on_query=lambda s, f, p: s.get("meas", default="SAN")),
            Query(":CONFigure:CATalog", lambda s, f, p: '"' + ",".join(MEASUREMENTS) + '"'),
            *[c for key in MEASUREMENTS for c in self._measurement_commands(key)],
            Number(f"{sense}:CHPower:BANDwidth:INTegration", "chp_ibw", 2e6, (100.0, 40e6)),
            Number(f"{sense}:CHPower:FREQuency:SPAN", "chp_span", 3e6, (100.0, 26.5e9)),
            *self._coupled(f"{sense}:CHPower:BANDwidth[:RESolution]", "chp_rbw", RBW_LIMITS_HZ,
                           lambda s: s.meas_rbw_hz("chp")),
            Bool(f"{sense}:CHPower:AVERage[:STATe]", "chp_avg", True),
            Number(f"{sense}:CHPower:AVERage:COUNt", "chp_count", 10, (1, 10000), integer=True),
            Number(f"{sense}:OBWidth:FREQuency:SPAN", "obw_span", 10e6, (100.0, 26.5e9)),
            Number(f"{sense}:OBWidth:PERCent", "obw_percent", 99.0, (10.0, 99.99)),
            Number(f"{sense}:OBWidth:XDB", "obw_xdb", -26.0, (-100.0, -0.1)),
            *self._coupled(f"{sense}:OBWidth:BANDwidth[:RESolution]", "obw_rbw", RBW_LIMITS_HZ,
                           lambda s: s.meas_rbw_hz("obw")),
            Bool(f"{sense}:OBWidth:AVERage[:STATe]", "obw_avg", True),
            Number(f"{sense}:OBWidth:AVERage:COUNt", "obw_count", 10, (1, 10000), integer=True),
            Number(f"{sense}:ACPower:CARRier[1]:LIST:BANDwidth[:INTegration]", "acp_cbw", 2e6, (100.0, 40e6)),
            Command(f"{sense}:ACPower:OFFSet[1]:LIST[:FREQuency]", on_set=self._list_setter("acp_offsets", (0.0, 13e9)),
                    on_query=lambda s, f, p: ",".join(fmt(v) for v in s.acp_list("acp_offsets"))),
            Command(f"{sense}:ACPower:OFFSet[1]:LIST:BANDwidth[:INTegration]",
                    on_set=self._list_setter("acp_obws", (100.0, 40e6)),
                    on_query=lambda s, f, p: ",".join(fmt(v) for v in s.acp_list("acp_obws"))),
            Command(f"{sense}:ACPower:OFFSet[1]:LIST:STATe", on_set=self._list_setter("acp_states", (0, 1)),
                    on_query=lambda s, f, p: ",".join(str(int(v)) for v in s.acp_list("acp_states"))),
            *self._coupled(f"{sense}:ACPower:BANDwidth[:RESolution]", "acp_rbw", RBW_LIMITS_HZ,
                           lambda s: s.meas_rbw_hz("acp")),
            Bool(f"{sense}:ACPower:AVERage[:STATe]", "acp_avg", True),
            Number(f"{sense}:ACPower:AVERage:COUNt", "acp_count", 10, (1, 10000), integer=True),
            Number(f"{sense}:PSTatistic:BANDwidth", "pst_bw", 10e6, (10e3, 40e6)),
            Number(f"{sense}:PSTatistic:COUNts", "pst_counts", 1_000_000, (1000, 100_000_000), integer=True),
            # markers
            Choice(":CALCulate:MARKer<N>:MODE", "mkr_mode", "OFF", ["POSition", "DELTa", "OFF"],
                   after_set=self._marker_mode),
            Command(":CALCulate:MARKer<N>:X", on_set=self._marker_set_x, on_query=self._marker_x),
            Query(":CALCulate:MARKer<N>:Y", self._marker_y),
            Number(":CALCulate:MARKer<N>:TRACe", "mkr_trace", 1, (1, 6), integer=True),
            Action(":CALCulate:MARKer<N>:MAXimum", lambda s, f, p: s._marker_peak(f[0], "MAX")),
            Action(":CALCulate:MARKer<N>:MAXimum:NEXT", lambda s, f, p: s._marker_peak(f[0], "NEXT")),
            Action(":CALCulate:MARKer<N>:MAXimum:LEFT", lambda s, f, p: s._marker_peak(f[0], "LEFT")),
            Action(":CALCulate:MARKer<N>:MAXimum:RIGHt", lambda s, f, p: s._marker_peak(f[0], "RIGHT")),
            Action(":CALCulate:MARKer:AOFF", lambda s, f, p: [s.set("mkr_mode", m, "OFF") for m in MARKERS]),
            Number(":CALCulate:MARKer:PEAK:EXCursion", "peak_excursion", 6.0, (0.0, 100.0)),
        ]

    def _coupled(self, pattern: str, name: str, limits: tuple[float, float], effective):
        """A setting with an AUTO partner: setting a value turns auto off; the query answers the value in use."""
        def on_set(sim, sfx, params):
            text = params[0].strip().upper() if len(params) == 1 else ""
            if text in ("MIN", "MINIMUM", "MAX", "MAXIMUM"):
                value = limits[0] if text.startswith("MIN") else limits[1]
            else:
                value = _one_number(params, pattern)
            if not (math.isfinite(value) and limits[0] <= value <= limits[1]):
                raise ScpiCommandError(-222, f"{pattern.split(':')[-1].strip('[]')} {value:g} outside "
                                             f"{limits[0]:g}..{limits[1]:g}")
            sim.set(name, value)
            sim.set(f"{name}_auto", False)

        return [Command(pattern, on_set=on_set, on_query=lambda s, f, p: nr3(effective(s))),
                Bool(f"{pattern}:AUTO", f"{name}_auto", True)]

    def _measurement_commands(self, key: str) -> list[Command]:
        long = MEASUREMENTS[key]
        run = {"SAN": self._read_san, "CHP": self._read_chp, "OBW": self._read_obw, "ACP": self._read_acp,
               "PST": self._read_pst}[key]

        def configure(default: bool):
            def fn(sim, sfx, params):
                if default:
                    sim.preset_measurement(key)
                sim.set("meas", key)
            return fn

        def query(read: bool):
            def fn(sim, sfx, params):
                sim.set("meas", key)
                return sim.encode(run(sfx[0] if sfx else 1, fresh=read))
            return fn

        def initiate(sim, sfx, params):
            sim.set("meas", key)
            run(1, fresh=True)

        commands = [Action(f":CONFigure:{long}", configure(True)), Action(f":CONFigure:{long}:NDEFault", configure(False)),
                    Action(f":INITiate:{long}", initiate),
                    Query(f":READ:{long}<N>", query(True)), Query(f":MEASure:{long}<N>", query(True)),
                    Query(f":FETCh:{long}<N>", query(False))]
        if key == "CHP":
            for sub, index in (("CHPower", 0), ("DENSity", 1)):
                for verb, fresh in (("READ", True), ("FETCh", False), ("MEASure", True)):
                    commands.append(Query(f":{verb}:CHPower:{sub}",
                                          lambda s, f, p, i=index, fr=fresh: s.encode(s._read_chp(1, fresh=fr)[i:i + 1])))
        if key == "OBW":
            for sub, index in (("OBWidth", 0), ("FERRor", 2), ("XDB", 3)):
                for verb, fresh in (("READ", True), ("FETCh", False), ("MEASure", True)):
                    commands.append(Query(f":{verb}:OBWidth:{sub}",
                                          lambda s, f, p, i=index, fr=fresh: s.encode(s._read_obw(1, fresh=fr)[i:i + 1])))
        return commands

    # ------------------------------------------------------------ settings in use
    @property
    def center_hz(self) -> float:
        return float(self.get("center"))

    @property
    def span_hz(self) -> float:
        return float(self.get("span"))

    @property
    def rbw_hz(self) -> float:
        if self.get("rbw_auto", default=True):
            return auto_rbw_hz(self.span_hz) if self.span_hz > 0 else float(self.get("rbw", default=1e6))
        return float(self.get("rbw"))

    @property
    def vbw_hz(self) -> float:
        return self.rbw_hz if self.get("vbw_auto", default=True) else float(self.get("vbw"))

    @property
    def points(self) -> int:
        return int(self.get("points", default=1001))

    @property
    def sweep_time_s(self) -> float:
        if not self.get("sweep_time_auto", default=True):
            return float(self.get("sweep_time"))
        if self.span_hz == 0:
            return 1e-3
        rbw = self.rbw_hz
        return max(1e-3, 2.5 * self.span_hz / (rbw * min(rbw, self.vbw_hz)))

    @property
    def attenuation_db(self) -> float:
        if not self.get("atten_auto", default=True):
            return float(self.get("atten"))
        at_input = self.get("ref_level", default=0.0) - self.get("ref_offset", default=0.0)
        return float(min(70.0, max(6.0, 2.0 * math.ceil((at_input + 10.0) / 2.0))))

    @property
    def data_format(self) -> str:
        return self.get("format", default="ASC,8")

    def detector(self, trace: int = 1) -> str:
        return self.get("detector", trace, default="NORM")

    def average_type(self) -> str:
        kind = self.get("avg_type", default="LOG")
        return "RMS" if kind == "POW" else kind

    def meas_rbw_hz(self, prefix: str) -> float:
        if not self.get(f"{prefix}_rbw_auto", default=True):
            return float(self.get(f"{prefix}_rbw"))
        basis = {"chp": self.get("chp_ibw", default=2e6) / 20.0, "obw": self.get("obw_span", default=10e6) / 100.0,
                 "acp": self.get("acp_cbw", default=2e6) / 20.0}[prefix]
        return auto_rbw_hz(basis, ratio=1.0)

    def acp_list(self, name: str) -> list[float]:
        defaults = {"acp_offsets": [5e6, 10e6, 15e6, 20e6, 25e6, 30e6], "acp_obws": [2e6] * ACP_OFFSETS,
                    "acp_states": [1, 1, 0, 0, 0, 0]}
        return list(self.get(name, default=defaults[name]))

    # ------------------------------------------------------------ setters
    def _select_mode(self, sim, sfx, params):
        mode = (params[0].strip().upper() if params else "")
        if mode != "SA":
            raise ScpiCommandError(-224, f"mode {mode!r}: this simulator has SA only (:INSTrument:CATalog?)")

    def _set_center(self, sim, sfx, params):
        center = _freq_check(_one_number(params, "CENTer"), "center frequency")
        half = min(self.span_hz / 2, center - FREQ_LIMITS_HZ[0], FREQ_LIMITS_HZ[1] - center)
        self.set("center", center)
        self.set("span", 2.0 * half if self.span_hz > 0 else 0.0)   # the span shrinks to stay inside

    def _set_span(self, sim, sfx, params):
        span = _one_number(params, "SPAN")
        if span != 0 and not (MIN_SPAN_HZ <= span <= FREQ_LIMITS_HZ[1]):
            raise ScpiCommandError(-222, f"span {span:g} Hz: 0 (zero span) or 10 Hz..26.5 GHz")
        _freq_check(self.center_hz - span / 2, "start frequency (centre - span/2)")
        _freq_check(self.center_hz + span / 2, "stop frequency (centre + span/2)")
        self.set("span", span)

    def _set_start(self, sim, sfx, params):
        start = _freq_check(_one_number(params, "STARt"), "start frequency")
        stop = max(self.center_hz + self.span_hz / 2, min(start + MIN_SPAN_HZ, FREQ_LIMITS_HZ[1]))
        self.set("center", 0.5 * (start + stop))
        self.set("span", stop - start)

    def _set_stop(self, sim, sfx, params):
        stop = _freq_check(_one_number(params, "STOP"), "stop frequency")
        start = min(self.center_hz - self.span_hz / 2, max(stop - MIN_SPAN_HZ, FREQ_LIMITS_HZ[0]))
        self.set("center", 0.5 * (start + stop))
        self.set("span", stop - start)

    def _set_ref_level(self, sim, sfx, params):
        """Reference level -170 to +30 dBm at the input, i.e. shifted by the reference-level offset."""
        value = _one_number(params, "RLEVel")
        offset = float(self.get("ref_offset", default=0.0))
        if not (math.isfinite(value) and -170.0 + offset <= value <= 30.0 + offset):
            raise ScpiCommandError(-222, f"reference level {value:g} dBm outside {-170 + offset:g}..{30 + offset:g} "
                                         f"(-170..30 dBm plus the {offset:g} dB offset)")
        self.set("ref_level", value)

    def _check_trace(self, sim, sfx, value):
        if sfx and not 1 <= sfx[0] <= 6:
            raise ScpiCommandError(-114, f"TRACe{sfx[0]}")

    def _set_format(self, sim, sfx, params):
        words = [p.strip().upper() for p in params]
        kind = words[0] if words else ""
        size = words[1] if len(words) > 1 else ""
        if kind in ("ASC", "ASCII"):
            self.set("format", "ASC,8")
        elif kind in ("REAL",) and size in ("32", "64", ""):
            self.set("format", f"REAL,{size or '32'}")
        elif kind in ("INT", "INTEGER") and size in ("32", ""):
            self.set("format", "INT,32")
        else:
            raise ScpiCommandError(-224, f"format {','.join(words)!r}: ASCii, INTeger,32, REAL,32 or REAL,64")

    def _list_setter(self, name: str, limits: tuple[float, float]):
        def on_set(sim, sfx, params):
            if not params:
                raise ScpiCommandError(-109, f"{name}: a list of up to {ACP_OFFSETS} values")
            if len(params) > ACP_OFFSETS:
                raise ScpiCommandError(-108, f"{name}: at most {ACP_OFFSETS} values")
            values = [parse_number(p) for p in params]
            if any(not (limits[0] <= v <= limits[1]) for v in values):
                raise ScpiCommandError(-222, f"{name} values outside {limits[0]:g}..{limits[1]:g}")
            current = sim.acp_list(name)
            current[:len(values)] = values
            sim.set(name, current)
        return on_set

    def preset_measurement(self, key: str) -> None:
        """`:CONFigure:<meas>` (without NDEFault): that measurement's own settings back to their defaults."""
        own = {"SAN": ("span", "rbw", "rbw_auto", "vbw", "vbw_auto", "sweep_time", "sweep_time_auto", "points",
                       "detector", "avg_state", "avg_count", "avg_type", "trace_type"),
               "CHP": ("chp_ibw", "chp_span", "chp_rbw", "chp_rbw_auto", "chp_avg", "chp_count"),
               "OBW": ("obw_span", "obw_percent", "obw_xdb", "obw_rbw", "obw_rbw_auto", "obw_avg", "obw_count"),
               "ACP": ("acp_cbw", "acp_offsets", "acp_obws", "acp_states", "acp_rbw", "acp_rbw_auto", "acp_avg",
                       "acp_count"),
               "PST": ("pst_bw", "pst_counts")}[key]
        for k in [k for k in self.state if k[0] in own]:
            del self.state[k]
        if key == "SAN":
            self.set("span", 80e6 if self.center_hz > 40e6 else 2 * (self.center_hz - FREQ_LIMITS_HZ[0]))
            self.traces.clear()

    # ------------------------------------------------------------ sweeping
    def sweep_spec(self, detector: str) -> SweepSpec:
        return SweepSpec(self.center_hz, self.span_hz, self.rbw_hz, self.vbw_hz, self.points, self.sweep_time_s,
                         detector, self.average_type(), self.attenuation_db)

    def active_traces(self) -> list[int]:
        return [1] + [n for n in TRACES if n > 1 and ("trace_type", n) in self.state]

    def sweep_count(self) -> int:
        averaging = self.get("avg_state", default=False) or any(
            self.get("trace_type", n, default="WRIT") != "WRIT" for n in self.active_traces())
        return int(self.get("avg_count", default=100)) if averaging else 1

    def initiate(self) -> None:
        """One single sweep (or `:AVERage:COUNt` of them with averaging or a hold trace) of every active
        trace; the virtual clock advances by their sweep time."""
        n = self.sweep_count()
        spec0 = self.sweep_spec("NORM")
        t0 = self.scene.now_s
        offset = self.get("ref_offset", default=0.0)
        for trace in self.active_traces():
            spec = self.sweep_spec(self.detector(trace))
            self.scene.now_s = t0
            rows = self.scene.sweep(spec, n) + offset
            self.traces[trace] = combine_sweeps(rows, self.get("trace_type", trace, default="WRIT"),
                                                spec.average_type, self.get("avg_state", default=False))
        if spec0.span_hz == 0:
            self.trace_axis = (0.0, spec0.bucket_s, True)
        else:
            step = spec0.span_hz / max(spec0.points - 1, 1)
            self.trace_axis = (spec0.center_hz - spec0.span_hz / 2, step, False)
        self.sweeps += 1
        if self.real_time:
            time.sleep(n * spec0.sweep_time_s)

    def trace(self, n: int) -> np.ndarray:
        if not 1 <= n <= 6:
            raise ScpiCommandError(-114, f"TRACE{n}")
        if self.get("continuous", default=True) or 1 not in self.traces:
            self.initiate()                 # continuous sweeping: whatever the latest sweep shows
        if n not in self.traces:
            raise ScpiCommandError(-230, f"TRACE{n} holds no data (no trace type set)")
        return self.traces[n]

    def trace_x(self, n: int) -> np.ndarray:
        x0, dx, _ = self.trace_axis
        return x0 + np.arange(self.traces[n].size) * dx

    def _trace_data(self, sim, sfx, params):
        if len(params) != 1:
            raise ScpiCommandError(-109 if not params else -108, ":TRACe:DATA? TRACE1..TRACE6")
        name = params[0].strip().upper()
        if not (name.startswith("TRACE") and name[5:].isdigit()):
            raise ScpiCommandError(-224, f"{name[:20]!r}: TRACE1..TRACE6")
        return self.encode(self.trace(int(name[5:])))

    # ------------------------------------------------------------ measurements
    def _read_san(self, n: int, fresh: bool) -> np.ndarray:
        if not 1 <= n <= 6:
            raise ScpiCommandError(-114, f"SANalyzer{n} (1-6: x,y pairs of a trace)")
        if fresh:
            self.initiate()
        y = self.traces.get(n) if fresh else self.trace(n)
        if y is None:
            raise ScpiCommandError(-230, f"TRACE{n} holds no data (no trace type set)")
        return np.column_stack([self.trace_x(n), y]).reshape(-1)

    @staticmethod
    def _single_result(n: int, name: str) -> None:
        if n != 1:
            raise ScpiCommandError(-114, f"{name}{n}: only {name}1 is available")

    def _meas_sweep(self, prefix: str, span_hz: float, points: int = 1001) -> tuple[np.ndarray, np.ndarray, float]:
        """A measurement's own sweep: RMS average detector, power-averaged over its average count."""
        rbw = self.meas_rbw_hz(prefix)
        points = int(min(POINTS_LIMITS[1], max(points, math.ceil(span_hz / (rbw / 2.0)) + 1)))
        st = max(1e-3, 2.5 * span_hz / (rbw * rbw))
        spec = SweepSpec(self.center_hz, span_hz, rbw, 3.0 * rbw, points, st, "AVER", "RMS", self.attenuation_db)
        count = int(self.get(f"{prefix}_count", default=10)) if self.get(f"{prefix}_avg", default=True) else 1
        rows = self.scene.sweep(spec, count) + self.get("ref_offset", default=0.0)
        reading_mw = dbm_to_mw(rows).mean(axis=0)
        if self.real_time:
            time.sleep(count * st)
        return spec.freq_hz, reading_mw, rbw

    def _read_chp(self, n: int, fresh: bool) -> np.ndarray:
        self._single_result(n, "CHPower")
        if fresh or "CHP" not in self.results:
            ibw = float(self.get("chp_ibw", default=2e6))
            span = max(float(self.get("chp_span", default=3e6)), ibw)
            f, mw, rbw = self._meas_sweep("chp", span)
            self.results["CHP"] = sam.channel_power(f, mw, self.center_hz, ibw, rbw)
        return np.asarray(self.results["CHP"], dtype=np.float64)

    def _read_obw(self, n: int, fresh: bool) -> np.ndarray:
        self._single_result(n, "OBWidth")
        if fresh or "OBW" not in self.results:
            f, mw, rbw = self._meas_sweep("obw", float(self.get("obw_span", default=10e6)))
            obw, total, ferr = sam.occupied_bandwidth(f, mw, float(self.get("obw_percent", default=99.0)),
                                                      self.center_hz, rbw)
            xdb = sam.xdb_bandwidth(f, mw_to_dbm(mw), float(self.get("obw_xdb", default=-26.0)))
            self.results["OBW"] = (obw, total, ferr, xdb)
        return np.asarray(self.results["OBW"], dtype=np.float64)

    def _read_acp(self, n: int, fresh: bool) -> np.ndarray:
        self._single_result(n, "ACPower")
        if fresh or "ACP" not in self.results:
            offsets, bws, states = (self.acp_list(k) for k in ("acp_offsets", "acp_obws", "acp_states"))
            cbw = float(self.get("acp_cbw", default=2e6))
            reach = max([cbw / 2] + [o + b / 2 for o, b, s in zip(offsets, bws, states) if s])
            f, mw, rbw = self._meas_sweep("acp", 2.0 * reach)      # the outermost channel edges at the span's
            carrier, _ = sam.channel_power(f, mw, self.center_hz, cbw, rbw)
            out = [carrier]
            for o, b, s in zip(offsets, bws, states):
                if not s:
                    out += [sam.INVALID] * 4
                    continue
                lower, _ = sam.channel_power(f, mw, self.center_hz - o, b, rbw)
                upper, _ = sam.channel_power(f, mw, self.center_hz + o, b, rbw)
                out += [lower - carrier, lower, upper - carrier, upper]
            self.results["ACP"] = tuple(out)
        return np.asarray(self.results["ACP"], dtype=np.float64)

    def _read_pst(self, n: int, fresh: bool) -> np.ndarray:
        if not 1 <= n <= 3:
            raise ScpiCommandError(-114, f"PSTatistic{n} (1 scalars, 2 CCDF trace, 3 Gaussian reference)")
        if fresh or "PST" not in self.results:
            counts = int(self.get("pst_counts", default=1_000_000))
            bw = float(self.get("pst_bw", default=10e6))
            p = self.scene.power_samples_mw(self.center_hz, bw, counts, self.attenuation_db)
            p *= 10.0 ** (self.get("ref_offset", default=0.0) / 10.0)
            self.results["PST"] = sam.power_statistics(p)
        scalars, trace, gaussian = self.results["PST"]
        return np.asarray((scalars, trace, gaussian)[n - 1], dtype=np.float64)

    # ------------------------------------------------------------ markers
    def _marker_trace(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the trace marker m reads (sweeping first if that trace holds nothing yet)."""
        n = int(self.get("mkr_trace", m, default=1))
        y = self.traces.get(n)
        if y is None:
            y = self.trace(n)
        return self.trace_x(n), y

    def _marker_index(self, m: int, size: int) -> int:
        return int(min(max(self.get("mkr_index", m, default=size // 2), 0), size - 1))

    def _marker_mode(self, sim, sfx, value):
        m = sfx[0]
        if m not in MARKERS:
            raise ScpiCommandError(-114, f"MARKer{m}")
        if value == "DELT":             # the reference is where the marker stands now
            x, y = self._marker_trace(m)
            i = self._marker_index(m, y.size)
            self.set("mkr_ref", m, (float(x[i]), float(y[i])))

    def _marker_on(self, m: int) -> None:
        if m not in MARKERS:
            raise ScpiCommandError(-114, f"MARKer{m}")
        if self.get("mkr_mode", m, default="OFF") == "OFF":
            self.set("mkr_mode", m, "POS")

    def _marker_set_x(self, sim, sfx, params):
        m = sfx[0]
        self._marker_on(m)
        x = _one_number(params, "MARKer:X")
        xs, _ = self._marker_trace(m)
        if self.get("mkr_mode", m) == "DELT":
            x += self.get("mkr_ref", m)[0]
        tol = 1e-9 * max(abs(xs[0]), abs(xs[-1]), 1.0)
        if not xs[0] - tol <= x <= xs[-1] + tol:
            raise ScpiCommandError(-222, f"marker {m} X {x:g} outside the trace ({xs[0]:g}..{xs[-1]:g})")
        self.set("mkr_index", m, int(np.argmin(np.abs(xs - x))))

    def _marker_value(self, m: int, axis: int) -> str:
        if self.get("mkr_mode", m, default="OFF") == "OFF":
            return nr3(sam.INVALID)
        xy = self._marker_trace(m)
        value = float(xy[axis][self._marker_index(m, xy[1].size)])
        if self.get("mkr_mode", m) == "DELT":
            value -= self.get("mkr_ref", m)[axis]
        return nr3(value)

    def _marker_x(self, sim, sfx, params):
        return self._marker_value(sfx[0], 0)

    def _marker_y(self, sim, sfx, params):
        return self._marker_value(sfx[0], 1)

    def _marker_peak(self, m: int, which: str) -> None:
        """Peak search on the marker's trace: the highest point, or the next peak lower than, left of or
        right of the marker (peaks rising `:CALCulate:MARKer:PEAK:EXCursion` dB above their surroundings)."""
        self._marker_on(m)
        _, y = self._marker_trace(m)
        if which == "MAX":
            self.set("mkr_index", m, int(np.argmax(y)))
            return
        peaks = sam.peak_indices(y, float(self.get("peak_excursion", default=6.0)))
        i = self._marker_index(m, y.size)
        if which == "NEXT":
            lower = peaks[y[peaks] < y[i]]
            candidates = lower[np.argsort(y[lower])[::-1]]
        elif which == "LEFT":
            candidates = peaks[peaks < i][::-1]
        else:
            candidates = peaks[peaks > i]
        if candidates.size == 0:
            raise ScpiCommandError(-200, f"marker {m}: no peak found ({which.lower()})")
        self.set("mkr_index", m, int(candidates[0]))

    # ------------------------------------------------------------ replies
    def encode(self, values: np.ndarray):
        """Numeric results in the `:FORMat` in force: ASCII NR3 list or a binary block."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        fmt = self.data_format
        if fmt.startswith("ASC"):
            return ",".join(nr3(v) for v in values)
        order = "<" if self.get("byte_order", default="NORM") == "SWAP" else ">"
        if fmt == "REAL,64":
            data = values.astype(order + "f8")
        elif fmt == "INT,32":
            data = np.clip(np.rint(values * 1000.0), -2 ** 31, 2 ** 31 - 1).astype(order + "i4")
        else:
            data = values.astype(order + "f4")
        payload = data.tobytes()
        return [encode_header(len(payload)), payload]


def nr3(value: float) -> str:
    """A number as the X-series sends it: 13 significant digits (a 26.5 GHz frequency to 0.01 Hz);
    non-finite values and results that do not exist as 9.91E+37."""
    value = float(value)
    return f"{value:.12E}" if math.isfinite(value) and abs(value) < 9.9e37 else "9.91000000000E+37"


def combine_sweeps(rows_dbm: np.ndarray, trace_type: str, average_type: str, averaging: bool) -> np.ndarray:
    """A trace from its sweeps (rows): WRITe the last (the average when `:AVERage` is on), AVERage in the
    averaging domain (LOG: dB; RMS: power; SCALar: voltage), MAXHold / MINHold the extremes."""
    if trace_type == "MAXH":
        return rows_dbm.max(axis=0)
    if trace_type == "MINH":
        return rows_dbm.min(axis=0)
    if trace_type != "AVER" and not averaging:
        return rows_dbm[-1]
    if rows_dbm.shape[0] == 1:
        return rows_dbm[0]
    if average_type == "LOG":
        return rows_dbm.mean(axis=0)
    if average_type == "SCAL":
        return 20.0 * np.log10(np.sqrt(dbm_to_mw(rows_dbm)).mean(axis=0))
    return mw_to_dbm(dbm_to_mw(rows_dbm).mean(axis=0))


__all__ = ["SimN9030B", "combine_sweeps", "auto_rbw_hz"]

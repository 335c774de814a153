"""Simulated Keysight CX3324A device current waveform analyzer, speaking the provisional CX3300
dialect (instruments/keysight/cx3300_dialect.py: one table shared with the driver).

What the channels see. Channel 1's sensor (CX1102A, seamless) is in series with the DUT's supply, so
it carries the current of the DUT profile's `[power]` section (instruments/sim/dut_power.py).
Channel 2 has a CX1101A connected to nothing. Channels 3 and 4 have no sensor, and acquiring them is
-241 "Hardware missing".

The sensor model (I: inferred):
- Each path is a b-bit ADC (14 or 16 bit, `:ACQuire:RESolution`) over +-full scale, with white noise
  of NOISE_LSB16 16-bit steps rms.
- A fixed range clips at -range and at range - 1 LSB. Those values are sent as they are, so a range too
  small for the signal is visible in the data.
- A seamless channel also has a low path with full scale range x LOW_PATH_FRACTION. A sample comes
  from the low path while that path is not saturated, so microamps of sleep current are resolved
  next to hundreds of milliamps of TX.

Triggering and time. Time is virtual. An acquisition arms at the simulator's clock and triggers at the
first crossing of the trigger level on the source. The record then spans PRETRIGGER_FRACTION before the
trigger and the rest after it. The clock moves to the end of the record, so the next acquisition sees
later events. No crossing within 10 wake periods means the record is taken untriggered. In TRIGgered
sweep that also queues an execution error saying so.

The instrument's own measurements (`:MEASure:CURRent:...`, `:ANALysis:CCDF:DATA?`) are computed here
with plain numpy, independently of labbench.analysis, so comparing the two proves something.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from labbench.instruments.keysight import cx3300_dialect as D
from labbench.instruments.sim.dut import DutProfile, load_profile, section_dataclass
from labbench.instruments.sim.dut_power import PowerProfile, SupplyCurrent
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
    parse_number,
)
from labbench.scpi.instrument import SimInstrument

INVALID = 9.99999e37
NOISE_LSB16 = 0.3                  # I: sensor + ADC noise, in 16-bit steps of the path's full scale
SYNTH_CHUNK = 1 << 22              # samples rendered at a time: bounds the float64 temporaries
CHANNEL_SENSORS = {1: "CX1102A", 2: "CX1101A", 3: None, 4: None}
DUT_CHANNEL = 1


@dataclass
class Record:
    """The last acquisition of one channel, as the instrument holds it (float32 amperes)."""

    amps: np.ndarray
    x0_s: float
    dx_s: float
    range_a: float
    bits: int
    seamless: bool


class SimCX3324A(SimInstrument):
    idn = (D.MANUFACTURER, D.MODEL, "MY00SIM3324", "2.10.0")
    error_string_default = True
    n_channels = D.N_CHANNELS

    def __init__(self, profile: DutProfile | None = None, real_time: bool = False):
        self.profile = profile or load_profile()
        self.power: PowerProfile = section_dataclass(PowerProfile, self.profile, "power")
        self.supply = SupplyCurrent(self.power)
        self.real_time = real_time
        self.records: dict[int, Record] = {}
        self.clock_s = 0.0               # virtual time since power-up
        self.acquisitions = 0
        super().__init__()

    # ------------------------------------------------------------ command table
    @property
    def commands(self) -> list[Command]:  # type: ignore[override]
        P = D.pattern
        return [
            Command(P("sample_rate"), on_set=self._set_rate, on_query=lambda s, f, p: format_number(s.srate())),
            Number(P("points"), "points", 1_000_000, (D.MIN_POINTS, D.MAX_POINTS), integer=True),
            Command(P("resolution"), on_set=self._set_bits, on_query=lambda s, f, p: str(s.bits())),
            Command(P("channel_range"), on_set=self._set_range, on_query=self._query_range),
            Command(P("channel_seamless"), on_set=self._set_seamless,
                    on_query=lambda s, f, p: "1" if s.seamless(f[0]) else "0"),
            Bool(P("channel_display"), "display", True),
            Query(P("channel_sensor"), lambda s, f, p: s.sensor_model(f[0]) or "NONE"),
            Choice(P("trigger_source"), "trig_source", "CHANnel1", [f"CHANnel{i}" for i in range(1, 5)]),
            Number(P("trigger_level"), "trig_level", 1e-3, (-10.0, 10.0)),
            Choice(P("trigger_slope"), "trig_slope", "POSitive", ["POSitive", "NEGative"]),
            Choice(P("trigger_sweep"), "trig_sweep", "TRIGgered", ["TRIGgered", "AUTO"]),
            Action(P("digitize"), self._digitize),
            Action(P("single"), lambda s, f, p: s._digitize(s, f, [])),
            Action(P("run"), lambda s, f, p: s.set("run_state", "RUN")),
            Action(P("stop"), lambda s, f, p: s.set("run_state", "STOP")),
            Choice(P("waveform_source"), "wf_source", "CHANnel1", [f"CHANnel{i}" for i in range(1, 5)]),
            Command(P("waveform_format"), on_set=self._set_format,
                    on_query=lambda s, f, p: {"REAL": "REAL,32", "WORD": "WORD", "ASC": "ASC"}[s.wf_format()]),
            Choice(P("waveform_byte_order"), "wf_order", "MSBFirst", ["LSBFirst", "MSBFirst"]),
            Query(P("waveform_preamble"), lambda s, f, p: s.preamble().to_text()),
            Query(P("waveform_data"), self._waveform_data),
            *[Query(P(f"measure_{m.lower()}"), self._measure_query(m)) for m in D.MEASUREMENTS],
            Query(P("ccdf_data"), self._ccdf_data),
        ]

    # ------------------------------------------------------------ channels and sensors
    def sensor_model(self, ch: int) -> str | None:
        if not 1 <= ch <= self.n_channels:
            raise ScpiCommandError(-114, f"CHANnel{ch}")
        return CHANNEL_SENSORS.get(ch)

    def sensor(self, ch: int) -> D.Sensor:
        model = self.sensor_model(ch)
        if model is None:
            raise ScpiCommandError(-241, f"no sensor on CHANnel{ch}")
        return D.SENSORS[model]

    def range_a(self, ch: int) -> float:
        """Full scale of the channel's range (*RST: 1 A); NaN without a sensor."""
        return self.get("range", ch, default=1.0) if self.sensor_model(ch) else float("nan")

    def seamless(self, ch: int) -> bool:
        model = self.sensor_model(ch)
        return bool(self.get("seamless", ch, default=bool(model and D.SENSORS[model].seamless)))

    def _set_range(self, sim, sfx, params):
        if len(params) != 1:
            raise ScpiCommandError(-109 if not params else -108, "RANGe takes one value in A")
        sensor = self.sensor(sfx[0])
        wanted = abs(parse_number(params[0], {"MAX": sensor.ranges_a[-1], "MIN": sensor.ranges_a[0]}))
        chosen = sensor.range_for(wanted)
        if chosen is None:
            raise ScpiCommandError(-222, f"{wanted:g} A above the {sensor.model}'s largest range "
                                         f"{sensor.ranges_a[-1]:g} A")
        self.set("range", sfx[0], chosen)

    def _query_range(self, sim, sfx, params):
        return format_number(self.range_a(sfx[0]))

    def _set_seamless(self, sim, sfx, params):
        text = (params[0] if params else "").strip().upper()
        if text not in ("ON", "OFF", "1", "0"):
            raise ScpiCommandError(-224, f"{text[:20]!r} is not ON, OFF, 1 or 0")
        on = text in ("ON", "1")
        if on and not self.sensor(sfx[0]).seamless:
            raise ScpiCommandError(-221, f"the {self.sensor(sfx[0]).model} on CHANnel{sfx[0]} has no seamless mode")
        self.set("seamless", sfx[0], on)

    def srate(self) -> float:
        return float(self.get("srate", default=1e6))

    def bits(self) -> int:
        return int(self.get("bits", default=14))

    def _set_rate(self, sim, sfx, params):
        if len(params) != 1:
            raise ScpiCommandError(-109 if not params else -108, "SRATe takes one value in Sa/s")
        lo, hi = D.MIN_SAMPLE_RATE_SA_S, D.MAX_SAMPLE_RATE_SA_S
        rate = parse_number(params[0], {"MAX": hi, "MIN": lo})
        if not lo <= rate <= hi:
            raise ScpiCommandError(-222, f"{rate:g} Sa/s outside {lo:g}..{hi:g}")
        if self.bits() == 16 and rate > D.MAX_RATE_16BIT_SA_S:
            raise ScpiCommandError(-221, f"{rate:g} Sa/s: 16-bit resolution allows up to {D.MAX_RATE_16BIT_SA_S:g} Sa/s")
        self.set("srate", rate)

    def _set_bits(self, sim, sfx, params):
        if len(params) != 1:
            raise ScpiCommandError(-109 if not params else -108, "RESolution takes 14 or 16")
        bits = parse_number(params[0])
        if bits not in D.RESOLUTIONS_BITS:
            raise ScpiCommandError(-224, f"{bits:g} bits: the resolution is 14 or 16")
        if bits == 16 and self.srate() > D.MAX_RATE_16BIT_SA_S:
            raise ScpiCommandError(-221, f"16-bit resolution allows up to {D.MAX_RATE_16BIT_SA_S:g} Sa/s; "
                                         f"the sample rate is {self.srate():g} Sa/s")
        self.set("bits", int(bits))

    # ------------------------------------------------------------ the current at the sensors
    def _current(self, ch: int, t0_s: float, dt_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
        if ch == DUT_CHANNEL:
            return self.supply.render(t0_s, dt_s, n, rng)
        return np.zeros(n)

    def _sense(self, amps: np.ndarray, ch: int, rng: np.random.Generator) -> np.ndarray:
        """What the sensor and ADC report for the true current: float32 amperes."""
        bits, full_scale = self.bits(), self.range_a(ch)
        codes_max = 2 ** (bits - 1)

        def path(fs: float) -> tuple[np.ndarray, np.ndarray]:
            lsb = D.lsb_a(fs, bits)
            noisy = amps + rng.standard_normal(amps.size) * (NOISE_LSB16 * fs / 32768)
            q = np.rint(noisy / lsb)
            saturated = (q >= codes_max - 1) | (q <= -codes_max)
            np.clip(q, -codes_max, codes_max - 1, out=q)
            return q * lsb, saturated

        high, _ = path(full_scale)
        if self.seamless(ch):
            low, saturated = path(full_scale * D.LOW_PATH_FRACTION)
            high = np.where(saturated, high, low)
        return high.astype(np.float32)

    # ------------------------------------------------------------ acquisition
    def _digitize(self, sim, sfx, params):
        channels = [channel_number(p) for p in params] if params else \
            [c for c in range(1, self.n_channels + 1) if self.get("display", c, default=c == 1)]
        for c in channels:
            self.sensor(c)                       # -114 or -241 before anything happens
        srate = self.srate()
        n = int(self.get("points", default=1_000_000))
        dt = 1.0 / srate
        duration = n * dt
        pre = D.PRETRIGGER_FRACTION * duration
        level = float(self.get("trig_level", default=1e-3))
        source = channel_number(self.get("trig_source", default="CHAN1"))
        rising = self.get("trig_slope", default="POS") == "POS"
        t_trig = None
        if source == DUT_CHANNEL:
            t_trig = self.supply.first_crossing_s(self.clock_s + pre, level, rising)
        triggered = t_trig is not None
        if not triggered:
            if self.get("trig_sweep", default="TRIG") == "TRIG":
                self.push_error(-200, f"no trigger at {level:g} A ({'rising' if rising else 'falling'}) on "
                                      f"CHANnel{source} within 10 wake periods; record taken untriggered")
            t_trig = self.clock_s + pre
        t0 = t_trig - pre
        self.acquisitions += 1
        for c in channels:
            rng = np.random.default_rng([self.power.seed, self.acquisitions, c])
            amps = np.empty(n, dtype=np.float32)
            for a in range(0, n, SYNTH_CHUNK):      # chunks keep the float64 temporaries bounded
                m = min(SYNTH_CHUNK, n - a)
                amps[a:a + m] = self._sense(self._current(c, t0 + a * dt, dt, m, rng), c, rng)
            self.records[c] = Record(amps, -pre, dt, self.range_a(c), self.bits(), self.seamless(c))
        if params:
            for c in range(1, self.n_channels + 1):
                self.set("display", c, c in channels)
        if self.real_time:
            time.sleep(max(0.0, t0 + duration - self.clock_s))
        self.clock_s = t0 + duration
        self.set("run_state", "STOP")

    def record(self, ch: int | None = None) -> Record:
        ch = ch if ch is not None else channel_number(self.get("wf_source", default="CHAN1"))
        if ch not in self.records:
            raise ScpiCommandError(-230, f"no acquisition on CHANnel{ch}")
        return self.records[ch]

    # ------------------------------------------------------------ waveform transfer
    def wf_format(self) -> str:
        return self.get("wf_format", default="ASC")

    def _set_format(self, sim, sfx, params):
        words = [p.strip().upper() for p in params]
        if not words:
            raise ScpiCommandError(-109, "FORMat needs REAL[,32], WORD or ASCii")
        if words[0] in ("REAL", "REAL32") and words[1:] in ([], ["32"]):
            self.set("wf_format", "REAL")
        elif words == ["WORD"]:
            self.set("wf_format", "WORD")
        elif words in (["ASC"], ["ASCII"]):
            self.set("wf_format", "ASC")
        else:
            raise ScpiCommandError(-224, f"{','.join(words)[:20]!r} is not REAL,32, WORD or ASCii")

    def preamble(self) -> D.Preamble:
        rec = self.record()
        fmt = self.wf_format()
        if fmt == "WORD":
            code, y_inc = D.FORMAT_WORD, D.word_y_increment_a(rec.range_a)
        else:
            code, y_inc = (D.FORMAT_REAL if fmt == "REAL" else D.FORMAT_ASCII), 1.0
        n = rec.amps.size
        return D.Preamble(
            format=code, type=1, points=n, count=1, x_increment=rec.dx_s, x_origin=rec.x0_s, x_reference=0.0,
            y_increment=y_inc, y_origin=0.0, y_reference=0.0, coupling=1, x_display_range=n * rec.dx_s,
            x_display_origin=rec.x0_s, y_display_range=2 * rec.range_a, y_display_origin=-rec.range_a,
            date=time.strftime("%d %b %Y"), time=time.strftime("%H:%M:%S:00"), frame=f"{self.idn[1]}:{self.idn[2]}",
            acquisition_mode=0, completion_pct=100.0, x_units=2, y_units=D.Y_UNITS_AMPERE,
            max_bandwidth_hz=min(200e6, 0.5 / rec.dx_s), min_bandwidth_hz=0.0)

    def _waveform_data(self, sim, sfx, params):
        rec = self.record()
        fmt, order = self.wf_format(), self.get("wf_order", default="MSBF")
        if fmt == "ASC":
            return ",".join(f"{v:.6E}" for v in rec.amps.astype(np.float64))
        if fmt == "WORD":
            if rec.seamless:
                raise ScpiCommandError(-221, "WORD needs one scale; a seamless record is sent as REAL,32")
            codes = np.rint(rec.amps / np.float32(D.word_y_increment_a(rec.range_a)))
            payload = np.clip(codes, -32768, 32767).astype(D.WORD_DTYPES[order]).tobytes()
        else:
            payload = rec.amps.astype(D.REAL_DTYPES[order], copy=False).tobytes()
        return [encode_header(len(payload)), payload]

    # ------------------------------------------------------------ the instrument's own measurements
    def _measure_query(self, kind: str):
        def handler(sim, sfx, params):
            ch = channel_number(params[0]) if params else channel_number(self.get("wf_source", default="CHAN1"))
            if ch not in self.records:
                return format_number(INVALID)
            x = self.records[ch].amps.astype(np.float64)
            value = {"MEAN": lambda: x.mean(), "RMS": lambda: np.sqrt(np.mean(x * x)), "MAX": x.max,
                     "MIN": x.min, "PP": lambda: x.max() - x.min()}[kind]()
            return format_number(float(value))
        return handler

    def _ccdf_data(self, sim, sfx, params):
        """(level, fraction of samples at or above it) at 10 levels per decade from 1 nA to the range,
        by sorting the record: REAL,32 pairs in the waveform byte order."""
        ch = channel_number(params[0]) if params else channel_number(self.get("wf_source", default="CHAN1"))
        rec = self.record(ch)
        x = np.sort(rec.amps)
        levels = np.logspace(-9, np.log10(rec.range_a), int(round(10 * (np.log10(rec.range_a) + 9))) + 1)
        fraction = (x.size - np.searchsorted(x, levels.astype(np.float32), side="left")) / x.size
        pairs = np.column_stack((levels, fraction)).astype(D.REAL_DTYPES[self.get("wf_order", default="MSBF")])
        payload = pairs.tobytes()
        return [encode_header(len(payload)), payload]

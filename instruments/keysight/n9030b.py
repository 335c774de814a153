"""Keysight N9030B PXA signal analyzer, Spectrum Analyzer mode (scpi.md §3).

Traps this driver handles (scpi.md §3 "X-series quirks"):
- Single sweeps: `:INITiate:CONTinuous OFF`, `:INITiate:IMMediate`, `*OPC?` in one message; in continuous
  mode there is no sweep-complete event and a trace read may be stale. The continuous state found before
  the first single sweep is registered with `restore_on_idle`, so the runner puts it back at the end of a
  run or on abort.
- `:FORMat:TRACe:DATA REAL,32` with `:FORMat:BORDer SWAPped` set explicitly (little-endian, read as
  '<f4'); the format applies to `:TRACe:DATA?` and to every `:READ`/`:FETCh` result, so those are read
  as binary blocks too.
- `:CONFigure:<meas>` presets the measurement's settings: it is sent first, the settings after it.
  Going back to the swept spectrum uses `:CONFigure:SANalyzer:NDEFault`, which keeps them.
- `:READ:SANalyzer1?` sends x,y pairs, `:TRACe:DATA? TRACE1` y values only; both are checked against the
  sweep's point count and frequency axis.
- 9.91E+37 means "no result": it becomes NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labbench.capture import Capture
from labbench.errors import InstrumentError, ScpiError, TransferError
from labbench.instruments.base import Instrument, Setting, settings_of

INVALID = 9.9e37
DETECTORS = ("NORMal", "AVERage", "POSitive", "SAMPle", "NEGative")
TRACE_TYPES = ("WRITe", "AVERage", "MAXHold", "MINHold")
AVERAGE_TYPES = ("LOG", "RMS", "SCALar")
ACP_OFFSETS = 6
PSTAT_PROBABILITIES = (0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6)
PSTAT_TRACE_DB = np.round(np.arange(501) * 0.1, 1)
SWEEP_MARGIN_S = 10.0         # on top of the expected sweep time, for *OPC? and :READ


def _nan(value: float) -> float:
    return float("nan") if abs(value) >= INVALID else float(value)


@dataclass(frozen=True)
class ChannelPowerResult:
    power_dbm: float
    psd_dbm_hz: float
    integration_bw_hz: float
    center_hz: float


@dataclass(frozen=True)
class ObwResult:
    obw_hz: float
    total_power_dbm: float
    freq_error_hz: float
    xdb_bandwidth_hz: float
    percent: float
    xdb_db: float
    span_hz: float
    center_hz: float


@dataclass(frozen=True)
class AcpResult:
    """Carrier power and, per enabled offset, the lower and upper channel (relative and absolute)."""
    carrier_power_dbm: float
    carrier_bw_hz: float
    offsets_hz: tuple[float, ...]
    offset_bw_hz: tuple[float, ...]
    lower_dbc: tuple[float, ...]
    lower_dbm: tuple[float, ...]
    upper_dbc: tuple[float, ...]
    upper_dbm: tuple[float, ...]


@dataclass(frozen=True)
class PowerStatistics:
    """`:READ:PSTatistic1/2/3?`: levels are dB above the average power; probabilities are fractions."""
    avg_power_dbm: float
    prob_at_avg: float
    levels_db: dict[float, float]              # probability -> dB above average
    peak_db: float
    sample_count: int
    bandwidth_hz: float
    x_db: np.ndarray = field(repr=False)
    probability: np.ndarray = field(repr=False)
    gaussian_probability: np.ndarray = field(repr=False)


class N9030B(Instrument):
    """Keysight N9030B PXA, 2 Hz to 26.5 GHz (option 526), Spectrum Analyzer mode."""

    model = "N9030B"
    default_timeout_s = 20.0

    mode = Setting(":INSTrument:SELect", str)
    center_hz = Setting(":SENSe:FREQuency:CENTer", float, unit="Hz", limits=(2.0, 26.5e9))
    span_hz = Setting(":SENSe:FREQuency:SPAN", float, unit="Hz", limits=(0.0, 26.5e9))
    start_hz = Setting(":SENSe:FREQuency:STARt", float, unit="Hz", limits=(2.0, 26.5e9))
    stop_hz = Setting(":SENSe:FREQuency:STOP", float, unit="Hz", limits=(2.0, 26.5e9))
    rbw_hz = Setting(":SENSe:BANDwidth:RESolution", float, unit="Hz", limits=(1.0, 8e6))
    rbw_auto = Setting(":SENSe:BANDwidth:RESolution:AUTO", bool)
    vbw_hz = Setting(":SENSe:BANDwidth:VIDeo", float, unit="Hz", limits=(1.0, 50e6))
    vbw_auto = Setting(":SENSe:BANDwidth:VIDeo:AUTO", bool)
    points = Setting(":SENSe:SWEep:POINts", int, unit="pts", limits=(1, 20001))
    sweep_time_s = Setting(":SENSe:SWEep:TIME", float, unit="s", limits=(1e-6, 6000.0))
    sweep_time_auto = Setting(":SENSe:SWEep:TIME:AUTO", bool)
    attenuation_db = Setting(":SENSe:POWer:RF:ATTenuation", float, unit="dB", limits=(0.0, 70.0))
    attenuation_auto = Setting(":SENSe:POWer:RF:ATTenuation:AUTO", bool)
    reference_level_dbm = Setting(":DISPlay:WINDow:TRACe:Y:SCALe:RLEVel", float, unit="dBm",
                                  doc="-170 to +30 dBm at the input, plus the reference-level offset")
    reference_offset_db = Setting(":DISPlay:WINDow:TRACe:Y:SCALe:RLEVel:OFFSet", float, unit="dB",
                                  limits=(-327.6, 327.6), doc="added to every reading: set it to the loss "
                                  "between the DUT and the input and readings are at the DUT")
    detector = Setting(":SENSe:DETector:TRACe1", str, doc="NORMal | AVERage | POSitive | SAMPle | NEGative")
    average_state = Setting(":SENSe:AVERage:STATe", bool)
    average_count = Setting(":SENSe:AVERage:COUNt", int, limits=(1, 10000))
    average_type = Setting(":SENSe:AVERage:TYPE", str, doc="LOG | RMS | SCALar")
    trace_type = Setting(":TRACe1:TYPE", str, doc="WRITe | AVERage | MAXHold | MINHold")
    continuous = Setting(":INITiate:CONTinuous", bool)
    trigger_source = Setting(":TRIGger:SEQuence:SOURce", str)
    data_format = Setting(":FORMat:TRACe:DATA", str, read_only=True)
    byte_order = Setting(":FORMat:BORDer", str, read_only=True)
    measurement = Setting(":CONFigure", str, read_only=True)

    def setup(self) -> None:
        self.session.write("*CLS")
        self.session.write(":INSTrument:SELect SA;:FORMat:TRACe:DATA REAL,32;:FORMat:BORDer SWAPped", check=True)
        self._single = False

    # ------------------------------------------------------------ configuration
    def configure_spectrum(self, center_hz: float, span_hz: float, *, rbw_hz: float | None = None,
                           vbw_hz: float | None = None, points: int | None = None,
                           sweep_time_s: float | None = None, detector: str | None = None,
                           average_type: str | None = None, trace_type: str | None = None,
                           average_count: int | None = None, reference_level_dbm: float | None = None,
                           reference_offset_db: float | None = None, attenuation_db: float | None = None) -> None:
        """Swept spectrum (or zero span with span_hz = 0): `:CONFigure:SANalyzer` presets it, then every
        given setting (None leaves the preset's or auto value). The amplitude settings belong to the mode,
        not the measurement, so the preset would keep whatever an earlier procedure left; they are set
        here every time: reference-level offset (0 dB unless given), reference level (0 dBm at the input
        unless given), attenuation (auto unless given). Each write is checked, so a refused value raises
        naming the setting."""
        self.session.write(":CONFigure:SANalyzer", check=True)
        offset = 0.0 if reference_offset_db is None else float(reference_offset_db)
        self.reference_offset_db = offset
        self.reference_level_dbm = offset if reference_level_dbm is None else reference_level_dbm
        if attenuation_db is None:
            self.attenuation_auto = True
        else:
            self.attenuation_db = attenuation_db
        self.center_hz = center_hz
        self.span_hz = span_hz
        for name, value in (("rbw_hz", rbw_hz), ("vbw_hz", vbw_hz), ("points", points),
                            ("sweep_time_s", sweep_time_s), ("detector", detector), ("average_type", average_type),
                            ("trace_type", trace_type), ("average_count", average_count)):
            if value is not None:
                setattr(self, name, value)

    def configure_zero_span(self, center_hz: float, sweep_time_s: float, *, points: int = 1001,
                            rbw_hz: float = 8e6, vbw_hz: float = 50e6, detector: str = "SAMPle", **kwargs) -> None:
        """Power versus time at one frequency: span 0, the sweep time is the record length."""
        self.configure_spectrum(center_hz, 0.0, rbw_hz=rbw_hz, vbw_hz=vbw_hz, points=points,
                                sweep_time_s=sweep_time_s, detector=detector, **kwargs)

    # ------------------------------------------------------------ sweeping
    def _ensure_single(self) -> None:
        if not getattr(self, "_single", False):
            self.remember("continuous")      # leave_idle() puts the continuous state back
            self._single = True

    def single_sweep(self, timeout_s: float | None = None) -> dict[str, float]:
        """One single sweep (`:AVERage:COUNt` of them with averaging or a hold trace), waited for with
        `*OPC?`; returns what the sweep used (start, stop, span, points, sweep time, RBW, VBW) and the
        instrument's clock at its start (`:SYSTem:PON:TIME?`, s)."""
        self._ensure_single()
        state = self._query_state()
        n = state["average_count"] if state["averaging"] else 1
        timeout = timeout_s or n * state["sweep_time_s"] + SWEEP_MARGIN_S
        reply = self.session.query(":INITiate:CONTinuous OFF;:SYSTem:PON:TIME?;:INITiate:IMMediate;*OPC?",
                                   timeout_s=timeout)
        parts = reply.split(";")
        if len(parts) != 2 or parts[1].strip() not in ("1", "+1"):
            raise TransferError(f"{self.session.where()} answered {reply[:60]!r} to the single sweep "
                                "(expected '<time>;1')")
        state["sweep_start_s"] = float(parts[0])
        return state

    STATE_QUERY = (":SENSe:FREQuency:STARt?;:SENSe:FREQuency:STOP?;:SENSe:FREQuency:SPAN?;:SENSe:SWEep:POINts?;"
                   ":SENSe:SWEep:TIME?;:SENSe:BANDwidth:RESolution?;:SENSe:BANDwidth:VIDeo?;"
                   ":SENSe:AVERage:STATe?;:SENSe:AVERage:COUNt?;:TRACe1:TYPE?;:SENSe:DETector:TRACe1?;"
                   ":SENSe:AVERage:TYPE?;:SENSe:POWer:RF:ATTenuation?;"
                   ":DISPlay:WINDow:TRACe:Y:SCALe:RLEVel:OFFSet?")

    def _query_state(self) -> dict:
        """The settings a trace depends on, in one exchange."""
        reply = self.session.query(self.STATE_QUERY)
        p = [x.strip() for x in reply.split(";")]
        if len(p) != 14:
            raise TransferError(f"{self.session.where()}: {len(p)} answers to the 14 sweep-state queries: {reply[:80]!r}")
        try:
            state = {"start_hz": float(p[0]), "stop_hz": float(p[1]), "span_hz": float(p[2]), "points": int(float(p[3])),
                     "sweep_time_s": float(p[4]), "rbw_hz": float(p[5]), "vbw_hz": float(p[6]),
                     "averaging": p[7] in ("1", "ON") or p[9].upper() != "WRIT", "average_count": int(float(p[8])),
                     "trace_type": p[9], "detector": p[10], "average_type": p[11], "attenuation_db": float(p[12]),
                     "reference_offset_db": float(p[13])}
        except ValueError:
            raise TransferError(f"{self.session.where()}: unreadable sweep state {reply[:80]!r}") from None
        return state

    def sweep(self, trace: int = 1, name: str = "spectrum") -> Capture:
        """A single sweep and its trace: swept spectrum (x in Hz) or zero span (x in s from the sweep's
        start; attrs['sweep_start_s'] places it on the instrument's clock)."""
        state = self.single_sweep()
        return self._trace_capture(trace, state, name)

    def read_trace(self, trace: int = 1, name: str = "spectrum") -> Capture:
        """The trace as it stands (`:TRACe:DATA? TRACE<n>`), without sweeping."""
        return self._trace_capture(trace, self._query_state(), name)

    def _trace_capture(self, trace: int, state: dict, name: str) -> Capture:
        command = f":TRACe:DATA? TRACE{trace}"
        y = self.session.query_block(command, "<f4")
        self._check_points(y.size, state["points"], command)
        return self._capture(name, y, state, trace)

    def _check_points(self, got: int, points: int, command: str) -> None:
        if got != points:
            raise TransferError(f"{self.session.where()} sent {got} points to '{command}' but the sweep has "
                                f"{points} (:SENSe:SWEep:POINts?): the trace is from another sweep setup; "
                                "sweep again before reading it")

    def _capture(self, name: str, y: np.ndarray, state: dict, trace: int) -> Capture:
        points = state["points"]
        zero_span = state["span_hz"] == 0
        if zero_span:
            x0, dx, x_unit = 0.0, state["sweep_time_s"] / max(points - 1, 1), "s"
        else:
            x0, dx, x_unit = state["start_hz"], (state["stop_hz"] - state["start_hz"]) / max(points - 1, 1), "Hz"
        settings = {k: v for k, v in state.items() if k != "sweep_start_s"}
        settings.update({"trace": trace, "zero_span": zero_span,
                         "center_hz": 0.5 * (state["start_hz"] + state["stop_hz"])})
        attrs = {"sweep_start_s": state["sweep_start_s"]} if "sweep_start_s" in state else {}
        return Capture(name=name, data=np.asarray(y, dtype=np.float32), x0=x0, dx=dx, x_unit=x_unit, y_unit="dBm",
                       instrument=self.idn.strip(), settings=settings, attrs=attrs)

    def read_xy(self, trace: int = 1, name: str = "spectrum") -> Capture:
        """`:READ:SANalyzer<n>?`: a fresh sweep sent as x,y pairs. The x values (float32: 256 Hz steps
        near 2.4 GHz) are checked against the sweep's axis; the capture keeps the exact axis."""
        self._ensure_single()
        state = self._query_state()
        n = state["average_count"] if state["averaging"] else 1
        command = f":READ:SANalyzer{trace}?"
        self.session.write(":INITiate:CONTinuous OFF", check=True)
        xy = self.session.query_block(command, "<f4", timeout_s=n * state["sweep_time_s"] + SWEEP_MARGIN_S)
        if xy.size % 2:
            raise TransferError(f"{self.session.where()} sent {xy.size} values to '{command}': not x,y pairs")
        self._check_points(xy.size // 2, state["points"], command)
        capture = self._capture(name, xy[1::2], state, trace)
        expected = capture.x()
        x = xy[0::2].astype(np.float64)
        tolerance = 4.0 * np.finfo(np.float32).eps * np.max(np.abs(expected)) + 1e-12
        if not np.all(np.abs(x - expected) <= tolerance):
            worst = int(np.argmax(np.abs(x - expected)))
            raise TransferError(f"{self.session.where()}: '{command}' x values do not follow the sweep's axis "
                                f"(point {worst}: {x[worst]:.9g} instead of {expected[worst]:.9g})")
        return capture

    # ------------------------------------------------------------ markers
    def marker_peak(self, marker: int = 1) -> tuple[float, float]:
        """Marker to the highest point; returns (x, y)."""
        self.session.write(f":CALCulate:MARKer{marker}:MAXimum", check=True)
        return self.marker(marker)

    def marker_next_peak(self, marker: int = 1, direction: str = "NEXT") -> tuple[float, float]:
        """Next lower peak (NEXT) or the next peak LEFT / RIGHt of the marker."""
        self.session.write(f":CALCulate:MARKer{marker}:MAXimum:{direction}", check=True)
        return self.marker(marker)

    def set_marker(self, marker: int, x: float, mode: str = "POSition") -> tuple[float, float]:
        self.session.write(f":CALCulate:MARKer{marker}:MODE {mode};:CALCulate:MARKer{marker}:X {x!r}", check=True)
        return self.marker(marker)

    def marker(self, marker: int = 1) -> tuple[float, float]:
        """(x, y) of a marker; (NaN, NaN) when it is off."""
        reply = self.session.query(f":CALCulate:MARKer{marker}:X?;:CALCulate:MARKer{marker}:Y?")
        try:
            x, y = (float(v) for v in reply.split(";"))
        except ValueError:
            raise TransferError(f"{self.session.where()}: unreadable marker {marker} reply {reply[:60]!r}") from None
        return _nan(x), _nan(y)

    def markers_off(self) -> None:
        self.session.write(":CALCulate:MARKer:AOFF", check=True)

    # ------------------------------------------------------------ measurements
    def _read_values(self, command: str, timeout_s: float = 60.0) -> np.ndarray:
        values = self.session.query_block(command, "<f4", timeout_s=timeout_s).astype(np.float64)
        values[np.abs(values) >= INVALID] = np.nan
        return values

    def _configure(self, measurement: str, commands: list[str]) -> None:
        self._ensure_single()
        self.session.write(f":INITiate:CONTinuous OFF;:CONFigure:{measurement}", check=True)
        if commands:
            try:
                self.session.write(";".join(commands), check=True)
            except ScpiError as exc:
                raise ScpiError(f"{measurement} setup ({'; '.join(commands)}): {exc}") from None

    def back_to_spectrum(self) -> None:
        """The swept spectrum again with its own settings kept (`:CONFigure:SANalyzer:NDEFault`)."""
        self.session.write(":CONFigure:SANalyzer:NDEFault", check=True)

    def channel_power(self, center_hz: float, integration_bw_hz: float, *, span_hz: float | None = None,
                      rbw_hz: float | None = None, average_count: int = 10) -> ChannelPowerResult:
        """`:CONFigure:CHPower`, integration bandwidth, span (1.5 x the integration bandwidth unless given),
        `:READ:CHPower?` -> power (dBm) and density (dBm/Hz)."""
        span = span_hz or 1.5 * integration_bw_hz
        commands = [f":SENSe:FREQuency:CENTer {center_hz!r}", f":SENSe:CHPower:BANDwidth:INTegration {integration_bw_hz!r}",
                    f":SENSe:CHPower:FREQuency:SPAN {span!r}", f":SENSe:CHPower:AVERage:COUNt {average_count}",
                    ":SENSe:CHPower:AVERage:STATe ON"]
        if rbw_hz:
            commands.append(f":SENSe:CHPower:BANDwidth:RESolution {rbw_hz!r}")
        self._configure("CHPower", commands)
        values = self._read_values(":READ:CHPower?")
        if values.size < 2:
            raise TransferError(f"{self.session.where()}: ':READ:CHPower?' sent {values.size} values, expected 2")
        return ChannelPowerResult(float(values[0]), float(values[1]), float(integration_bw_hz), float(center_hz))

    def occupied_bandwidth(self, center_hz: float, span_hz: float, *, percent: float = 99.0, xdb_db: float = -26.0,
                           rbw_hz: float | None = None, average_count: int = 10) -> ObwResult:
        """`:CONFigure:OBWidth`: power-percentage bandwidth over the span (standards.md §4)."""
        commands = [f":SENSe:FREQuency:CENTer {center_hz!r}", f":SENSe:OBWidth:FREQuency:SPAN {span_hz!r}",
                    f":SENSe:OBWidth:PERCent {percent!r}", f":SENSe:OBWidth:XDB {xdb_db!r}",
                    f":SENSe:OBWidth:AVERage:COUNt {average_count}", ":SENSe:OBWidth:AVERage:STATe ON"]
        if rbw_hz:
            commands.append(f":SENSe:OBWidth:BANDwidth:RESolution {rbw_hz!r}")
        self._configure("OBWidth", commands)
        v = self._read_values(":READ:OBWidth?")
        if v.size < 4:
            raise TransferError(f"{self.session.where()}: ':READ:OBWidth?' sent {v.size} values, expected 4")
        return ObwResult(float(v[0]), float(v[1]), float(v[2]), float(v[3]), percent, xdb_db, span_hz, center_hz)

    def acp(self, center_hz: float, carrier_bw_hz: float, offsets_hz, offset_bw_hz, *, rbw_hz: float | None = None,
            average_count: int = 10) -> AcpResult:
        """`:CONFigure:ACPower` with up to six offsets (each with its own integration bandwidth)."""
        offsets = [float(o) for o in np.atleast_1d(offsets_hz)]
        bws = [float(b) for b in np.broadcast_to(np.atleast_1d(offset_bw_hz), (len(offsets),))]
        if not 1 <= len(offsets) <= ACP_OFFSETS:
            raise InstrumentError(f"{self.model} ACP takes 1 to {ACP_OFFSETS} offsets, not {len(offsets)}")
        states = [1] * len(offsets) + [0] * (ACP_OFFSETS - len(offsets))
        commands = [f":SENSe:FREQuency:CENTer {center_hz!r}",
                    f":SENSe:ACPower:CARRier:LIST:BANDwidth:INTegration {carrier_bw_hz!r}",
                    ":SENSe:ACPower:OFFSet:LIST:FREQuency " + ",".join(repr(o) for o in offsets),
                    ":SENSe:ACPower:OFFSet:LIST:BANDwidth:INTegration " + ",".join(repr(b) for b in bws),
                    ":SENSe:ACPower:OFFSet:LIST:STATe " + ",".join(str(s) for s in states),
                    f":SENSe:ACPower:AVERage:COUNt {average_count}", ":SENSe:ACPower:AVERage:STATe ON"]
        if rbw_hz:
            commands.append(f":SENSe:ACPower:BANDwidth:RESolution {rbw_hz!r}")
        self._configure("ACPower", commands)
        v = self._read_values(":READ:ACPower?")
        if v.size < 1 + 4 * len(offsets):
            raise TransferError(f"{self.session.where()}: ':READ:ACPower?' sent {v.size} values, expected "
                                f"{1 + 4 * ACP_OFFSETS}")
        per = v[1:1 + 4 * len(offsets)].reshape(len(offsets), 4)
        return AcpResult(float(v[0]), float(carrier_bw_hz), tuple(offsets), tuple(bws), tuple(per[:, 0]),
                         tuple(per[:, 1]), tuple(per[:, 2]), tuple(per[:, 3]))

    def power_statistics(self, center_hz: float, bandwidth_hz: float, counts: int = 1_000_000) -> PowerStatistics:
        """`:CONFigure:PSTatistic`, information bandwidth and sample count; `:READ:PSTatistic1?` scalars,
        then `:FETCh:PSTatistic2?` / `3?` (the measured and the Gaussian CCDF traces of the same result)."""
        self._configure("PSTatistic", [f":SENSe:FREQuency:CENTer {center_hz!r}",
                                       f":SENSe:PSTatistic:BANDwidth {bandwidth_hz!r}",
                                       f":SENSe:PSTatistic:COUNts {int(counts)}"])
        scalars = self._read_values(":READ:PSTatistic1?", timeout_s=60.0 + counts / 1e6)
        if scalars.size < 9:
            raise TransferError(f"{self.session.where()}: ':READ:PSTatistic1?' sent {scalars.size} values, expected 10")
        measured = self._read_values(":FETCh:PSTatistic2?")
        gaussian = self._read_values(":FETCh:PSTatistic3?")
        for what, trace in (("PSTatistic2", measured), ("PSTatistic3", gaussian)):
            if trace.size != PSTAT_TRACE_DB.size:
                raise TransferError(f"{self.session.where()}: ':FETCh:{what}?' sent {trace.size} points, "
                                    f"expected {PSTAT_TRACE_DB.size} (0 to 50 dB in 0.1 dB)")
        count = int(scalars[9]) if scalars.size > 9 and np.isfinite(scalars[9]) else int(counts)
        return PowerStatistics(
            avg_power_dbm=float(scalars[0]), prob_at_avg=float(scalars[1]) / 100.0,
            levels_db={p: float(v) for p, v in zip(PSTAT_PROBABILITIES, scalars[2:8])},
            peak_db=float(scalars[8]), sample_count=count, bandwidth_hz=float(bandwidth_hz),
            x_db=PSTAT_TRACE_DB.copy(), probability=measured / 100.0, gaussian_probability=gaussian / 100.0)

    # ------------------------------------------------------------ the rest
    def instrument_time_s(self) -> float:
        """Seconds since power-on (`:SYSTem:PON:TIME?`)."""
        return self.session.query_float(":SYSTem:PON:TIME?")

    def settings(self) -> dict:
        return settings_of(self)

    def make_idle(self) -> None:
        self.session.write(":ABORt")


__all__ = ["N9030B", "ChannelPowerResult", "ObwResult", "AcpResult", "PowerStatistics"]

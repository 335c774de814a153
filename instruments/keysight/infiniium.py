"""The classic Infiniium command tree, shared by the DSAZ334A and the MSOS604A (scpi.md §1-2)."""
from __future__ import annotations

import math

from labbench.capture import Capture
from labbench.errors import InstrumentError, TransferError
from labbench.instruments.base import Instrument, Setting, settings_of
from labbench.instruments.keysight.infiniium_wire import (
    WORD_CLIP_HIGH,
    WORD_CLIP_LOW,
    WORD_HOLE_CODE,
    X_UNITS,
    Y_UNITS,
    adc_resolution,
    parse_preamble,
)


class InfiniiumChannel:
    """One analog input: `scope.channel(1).scale_v = 0.05`."""

    scale_v = Setting(":CHANnel{ch}:SCALe", float, unit="V/div")
    offset_v = Setting(":CHANnel{ch}:OFFSet", float, unit="V")
    range_v = Setting(":CHANnel{ch}:RANGe", float, unit="V")
    input = Setting(":CHANnel{ch}:INPut", str)
    display = Setting(":CHANnel{ch}:DISPlay", bool)
    bw_limit = Setting(":CHANnel{ch}:BWLimit", bool, doc="the channel's bandwidth-limit filter (scpi.md §2, I)")

    def __init__(self, scope: "Infiniium", index: int):
        self.scope, self.index, self.session = scope, index, scope.session

    def settings(self) -> dict:
        return settings_of(self)


class Infiniium(Instrument):
    """Keysight Infiniium oscilloscopes (classic command tree; `:SYSTem:ERRor? STRing` for text)."""

    error_query = ":SYSTem:ERRor? STRing"
    channels = 4
    channel_class = InfiniiumChannel      # a model with other channel ranges declares its own

    timebase_scale_s = Setting(":TIMebase:SCALe", float, unit="s/div")
    timebase_position_s = Setting(":TIMebase:POSition", float, unit="s")
    timebase_reference = Setting(":TIMebase:REFerence", str)
    sample_rate_sa_s = Setting(":ACQuire:SRATe:ANALog", float, unit="Sa/s")
    points = Setting(":ACQuire:POINts:ANALog", int, unit="pts")
    acquire_mode = Setting(":ACQuire:MODE", str)
    bandwidth_hz = Setting(":ACQuire:BANDwidth", float, unit="Hz")
    trigger_mode = Setting(":TRIGger:MODE", str)
    trigger_source = Setting(":TRIGger:EDGE:SOURce", str)
    trigger_slope = Setting(":TRIGger:EDGE:SLOPe", str)
    trigger_sweep = Setting(":TRIGger:SWEep", str)
    waveform_format = Setting(":WAVeform:FORMat", str)
    waveform_byte_order = Setting(":WAVeform:BYTeorder", str)
    waveform_streaming = Setting(":WAVeform:STReaming", bool)
    color_grade = Setting(":DISPlay:CGRade", bool)
    run_state = Setting(":RSTate", str, read_only=True)

    def setup(self) -> None:
        self.session.write("*CLS")
        self.session.write(":SYSTem:HEADer OFF;:WAVeform:FORMat WORD;:WAVeform:BYTeorder LSBFirst;"
                           ":WAVeform:STReaming OFF", check=True)

    def channel(self, index: int) -> InfiniiumChannel:
        if not 1 <= index <= self.channels:
            raise InstrumentError(f"{self.model} has channels 1-{self.channels}, not {index}")
        return self.channel_class(self, index)

    @property
    def adc_bits(self) -> int:
        """Resolution of the model's ADC (infiniium_wire.ADC_BITS)."""
        return adc_resolution(self.model).bits

    def settings(self) -> dict:
        out = settings_of(self)
        for ch in range(1, self.channels + 1):
            out.update({f"channel{ch}.{k}": v for k, v in self.channel(ch).settings().items()})
        out["trigger_level_v"] = self.trigger_level_v()
        return out

    # ------------------------------------------------------------ trigger
    def set_trigger_level(self, channel: int, level_v: float) -> None:
        self.session.write(f":TRIGger:LEVel CHANnel{channel},{level_v!r}", check=True)

    def trigger_level_v(self, channel: int | None = None) -> float:
        src = f"CHANnel{channel}" if channel else self.trigger_source
        return self.session.query_float(f":TRIGger:LEVel? {src}")

    def edge_trigger(self, channel: int, level_v: float, slope: str = "POSitive") -> None:
        self.session.write(f":TRIGger:MODE EDGE;:TRIGger:EDGE:SOURce CHANnel{channel};"
                           f":TRIGger:EDGE:SLOPe {slope}", check=True)
        self.set_trigger_level(channel, level_v)

    # ------------------------------------------------------------ acquisition
    def acquisition_time_s(self) -> float:
        """How long one acquisition takes at the current settings (record length + trigger wait)."""
        return self.points / self.sample_rate_sa_s

    def digitize(self, channel: int, timeout_s: float | None = None) -> None:
        """`:DIGitize` one channel and wait for it with `*OPC?` (no transfer: the scope's own
        measurements and math functions then work on it)."""
        self.session.write(f":DIGitize CHANnel{channel}")
        self.session.wait_complete(timeout_s=timeout_s or self.acquisition_time_s() + 10.0)
        self.session.check_errors(f":DIGitize CHANnel{channel}")   # a refused acquisition says why here

    def acquire(self, channel: int, timeout_s: float | None = None) -> Capture:
        """`:DIGitize` one channel, wait for it with `*OPC?`, transfer it as WORD."""
        self.digitize(channel, timeout_s)
        capture = self.read_waveform(f"CHANnel{channel}")
        self.session.write(f":CHANnel{channel}:DISPlay ON")   # :DIGitize turned the others off
        return capture

    def read_waveform(self, source: str, name: str | None = None) -> Capture:
        """Transfer the source's record: preamble + WORD block into a Capture of int16 codes."""
        where = f"{self.session.where()}, {source}: "
        self.session.write(f":WAVeform:SOURce {source}", check=True)
        preamble = parse_preamble(self.session.query(":WAVeform:PREamble?"), where)
        if preamble.format != 2:
            raise TransferError(f"{where}preamble says format {preamble.format}, expected 2 (WORD)")
        if preamble.points <= 0:
            raise TransferError(f"{where}no data (preamble points = {preamble.points}); acquire first")
        codes = self.session.query_block(":WAVeform:DATA?", "<i2", expected_items=preamble.points,
                                         timeout_s=max(self.session.timeout_s, preamble.points * 2 / 20e6))
        self.session.check_errors(":WAVeform:DATA?")
        x0 = preamble.x_origin - preamble.x_reference * preamble.x_increment
        analog = source.upper().startswith("CHAN")     # ADC saturation applies to channels, not to math
        return Capture(
            name=name or source.lower(), data=codes, x0=x0, dx=preamble.x_increment,
            x_unit=X_UNITS.get(preamble.x_units, "") or "s", y_unit=Y_UNITS.get(preamble.y_units, ""),
            y_increment=preamble.y_increment, y_origin=preamble.y_origin, y_reference=preamble.y_reference,
            hole_code=WORD_HOLE_CODE, clip_low=WORD_CLIP_LOW if analog else None,
            clip_high=WORD_CLIP_HIGH if analog else None, instrument=self.idn,
            settings={"preamble": preamble.__dict__, "source": source},
        )

    # ------------------------------------------------------------ the scope's own measurements
    def measure(self, name: str, *args: str) -> float:
        """A `:MEASure:<name>? <args>` scalar; NaN where the scope says it cannot measure (9.9E37)."""
        return self.session.query_float(f":MEASure:{name}? {','.join(args)}".rstrip())

    def vpp_v(self, source: str) -> float:
        return self.measure("VPP", source)

    def vrms_v(self, source: str, *, ac: bool = True, window: str = "DISPlay") -> float:
        """`:MEASure:VRMS? {DISPlay|CYCLe},{AC|DC},<src>` (P90k-634): AC is the standard deviation."""
        return self.measure("VRMS", window, "AC" if ac else "DC", source)

    def vaverage_v(self, source: str, *, window: str = "DISPlay") -> float:
        return self.measure("VAVerage", window, source)

    def rise_time_s(self, source: str) -> float:
        return self.measure("RISetime", source)

    def fall_time_s(self, source: str) -> float:
        return self.measure("FALLtime", source)

    def frequency_hz(self, source: str) -> float:
        return self.measure("FREQuency", source)

    # ------------------------------------------------------------ FFT math functions (scpi.md §2)
    def fft_magnitude(self, function: int, source: str, *, stop_hz: float | None = None,
                      window: str | None = None, units: str | None = None) -> None:
        """Define `:FUNCtion<F>:FFTMagnitude <source>` (0 Hz to stop_hz, or to fs/2 when None)."""
        commands = [f":FUNCtion{function}:FFTMagnitude {source}"]
        if window:
            commands.append(f":FUNCtion{function}:FFT:WINDow {window}")
        if units:
            commands.append(f":FUNCtion{function}:FFT:VUNits {units}")
        if stop_hz:
            commands.append(f":FUNCtion{function}:FFT:STOP {stop_hz!r}")
        commands.append(f":FUNCtion{function}:DISPlay ON")
        self.session.write(";".join(commands), check=True)

    def fft_resolution_hz(self, function: int) -> float:
        return self.session.query_float(f":FUNCtion{function}:FFT:RESolution?")

    def read_fft(self, function: int, name: str | None = None) -> Capture:
        """The FFT function's result: x in Hz, y in the function's vertical units (dB codes)."""
        definition = self.session.query(f":FUNCtion{function}?").strip().strip('"')
        if not definition:
            raise InstrumentError(f"{self.session.where()}: FUNCtion{function} is not defined; "
                                  f"call fft_magnitude({function}, <source>) first")
        capture = self.read_waveform(f"FUNCtion{function}", name=name)
        units = self.session.query(f":FUNCtion{function}:FFT:VUNits?").strip().upper()
        capture.y_unit = {"DBM": "dBm", "DBUV": "dBuV"}.get(units, capture.y_unit)
        capture.x_unit = "Hz"
        capture.settings["fft"] = {"units": units, "window": self.session.query(f":FUNCtion{function}:FFT:WINDow?").strip()}
        return capture

    def make_idle(self) -> None:
        self.session.write(":STOP")


def finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else float("nan")

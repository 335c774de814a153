"""Keysight CX3324A device current waveform analyzer: 4 channels, up to 1 GSa/s, 14/16 bit.

Every command comes from the shared table in ``cx3300_dialect``. The IEEE 488.2 common commands and
``:SYSTem:ERRor?`` are CONFIRMED: IEEE 488.2 and SCPI-99 require them of every instrument. All the
others are PROVISIONAL, the "cx3300-provisional" dialect of scpi.md §4, because no CX3300
programming guide was found. That covers acquisition, channels and sensors, trigger, waveform
transfer, ``:MEASure:CURRent`` and ``:ANALysis:CCDF``. Check them against the Keysight *CX3300
Series Programming Guide* before trusting a real instrument's answers. A correction goes into the
dialect table and reaches this driver and the simulator both. ``COMMAND_STATUS`` lists each
command's status; every capture's settings name the dialect it was read with.

Captures keep the samples exactly as sent. A seamless channel sends REAL,32 amperes: y_increment 1,
y_origin 0, because no single scale covers both paths. A fixed range sends WORD codes, with the
preamble's scale and offset. The ADC ends become the Capture's clip codes, so a range too small for
the signal shows in the capture itself.
"""
from __future__ import annotations

import numpy as np

from labbench.capture import Capture
from labbench.errors import InstrumentError, TransferError
from labbench.instruments.base import Instrument, Setting, settings_of
from labbench.instruments.keysight import cx3300_dialect as D

H = D.header
COMMAND_STATUS = {key: cmd.status for key, cmd in D.COMMANDS.items()}


class CX3300Channel:
    """One input and its sensor: ``cx.channel(1).range_a = 0.1``."""

    range_a = Setting(H("channel_range", "{ch}"), float, unit="A", doc="full scale; the instrument rounds up")
    seamless = Setting(H("channel_seamless", "{ch}"), bool, doc="dual-path sensor: low path for small currents")
    display = Setting(H("channel_display", "{ch}"), bool)
    sensor = Setting(H("channel_sensor", "{ch}"), str, read_only=True, doc="sensor model, NONE if absent")

    def __init__(self, analyzer: "CX3324A", index: int):
        self.analyzer, self.index, self.session = analyzer, index, analyzer.session

    def settings(self) -> dict:
        return settings_of(self)


class CX3324A(Instrument):
    """Keysight CX3324A device current waveform analyzer (provisional CX3300 dialect)."""

    model = D.MODEL
    channels = D.N_CHANNELS
    error_query = H("error") + "?"

    sample_rate_sa_s = Setting(H("sample_rate"), float, unit="Sa/s",
                               limits=(D.MIN_SAMPLE_RATE_SA_S, D.MAX_SAMPLE_RATE_SA_S))
    points = Setting(H("points"), int, unit="pts", limits=(D.MIN_POINTS, D.MAX_POINTS))
    resolution_bits = Setting(H("resolution"), int, unit="bit", limits=(14, 16))
    trigger_source = Setting(H("trigger_source"), str)
    trigger_level_a = Setting(H("trigger_level"), float, unit="A")
    trigger_slope = Setting(H("trigger_slope"), str)
    trigger_sweep = Setting(H("trigger_sweep"), str)
    waveform_format = Setting(H("waveform_format"), str)
    waveform_byte_order = Setting(H("waveform_byte_order"), str)

    def setup(self) -> None:
        self.session.write(H("cls"))
        self.session.write(f"{H('waveform_byte_order')} LSBFirst", check=True)

    def channel(self, index: int) -> CX3300Channel:
        if not 1 <= index <= self.channels:
            raise InstrumentError(f"{self.model} has channels 1-{self.channels}, not {index}")
        return CX3300Channel(self, index)

    def settings(self) -> dict:
        out = settings_of(self)
        for ch in range(1, self.channels + 1):
            out.update({f"channel{ch}.{k}": v for k, v in self.channel(ch).settings().items()})
        out["dialect"] = D.DIALECT
        return out

    # ------------------------------------------------------------ setup
    def setup_current_capture(self, channel: int, *, sample_rate_sa_s: float, points: int, range_a: float,
                              seamless: bool = True, resolution_bits: int = 16, trigger_level_a: float = 1e-3,
                              trigger_slope: str = "POSitive", sweep: str = "TRIGgered") -> None:
        """One channel ready for a triggered current record. The range is the full scale the signal
        must stay inside (the instrument rounds it up to its next range). The trigger fires on the
        channel's own current crossing trigger_level_a."""
        ch = self.channel(channel)
        if ch.sensor.upper() in ("", "NONE"):
            raise InstrumentError(f"{self.session.where()}: no current sensor on channel {channel}")
        ch.display = True
        ch.seamless = seamless
        ch.range_a = range_a
        # 16 bit allows only the lower rates: change the rate and the resolution in an order that
        # never passes through a forbidden pair
        if resolution_bits == 16:
            self.sample_rate_sa_s = sample_rate_sa_s
            self.resolution_bits = resolution_bits
        else:
            self.resolution_bits = resolution_bits
            self.sample_rate_sa_s = sample_rate_sa_s
        self.points = points
        self.trigger_source = f"CHANnel{channel}"
        self.trigger_level_a = trigger_level_a
        self.trigger_slope = trigger_slope
        self.trigger_sweep = sweep

    # ------------------------------------------------------------ acquisition
    def acquisition_time_s(self) -> float:
        """The record's length in time (the wait for the trigger comes on top)."""
        return self.points / self.sample_rate_sa_s

    def acquire(self, channel: int, *, trigger_timeout_s: float = 120.0, name: str | None = None) -> Capture:
        """`:DIGitize` one channel, wait for it with `*OPC?` (the record plus trigger_timeout_s), read
        it back. An instrument error (e.g. no trigger) raises with the instrument's own text."""
        command = f"{H('digitize')} CHANnel{channel}"
        self.session.write(command)
        self.session.wait_complete(timeout_s=self.acquisition_time_s() + trigger_timeout_s)
        self.session.check_errors(command)
        capture = self.read_waveform(channel, name=name)
        self.channel(channel).display = True      # :DIGitize CHANnel<N> turned the others off
        return capture

    def read_waveform(self, channel: int, name: str | None = None) -> Capture:
        """Transfer the channel's record: REAL,32 when seamless, WORD otherwise, into a Capture."""
        ch = self.channel(channel)
        seamless, range_a, bits = ch.seamless, ch.range_a, self.resolution_bits
        source = f"CHANnel{channel}"
        where = f"{self.session.where()}, {source}: "
        fmt = "REAL,32" if seamless else "WORD"
        self.session.write(f"{H('waveform_source')} {source};{H('waveform_format')} {fmt}", check=True)
        preamble = D.parse_preamble(self.session.query(f"{H('waveform_preamble')}?"), where)
        expected = D.FORMAT_REAL if seamless else D.FORMAT_WORD
        if preamble.format != expected:
            raise TransferError(f"{where}preamble says format {preamble.format}, expected {expected} ({fmt})")
        if preamble.points <= 0:
            raise TransferError(f"{where}no data (preamble points = {preamble.points}); acquire first")
        if preamble.y_units != D.Y_UNITS_AMPERE:
            raise TransferError(f"{where}preamble y units {preamble.y_units}, expected {D.Y_UNITS_AMPERE} (A)")
        dtype = np.dtype(D.REAL_DTYPES["LSBF"] if seamless else D.WORD_DTYPES["LSBF"])
        data = self.session.query_block(f"{H('waveform_data')}?", dtype, expected_items=preamble.points,
                                        timeout_s=max(self.session.timeout_s, preamble.points * dtype.itemsize / 20e6))
        self.session.check_errors(f"{H('waveform_data')}?")
        clip_a = D.clip_limits_a(range_a, bits)
        if seamless:
            clip_low, clip_high = (float(np.float32(v)) for v in clip_a)
        else:
            clip_low, clip_high = D.word_clip_codes(bits)
        x0 = preamble.x_origin - preamble.x_reference * preamble.x_increment
        return Capture(
            name=name or source.lower(), data=data, x0=x0, dx=preamble.x_increment, x_unit="s", y_unit="A",
            y_increment=preamble.y_increment, y_origin=preamble.y_origin, y_reference=preamble.y_reference,
            hole_code=None, clip_low=clip_low, clip_high=clip_high, instrument=self.idn,
            settings={"preamble": preamble.__dict__, "source": source, "range_a": range_a, "seamless": seamless,
                      "resolution_bits": bits, "sensor": ch.sensor, "dialect": D.DIALECT},
            attrs={"clip_limits_a": clip_a},
        )

    # ------------------------------------------------------------ the instrument's own measurements
    def measure_current_a(self, kind: str, channel: int) -> float:
        """`:MEASure:CURRent:<kind>? CHANnel<N>` for kind in MEAN, RMS, MAX, MIN, PP; NaN when the
        instrument cannot measure (9.9E37)."""
        kind = kind.upper()
        if kind not in D.MEASUREMENTS:
            raise InstrumentError(f"{self.model}: no current measurement {kind!r}; valid: {', '.join(D.MEASUREMENTS)}")
        return self.session.query_float(f"{H('measure_' + kind.lower())}? CHANnel{channel}")

    def current_measurements(self, channel: int) -> dict[str, float]:
        """Every `:MEASure:CURRent` result of the channel's last record, in A."""
        return {f"{kind.lower()}_a": self.measure_current_a(kind, channel) for kind in D.MEASUREMENTS}

    def ccdf_data(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """The instrument's CCDF of the channel's last record: (level_a, fraction of samples at or above)."""
        pairs = self.session.query_block(f"{H('ccdf_data')}? CHANnel{channel}", D.REAL_DTYPES["LSBF"])
        if pairs.size % 2:
            raise TransferError(f"{self.session.where()}: CCDF block of {pairs.size} values is not (level, fraction) pairs")
        pairs = pairs.astype(np.float64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def make_idle(self) -> None:
        self.session.write(H("stop"))

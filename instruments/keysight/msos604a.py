"""Keysight Infiniium MSOS604A (S-series, 6 GHz, 20 GSa/s, 10-bit ADC) as a power-rail noise analyser
with the N7020A power-rail probe (scpi.md §2; the Infiniium command tree is shared with the DSAZ334A)."""
from __future__ import annotations

from labbench.capture import Capture
from labbench.instruments.base import Setting
from labbench.instruments.keysight.infiniium import Infiniium, InfiniiumChannel

RIPPLE_BANDWIDTH_HZ = 20e6       # the usual ripple measurement bandwidth (standards.md §6)


class MSOS604AChannel(InfiniiumChannel):
    """A 50-ohm input behind the N7020A: 1 mV/div to 1 V/div, offset +-24 V (the probe's range, I)."""

    scale_v = Setting(":CHANnel{ch}:SCALe", float, unit="V/div", limits=(1e-3, 1.0))
    offset_v = Setting(":CHANnel{ch}:OFFSet", float, unit="V", limits=(-24.0, 24.0))
    probe_id = Setting(":CHANnel{ch}:PROBe:ID", str, read_only=True)


class MSOS604A(Infiniium):
    """Keysight Infiniium MSOS604A, 6 GHz, 20 GSa/s, 10-bit ADC sent as WORD."""

    model = "MSOS604A"
    channel_class = MSOS604AChannel
    timebase_scale_s = Setting(":TIMebase:SCALe", float, unit="s/div", limits=(5e-12, 20.0))
    sample_rate_sa_s = Setting(":ACQuire:SRATe:ANALog", float, unit="Sa/s", limits=(10.0, 20e9))
    bandwidth_hz = Setting(":ACQuire:BANDwidth", float, unit="Hz", limits=(1e6, 6e9))

    def setup_rail_capture(self, channel: int, *, offset_v: float, scale_v: float,
                           bandwidth_hz: float = RIPPLE_BANDWIDTH_HZ, sample_rate_sa_s: float = 200e6,
                           points: int = 2_000_000, pretrigger_s: float = 0.0) -> None:
        """A rail on screen: 50-ohm input, offset at the rail, scale V/div, the ripple bandwidth limit,
        real-time sampling; the record starts pretrigger_s before the trigger (timebase reference LEFT)."""
        ch = self.channel(channel)
        ch.input = "DC50"
        ch.offset_v = offset_v
        ch.scale_v = scale_v
        self.bandwidth_hz = bandwidth_hz
        self.acquire_mode = "RTIMe"
        self.sample_rate_sa_s = sample_rate_sa_s
        self.points = points
        self.timebase_reference = "LEFT"
        self.timebase_scale_s = points / sample_rate_sa_s / 10.0
        self.timebase_position_s = -pretrigger_s

    def set_vertical(self, channel: int, *, offset_v: float, scale_v: float) -> None:
        ch = self.channel(channel)
        ch.offset_v = offset_v
        ch.scale_v = scale_v

    def trigger_on_rail(self, channel: int, level_v: float | None, slope: str = "NEGative") -> None:
        """Edge trigger on the rail (a load-step dip crosses a level below the ripple); None: free-running
        (auto sweep) for a capture at any moment."""
        if level_v is None:
            self.trigger_sweep = "AUTO"
            return
        self.edge_trigger(channel, level_v, slope)
        self.trigger_sweep = "TRIGgered"

    def triggered(self) -> bool:
        """`:TER?`: whether the last acquisition triggered (rather than auto-triggered); clears it."""
        return self.session.query(":TER?").strip() in ("1", "+1")

    def vrms_ac_v(self, source: str) -> float:
        """The scope's AC RMS over the display: `:MEASure:VRMS? DISPlay,AC,<src>`."""
        return self.vrms_v(source, ac=True)

    def rail_fft(self, function: int, channel: int, *, stop_hz: float = RIPPLE_BANDWIDTH_HZ,
                 window: str = "HANNing") -> Capture:
        """The scope's FFT magnitude of the channel in dBuV (`:FUNCtion<F>:FFTMagnitude`), 0 to stop_hz,
        read back with x in Hz."""
        self.fft_magnitude(function, f"CHANnel{channel}", stop_hz=stop_hz, window=window, units="DBUV")
        capture = self.read_fft(function, name="fft")
        capture.attrs["resolution_hz"] = self.fft_resolution_hz(function)
        return capture

"""Keysight Infiniium DSAZ334A, 33 GHz real-time oscilloscope with EZJIT and serial data analysis."""
from __future__ import annotations

from labbench.instruments.base import Setting
from labbench.instruments.keysight.infiniium import Infiniium

# EZJIT / eye query forms, scpi.md §1 (S: seen in a source, I: inferred)
RJDJ_SETUP = (":MEASure:RJDJ:SOURce {src};:MEASure:RJDJ:STATe ON;:MEASure:RJDJ:BER {ber};"
              ":MEASure:RJDJ:UNITs SECond")


def ber_mnemonic(ber: float) -> str:
    """`:MEASure:RJDJ:BER` takes E<n> mnemonics (E12 for 1e-12)."""
    import math
    return f"E{round(-math.log10(ber))}"


class DSAZ334A(Infiniium):
    """Keysight Infiniium DSAZ334A, 33 GHz, 80 GSa/s on two channels."""

    model = "DSAZ334A"
    timebase_scale_s = Setting(":TIMebase:SCALe", float, unit="s/div", limits=(2e-12, 20.0))
    sample_rate_sa_s = Setting(":ACQuire:SRATe:ANALog", float, unit="Sa/s", limits=(10.0, 80e9))

    def setup_serial_capture(self, channel: int, *, amplitude_v: float, rate_bps: float, points: int,
                             sample_rate_sa_s: float = 80e9) -> None:
        """Configure for a serial-data eye: 50-ohm input, the signal over ~6 of 8 divisions, max rate.
        The colour-grade display is put back as it was when the instrument is left idle."""
        self.remember("color_grade")
        ch = self.channel(channel)
        ch.input = "DC50"
        ch.scale_v = max(amplitude_v / 6.0, 1e-3)
        ch.offset_v = 0.0
        self.acquire_mode = "RTIMe"
        self.sample_rate_sa_s = sample_rate_sa_s
        self.points = points
        self.timebase_scale_s = max(points / sample_rate_sa_s / 10.0, 2e-12)
        self.edge_trigger(channel, 0.0)
        self.color_grade = True

    def data_rate_bps(self, source: str) -> float:
        return self.measure("DATarate", source)

    def eye_height_v(self) -> float:
        return self.measure("CGRade:EHEight")

    def eye_width_s(self) -> float:
        return self.measure("CGRade:EWIDth")

    def tie_rms_s(self, source: str) -> float:
        """`:MEASure:TIEData` with a constant-frequency clock, as EZJIT's default."""
        self.session.write(f":MEASure:TIEData {source},SECond,AUTO", check=True)
        return self.measure("TIEData", source, "SECond", "AUTO")

    def rjdj(self, source: str, ber: float = 1e-12) -> dict[str, float]:
        """TJ@BER, RJ rms and DJ dual-Dirac from `:MEASure:RJDJ:TJRJDJ?` (P90k-584)."""
        self.session.write(RJDJ_SETUP.format(src=source, ber=ber_mnemonic(ber)), check=True)
        reply = self.session.query(":MEASure:RJDJ:TJRJDJ?")
        parts = [p.strip() for p in reply.split(",")]
        out = {}
        for i in range(0, len(parts) - 2, 3):
            label = parts[i].split("(")[0].upper()
            try:
                value = float(parts[i + 1])
            except ValueError:
                continue
            out[label] = float("nan") if abs(value) >= 9.9e37 else value
        return {"tj_s": out.get("TJ", float("nan")), "rj_rms_s": out.get("RJ", float("nan")),
                "dj_dd_s": out.get("DJ", float("nan"))}

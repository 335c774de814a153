"""The CX3300 command set as labbench speaks it: one table that the CX3324A driver and its simulator
both read, so correcting a command against the Keysight *CX3300 Series Programming Guide* is a change
to this file alone.

Status of each entry (scpi.md §0, §4):

- ``CONFIRMED``: the IEEE 488.2 common commands and ``:SYSTem:ERRor?``. IEEE 488.2 and SCPI-99
  require them of every SCPI instrument, so they hold for the CX3300 too.
- ``PROVISIONAL``: everything else, the "cx3300-provisional" dialect of scpi.md §4. No CX3300
  programming guide, driver or issue thread was found. Searches of documentation, public code, web
  pages and issue threads for CX3324A, CX3322A, CX3300 and the CX1101A/CX1102A sensors found only
  papers that name the instrument. The dialect reuses Infiniium conventions: the command tree
  shape, the 24-field preamble, WORD codes with a scale and an offset.

Do not present a PROVISIONAL command to users as the real CX3300 command set.

The model facts below (rates, memory depth, sensors, ranges, codes) carry a mark too. D marks a
published product figure (standards.md §5: 4 channels, up to 1 GSa/s, 14/16 bit, 100 pA to 10 A),
not yet checked against a datasheet. I marks an inferred figure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from labbench.instruments.keysight.infiniium_wire import Preamble, parse_preamble  # noqa: F401  (re-exported)

DIALECT = "cx3300-provisional"
CONFIRMED, PROVISIONAL = "confirmed", "provisional"


@dataclass(frozen=True)
class Cmd:
    """One header. ``header`` is written the way programming guides write it: long/short form,
    ``<N>`` for a numeric suffix and ``[...]`` for an optional node. The simulator's command table
    uses it as a pattern. The driver sends the long form without optional nodes (:meth:`text`)."""

    header: str
    status: str
    note: str = ""

    def text(self, n: int | str | None = None) -> str:
        """The header as sent: optional nodes dropped, ``<N>`` filled (``{ch}`` when n is '{ch}')."""
        out = re.sub(r"\[[^\]]*\]", "", self.header)
        return out.replace("<N>", "" if n is None else str(n))


COMMANDS: dict[str, Cmd] = {
    # IEEE 488.2 / SCPI-99: required of every SCPI instrument
    "idn": Cmd("*IDN", CONFIRMED, "Keysight Technologies,CX3324A,<serial>,<firmware> (field case I)"),
    "rst": Cmd("*RST", CONFIRMED),
    "cls": Cmd("*CLS", CONFIRMED),
    "opc": Cmd("*OPC", CONFIRMED, "*OPC? answers 1 once the acquisition is complete"),
    "esr": Cmd("*ESR", CONFIRMED),
    "error": Cmd(":SYSTem:ERRor[:NEXT]", CONFIRMED, '+0,"No error" form (X-series style text, scpi.md §4)'),
    # acquisition
    "sample_rate": Cmd(":ACQuire:SRATe", PROVISIONAL, "Sa/s"),
    "points": Cmd(":ACQuire:POINts", PROVISIONAL, "record length per channel, up to MAX_POINTS"),
    "resolution": Cmd(":ACQuire:RESolution", PROVISIONAL, "14 or 16 (bits)"),
    # channels and sensors
    "channel_range": Cmd(":CHANnel<N>:RANGe", PROVISIONAL, "full scale in A; rounded up to the sensor's next range"),
    "channel_seamless": Cmd(":CHANnel<N>:SEAMless", PROVISIONAL,
                            "ON: dual-path sensor, low path below LOW_PATH_FRACTION x range (I)"),
    "channel_display": Cmd(":CHANnel<N>:DISPlay", PROVISIONAL),
    "channel_sensor": Cmd(":CHANnel<N>:SENSor", PROVISIONAL, "query: sensor model string, NONE if absent"),
    # trigger and run control
    "trigger_source": Cmd(":TRIGger:SOURce", PROVISIONAL, "CHANnel<N>"),
    "trigger_level": Cmd(":TRIGger:LEVel", PROVISIONAL, "A, on the source's current"),
    "trigger_slope": Cmd(":TRIGger:SLOPe", PROVISIONAL, "POSitive | NEGative"),
    "trigger_sweep": Cmd(":TRIGger:SWEep", PROVISIONAL, "TRIGgered | AUTO (AUTO free-runs without a trigger)"),
    "digitize": Cmd(":DIGitize", PROVISIONAL, "one acquisition of the named channel(s); *OPC? waits for it"),
    "single": Cmd(":SINGle", PROVISIONAL),
    "run": Cmd(":RUN", PROVISIONAL),
    "stop": Cmd(":STOP", PROVISIONAL),
    # waveform transfer
    "waveform_source": Cmd(":WAVeform:SOURce", PROVISIONAL, "CHANnel<N>"),
    "waveform_format": Cmd(":WAVeform:FORMat", PROVISIONAL, "REAL[,32] | WORD | ASCii"),
    "waveform_byte_order": Cmd(":WAVeform:BYTeorder", PROVISIONAL, "LSBFirst | MSBFirst"),
    "waveform_preamble": Cmd(":WAVeform:PREamble", PROVISIONAL, "the Infiniium 24-field preamble, y units 4 = A"),
    "waveform_data": Cmd(":WAVeform:DATA", PROVISIONAL, "definite block + LF"),
    # the instrument's own measurements and analyses
    "measure_mean": Cmd(":MEASure:CURRent:MEAN", PROVISIONAL, "A (NR3) over the record"),
    "measure_rms": Cmd(":MEASure:CURRent:RMS", PROVISIONAL, "A, DC included"),
    "measure_max": Cmd(":MEASure:CURRent:MAX", PROVISIONAL),
    "measure_min": Cmd(":MEASure:CURRent:MIN", PROVISIONAL),
    "measure_pp": Cmd(":MEASure:CURRent:PP", PROVISIONAL, "MAX - MIN"),
    "ccdf_data": Cmd(":ANALysis:CCDF:DATA", PROVISIONAL,
                     "REAL,32 block of (level A, fraction of samples at or above) pairs"),
}
# scpi.md §4 also lists `:ANALysis:PROFile:DATA?`; labbench computes the profile itself and does not use it.

MEASUREMENTS = ("MEAN", "RMS", "MAX", "MIN", "PP")


def header(key: str, n: int | str | None = None) -> str:
    """The command for ``key`` as sent, e.g. header("channel_range", 1) -> ':CHANnel1:RANGe'."""
    return COMMANDS[key].text(n)


def pattern(key: str) -> str:
    """The command for ``key`` as a simulator pattern (optional nodes and <N> kept)."""
    return COMMANDS[key].header


# ------------------------------------------------------------------------------------------ model facts
MODEL = "CX3324A"
MANUFACTURER = "Keysight Technologies"
N_CHANNELS = 4                          # D
MAX_SAMPLE_RATE_SA_S = 1e9              # D
MIN_SAMPLE_RATE_SA_S = 100.0            # I
MAX_RATE_16BIT_SA_S = 10e6              # I: the 16-bit mode is the slower, high-resolution one
RESOLUTIONS_BITS = (14, 16)             # D
MAX_POINTS = 256_000_000                # I: memory depth per channel
MIN_POINTS = 16
PRETRIGGER_FRACTION = 0.1               # I: the trigger sits at 10 % of the record
LOW_PATH_FRACTION = 1e-3                # I: a seamless sensor's low path has full scale range / 1000


@dataclass(frozen=True)
class Sensor:
    """A current sensor head (I: ranges and capabilities inferred, not read in a datasheet)."""

    model: str
    ranges_a: tuple[float, ...]         # full-scale ranges, ascending
    seamless: bool                      # has the dual low/high path

    def range_for(self, wanted_a: float) -> float | None:
        """The smallest range that covers ``wanted_a``; None above the largest."""
        for r in self.ranges_a:
            if wanted_a <= r * (1 + 1e-9):
                return r
        return None


SENSORS = {
    "CX1102A": Sensor("CX1102A", (1e-3, 10e-3, 100e-3, 1.0), seamless=True),     # I
    "CX1101A": Sensor("CX1101A", (10e-3, 100e-3, 1.0, 10.0), seamless=False),    # I
}

# ------------------------------------------------------------------------------------------ wire encoding
FORMAT_ASCII, FORMAT_WORD, FORMAT_REAL = 0, 2, 5          # preamble format codes (I: REAL = 5)
Y_UNITS_AMPERE = 4                                         # Infiniium y-units code for A
REAL_DTYPES = {"LSBF": "<f4", "MSBF": ">f4"}
WORD_DTYPES = {"LSBF": "<i2", "MSBF": ">i2"}


def lsb_a(range_a: float, bits: int) -> float:
    """One ADC step: the range spans 2^(bits-1) steps on each side of zero (I)."""
    return range_a / 2 ** (bits - 1)


def clip_limits_a(range_a: float, bits: int) -> tuple[float, float]:
    """The lowest and highest value the ADC can report on a range: -range and range - 1 LSB.
    A sample at either one may have been clipped."""
    return -range_a, range_a - lsb_a(range_a, bits)


def word_clip_codes(bits: int) -> tuple[int, int]:
    """WORD codes at the ADC ends. A b-bit value a is sent left-justified as a * 2^(16-b) (I,
    like the Infiniium's 8-bit ADC sent as WORD)."""
    shift = 2 ** (16 - bits)
    return -(2 ** (bits - 1)) * shift, (2 ** (bits - 1) - 1) * shift


def word_y_increment_a(range_a: float) -> float:
    """A per WORD count, whatever the resolution, because the codes are left-justified."""
    return range_a / 32768.0

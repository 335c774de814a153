"""Facts of the Infiniium waveform transfer that the driver and the simulator both rely on.

Sources: scpi.md §1 (Infiniium 90000/9000 Programmer's Reference pages 875-893). Marked I where
inferred rather than read in a guide.
"""
from __future__ import annotations

from dataclasses import dataclass

from labbench.errors import TransferError

WORD_HOLE_CODE = 31232      # a WORD sample with no data (P90k-888): masked, never a voltage
BYTE_HOLE_CODE = 125
# I: an 8-bit ADC value a is sent as WORD a*256; the ADC saturates at +/-121 (codes >= 122 are markers).
WORD_CLIP_HIGH = 121 * 256
WORD_CLIP_LOW = -121 * 256
SCREEN_DIVISIONS = 8        # vertical divisions; range = 8 * scale
SCREEN_ADC_HALF = 112       # I: +/-4 divisions span +/-112 ADC steps, leaving overrange headroom

FORMAT_CODES = {0: "ASCII", 1: "BYTE", 2: "WORD", 3: "LONG", 4: "LONGLONG"}
Y_UNITS = {0: "", 1: "V", 2: "s", 3: "", 4: "A", 5: "dB", 6: "Hz"}
X_UNITS = Y_UNITS

# ADC resolution by model (scpi.md §1-2): the Z-series digitizes with 8 bits, the S-series with 10.
ADC_BITS = {"DSAZ334A": 8, "MSOS604A": 10}


@dataclass(frozen=True)
class AdcResolution:
    """How an n-bit Infiniium ADC maps onto the screen and onto WORD codes.

    I: the 8-bit facts above scaled by 2**(bits - 8): the ADC value sits left-justified in the 16-bit
    WORD (a * 2**(16 - bits)), +/-4 divisions span +/-112 * 2**(bits - 8) steps and the ADC saturates
    at +/-121 * 2**(bits - 8). So the saturation and hole WORD codes are the same for every resolution;
    only the voltage step (lsb) gets finer.
    """
    bits: int

    @property
    def word_step(self) -> int:
        """WORD code per ADC step: 256 for 8 bits, 64 for 10 bits."""
        return 1 << (16 - self.bits)

    @property
    def screen_half(self) -> int:
        """ADC steps from the screen centre to the top graticule (4 divisions)."""
        return SCREEN_ADC_HALF << (self.bits - 8)

    @property
    def max_step(self) -> int:
        """The largest ADC value before saturation (WORD: max_step * word_step = WORD_CLIP_HIGH)."""
        return (WORD_CLIP_HIGH // 256) << (self.bits - 8)

    def lsb_v(self, scale_v: float) -> float:
        """Volts per ADC step at a vertical scale (V/div)."""
        return SCREEN_DIVISIONS * scale_v / (2 * self.screen_half)


def adc_resolution(model: str) -> AdcResolution:
    """The ADC of a model (8 bits when the model is not listed)."""
    return AdcResolution(ADC_BITS.get(model.strip().upper(), 8))


@dataclass(frozen=True)
class Preamble:
    """The 24 fields of `:WAVeform:PREamble?` (P9k-1117, P90k-893)."""
    format: int
    type: int
    points: int
    count: int
    x_increment: float
    x_origin: float
    x_reference: float
    y_increment: float
    y_origin: float
    y_reference: float
    coupling: int
    x_display_range: float
    x_display_origin: float
    y_display_range: float
    y_display_origin: float
    date: str
    time: str
    frame: str
    acquisition_mode: int
    completion_pct: float
    x_units: int
    y_units: int
    max_bandwidth_hz: float
    min_bandwidth_hz: float

    def to_text(self) -> str:
        values = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, str):
                values.append(f'"{value}"')
            elif isinstance(value, int):
                values.append(str(value))
            else:
                values.append(f"{value:.10E}")
        return ",".join(values)


def parse_preamble(text: str, where: str = "") -> Preamble:
    fields, cur, quoted = [], [], False
    for ch in text.strip():
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur))
    if len(fields) != 24:
        raise TransferError(f"{where}preamble has {len(fields)} fields, the Infiniium sends 24: {text[:80]!r}")
    kinds = [f.type for f in Preamble.__dataclass_fields__.values()]
    values = []
    try:
        for kind, raw in zip(kinds, fields):
            if kind == "int":
                values.append(int(float(raw)))
            elif kind == "float":
                values.append(float(raw))
            else:
                values.append(raw.strip())
    except ValueError as exc:
        raise TransferError(f"{where}malformed preamble field ({exc}): {text[:80]!r}") from None
    return Preamble(*values)

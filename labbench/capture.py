"""A Capture: raw samples exactly as the instrument sent them, with what it takes to read them.

Samples stay in the instrument's own representation (int16 ADC codes for an oscilloscope, float32 dBm
for an analyzer trace) so the run file holds the raw record; `values()` converts on demand:
value = (code - y_reference) * y_increment + y_origin, with hole codes (no sample) as NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Capture:
    name: str
    data: np.ndarray                  # raw samples as acquired (1-D; 2-D for a spectrogram: rows = time)
    x0: float = 0.0                   # first sample's position on the x axis
    dx: float = 1.0                   # spacing of the x axis
    x_unit: str = "s"
    y_unit: str = "V"
    y_increment: float = 1.0
    y_origin: float = 0.0
    y_reference: float = 0.0
    hole_code: int | None = None      # raw code that marks a missing sample (Infiniium WORD: 31232)
    clip_low: float | None = None     # raw codes at or beyond these were clipped by the ADC
    clip_high: float | None = None
    instrument: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)   # anything else (second axis, trigger time...)

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    def x(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The x axis (float64, so picosecond steps over seconds of record stay exact enough)."""
        stop = self.n if stop is None else min(stop, self.n)
        return self.x0 + np.arange(start, stop, dtype=np.float64) * self.dx

    def values(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples in y_unit as float64; holes become NaN, never a voltage."""
        raw = self.data[start:stop]
        out = raw.astype(np.float64)
        if self.y_reference:
            out -= self.y_reference
        if self.y_increment != 1.0:
            out *= self.y_increment
        if self.y_origin:
            out += self.y_origin
        if self.hole_code is not None:
            out[raw == self.hole_code] = np.nan
        return out

    def hole_count(self) -> int:
        return 0 if self.hole_code is None else int(np.count_nonzero(self.data == self.hole_code))

    def clipped_count(self) -> int:
        """Samples at or beyond the ADC limits: a clipped record must not be measured as valid."""
        count = 0
        raw = self.data
        valid = raw != self.hole_code if self.hole_code is not None else True
        if self.clip_low is not None:
            count += int(np.count_nonzero((raw <= self.clip_low) & valid))
        if self.clip_high is not None:
            count += int(np.count_nonzero((raw >= self.clip_high) & valid))
        return count

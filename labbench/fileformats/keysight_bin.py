"""Keysight/Agilent (and Rigol "RG") oscilloscope .bin waveform files: read and write.

Layout (all little-endian), as documented in the InfiniiVision user's guides ("Binary Data (.bin)
Format") and the Infiniium 90000 programmer's reference ("Waveform Data Header"):

- file header, 12 bytes: cookie ``AG`` (Rigol writes ``RG``), version (2 chars), file size int32,
  waveform count int32. The file size is never used: some writers get it wrong.
- per waveform, a header whose first int32 is its own size (140 by the manual, 144 from some writers;
  the reader always skips by the declared size), then the fields of ``_WAVEFORM_HEADER``.
- per buffer of that waveform, a header whose first int32 is its own size (12), buffer type int16,
  bytes per point int16, buffer size int32, then the data. Points = buffer size / bytes per point.

Float buffers hold values already in the waveform's y units (volts for analog channels);
t[i] = x_origin + i * x_increment.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labbench.errors import FileFormatError

__all__ = ["BinBuffer", "BinWaveform", "read_keysight_bin", "write_keysight_bin", "UNIT_NAMES"]

_FILE_HEADER = struct.Struct("<2s2sii")  # cookie, version, file size, waveform count
# size, type, buffers, points, count, x display range, x display origin, x increment, x origin,
# x units, y units, date, time, frame, label, time tag, segment index
_WAVEFORM_HEADER = struct.Struct("<iiiiifdddii16s16s24s16sdI")
_BUFFER_HEADER = struct.Struct("<ihhi")  # size, type, bytes per point, buffer size
assert _WAVEFORM_HEADER.size == 140 and _BUFFER_HEADER.size == 12

COOKIES = (b"AG", b"RG")

#: unit codes shared by x and y units
UNIT_NAMES = {0: "unknown", 1: "V", 2: "s", 3: "constant", 4: "A", 5: "dB", 6: "Hz"}
#: waveform type codes (4 and 5 are Infiniium-only)
WAVEFORM_KINDS = {0: "unknown", 1: "normal", 2: "peak detect", 3: "average",
                  4: "horizontal histogram", 5: "vertical histogram", 6: "logic"}
#: buffer type codes (4 and 5 are Infiniium-only)
BUFFER_KINDS = {0: "unknown", 1: "float32", 2: "max", 3: "min", 4: "time", 5: "counts", 6: "digital"}
_BUFFER_CODES = {name: code for code, name in BUFFER_KINDS.items()}
_FLOAT_BUFFER_CODES = (1, 2, 3, 4, 5)


def _buffer_dtype(type_code: int, bytes_per_point: int) -> np.dtype | None:
    """numpy dtype of one point, or None when the combination is not one we can interpret."""
    if type_code in _FLOAT_BUFFER_CODES:
        return {4: np.dtype("<f4"), 8: np.dtype("<f8")}.get(bytes_per_point)
    if type_code == 6:
        return {1: np.dtype("u1"), 2: np.dtype("<u2")}.get(bytes_per_point)
    return None


@dataclass(frozen=True, eq=False)
class BinBuffer:
    """One data buffer of a waveform.

    ``kind`` names the buffer type code: 'float32' (normal), 'max' and 'min' (peak detect), 'time',
    'counts', 'digital' (uint8 bits of a pod) or 'unknown'. Data whose type/width combination is not
    documented is kept as raw bytes, shape (points, bytes_per_point) uint8.
    """

    kind: str
    data: np.ndarray
    type_code: int = -1
    bytes_per_point: int = 0

    def __post_init__(self):
        if self.type_code == -1:
            object.__setattr__(self, "type_code", _BUFFER_CODES.get(self.kind, 0))
        if self.bytes_per_point == 0:
            row = self.data.itemsize * (self.data.shape[1] if self.data.ndim == 2 else 1)
            object.__setattr__(self, "bytes_per_point", row)

    @property
    def points(self) -> int:
        return int(self.data.shape[0])


@dataclass(frozen=True, eq=False)
class BinWaveform:
    """One waveform of a .bin file with its axis and its buffers (one per data set: e.g. max and min)."""

    buffers: tuple[BinBuffer, ...]
    x_increment_s: float
    x_origin_s: float = 0.0
    label: str = ""
    frame: str = ""                  # "MODEL:SERIAL"
    type_code: int = 1               # see WAVEFORM_KINDS
    points: int | None = None        # header's point count; None: the first buffer's length
    count: int = 0                   # hits per time bucket (averaging)
    x_display_range: float = 0.0
    x_display_origin: float = 0.0
    x_units_code: int = 2            # seconds
    y_units_code: int = 1            # volts
    date: str = ""
    time: str = ""
    time_tag_s: float = 0.0          # segmented memory: time since the first trigger
    segment_index: int = 0
    source: str = field(default="", compare=False)  # file it came from, for messages

    def __post_init__(self):
        object.__setattr__(self, "buffers", tuple(self.buffers))
        if self.points is None:
            object.__setattr__(self, "points", self.buffers[0].points if self.buffers else 0)

    @property
    def kind(self) -> str:
        return WAVEFORM_KINDS.get(self.type_code, "unknown")

    @property
    def x_units(self) -> str:
        return UNIT_NAMES.get(self.x_units_code, "unknown")

    @property
    def y_units(self) -> str:
        return UNIT_NAMES.get(self.y_units_code, "unknown")

    @property
    def values(self) -> np.ndarray:
        """The first normal float buffer (else the first float buffer), as stored: float32, no copy.

        Kept float32 on purpose: a 100 MSa capture stays 400 MB rather than 800 MB. Convert with
        ``.astype(np.float64)`` where precision of sums matters.
        """
        for wanted in ((1,), _FLOAT_BUFFER_CODES):
            for buf in self.buffers:
                if buf.type_code in wanted and buf.data.dtype.kind == "f":
                    return buf.data
        kinds = ", ".join(b.kind for b in self.buffers) or "none"
        raise FileFormatError(
            f"{self.source or '.bin waveform'}: waveform {self.label!r} has no float buffer (buffers: {kinds})")

    def time_s(self) -> np.ndarray:
        """Sample times in float64 seconds (x units): t[i] = x_origin + i * x_increment."""
        n = self.buffers[0].points if self.buffers else int(self.points)
        return self.x_origin_s + np.arange(n, dtype=np.float64) * self.x_increment_s


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def read_keysight_bin(path: str | os.PathLike) -> list[BinWaveform]:
    """Read every waveform and buffer of a Keysight/Agilent/Rigol .bin file.

    Trusts only what it can check: the cookie, each header's own size and each buffer's size against
    the bytes actually present. The file-size field is ignored. Raises FileFormatError (one line,
    naming the file) for a bad cookie, a truncated header or buffer, or zero waveforms.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot open .bin file: {exc.strerror or exc}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(_FILE_HEADER.size)
        if head[:2] not in COOKIES:
            raise FileFormatError(
                f"{path}: not a Keysight/Agilent .bin file (cookie {head[:2]!r}, expected b'AG' or b'RG')")
        if len(head) < _FILE_HEADER.size:
            raise FileFormatError(
                f"{path}: truncated file header: {_FILE_HEADER.size} bytes expected, {len(head)} present")
        _cookie, _version, _file_size, n_waveforms = _FILE_HEADER.unpack(head)
        if n_waveforms <= 0:
            raise FileFormatError(f"{path}: the file header declares {n_waveforms} waveforms; nothing to read")

        waveforms = []
        offset = _FILE_HEADER.size
        for w in range(1, n_waveforms + 1):
            where = f"waveform {w} of {n_waveforms} at byte {offset}"
            f.seek(offset)
            raw = f.read(_WAVEFORM_HEADER.size)
            if len(raw) < _WAVEFORM_HEADER.size:
                raise FileFormatError(f"{path}: truncated waveform header ({where}): "
                                      f"{_WAVEFORM_HEADER.size} bytes expected, {len(raw)} present")
            (hsize, wtype, n_buffers, points, count, xdr, xdo, xinc, xorg, xu, yu,
             date, time, frame, label, time_tag, seg) = _WAVEFORM_HEADER.unpack(raw)
            if hsize < _WAVEFORM_HEADER.size:
                raise FileFormatError(f"{path}: waveform header ({where}) declares {hsize} bytes, "
                                      f"fewer than the {_WAVEFORM_HEADER.size} it must hold")
            if offset + hsize > size:
                raise FileFormatError(f"{path}: truncated waveform header ({where}): "
                                      f"{hsize} bytes expected, {size - offset} present")
            if n_buffers < 0:
                raise FileFormatError(f"{path}: {where} declares {n_buffers} buffers")
            offset += hsize

            buffers = []
            for b in range(1, n_buffers + 1):
                bwhere = f"buffer {b} of {n_buffers} of waveform {w} at byte {offset}"
                f.seek(offset)
                braw = f.read(_BUFFER_HEADER.size)
                if len(braw) < _BUFFER_HEADER.size:
                    raise FileFormatError(f"{path}: truncated buffer header ({bwhere}): "
                                          f"{_BUFFER_HEADER.size} bytes expected, {len(braw)} present")
                bhsize, btype, bpp, nbytes = _BUFFER_HEADER.unpack(braw)
                if bhsize < _BUFFER_HEADER.size or bpp <= 0 or nbytes < 0 or nbytes % bpp:
                    raise FileFormatError(f"{path}: bad buffer header ({bwhere}): header size {bhsize}, "
                                          f"{bpp} bytes per point, buffer size {nbytes}")
                offset += bhsize
                present = max(0, size - offset)
                if nbytes > present:
                    raise FileFormatError(f"{path}: truncated buffer ({bwhere}): "
                                          f"{nbytes} bytes expected, {present} present")
                n = nbytes // bpp
                dtype = _buffer_dtype(btype, bpp)
                f.seek(offset)
                if dtype is None:
                    data = np.fromfile(f, dtype="u1", count=nbytes).reshape(n, bpp)
                else:
                    data = np.fromfile(f, dtype=dtype, count=n)
                buffers.append(BinBuffer(kind=BUFFER_KINDS.get(btype, "unknown"), data=data,
                                         type_code=btype, bytes_per_point=bpp))
                offset += nbytes

            waveforms.append(BinWaveform(
                buffers=tuple(buffers), x_increment_s=xinc, x_origin_s=xorg, label=_text(label),
                frame=_text(frame), type_code=wtype, points=points, count=count,
                x_display_range=float(xdr), x_display_origin=xdo, x_units_code=xu, y_units_code=yu,
                date=_text(date), time=_text(time), time_tag_s=time_tag, segment_index=seg,
                source=str(path)))
    return waveforms


def _fixed(text: str, width: int) -> bytes:
    return text.encode("latin-1")[: width - 1].ljust(width, b"\0")


def write_keysight_bin(path: str | os.PathLike, waveforms, *, cookie: bytes = b"AG", version: bytes = b"10",
                       header_size: int = 140, file_size: int | None = None) -> Path:
    """Write waveforms as a .bin file that :func:`read_keysight_bin` and the scopes' viewers read.

    ``header_size`` >= 140 pads each waveform header with zeros (some writers use 144). ``file_size``
    overrides the file-size field (None: the true size), to reproduce writers that get it wrong.
    Strings longer than their field are cut to leave a terminating NUL.
    """
    if header_size < _WAVEFORM_HEADER.size:
        raise ValueError(f"header_size {header_size} < {_WAVEFORM_HEADER.size}")
    path = Path(path)
    parts: list[bytes | np.ndarray] = []
    for wf in waveforms:
        parts.append(_WAVEFORM_HEADER.pack(
            header_size, wf.type_code, len(wf.buffers), int(wf.points), wf.count, wf.x_display_range,
            wf.x_display_origin, wf.x_increment_s, wf.x_origin_s, wf.x_units_code, wf.y_units_code,
            _fixed(wf.date, 16), _fixed(wf.time, 16), _fixed(wf.frame, 24), _fixed(wf.label, 16),
            wf.time_tag_s, wf.segment_index) + b"\0" * (header_size - _WAVEFORM_HEADER.size))
        for buf in wf.buffers:
            data = np.ascontiguousarray(buf.data)
            if data.dtype.kind in "fiu" and data.ndim == 1:
                data = data.astype(data.dtype.newbyteorder("<"), copy=False)
            parts.append(_BUFFER_HEADER.pack(_BUFFER_HEADER.size, buf.type_code, buf.bytes_per_point, data.nbytes))
            parts.append(data)
    total = _FILE_HEADER.size + sum(len(p) if isinstance(p, bytes) else p.nbytes for p in parts)
    with open(path, "wb") as f:
        f.write(_FILE_HEADER.pack(cookie, version, total if file_size is None else file_size, len(waveforms)))
        for p in parts:
            f.write(p)  # ndarrays go through the buffer protocol, no copy
    return path

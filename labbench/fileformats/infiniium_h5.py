"""Keysight Infiniium HDF5 waveform files (.h5, and the waveforms inside composite .osc files).

Layout, from Keysight's "HDF5 Schema for Infiniium Oscilloscope Data" (Infiniium user's guide,
helpfiles.keysight.com .../Infiniium-UG/Content/Topics/Files/HDF5_Schema.htm):

    /FileType/KeysightH5FileType   scalar string: "Keysight Waveform" (or "Keysight Composite")
    /Frame/TheFrame                compound (Model, Serial, Date)
    /Waveforms                     group, attribute NumWaveforms
        /<Source>                  group per source ("Channel 1", "Memory 2", "Function 3", ...),
                                   attributes XInc, XOrg, YInc, YOrg, NumPoints, NumSegments,
                                   XUnits ("Second"), YUnits ("Volt"), Count, ...
            <Source>Data           dataset of samples (note: no space before "Data")
            <Source> Seg<k>Data    one dataset per segment in segmented memory, with attributes
                                   SegmentedTimeTag and SegmentedXOrg

Two variants of the samples, per the :DISK:SAVE:WAVeform formats of the Infiniium programmer's guide:
``H5`` stores float32 values that are already the vertical values (YInc/YOrg are not applied);
``H5INt`` stores int16 quantization codes: value = code * YInc + YOrg. The variant is told apart by the
dataset's dtype. t[i] = XOrg + i * XInc (SegmentedXOrg replaces XOrg for a segment when present).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from labbench.errors import FileFormatError

__all__ = ["H5Waveform", "read_infiniium_h5"]

_UNITS = {"volt": "V", "volts": "V", "second": "s", "seconds": "s", "amp": "A", "amps": "A", "ampere": "A",
          "watt": "W", "watts": "W", "hertz": "Hz", "hz": "Hz", "db": "dB", "unknown": "unknown",
          "constant": "constant"}
_SEGMENT = re.compile(r"\sSeg(\d+)Data$")


@dataclass(frozen=True, eq=False)
class H5Waveform:
    """One waveform (one source, one segment) of an Infiniium .h5 file.

    ``raw`` is the dataset as stored: float32 values (H5 export) or integer codes (H5INt export, with
    ``y_increment``/``y_origin`` in ``y_units`` per code). ``values`` gives the vertical values.
    """

    name: str                        # source group: "Channel 1", "Memory 2", ...
    raw: np.ndarray
    x_increment_s: float
    x_origin_s: float
    y_units: str = "V"
    x_units: str = "s"
    y_increment: float | None = None  # only for integer codes
    y_origin: float | None = None     # only for integer codes
    segment: int | None = None        # 1-based segment number, None when not segmented
    time_tag_s: float | None = None   # segmented memory: time since the first segment's trigger
    frame: str = ""                   # "MODEL:SERIAL"
    attrs: dict = field(default_factory=dict)  # every attribute of the source group, decoded
    source: str = ""                  # file it came from, for messages

    @property
    def is_integer(self) -> bool:
        return self.raw.dtype.kind in "iu"

    @property
    def values(self) -> np.ndarray:
        """Vertical values: float64 code * YInc + YOrg for integer codes; the float data as stored otherwise."""
        if not self.is_integer:
            return self.raw
        if self.y_increment is None or self.y_origin is None:
            raise FileFormatError(f"{self.source}: {self.name!r} holds integer codes but its group has no "
                                  f"YInc/YOrg attributes to scale them")
        return self.raw.astype(np.float64) * self.y_increment + self.y_origin

    def time_s(self) -> np.ndarray:
        """Sample times in float64 seconds: t[i] = x_origin + i * x_increment."""
        return self.x_origin_s + np.arange(self.raw.shape[0], dtype=np.float64) * self.x_increment_s


def _scalar(value):
    """HDF5 attributes arrive as numpy scalars, 1-element arrays or bytes: give plain Python values."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).split(b"\0", 1)[0].decode("latin-1").strip()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unit(value, default: str) -> str:
    if value is None:
        return default
    text = str(_scalar(value))
    return _UNITS.get(text.lower(), text)


def _frame(f: h5py.File) -> str:
    try:
        rec = f["Frame/TheFrame"][()]
        fields = rec.dtype.names or ()
        model = _scalar(rec["Model"]) if "Model" in fields else ""
        serial = _scalar(rec["Serial"]) if "Serial" in fields else ""
        return f"{model}:{serial}" if serial else str(model)
    except (KeyError, TypeError, ValueError):
        return ""


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_infiniium_h5(path: str | os.PathLike) -> list[H5Waveform]:
    """Read every waveform (every source, every segment) of an Infiniium .h5 export.

    Raises FileFormatError naming the file when it is missing, not HDF5, has no /Waveforms group, holds no
    waveform dataset, or a source lacks XInc/XOrg.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise FileFormatError(f"{path}: not an HDF5 file, so not an Infiniium .h5 waveform export")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot open as HDF5: {exc}") from None
    with f:
        if "Waveforms" not in f or not isinstance(f["Waveforms"], h5py.Group):
            kind = _scalar(f["FileType/KeysightH5FileType"][()]) if "FileType/KeysightH5FileType" in f else None
            what = f"file type {kind!r}" if kind else f"top level {sorted(f.keys())}"
            raise FileFormatError(f"{path}: no /Waveforms group ({what}); not an Infiniium waveform file")
        frame = _frame(f)
        waveforms = []
        for name in sorted(f["Waveforms"].keys(), key=_natural):
            group = f["Waveforms"][name]
            if not isinstance(group, h5py.Group):
                continue
            datasets = [k for k, v in group.items() if isinstance(v, h5py.Dataset) and k.endswith("Data")]
            if not datasets:
                continue
            attrs = {k: _scalar(v) for k, v in group.attrs.items()}
            missing = [k for k in ("XInc", "XOrg") if k not in attrs]
            if missing:
                raise FileFormatError(f"{path}: /Waveforms/{name} lacks attribute {', '.join(missing)}")
            for ds_name in sorted(datasets, key=_natural):
                ds = group[ds_name]
                raw = ds[()]
                if raw.ndim != 1:
                    if raw.ndim == 2 and 1 in raw.shape:
                        raw = raw.reshape(-1)
                    else:
                        raise FileFormatError(f"{path}: /Waveforms/{name}/{ds_name} has shape {raw.shape}, "
                                              f"expected one dimension of samples")
                if raw.dtype.kind not in "fiu":
                    raise FileFormatError(f"{path}: /Waveforms/{name}/{ds_name} holds {raw.dtype}, not samples")
                seg = _SEGMENT.search(ds_name)
                ds_attrs = {k: _scalar(v) for k, v in ds.attrs.items()} if seg else {}
                integer = raw.dtype.kind in "iu"
                waveforms.append(H5Waveform(
                    name=name, raw=raw, x_increment_s=float(attrs["XInc"]),
                    x_origin_s=float(ds_attrs.get("SegmentedXOrg", attrs["XOrg"])),
                    y_units=_unit(attrs.get("YUnits"), "V"), x_units=_unit(attrs.get("XUnits"), "s"),
                    y_increment=float(attrs["YInc"]) if integer and "YInc" in attrs else None,
                    y_origin=float(attrs["YOrg"]) if integer and "YOrg" in attrs else None,
                    segment=int(seg.group(1)) if seg else None,
                    time_tag_s=float(ds_attrs["SegmentedTimeTag"]) if "SegmentedTimeTag" in ds_attrs else None,
                    frame=frame, attrs=attrs, source=str(path)))
        if not waveforms:
            raise FileFormatError(f"{path}: /Waveforms holds no waveform dataset (expected e.g. "
                                  f"'/Waveforms/Channel 1/Channel 1Data')")
    return waveforms

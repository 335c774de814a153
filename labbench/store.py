"""HDF5 run files: written while measuring, read back with plain h5py from the layout alone.

Layout (format 1):
    /                       attrs: format_version, run_id, status, verdict, start, end, station, operator,
                            dut_model, dut_serial, plan, software_version
    /instruments/<role>     attrs: idn, resource, driver; dataset scpi_log (time_s, direction, text)
    /steps/<NN>_<procedure> attrs: procedure, parameters (JSON), verdict, start, end, error
        captures/<name>     raw samples, chunked + gzip; attrs: x0, dx, x_unit, y_unit, y_increment,
                            y_origin, y_reference, hole_code, clip_low, clip_high, instrument,
                            settings (JSON), conversion
        results/<name>      analysis products (eye histogram, spectra, state tables ...)
        metrics             table (name, value, unit, low, high, verdict)

The file is opened for each write and closed after it, so a killed process leaves a file that h5py
opens, holding every capture finished before the kill, with status still `running`.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from labbench.capture import Capture
from labbench.errors import StoreError
from labbench.interrupts import held
from labbench.limits import Metric

FORMAT_VERSION = 1
RUNNING, COMPLETE, ABORTED, ERRORED = "running", "complete", "aborted", "error"

_STR = h5py.string_dtype()
METRIC_DTYPE = np.dtype([("name", _STR), ("value", "f8"), ("unit", _STR), ("low", "f8"), ("high", "f8"),
                         ("verdict", _STR)])
LOG_DTYPE = np.dtype([("time_s", "f8"), ("direction", _STR), ("text", _STR)])


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def _json_default(value: Any):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


class RunWriter:
    """Writes one run file. Every method opens, writes, flushes and closes."""

    def __init__(self, path: str | Path, run_id: str, meta: dict[str, Any]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.path, "w") as f:
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["run_id"] = run_id
            f.attrs["status"] = RUNNING
            f.attrs["verdict"] = ""
            f.attrs["start"] = utc_now()
            f.attrs["end"] = ""
            for key in ("station", "operator", "dut_model", "dut_serial", "plan", "software_version"):
                f.attrs[key] = str(meta.get(key, "") or "")
            f.create_group("instruments")
            f.create_group("steps")

    @contextmanager
    def _open(self) -> Iterator[h5py.File]:
        with held():     # Ctrl-C/SIGTERM wait until this write is complete and the file closed
            try:
                f = h5py.File(self.path, "a")
            except OSError as exc:
                raise StoreError(f"run file {self.path}: cannot open for writing ({exc})") from exc
            try:
                yield f
                f.flush()
            finally:
                f.close()

    def add_instrument(self, role: str, idn: str, resource: str, driver: str) -> None:
        with self._open() as f:
            group = f["instruments"].require_group(role)
            group.attrs.update({"idn": idn, "resource": resource, "driver": driver})

    def write_traffic(self, role: str, entries: list) -> None:
        """The SCPI log of one instrument (replaced with the longer list each time)."""
        rows = np.array([(e.time_s, e.direction, e.text) for e in entries], dtype=LOG_DTYPE)
        with self._open() as f:
            group = f["instruments"].require_group(role)
            if "scpi_log" in group:
                del group["scpi_log"]
            group.create_dataset("scpi_log", data=rows)

    def begin_step(self, index: int, procedure: str, parameters: dict[str, Any], label: str | None = None) -> str:
        """A new step `<NN>_<label or procedure>`; procedure "" stores data with nothing to analyse."""
        name = f"{index:02d}_{label or procedure}"
        with self._open() as f:
            group = f["steps"].create_group(name)
            group.attrs.update({"procedure": procedure, "parameters": _json(parameters), "verdict": "",
                                "start": utc_now(), "end": "", "error": ""})
            group.create_group("captures")
            group.create_group("results")
        return name

    def write_capture(self, step: str, capture: Capture) -> None:
        with self._open() as f:
            group = f["steps"][step]["captures"]
            data = np.asarray(capture.data)
            chunks = None
            if data.size:
                chunk_rows = max(1, min(data.shape[0], (1 << 20) // max(1, data.itemsize * int(np.prod(data.shape[1:])))))
                chunks = (chunk_rows, *data.shape[1:])
            ds = group.create_dataset(capture.name, data=data, chunks=chunks,
                                      compression="gzip" if data.size else None,
                                      compression_opts=1 if data.size else None, shuffle=bool(data.size))
            ds.attrs.update({
                "x0": capture.x0, "dx": capture.dx, "x_unit": capture.x_unit, "y_unit": capture.y_unit,
                "y_increment": capture.y_increment, "y_origin": capture.y_origin,
                "y_reference": capture.y_reference,
                "hole_code": np.nan if capture.hole_code is None else capture.hole_code,
                "clip_low": np.nan if capture.clip_low is None else capture.clip_low,
                "clip_high": np.nan if capture.clip_high is None else capture.clip_high,
                "instrument": capture.instrument, "settings": _json(capture.settings),
                "attrs": _json(capture.attrs),
                "conversion": "value = (raw - y_reference) * y_increment + y_origin; raw == hole_code is no sample",
            })

    def write_results(self, step: str, arrays: dict[str, Any]) -> None:
        """Analysis products: arrays, or dicts of arrays (a group)."""
        with self._open() as f:
            group = f["steps"][step]["results"]
            _write_tree(group, arrays)

    def write_metrics(self, step: str, metrics: list[Metric]) -> None:
        rows = np.array([(m.name, float(m.value), m.unit, np.nan if m.low is None else m.low,
                          np.nan if m.high is None else m.high, m.verdict) for m in metrics], dtype=METRIC_DTYPE)
        with self._open() as f:
            group = f["steps"][step]
            if "metrics" in group:
                del group["metrics"]
            group.create_dataset("metrics", data=rows)

    def end_step(self, step: str, verdict: str, error: str = "", notes: list[str] | None = None) -> None:
        with self._open() as f:
            group = f["steps"][step]
            group.attrs.update({"verdict": verdict, "end": utc_now(), "error": error})
            if notes:
                group.attrs["notes"] = "\n".join(notes)

    def finish(self, status: str, verdict: str) -> None:
        with self._open() as f:
            f.attrs["status"] = status
            f.attrs["verdict"] = verdict
            f.attrs["end"] = utc_now()

    def set_attrs(self, **attrs: Any) -> None:
        with self._open() as f:
            f.attrs.update({k: str(v) for k, v in attrs.items()})


def _write_tree(group: h5py.Group, items: dict[str, Any]) -> None:
    for key, value in items.items():
        if key in group:
            del group[key]
        if isinstance(value, dict):
            _write_tree(group.create_group(key), value)
        elif isinstance(value, str):
            group.attrs[key] = value
        else:
            array = np.asarray(value)
            if array.dtype.kind in "UO":
                array = array.astype(_STR)
            group.create_dataset(key, data=array, compression="gzip" if array.size > 4096 else None)


# ---------------------------------------------------------------- reading

@dataclass(frozen=True)
class StepRecord:
    name: str
    procedure: str
    parameters: dict[str, Any]
    verdict: str
    error: str
    metrics: list[Metric]
    capture_names: list[str]


def _check_run_file(path: Path) -> h5py.File:
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise StoreError(f"{path}: not an HDF5 file") from None
    if "format_version" not in f.attrs or "steps" not in f:
        f.close()
        raise StoreError(f"{path}: an HDF5 file, but not a labbench run (no format_version/steps)")
    version = int(f.attrs["format_version"])
    if version > FORMAT_VERSION:
        f.close()
        raise StoreError(f"{path}: run format {version} is newer than this labbench reads ({FORMAT_VERSION}); "
                         "upgrade labbench")
    return f


@contextmanager
def open_file(path: str | Path) -> Iterator[h5py.File]:
    f = _check_run_file(Path(path))
    try:
        yield f
    finally:
        f.close()


def read_metrics(group: h5py.Group) -> list[Metric]:
    if "metrics" not in group:
        return []
    out = []
    for row in group["metrics"][()]:
        def text(v):
            return v.decode() if isinstance(v, bytes) else str(v)
        low, high = float(row["low"]), float(row["high"])
        out.append(Metric(text(row["name"]), float(row["value"]), text(row["unit"]),
                          None if np.isnan(low) else low, None if np.isnan(high) else high, text(row["verdict"])))
    return out


def _step_record(name: str, g: h5py.Group) -> StepRecord:
    """A step group's attributes and metrics, read one way for every reader."""
    return StepRecord(name, str(g.attrs.get("procedure", "")), json.loads(g.attrs.get("parameters", "{}") or "{}"),
                      str(g.attrs.get("verdict", "")), str(g.attrs.get("error", "")), read_metrics(g),
                      sorted(g["captures"]) if "captures" in g else [])


def read_steps(path: str | Path) -> list[StepRecord]:
    with open_file(path) as f:
        return [_step_record(name, f["steps"][name]) for name in sorted(f["steps"])]


def read_run_attrs(path: str | Path) -> dict[str, Any]:
    with open_file(path) as f:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}


def capture_from_dataset(ds: h5py.Dataset, data: np.ndarray | None = None) -> Capture:
    a = ds.attrs

    def opt(key):
        value = a.get(key, np.nan)
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else value

    hole = opt("hole_code")
    return Capture(
        name=ds.name.rsplit("/", 1)[-1], data=ds[()] if data is None else data,
        x0=float(a["x0"]), dx=float(a["dx"]), x_unit=str(a["x_unit"]), y_unit=str(a["y_unit"]),
        y_increment=float(a["y_increment"]), y_origin=float(a["y_origin"]), y_reference=float(a["y_reference"]),
        hole_code=None if hole is None else int(hole), clip_low=opt("clip_low"), clip_high=opt("clip_high"),
        instrument=str(a.get("instrument", "")), settings=json.loads(a.get("settings", "{}") or "{}"),
        attrs=json.loads(a.get("attrs", "{}") or "{}"))


def read_captures(path: str | Path, step: str) -> dict[str, Capture]:
    with open_file(path) as f:
        if step not in f["steps"]:
            raise StoreError(f"{path}: no step {step!r} (steps: {', '.join(sorted(f['steps']))})")
        group = f["steps"][step]["captures"]
        return {name: capture_from_dataset(group[name]) for name in group}


def _read_tree(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}
    for key, item in group.items():
        out[key] = _read_tree(item) if isinstance(item, h5py.Group) else item[()]
    return out


@dataclass
class StepData:
    """One stored step: parameters, verdict, metrics and analysis results; captures read on demand."""
    path: str
    name: str
    procedure: str
    parameters: dict[str, Any]
    verdict: str
    error: str
    metrics: list[Metric]
    results: dict[str, Any]
    capture_names: list[str]

    def capture(self, name: str) -> Capture:
        with open_file(self.path) as f:
            group = f["steps"][self.name]["captures"]
            if name not in group:
                raise StoreError(f"{self.path}: step {self.name} has no capture {name!r} "
                                 f"(captures: {', '.join(group) or 'none'})")
            return capture_from_dataset(group[name])


def read_step(path: str | Path, step: str) -> StepData:
    with open_file(path) as f:
        if step not in f["steps"]:
            raise StoreError(f"{path}: no step {step!r} (steps: {', '.join(sorted(f['steps']))})")
        g = f["steps"][step]
        r = _step_record(step, g)
        return StepData(str(path), r.name, r.procedure, r.parameters, r.verdict, r.error, r.metrics,
                        _read_tree(g["results"]) if "results" in g else {}, r.capture_names)

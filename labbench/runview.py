"""Run files in a notebook: `labbench.open_run(path)` -> Run (steps, parameters, verdicts, captures, metrics).

    run = labbench.open_run("data/runs/<run-id>.h5")
    run.metrics                                  # pandas DataFrame: every step's metrics with limits, verdicts
    step = run["eye-jitter"]                     # by procedure, by step name ("01_eye-jitter") or by position
    data = step.captures["data"]                 # lazy: nothing read yet
    volts = data[10_000:20_000]                  # reads only that slice from HDF5, in y units (NaN for holes)
    data.to_xarray(0, 5000)                      # DataArray with its time axis and units
    step.figures()                               # the procedure's plots of the stored results
    again = run.reanalyze("eye-jitter", limits={"tj_s": {"high": 20e-12}}, clock_recovery="pll")
                                                 # tj_s's limit replaced, the default file's others kept

Nothing here writes to the run file; every read opens the file and closes it again, so a run still being
written (or killed) can be looked at. pandas and xarray are needed only for `.metrics` and
`.to_xarray()` (`pip install "labbench[jupyter]"`).
"""
from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from labbench.capture import Capture
from labbench.errors import StoreError
from labbench.limits import Limits, Metric
from labbench.store import StepData, capture_from_dataset, open_file, read_metrics, read_step, read_steps

__all__ = ["open_run", "Run", "Step", "CaptureView", "Reanalysis", "metrics_table"]

EXTRA_HINT = 'pip install "labbench[jupyter]"'
_METRIC_COLUMNS = ["step", "procedure", "name", "value", "unit", "low", "high", "verdict"]


def _require(module: str, what: str):
    """Import an optional dependency, or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {module}, which is not installed: {EXTRA_HINT}") from None


def open_run(path: str | Path) -> "Run":
    """Open a run file for reading; StoreError (one line, naming the file) when it is not a readable run."""
    return Run(Path(path))


def metrics_table(runs) -> Any:
    """Metrics of several runs in one DataFrame (a run_id and start column first): compare nights."""
    pd = _require("pandas", "metrics_table")
    frames = []
    for run in runs:
        run = run if isinstance(run, Run) else open_run(run)
        frame = run.metrics
        frame.insert(0, "start", run.attrs.get("start", ""))
        frame.insert(0, "run_id", run.run_id)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", "start",
                                                                                       *_METRIC_COLUMNS])


def _metrics_frame(rows: list[tuple[str, str, Metric]]):
    pd = _require("pandas", "metrics as a DataFrame")
    def bound(value):
        return np.nan if value is None else float(value)
    return pd.DataFrame([(step, procedure, m.name, m.value, m.unit, bound(m.low), bound(m.high), m.verdict)
                         for step, procedure, m in rows], columns=_METRIC_COLUMNS)


# ---------------------------------------------------------------- captures

class CaptureView:
    """A stored capture read on demand: indexing reads only the samples asked for.

    `view[a:b]` gives values in `y_unit` (float64; hole codes as NaN), `view.raw[a:b]` the stored samples,
    `view.x(a, b)` the axis. `view.capture(a, b)` is a `labbench.capture.Capture` for analysis functions.
    """

    def __init__(self, path: Path, step: str, name: str):
        self.path, self.step, self.name = path, step, name
        with self._dataset() as ds:
            self.shape: tuple[int, ...] = tuple(ds.shape)
            self.dtype = ds.dtype
            self._meta = capture_from_dataset(ds, data=np.empty((0,) + tuple(ds.shape[1:]), dtype=ds.dtype))
        self.x0, self.dx = self._meta.x0, self._meta.dx
        self.x_unit, self.y_unit = self._meta.x_unit, self._meta.y_unit
        self.attrs, self.settings, self.instrument = self._meta.attrs, self._meta.settings, self._meta.instrument

    def _dataset(self):
        from contextlib import contextmanager

        @contextmanager
        def opened():
            with open_file(self.path) as f:
                try:
                    yield f["steps"][self.step]["captures"][self.name]
                except KeyError:
                    raise StoreError(f"{self.path}: step {self.step} has no capture {self.name!r}") from None
        return opened()

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __repr__(self) -> str:
        return (f"<capture {self.name!r} {self.shape} {self.dtype} x0={self.x0:.6g} dx={self.dx:.6g} {self.x_unit}, "
                f"y in {self.y_unit}>")

    def _read(self, key) -> np.ndarray:
        with self._dataset() as ds:
            return ds[key]

    @property
    def raw(self) -> "_RawAccess":
        return _RawAccess(self)

    def __getitem__(self, key) -> np.ndarray:
        """Values in y units for a slice (or index) of the record, read from that part of the file only."""
        start, stop = self._bounds(key)
        capture = self.capture(start, stop) if isinstance(key, slice) and key.step in (None, 1) else None
        if capture is not None:
            return capture.values()
        raw = self._read(key)
        values = self._convert(np.atleast_1d(raw))
        return values[0] if np.ndim(raw) == 0 else values

    def _bounds(self, key) -> tuple[int, int]:
        if isinstance(key, slice):
            start, stop, _ = key.indices(len(self))
            return start, max(start, stop)
        return 0, len(self)

    def _convert(self, raw: np.ndarray) -> np.ndarray:
        m = self._meta
        return Capture(self.name, raw, y_increment=m.y_increment, y_origin=m.y_origin, y_reference=m.y_reference,
                       hole_code=m.hole_code).values()

    def capture(self, start: int = 0, stop: int | None = None) -> Capture:
        """The samples [start, stop) as a Capture (raw as stored, axis shifted to start)."""
        start, stop = self._bounds(slice(start, stop))
        m = self._meta
        return Capture(self.name, self._read(slice(start, stop)), x0=m.x0 + start * m.dx, dx=m.dx, x_unit=m.x_unit,
                       y_unit=m.y_unit, y_increment=m.y_increment, y_origin=m.y_origin, y_reference=m.y_reference,
                       hole_code=m.hole_code, clip_low=m.clip_low, clip_high=m.clip_high, instrument=m.instrument,
                       settings=m.settings, attrs=m.attrs)

    def values(self) -> np.ndarray:
        """Every sample in y units (reads the whole record)."""
        return self[:]

    def x(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The axis of samples [start, stop) in x_unit (float64); an explicit axis stored in attrs wins."""
        start, stop = self._bounds(slice(start, stop))
        if "x_values" in self.attrs:
            return np.asarray(self.attrs["x_values"], dtype=np.float64)[start:stop]
        return self.x0 + np.arange(start, stop, dtype=np.float64) * self.dx

    @property
    def dim(self) -> str:
        return {"s": "time", "Hz": "frequency"}.get(self.x_unit, "x")

    def to_xarray(self, start: int = 0, stop: int | None = None):
        """An xarray.DataArray of samples [start, stop): values in y units, the x axis as a coordinate, units
        and the instrument's settings in attrs."""
        xr = _require("xarray", "to_xarray()")
        values = self[start:stop]
        dims = [self.dim] + [f"dim_{k}" for k in range(1, values.ndim)]
        coord = xr.DataArray(self.x(start, stop), dims=[self.dim], attrs={"units": self.x_unit})
        attrs = {"units": self.y_unit, "instrument": self.instrument, "run_file": str(self.path), "step": self.step,
                 "settings": json.dumps(self.settings, default=str)}
        return xr.DataArray(values, dims=dims, coords={self.dim: coord}, name=self.name, attrs=attrs)


class _RawAccess:
    def __init__(self, view: CaptureView):
        self.view = view

    def __getitem__(self, key) -> np.ndarray:
        return self.view._read(key)

    def __len__(self) -> int:
        return len(self.view)


# ---------------------------------------------------------------- steps

@dataclass
class Reanalysis:
    """A step analysed again from its stored captures (the run file is unchanged)."""
    step: str
    procedure: str
    parameters: dict[str, Any]
    verdict: str
    error: str
    metric_list: list[Metric]
    results: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def metrics(self):
        return _metrics_frame([(self.step, self.procedure, m) for m in self.metric_list])

    def metric(self, name: str) -> float:
        for m in self.metric_list:
            if m.name == name:
                return m.value
        raise KeyError(f"{self.step}: no metric {name!r}")

    def step_data(self) -> StepData:
        """The reanalysis shaped like a stored step, for `Procedure.figures`."""
        return StepData(self.path, self.step, self.procedure, self.parameters, self.verdict, self.error,
                        self.metric_list, self.results, [])

    def figures(self) -> list[tuple[str, Any]]:
        from labbench.procedure import get_procedure

        if not self.procedure or not self.results:
            return []
        return get_procedure(self.procedure)().figures(self.step_data())


class Step:
    """One stored step: procedure, parameters, verdict, metrics, results and captures (all read on demand)."""

    def __init__(self, run: "Run", record):
        self.run = run
        self.name: str = record.name
        self.procedure: str = record.procedure
        self.parameters: dict[str, Any] = record.parameters
        self.verdict: str = record.verdict
        self.error: str = record.error
        self.metric_list: list[Metric] = record.metrics
        self.capture_names: list[str] = record.capture_names
        self._captures: dict[str, CaptureView] | None = None

    def __repr__(self) -> str:
        return (f"<step {self.name}: {self.verdict or '-'}, {len(self.metric_list)} metrics, "
                f"captures {', '.join(self.capture_names) or 'none'}>")

    @property
    def captures(self) -> dict[str, CaptureView]:
        if self._captures is None:
            self._captures = {name: CaptureView(self.run.path, self.name, name) for name in self.capture_names}
        return self._captures

    @property
    def metrics(self):
        """This step's metrics as a pandas DataFrame (name, value, unit, low, high, verdict)."""
        return _metrics_frame([(self.name, self.procedure, m) for m in self.metric_list])

    def metric(self, name: str) -> float:
        for m in self.metric_list:
            if m.name == name:
                return m.value
        raise KeyError(f"{self.run.path}: step {self.name} has no metric {name!r} "
                       f"(metrics: {', '.join(m.name for m in self.metric_list) or 'none'})")

    @property
    def results(self) -> dict[str, Any]:
        """The analysis products stored with the step (arrays and groups of arrays), read now."""
        return self.step_data().results

    def step_data(self) -> StepData:
        return read_step(self.run.path, self.name)

    def figures(self) -> list[tuple[str, Any]]:
        """The procedure's figures of the stored results: [(title, matplotlib Figure)]; for a data-only
        step (an imported Touchstone channel) its captures in dB against frequency."""
        from labbench.procedure import get_procedure

        if not self.procedure:
            from labbench.importer import data_figures
            return data_figures(self.step_data())
        return get_procedure(self.procedure)().figures(self.step_data())

    def reanalyze(self, limits: str | Path | Limits | Mapping | None = None, **params) -> Reanalysis:
        return self.run.reanalyze(self.name, limits=limits, **params)


# ---------------------------------------------------------------- runs

class Run:
    """A run file opened for reading (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open_file(self.path) as f:          # validates: HDF5, a run, a format we read
            self.attrs: dict[str, Any] = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            self.instruments = {role: {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
                                for role, g in f["instruments"].items()} if "instruments" in f else {}
        self.steps: list[Step] = [Step(self, record) for record in read_steps(self.path)]

    run_id = property(lambda self: str(self.attrs.get("run_id", "")))
    status = property(lambda self: str(self.attrs.get("status", "")))
    verdict = property(lambda self: str(self.attrs.get("verdict", "")))

    def __repr__(self) -> str:
        steps = ", ".join(f"{s.name} {s.verdict or '-'}" for s in self.steps) or "no steps"
        return f"<run {self.run_id} {self.status} {self.verdict or '-'}: {steps}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(s.verdict or '-')}</td>"
                       f"<td>{len(s.metric_list)}</td><td>{html.escape(', '.join(s.capture_names))}</td>"
                       f"<td>{html.escape(s.error)}</td></tr>" for s in self.steps)
        return (f"<p>run <b>{html.escape(self.run_id)}</b> {html.escape(self.status)}, verdict "
                f"<b>{html.escape(self.verdict or '-')}</b> ({html.escape(str(self.path))})</p>"
                f"<table><tr><th>step</th><th>verdict</th><th>metrics</th><th>captures</th><th>error</th></tr>"
                f"{rows}</table>")

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, key: int | str) -> Step:
        return self.step(key)

    def step(self, key: int | str) -> Step:
        """A step by position (0-based), by name ('01_eye-jitter') or by procedure ('eye-jitter', if one)."""
        if isinstance(key, (int, np.integer)):
            return self.steps[key]
        by_name = [s for s in self.steps if s.name == key]
        by_procedure = [s for s in self.steps if s.procedure == key]
        if by_name:
            return by_name[0]
        if len(by_procedure) == 1:
            return by_procedure[0]
        names = ", ".join(s.name for s in self.steps) or "none"
        if by_procedure:
            raise KeyError(f"{self.path}: {len(by_procedure)} steps run {key!r}; name one of {names}")
        raise KeyError(f"{self.path}: no step {key!r} (steps: {names})")

    @property
    def metrics(self):
        """Every step's metrics in one pandas DataFrame (step, procedure, name, value, unit, low, high,
        verdict)."""
        with open_file(self.path) as f:
            rows = [(s.name, s.procedure, m) for s in self.steps for m in read_metrics(f["steps"][s.name])]
        return _metrics_frame(rows)

    def reanalyze(self, step: int | str, limits: str | Path | Limits | Mapping | None = None,
                  **params) -> Reanalysis:
        """Recompute a step's metrics from its stored captures with the current code, no instrument.

        `limits`:
        - None: the default limits file (as `labbench reanalyze`);
        - a mapping {metric: {"low": .., "high": ..}} (or (low, high); None: no limit, the metric is
          reported, not judged) for this step's procedure: those metrics' limits replace the default
          file's, every other metric keeps its default limits;
        - a limits file (path) or a Limits: replaces the limits altogether (as `labbench reanalyze
          --limits`): a metric the file does not name is not judged.
        `params` override the stored parameters (e.g. clock_recovery="pll", loop_bandwidth_hz=4e6).
        """
        from labbench.reanalyze import reanalyze_step

        target = self.step(step)
        record = next(r for r in read_steps(self.path) if r.name == target.name)
        limits_doc = _limits(limits, target.procedure)
        sets = {k: ("none" if v is None else str(v)) for k, v in params.items()}
        result, analysis = reanalyze_step(self.path, record, limits_doc, sets)
        parameters = dict(record.parameters)
        parameters.update(params)
        return Reanalysis(target.name, target.procedure, parameters, result.verdict, result.error, result.metrics,
                          analysis.results if analysis is not None else {}, str(self.path))


def _limits(limits, procedure: str) -> Limits:
    """The Limits a reanalysis judges with (see `Run.reanalyze`): a mapping overrides the default file's
    limits of the metrics it names, a file or Limits replaces them."""
    from labbench.limits import load_limits
    from labbench.runner import DEFAULT_LIMITS

    if limits is None:
        return load_limits(DEFAULT_LIMITS)
    if isinstance(limits, Limits):
        return limits
    if isinstance(limits, Mapping):
        from labbench.errors import ConfigError
        from labbench.procedure import get_procedure

        known = get_procedure(procedure).metrics if procedure else {}
        unknown = sorted(set(limits) - set(known))
        if unknown:
            raise ConfigError(f"limits for {procedure or 'a data-only step'}: unknown metric(s) {', '.join(unknown)}; "
                              f"metrics: {', '.join(known) or 'none'}")
        default = load_limits(DEFAULT_LIMITS)
        table = dict(default.for_procedure(procedure))
        for metric, bound in limits.items():
            if bound is None:
                low = high = None
            elif isinstance(bound, Mapping):
                extra = sorted(set(bound) - {"low", "high"})
                if extra:
                    raise ConfigError(f"limits for {procedure}.{metric}: unknown key(s) {', '.join(extra)}; "
                                      "give low and/or high")
                low, high = bound.get("low"), bound.get("high")
            else:
                low, high = bound
            table[metric] = (None if low is None else float(low), None if high is None else float(high))
        return Limits(f"{default.path} with {', '.join(limits)} from the notebook", default.product,
                      {**default.table, procedure: table})
    return load_limits(limits)

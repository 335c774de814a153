"""Trend index: every finished run's metrics in one small database, for history, plots and drift alarms.

Every run is indexed when it finishes (the runner calls `index_run` through `AFTER_RUN_HOOKS`). The
index is SQLite, `trend.sqlite` in the data folder (`$LABBENCH_DATA`, default ./data), or the file
named by `$LABBENCH_TREND`. All SQL lives in `TrendIndex`, so a lab can put the index in another
database by writing one class with the same methods. SQLite runs in WAL mode with a busy timeout:
two runs finishing at once both land (one waits for the other's short write). WAL needs a local
disk, not a network share.

A metric's history is its values for the same DUT serial, the same procedure and the same step
parameters (`params_key`: the step's parameters as canonical JSON, stored with every metric): a run
with `--set ber=1e-15` or `clock_recovery=pll` measures something else and starts its own history.
A replay (a run file with a `replay` attribute) is indexed under the DUT `replay:<file name>`, so a
stored capture never enters the history of the simulated DUT that played it.

Drift alarm: a metric inside its limits (or without limits) whose value lies more than `k` (default
3) sigma from the mean of its last `n` (default 10) values in that history; values that failed their
limits are left out (they are already reported, and would widen the spread). Nothing is judged until
the history holds `MIN_HISTORY` (5) values: a mean and spread of fewer runs say too little. Sigma is
the history's sample standard deviation, but never below `REL_FLOOR` (1 %) of its mean: a repeatable
history (a simulated bench, a quantised reading) has no spread at all, and a change under 1 % is not
called drift. The alarm text says which of the two was used.

Schema 2 added the parameters; an index written by schema 1 is migrated when first opened: the column
is added and filled from the run files that still exist (a run whose file is gone keeps parameters
unknown, a history of its own that no new run joins).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from labbench.errors import ConfigError, UsageError

K_SIGMA = 3.0            # alarm beyond this many standard deviations
HISTORY_RUNS = 10        # ... of the mean of this many previous values
MIN_HISTORY = 5          # fewer previous values than this: no judgement yet
REL_FLOOR = 0.01         # smallest spread used, as a fraction of |mean|
BUSY_TIMEOUT_S = 60.0
SCHEMA_VERSION = 2       # 2: metrics.params (the step's parameters as canonical JSON)
JUDGED_OK = ("PASS", "-")
ANY = object()           # history(params=ANY): every parameter set


def params_key(parameters: Mapping[str, Any]) -> str:
    """The step's parameters as canonical JSON (sorted keys, no spaces): equal parameters, equal key."""
    return json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), default=str)


def params_label(key: str | None) -> str:
    """A short tag for a parameter set in tables ("?" when unknown)."""
    return "?" if key is None else hashlib.sha1(key.encode()).hexdigest()[:6]


def index_location() -> Path:
    """$LABBENCH_TREND, else trend.sqlite in $LABBENCH_DATA, else ./data/trend.sqlite."""
    explicit = os.environ.get("LABBENCH_TREND")
    if explicit:
        if "://" in explicit and not explicit.startswith("sqlite:///"):
            raise ConfigError(f"LABBENCH_TREND={explicit}: only SQLite files (a path or sqlite:///path) are "
                              "supported")
        return Path(explicit.removeprefix("sqlite:///") if explicit.startswith("sqlite:///") else explicit)
    return Path(os.environ.get("LABBENCH_DATA", "data")) / "trend.sqlite"


@dataclass(frozen=True)
class Point:
    """One metric of one run, as the index holds it."""
    run_id: str
    start: str
    dut_serial: str
    procedure: str
    metric: str
    value: float
    unit: str
    low: float | None
    high: float | None
    verdict: str
    run_verdict: str
    run_file: str
    params: str | None = None        # params_key of the step; None: unknown (indexed by schema 1)


@dataclass(frozen=True)
class DriftAlarm:
    step: int           # the step's number in its run
    procedure: str
    metric: str
    value: float
    unit: str
    mean: float
    std: float          # sample standard deviation of the history
    sigma: float        # spread used: max(std, REL_FLOOR * |mean|)
    deviation_sigma: float
    runs: int           # how many previous values the mean is of
    k_sigma: float
    verdict: str = "PASS"            # the value's own verdict: PASS (inside its limits) or "-" (no limits)
    low: float | None = None
    high: float | None = None
    params: str | None = None        # params_key of the step: the history is of these parameters only

    @property
    def floor_used(self) -> bool:
        return self.sigma > self.std

    def describe(self) -> str:
        if self.floor_used:
            spread = (f"sigma {self.sigma:.3g} {self.unit} = {REL_FLOOR * 100:g} % of the mean (floor; those runs "
                      f"spread less: std {self.std:.3g})")
        else:
            spread = f"sigma {self.sigma:.3g} {self.unit}, the standard deviation of those {self.runs} runs"
        if self.verdict == "PASS":
            bounds = (f"[{'' if self.low is None else f'{self.low:.4g} '}.."
                      f"{'' if self.high is None else f' {self.high:.4g}'}]")
            judged = f"inside its limits {bounds}"
        else:
            judged = "no limits set, so not judged"
        return (f"{self.procedure} {self.metric} = {self.value:.4g} {self.unit}: {self.deviation_sigma:+.1f} sigma "
                f"from the mean {self.mean:.4g} {self.unit} of its last {self.runs} runs (same DUT, procedure and "
                f"parameters); "
                f"{spread}; alarm beyond {self.k_sigma:g} sigma; {judged}")

    def as_dict(self) -> dict[str, Any]:
        """The fields, and `text`: describe(), for reports that print the alarm as a sentence."""
        return {**asdict(self), "text": self.describe()}


def drift(value: float, history: Iterable[float],
          min_history: int = MIN_HISTORY) -> tuple[float, float, float, float] | None:
    """(deviation in sigmas, mean, std, sigma used) of `value` against `history`; None if too short."""
    past = np.asarray([v for v in history if v is not None and math.isfinite(v)], dtype=float)
    if past.size < max(1, min_history) or not math.isfinite(value):
        return None
    mean = float(past.mean())
    std = float(past.std(ddof=1)) if past.size > 1 else 0.0
    sigma = max(std, REL_FLOOR * abs(mean), np.finfo(float).tiny)
    return (value - mean) / sigma, mean, std, sigma


class TrendIndex:
    """The SQLite trend index. Use as a context manager; every write is one short transaction.

    `create=False` opens only an existing trend index (`labbench trend`): another SQLite database is
    refused and left as it is, instead of gaining the index's tables."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else index_location()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"trend index {self.path}: cannot open ({exc})") from None
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not create and not self._is_trend_index():
                raise ConfigError(f"trend index {self.path}: an SQLite database, but not a labbench trend index "
                                  "(it has no runs and metrics tables)")
            self._retry(lambda: self.db.execute("PRAGMA journal_mode = WAL"))
            self._retry(self._create)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ConfigError(f"trend index {self.path}: not an SQLite database ({exc})") from None
        except ConfigError:
            self.db.close()
            raise

    def _is_trend_index(self) -> bool:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {"runs", "metrics"} <= tables

    def _retry(self, action):
        """Schema changes take locks the busy timeout does not always wait for; try again briefly."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ConfigError(f"trend index {self.path}: {exc}") from None
                time.sleep(0.05)

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _create(self) -> None:
        """Create the tables, or migrate an index of an older schema (checked again inside the write
        transaction: of two processes opening an old index at once, one migrates, the other sees it done)."""
        if self._version() == SCHEMA_VERSION:
            return
        with self._transaction():
            version = self._version()
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise ConfigError(f"trend index {self.path}: schema {version} is newer than this labbench reads "
                                  f"({SCHEMA_VERSION}); upgrade labbench")
            self.db.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, start TEXT, end TEXT, status TEXT, verdict TEXT, plan TEXT,
                station TEXT, dut_model TEXT, dut_serial TEXT, software_version TEXT, run_file TEXT)""")
            self.db.execute("""CREATE TABLE IF NOT EXISTS metrics (
                run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER, procedure TEXT, name TEXT,
                value REAL, unit TEXT, low REAL, high REAL, verdict TEXT, params TEXT,
                PRIMARY KEY (run_id, step, name))""")
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(metrics)")}
            if "params" not in columns:                      # schema 1
                self.db.execute("ALTER TABLE metrics ADD COLUMN params TEXT")
                self._fill_params_from_run_files()
            self.db.execute("CREATE INDEX IF NOT EXISTS metrics_by_name ON metrics(name, procedure)")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _fill_params_from_run_files(self) -> None:
        """Schema 1 -> 2: each step's parameters from its run file, where the file is still readable."""
        from labbench.store import read_steps

        for run_id, run_file in self.db.execute("SELECT run_id, run_file FROM runs").fetchall():
            try:
                records = read_steps(run_file) if run_file and Path(run_file).is_file() else []
            except Exception:     # a damaged or foreign file: parameters stay unknown
                continue
            rows = [(params_key(r.parameters), run_id, _step_number(r.name)) for r in records]
            self.db.executemany("UPDATE metrics SET params = ? WHERE run_id = ? AND step = ?", rows)

    class _Transaction:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type, *exc):
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _transaction(self) -> "_Transaction":
        return TrendIndex._Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ the interface
    def add_run(self, run: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
        """One run (keys of the runs table) and its metrics (step, procedure, name, value, unit, low, high,
        verdict, params: the step's params_key or None); indexing the same run again replaces it."""
        columns = ("run_id", "start", "end", "status", "verdict", "plan", "station", "dut_model", "dut_serial",
                   "software_version", "run_file")
        rows = [(run["run_id"], m["step"], m["procedure"], m["name"],
                 None if m["value"] is None or not math.isfinite(m["value"]) else float(m["value"]),
                 m["unit"], m["low"], m["high"], m["verdict"], m.get("params")) for m in metrics]

        def write():
            with self._transaction():
                self.db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(columns)}) VALUES "
                                f"({', '.join('?' * len(columns))})", [str(run.get(c, "") or "") for c in columns])
                self.db.execute("DELETE FROM metrics WHERE run_id = ?", (run["run_id"],))
                self.db.executemany("INSERT INTO metrics (run_id, step, procedure, name, value, unit, low, high, "
                                    "verdict, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._retry(write)

    def history(self, metric: str, *, procedure: str | None = None, dut: str | None = None, params: Any = ANY,
                before: str | None = None, last: int | None = None) -> list[Point]:
        """Values of one metric, oldest first; `params` a params_key (None: the unknown ones) to see only
        those step parameters; `before` a run's start time (ISO) to see only earlier runs."""
        sql = ["SELECT r.run_id, r.start, r.dut_serial, m.procedure, m.name, m.value, m.unit, m.low, m.high, "
               "m.verdict, r.verdict, r.run_file, m.params FROM metrics m JOIN runs r ON r.run_id = m.run_id "
               "WHERE m.name = ?"]
        args: list[Any] = [metric]
        for clause, value in (("m.procedure = ?", procedure), ("r.dut_serial = ?", dut), ("r.start < ?", before)):
            if value is not None:
                sql.append(f"AND {clause}")
                args.append(value)
        if params is not ANY:
            sql.append("AND m.params IS ?")
            args.append(params)
        sql.append("ORDER BY r.start DESC, r.run_id DESC")
        if last is not None:
            sql.append("LIMIT ?")
            args.append(int(last))
        rows = self.db.execute(" ".join(sql), args).fetchall()
        return [Point(r[0], r[1], r[2], r[3], r[4], math.nan if r[5] is None else float(r[5]), r[6], r[7], r[8],
                      r[9], r[10], r[11], r[12]) for r in reversed(rows)]

    def metric_names(self) -> list[tuple[str, str]]:
        """(procedure, metric) pairs the index holds."""
        return [tuple(r) for r in self.db.execute("SELECT DISTINCT procedure, name FROM metrics ORDER BY 1, 2")]

    def run_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


# ---------------------------------------------------------------- drift against the index

def _step_number(name: str) -> int:
    """The step's number from its group name `NN_procedure`."""
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


def _baseline(index: TrendIndex, procedure: str, metric: str, dut: str, params: str | None, before: str,
              runs: int) -> list[float]:
    """The last `runs` values inside their limits (or unjudged), for this DUT, procedure and step
    parameters, from runs before `before`."""
    values: list[float] = []
    for point in reversed(index.history(metric, procedure=procedure, dut=dut, params=params, before=before)):
        if point.verdict in JUDGED_OK and math.isfinite(point.value):
            values.append(point.value)
            if len(values) == runs:
                break
    return values


def drift_alarms(index: TrendIndex, steps, dut: str, start: str, k_sigma: float = K_SIGMA,
                 runs: int = HISTORY_RUNS, step_params: Mapping[int, str | None] | None = None) -> list[DriftAlarm]:
    """Alarms for the metrics of `steps` (runner StepResults) against runs of the same DUT before `start`
    with the same step parameters (`step_params`: step number -> params_key; missing: unknown)."""
    alarms = []
    for step in steps:
        params = (step_params or {}).get(step.index)
        for m in step.metrics:
            if m.verdict not in JUDGED_OK or not math.isfinite(m.value):
                continue
            baseline = _baseline(index, step.procedure, m.name, dut, params, start, runs)
            found = drift(m.value, baseline)
            if found and abs(found[0]) > k_sigma:
                deviation, mean, std, sigma = found
                alarms.append(DriftAlarm(step.index, step.procedure, m.name, float(m.value), m.unit, mean, std,
                                         sigma, deviation, len(baseline), k_sigma, m.verdict, m.low, m.high, params))
    return alarms


def history_dut(attrs: Mapping[str, Any]) -> str:
    """The DUT a run's values belong to: its serial, or `replay:<file name>` for a replay (whatever serial
    the simulated DUT that played it had)."""
    serial = str(attrs.get("dut_serial", "") or "")
    replay = str(attrs.get("replay", "") or "")
    if replay and not serial.startswith("replay:"):
        return f"replay:{Path(replay).name}"
    return serial


def index_run(result) -> list[DriftAlarm]:
    """Judge drift of a finished run against the index, then add the run; alarms go on `result.drift_alarms`."""
    from labbench.store import read_run_attrs, read_steps

    attrs: dict[str, Any] = {}
    step_params: dict[int, str | None] = {}
    if result.run_file and Path(result.run_file).is_file():
        attrs = read_run_attrs(result.run_file)
        by_name = {r.name: params_key(r.parameters) for r in read_steps(result.run_file)}
        for s in result.steps:
            name = getattr(s, "step_name", "") or f"{s.index:02d}_{s.procedure}"
            step_params[s.index] = by_name.get(name)
    start = str(attrs.get("start") or datetime.now(timezone.utc).isoformat(timespec="microseconds"))
    dut = history_dut(attrs)
    with TrendIndex() as index:
        alarms = drift_alarms(index, result.steps, dut, start, step_params=step_params)
        run = {"run_id": result.run_id, "start": start, "end": attrs.get("end", ""), "status": result.status,
               "verdict": result.verdict, "plan": result.plan, "station": attrs.get("station", ""),
               "dut_model": attrs.get("dut_model", ""), "dut_serial": dut,
               "software_version": attrs.get("software_version", ""),
               "run_file": str(Path(result.run_file).resolve()) if result.run_file else ""}
        metrics = [{"step": s.index, "procedure": s.procedure, "name": m.name, "value": m.value, "unit": m.unit,
                    "low": m.low, "high": m.high, "verdict": m.verdict, "params": step_params.get(s.index)}
                   for s in result.steps for m in s.metrics]
        index.add_run(run, metrics)
    if hasattr(result, "drift_alarms"):
        result.drift_alarms[:] = [a.as_dict() for a in alarms]
    return alarms


# ---------------------------------------------------------------- `labbench trend`

@dataclass(frozen=True)
class TrendRow:
    point: Point
    deviation_sigma: float | None    # against the previous values inside limits (None: too few to judge)
    alarm: bool


def check_options(last: int | None = None, k_sigma: float = K_SIGMA, runs: int = HISTORY_RUNS) -> None:
    """UsageError for a count or threshold that would silently show or judge something else."""
    if last is not None and (not isinstance(last, (int, np.integer)) or last < 1):
        raise UsageError(f"--last {last}: must be a whole number >= 1 (the last N runs; leave it out for all)")
    if not (isinstance(k_sigma, (int, float, np.number)) and math.isfinite(k_sigma) and k_sigma > 0):
        raise UsageError(f"--k {k_sigma:g}: must be a number of sigmas > 0 (default {K_SIGMA:g})")
    if not isinstance(runs, (int, np.integer)) or runs < MIN_HISTORY:
        raise UsageError(f"--runs {runs}: must be a whole number >= {MIN_HISTORY} (drift is judged only from at "
                         f"least {MIN_HISTORY} earlier runs; default {HISTORY_RUNS})")


def trend_rows(index: TrendIndex, metric: str, procedure: str | None = None, dut: str | None = None,
               last: int | None = None, k_sigma: float = K_SIGMA, runs: int = HISTORY_RUNS) -> list[TrendRow]:
    """The history of a metric with each value's drift against the values before it (same DUT, procedure
    and step parameters)."""
    check_options(last, k_sigma, runs)
    earlier: dict[tuple, list[float]] = {}
    rows = []
    for point in index.history(metric, procedure=procedure, dut=dut):
        past = earlier.setdefault((point.dut_serial, point.procedure, point.params), [])
        found = drift(point.value, past[-runs:])
        deviation = None if found is None else found[0]
        alarm = deviation is not None and abs(deviation) > k_sigma and point.verdict in JUDGED_OK
        rows.append(TrendRow(point, deviation, alarm))
        if point.verdict in JUDGED_OK and math.isfinite(point.value):
            past.append(point.value)
    return rows[-last:] if last else rows


def format_trend(rows: list[TrendRow], metric: str) -> str:
    if not rows:
        return f"{metric}: no runs"
    unit = rows[-1].point.unit
    lines = [f"{metric} [{unit}]: {len(rows)} run(s); sigma against the earlier runs of the same DUT, procedure and "
             f"parameters (from {MIN_HISTORY} runs on)",
             f"{'start (UTC)':<20} {'run id':<24} {'DUT':<12} {'procedure':<16} {'value':>12} "
             f"{'limits':<22} {'verdict':<7} {'sigma':>6}  {'drift':<5}  params"]
    for row in rows:
        p = row.point
        limits = f"[{'' if p.low is None else f'{p.low:.4g}'} .. {'' if p.high is None else f'{p.high:.4g}'}]"
        sigma = "" if row.deviation_sigma is None else f"{row.deviation_sigma:+.1f}"
        lines.append(f"{p.start[:19]:<20} {p.run_id:<24} {p.dut_serial:<12} {p.procedure:<16} {p.value:>12.5g} "
                     f"{limits:<22} {p.verdict:<7} {sigma:>6}  {'ALARM' if row.alarm else '':<5}  "
                     f"{params_label(p.params)}")
    seen = dict.fromkeys(r.point.params for r in rows)
    for key in seen:
        lines.append(f"params {params_label(key)}: {'unknown (indexed before parameters were kept)' if key is None else key}")
    return "\n".join(lines)


def plot_trend(rows: list[TrendRow], metric: str, path: str | Path) -> None:
    """PNG of the history: values in run order, limits dashed, FAIL in red, drift alarms in orange."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    values = np.array([r.point.value for r in rows])
    ax.plot(x, values, "-", color="0.7", zorder=1)
    colors = ["tab:red" if r.point.verdict == "FAIL" else "tab:orange" if r.alarm else "tab:blue" for r in rows]
    ax.scatter(x, values, c=colors, zorder=2)
    for name in ("low", "high"):
        bound = [getattr(r.point, name) for r in rows]
        if any(b is not None for b in bound):
            ax.plot(x, [np.nan if b is None else b for b in bound], "--", color="tab:red", label=f"limit {name}")
    ax.set_xticks(x, [r.point.start[:16].replace("T", "\n") for r in rows], fontsize=7)
    unit = rows[-1].point.unit if rows else ""
    ax.set_ylabel(f"{metric} [{unit}]")
    duts = sorted({r.point.dut_serial for r in rows})
    ax.set_title(f"{metric}, {len(rows)} runs, DUT {', '.join(duts) or '-'}  (red FAIL, orange drift alarm)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def check_plot_path(path: str | Path) -> Path:
    """UsageError unless a PNG (or another format matplotlib writes) can be put at `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise UsageError(f"--plot {path}: cannot write a {suffix or 'suffix-less'} file; name it .png (or "
                         f"{', '.join('.' + f for f in sorted(formats) if f != 'png')})")
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"--plot {path}: no such folder {folder}")
    if not folder.is_dir():
        raise UsageError(f"--plot {path}: {folder} is not a folder")
    return path


def cmd_trend(args) -> int:
    metric, procedure = args.metric, args.procedure
    if procedure is None and ":" in metric:
        procedure, metric = metric.split(":", 1)
    check_options(args.last, args.k, args.runs)
    plot = check_plot_path(args.plot) if args.plot else None
    path = Path(args.index) if args.index else index_location()
    if not path.is_file():
        raise UsageError(f"trend index {path}: no such file (runs are indexed when they finish; set LABBENCH_DATA "
                         "or --index to where they went)")
    with TrendIndex(path, create=False) as index:
        rows = trend_rows(index, metric, procedure, args.dut, args.last, args.k, args.runs)
        if not rows:
            known = sorted({name for _, name in index.metric_names()})
            raise UsageError(f"trend index {path}: no values of {metric!r}"
                             f"{' for DUT ' + args.dut if args.dut else ''}"
                             f"{' in ' + procedure if procedure else ''}; metrics: {', '.join(known) or 'none'}")
    print(format_trend(rows, metric))
    alarms = [r for r in rows if r.alarm]
    if rows[-1].alarm:
        print(f"drift alarm: the latest value is {rows[-1].deviation_sigma:+.1f} sigma from its last runs")
    elif alarms:
        print(f"{len(alarms)} drift alarm(s) in this history")
    if plot is not None:
        try:
            plot_trend(rows, metric, plot)
        except OSError as exc:
            raise UsageError(f"--plot {plot}: cannot write ({exc.strerror or exc})") from None
        print(f"plot: {plot}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("trend", help="one metric across stored runs, with drift alarms")
    p.add_argument("metric", help="metric name (tj_s), or PROCEDURE:METRIC")
    p.add_argument("--dut", help="only this DUT serial")
    p.add_argument("--procedure", help="only this procedure")
    p.add_argument("--last", type=int, help="only the last N runs (N >= 1)")
    p.add_argument("--plot", help="write a PNG of the history")
    p.add_argument("--index", help="the index file (default: $LABBENCH_TREND or $LABBENCH_DATA/trend.sqlite)")
    p.add_argument("--k", type=float, default=K_SIGMA, help=f"drift alarm beyond K sigma, K > 0 (default {K_SIGMA:g})")
    p.add_argument("--runs", type=int, default=HISTORY_RUNS,
                   help=f"drift against the last N runs of the same DUT, procedure and parameters, N >= "
                        f"{MIN_HISTORY} (default {HISTORY_RUNS}); fewer than {MIN_HISTORY} earlier runs: not judged")
    p.set_defaults(func=cmd_trend)

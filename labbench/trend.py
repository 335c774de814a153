"""Trend index: every finished run's metrics in one small database, for history, plots and drift alarms.

Every run is indexed when it finishes (the runner calls `index_run` through `AFTER_RUN_HOOKS`). The
index is SQLite, `trend.sqlite` in the data folder (`$LABBENCH_DATA`, default ./data), or the file
named by `$LABBENCH_TREND`. All SQL lives in `TrendIndex`, so a lab can put the index in another
database by writing one class with the same four methods. SQLite runs in WAL mode with a busy
timeout: two runs finishing at once both land (one waits for the other's short write). WAL needs a
local disk, not a network share.

Drift alarm: a metric inside its limits whose value lies more than `k` standard deviations from the
mean of its last `n` values for the same DUT serial and procedure (values that failed their limits are
left out of that history: they are already reported, and would widen the spread). A perfectly
repeatable history (a simulated bench, a quantised reading) has no spread at all, so the spread used
is never below `REL_FLOOR` of the mean: a change under 1 % is never called drift.
"""
from __future__ import annotations

import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from labbench.errors import ConfigError, UsageError

K_SIGMA = 3.0            # alarm beyond this many standard deviations
HISTORY_RUNS = 10        # ... of the mean of this many previous values
MIN_HISTORY = 3          # fewer previous values than this: no judgement yet
REL_FLOOR = 0.01         # smallest spread used, as a fraction of |mean|
BUSY_TIMEOUT_S = 60.0
SCHEMA_VERSION = 1
JUDGED_OK = ("PASS", "-")


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

    def describe(self) -> str:
        return (f"{self.procedure} {self.metric} = {self.value:.4g} {self.unit}: {self.deviation_sigma:+.1f} sigma "
                f"from the mean {self.mean:.4g} of its last {self.runs} runs (sigma {self.sigma:.3g}, "
                f"alarm beyond {self.k_sigma:g}); inside its limits")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """The SQLite trend index. Use as a context manager; every write is one short transaction."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else index_location()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"trend index {self.path}: cannot open ({exc})") from None
        self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self._retry(lambda: self.db.execute("PRAGMA journal_mode = WAL"))
        self._retry(self._create)

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

    def _create(self) -> None:
        if self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction():
            self.db.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, start TEXT, end TEXT, status TEXT, verdict TEXT, plan TEXT,
                station TEXT, dut_model TEXT, dut_serial TEXT, software_version TEXT, run_file TEXT)""")
            self.db.execute("""CREATE TABLE IF NOT EXISTS metrics (
                run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER, procedure TEXT, name TEXT,
                value REAL, unit TEXT, low REAL, high REAL, verdict TEXT, PRIMARY KEY (run_id, step, name))""")
            self.db.execute("CREATE INDEX IF NOT EXISTS metrics_by_name ON metrics(name, procedure)")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
        verdict); indexing the same run again replaces it."""
        columns = ("run_id", "start", "end", "status", "verdict", "plan", "station", "dut_model", "dut_serial",
                   "software_version", "run_file")
        rows = [(run["run_id"], m["step"], m["procedure"], m["name"],
                 None if m["value"] is None or not math.isfinite(m["value"]) else float(m["value"]),
                 m["unit"], m["low"], m["high"], m["verdict"]) for m in metrics]

        def write():
            with self._transaction():
                self.db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(columns)}) VALUES "
                                f"({', '.join('?' * len(columns))})", [str(run.get(c, "") or "") for c in columns])
                self.db.execute("DELETE FROM metrics WHERE run_id = ?", (run["run_id"],))
                self.db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._retry(write)

    def history(self, metric: str, *, procedure: str | None = None, dut: str | None = None,
                before: str | None = None, last: int | None = None) -> list[Point]:
        """Values of one metric, oldest first; `before` a run's start time (ISO) to see only earlier runs."""
        sql = ["SELECT r.run_id, r.start, r.dut_serial, m.procedure, m.name, m.value, m.unit, m.low, m.high, "
               "m.verdict, r.verdict, r.run_file FROM metrics m JOIN runs r ON r.run_id = m.run_id WHERE m.name = ?"]
        args: list[Any] = [metric]
        for clause, value in (("m.procedure = ?", procedure), ("r.dut_serial = ?", dut), ("r.start < ?", before)):
            if value is not None:
                sql.append(f"AND {clause}")
                args.append(value)
        sql.append("ORDER BY r.start DESC, r.run_id DESC")
        if last is not None:
            sql.append("LIMIT ?")
            args.append(int(last))
        rows = self.db.execute(" ".join(sql), args).fetchall()
        return [Point(r[0], r[1], r[2], r[3], r[4], math.nan if r[5] is None else float(r[5]), r[6], r[7], r[8],
                      r[9], r[10], r[11]) for r in reversed(rows)]

    def metric_names(self) -> list[tuple[str, str]]:
        """(procedure, metric) pairs the index holds."""
        return [tuple(r) for r in self.db.execute("SELECT DISTINCT procedure, name FROM metrics ORDER BY 1, 2")]

    def run_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


# ---------------------------------------------------------------- drift against the index

def _baseline(index: TrendIndex, procedure: str, metric: str, dut: str, before: str, runs: int) -> list[float]:
    """The last `runs` values inside their limits, for this DUT and procedure, from runs before `before`."""
    values: list[float] = []
    for point in reversed(index.history(metric, procedure=procedure, dut=dut, before=before)):
        if point.verdict in JUDGED_OK and math.isfinite(point.value):
            values.append(point.value)
            if len(values) == runs:
                break
    return values


def drift_alarms(index: TrendIndex, steps, dut: str, start: str, k_sigma: float = K_SIGMA,
                 runs: int = HISTORY_RUNS) -> list[DriftAlarm]:
    """Alarms for the metrics of `steps` (runner StepResults) against runs of the same DUT before `start`."""
    alarms = []
    for step in steps:
        for m in step.metrics:
            if m.verdict not in JUDGED_OK or not math.isfinite(m.value):
                continue
            baseline = _baseline(index, step.procedure, m.name, dut, start, runs)
            found = drift(m.value, baseline)
            if found and abs(found[0]) > k_sigma:
                deviation, mean, std, sigma = found
                alarms.append(DriftAlarm(step.index, step.procedure, m.name, float(m.value), m.unit, mean, std,
                                         sigma, deviation, len(baseline), k_sigma))
    return alarms


def index_run(result) -> list[DriftAlarm]:
    """Judge drift of a finished run against the index, then add the run; alarms go on `result.drift_alarms`."""
    from labbench.store import read_run_attrs

    attrs: dict[str, Any] = {}
    if result.run_file and Path(result.run_file).is_file():
        attrs = read_run_attrs(result.run_file)
    start = str(attrs.get("start") or datetime.now(timezone.utc).isoformat(timespec="microseconds"))
    dut = str(attrs.get("dut_serial", ""))
    with TrendIndex() as index:
        alarms = drift_alarms(index, result.steps, dut, start)
        run = {"run_id": result.run_id, "start": start, "end": attrs.get("end", ""), "status": result.status,
               "verdict": result.verdict, "plan": result.plan, "station": attrs.get("station", ""),
               "dut_model": attrs.get("dut_model", ""), "dut_serial": dut,
               "software_version": attrs.get("software_version", ""),
               "run_file": str(Path(result.run_file).resolve()) if result.run_file else ""}
        metrics = [{"step": s.index, "procedure": s.procedure, "name": m.name, "value": m.value, "unit": m.unit,
                    "low": m.low, "high": m.high, "verdict": m.verdict} for s in result.steps for m in s.metrics]
        index.add_run(run, metrics)
    if hasattr(result, "drift_alarms"):
        result.drift_alarms[:] = [a.as_dict() for a in alarms]
    return alarms


# ---------------------------------------------------------------- `labbench trend`

@dataclass(frozen=True)
class TrendRow:
    point: Point
    deviation_sigma: float | None    # against the previous HISTORY_RUNS values inside limits
    alarm: bool


def trend_rows(index: TrendIndex, metric: str, procedure: str | None = None, dut: str | None = None,
               last: int | None = None, k_sigma: float = K_SIGMA, runs: int = HISTORY_RUNS) -> list[TrendRow]:
    """The history of a metric with each value's drift against the values before it (same DUT, procedure)."""
    points = index.history(metric, procedure=procedure, dut=dut)
    rows = []
    for i, point in enumerate(points):
        past = [p.value for p in points[:i] if p.dut_serial == point.dut_serial and p.procedure == point.procedure
                and p.verdict in JUDGED_OK and math.isfinite(p.value)][-runs:]
        found = drift(point.value, past)
        deviation = None if found is None else found[0]
        alarm = deviation is not None and abs(deviation) > k_sigma and point.verdict in JUDGED_OK
        rows.append(TrendRow(point, deviation, alarm))
    return rows[-last:] if last else rows


def format_trend(rows: list[TrendRow], metric: str) -> str:
    if not rows:
        return f"{metric}: no runs"
    unit = rows[-1].point.unit
    lines = [f"{metric} [{unit}]: {len(rows)} run(s)",
             f"{'start (UTC)':<20} {'run id':<24} {'DUT':<12} {'procedure':<16} {'value':>12} "
             f"{'limits':<22} {'verdict':<7} {'sigma':>6}  drift"]
    for row in rows:
        p = row.point
        limits = f"[{'' if p.low is None else f'{p.low:.4g}'} .. {'' if p.high is None else f'{p.high:.4g}'}]"
        sigma = "" if row.deviation_sigma is None else f"{row.deviation_sigma:+.1f}"
        lines.append(f"{p.start[:19]:<20} {p.run_id:<24} {p.dut_serial:<12} {p.procedure:<16} {p.value:>12.5g} "
                     f"{limits:<22} {p.verdict:<7} {sigma:>6}  {'ALARM' if row.alarm else ''}")
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


def cmd_trend(args) -> int:
    metric, procedure = args.metric, args.procedure
    if procedure is None and ":" in metric:
        procedure, metric = metric.split(":", 1)
    path = Path(args.index) if args.index else index_location()
    if not path.is_file():
        raise UsageError(f"trend index {path}: no such file (runs are indexed when they finish; set LABBENCH_DATA "
                         "or --index to where they went)")
    with TrendIndex(path) as index:
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
    if args.plot:
        plot_trend(rows, metric, args.plot)
        print(f"plot: {args.plot}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("trend", help="one metric across stored runs, with drift alarms")
    p.add_argument("metric", help="metric name (tj_s), or PROCEDURE:METRIC")
    p.add_argument("--dut", help="only this DUT serial")
    p.add_argument("--procedure", help="only this procedure")
    p.add_argument("--last", type=int, help="only the last N runs")
    p.add_argument("--plot", help="write a PNG of the history")
    p.add_argument("--index", help="the index file (default: $LABBENCH_TREND or $LABBENCH_DATA/trend.sqlite)")
    p.add_argument("--k", type=float, default=K_SIGMA, help=f"drift alarm beyond K sigma (default {K_SIGMA:g})")
    p.add_argument("--runs", type=int, default=HISTORY_RUNS,
                   help=f"drift against the last N runs (default {HISTORY_RUNS})")
    p.set_defaults(func=cmd_trend)

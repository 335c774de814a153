"""Runs procedures and plans on a bench: validate, acquire, store, analyze, judge, report.

Everything that can be checked is checked before an instrument is touched (procedure names,
parameters, limits files). Captures are stored the moment they exist, before analysis, so a failed
analysis or a fault later in the run never loses them. Ctrl-C and SIGTERM stop between SCPI commands;
the instruments are left idle and the run file says `aborted`.
"""
from __future__ import annotations

import getpass
import json
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from labbench import __version__
from labbench.errors import AbortRequested, ConfigError, LabbenchError, UsageError
from labbench.interrupts import held
from labbench.limits import ERROR, FAIL, PASS, Limits, Metric, judge, load_limits, run_verdict, step_verdict
from labbench.procedure import Procedure, all_procedures, gather, params_dict, parse_params
from labbench.store import ABORTED, COMPLETE, ERRORED, RunWriter

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LIMITS_DIR = Path(__import__("labbench.procedures", fromlist=["x"]).__path__[0]) / "limits"
PLANS_DIR = LIMITS_DIR.parent / "plans"
DEFAULT_LIMITS = LIMITS_DIR / "default.toml"
EXIT_CODES = {PASS: 0, FAIL: 1, ERROR: 2}


@dataclass(frozen=True)
class StepSpec:
    procedure: str
    sets: dict[str, str] = field(default_factory=dict)
    limits: str | None = None
    on_error: str = "continue"
    timeout_s: float | None = None
    name: str = ""


@dataclass
class StepResult:
    index: int
    procedure: str
    verdict: str
    metrics: list[Metric]
    error: str = ""
    duration_s: float = 0.0
    step_name: str = ""
    captures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    run_id: str
    run_file: str
    verdict: str
    status: str
    steps: list[StepResult]
    plan: str = ""
    drift_alarms: list[dict[str, Any]] = field(default_factory=list)   # filled by the trend index hook

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.verdict, 2)

    def summary(self) -> dict[str, Any]:
        def clean(value):
            return None if value is None or value != value else value
        return {
            "run_id": self.run_id, "run_file": self.run_file, "verdict": self.verdict, "status": self.status,
            "plan": self.plan,
            "steps": [{"procedure": s.procedure, "verdict": s.verdict, "error": s.error, "notes": s.notes,
                       "duration_s": round(s.duration_s, 3),
                       "metrics": [{"name": m.name, "value": clean(m.value), "unit": m.unit, "low": m.low,
                                    "high": m.high, "verdict": m.verdict} for m in s.metrics]}
                      for s in self.steps],
            "drift_alarms": self.drift_alarms,
        }


# ---------------------------------------------------------------- targets

def resolve_target(target: str) -> tuple[str, list[StepSpec]]:
    """A procedure name, or a plan (name under procedures/plans/ or a path): (plan name, steps)."""
    procedures = all_procedures()
    if target in procedures:
        return "", [StepSpec(target)]
    from labbench.plan import find_plan, load_plan

    path = find_plan(target)
    if path is None:
        import difflib

        plans = sorted(p.stem for p in PLANS_DIR.glob("*.toml"))
        close = difflib.get_close_matches(target, list(procedures) + plans, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown target {target!r}.{hint} Valid procedures: {', '.join(procedures)}; "
                         f"plans: {', '.join(plans) or 'none'} (or a plan file path)")
    return path.stem, load_plan(path)


@dataclass
class PreparedStep:
    spec: StepSpec
    procedure: type[Procedure]
    params: Any
    limits: Limits


def prepare(steps: list[StepSpec], limits_override: str | None, sets: dict[str, str]) -> list[PreparedStep]:
    procedures = all_procedures()
    cache: dict[str, Limits] = {}
    prepared = []
    for spec in steps:
        if spec.procedure not in procedures:
            raise UsageError(f"unknown procedure {spec.procedure!r}; valid: {', '.join(procedures)}")
        procedure = procedures[spec.procedure]
        merged = dict(spec.sets)
        params_known = {f for f in getattr(procedure.Params, "__dataclass_fields__", {})}
        for key, value in sets.items():
            if key in params_known or len(steps) == 1:
                merged[key] = value
        params = parse_params(procedure, merged)
        limits_path = str(limits_override or spec.limits or DEFAULT_LIMITS)
        if limits_path not in cache:
            cache[limits_path] = load_limits(limits_path)
        limits = cache[limits_path]
        unknown = sorted(set(limits.for_procedure(procedure.name)) - set(procedure.metrics))
        if unknown:
            raise ConfigError(f"limits file {limits_path}: [{procedure.name}] names unknown metric(s) "
                              f"{', '.join(unknown)}; metrics: {', '.join(procedure.metrics)}")
        prepared.append(PreparedStep(spec, procedure, params, limits))
    if len(steps) > 1:
        every = set().union(*(getattr(p.procedure.Params, "__dataclass_fields__", {}).keys() for p in prepared))
        stray = sorted(set(sets) - every)
        if stray:
            raise UsageError(f"--set {', '.join(stray)}: no step of this plan has such a parameter")
    return prepared


# ---------------------------------------------------------------- running

def default_out_dir() -> Path:
    return Path(os.environ.get("LABBENCH_DATA", "data")) / "runs"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class _AbortOnSignal:
    """Turn SIGTERM into the same clean stop as Ctrl-C (only in the main thread)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise AbortRequested(f"stopped by signal {signal.Signals(signum).name}")
            self.previous = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def run(target: str, *, station: str | None = None, limits: str | None = None, dut_profile: str | None = None,
        sets: dict[str, str] | None = None, replay: str | None = None, out: str | Path | None = None,
        json_path: str | Path | None = None, junit_path: str | Path | None = None,
        progress: Callable[[str], None] | None = None, operator: str | None = None) -> RunResult:
    """Run a procedure or a plan; same results, files and verdicts as `labbench run`."""
    say = progress or (lambda text: None)
    sets = dict(sets or {})
    plan_name, specs = resolve_target(target)
    prepared = prepare(specs, limits, sets)
    if replay is not None and not Path(replay).is_file():
        raise UsageError(f"--replay {replay}: no such file")
    if replay is not None and any("scope" not in p.procedure.roles for p in prepared):
        others = sorted({p.procedure.name for p in prepared if "scope" not in p.procedure.roles})
        raise UsageError(f"--replay plays a stored capture through the simulated scope; {', '.join(others)} "
                         "does not use the scope")
    if station is not None and dut_profile is not None:
        raise UsageError("--dut-profile sets up the simulated DUT; with --station the instruments measure the "
                         "real DUT on the bench, so the profile would be ignored")
    out_dir = Path(out) if out else default_out_dir()
    _check_writable_folder(out_dir, "--out" if out else "run folder (LABBENCH_DATA)")
    for option, path in (("--json", json_path), ("--junit", junit_path)):
        if path:
            _check_writable_file(Path(path), option)
    roles = sorted({role for p in prepared for role in p.procedure.roles})

    from labbench.bench import open_bench

    run_id = new_run_id()
    run_path = out_dir / f"{run_id}.h5"
    where = station or ("the simulated scope replaying " + str(replay) if replay else "the simulated bench")
    say(f"run {run_id}: {plan_name or specs[0].procedure} on {where}")
    bench = open_bench(station, dut_profile=dut_profile, replay=replay, roles=roles)
    results: list[StepResult] = []
    running: tuple[int, str] | None = None
    status = COMPLETE
    writer: RunWriter | None = None
    try:
        dut_model, dut_serial = bench.dut.get("model", ""), bench.dut.get("serial", "")
        if replay:   # the signal is a stored capture, not the simulated DUT's: keep its history apart
            dut_model, dut_serial = "replay", f"replay:{Path(replay).name}"
        writer = RunWriter(run_path, run_id, {
            "station": bench.station_name if station is None else str(station), "plan": plan_name,
            "operator": operator or _operator(), "dut_model": dut_model,
            "dut_serial": dut_serial, "software_version": __version__})
        if replay:
            writer.set_attrs(replay=str(Path(replay).resolve()), replay_sha256=_sha256(Path(replay)))
        for role, instrument in bench.instruments.items():
            writer.add_instrument(role, instrument.idn, instrument.resource, type(instrument).__name__)
        with _AbortOnSignal():
            stop_rest = False
            for index, step in enumerate(prepared, 1):
                running = (index, step.procedure.name)
                if stop_rest:
                    results.append(StepResult(index, step.procedure.name, ERROR, [], "not run: an earlier step "
                                              "errored and the plan says on_error = \"stop\""))
                    continue
                result = _run_step(index, len(prepared), step, bench, writer, say)
                results.append(result)
                if result.verdict == ERROR and step.spec.on_error == "stop":
                    stop_rest = True
    except (KeyboardInterrupt, AbortRequested) as exc:
        status = ABORTED
        reason = str(exc) or "Ctrl-C"
        say(f"aborted: {reason}; instruments left idle")
        # the summary, JSON and JUnit show the step that was cut short and those never run: an aborted
        # run must not look like an empty, green one to a CI system
        done = {r.index for r in results}
        for index, step in enumerate(prepared, 1):
            if index not in done:
                cut = running is not None and index == running[0]
                results.append(StepResult(index, step.procedure.name, ERROR, [],
                                          f"aborted ({reason})" if cut else "not run: the run was aborted"))
    finally:
        with held(redeliver=False):   # leaving the instruments idle runs to its end, whatever is pressed
            _make_idle(bench)
            if writer is not None:
                _write_traffic(writer, bench)
            bench.close()
    verdict = run_verdict([r.verdict for r in results]) if status == COMPLETE else ERROR
    if status == COMPLETE and any(r.verdict == ERROR for r in results):
        status = ERRORED
    if writer is not None:
        writer.finish(status, verdict)
    result = RunResult(run_id, str(run_path), verdict, status, results, plan_name)
    _after_run(result)
    if writer is not None and result.drift_alarms:
        writer.set_attrs(drift_alarms=json.dumps(result.drift_alarms, allow_nan=False, default=str))
    if json_path:
        Path(json_path).write_text(json.dumps(result.summary(), indent=2, allow_nan=False, default=str))
    if junit_path:
        from labbench.report import write_junit
        write_junit(result, junit_path)
    return result


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_writable_folder(folder: Path, what: str) -> None:
    """Checked before any instrument is touched: a run must not end in a traceback after measuring."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {folder}: cannot create the folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what} {folder}: the folder is not writable")


def _check_writable_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{what} {path}: not writable")


def _after_run(result: RunResult) -> None:
    """Hooks that must not change the verdict (trend index, ...)."""
    for hook in AFTER_RUN_HOOKS:
        try:
            hook(result)
        except Exception as exc:  # a broken index must not lose a finished run
            print(f"labbench: warning: {getattr(hook, '__name__', hook)} failed: {exc}", file=sys.stderr)


def _index_in_trend(result: RunResult) -> None:
    """Every run goes into the trend index ($LABBENCH_DATA/trend.sqlite), which also judges drift."""
    from labbench.trend import index_run
    index_run(result)


AFTER_RUN_HOOKS: list[Callable[[RunResult], None]] = [_index_in_trend]


class StepTimeout(BaseException):
    """A step ran longer than its plan's timeout_s. Like KeyboardInterrupt, not an Exception: no
    `except Exception` in a driver or procedure may swallow it and carry on past the deadline."""


class _Deadline:
    """Raises StepTimeout in the main thread when a step outlives its timeout (SIGALRM; elsewhere no limit)."""

    def __init__(self, timeout_s: float | None, what: str):
        self.timeout_s, self.what, self.armed = timeout_s, what, False

    def _fire(self, signum, frame):
        if self.armed:
            self.armed = False
            raise StepTimeout(f"{self.what}: stopped after its timeout of {self.timeout_s:g} s (plan timeout_s)")

    def __enter__(self):
        if self.timeout_s and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        return self

    def __exit__(self, *exc):
        if hasattr(self, "previous"):
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if self.previous is None else self.previous)


def _reconnect(bench, roles) -> None:
    """Fresh sessions for instruments a timeout cut off mid-command: a half-read reply must not answer
    the next step's first query."""
    for role in roles:
        old = bench.instruments.get(role)
        if old is None:
            continue
        try:
            old.close()
            new = type(old)(old.resource, visa_library=old.session.visa_library, timeout_s=old.session.timeout_s,
                            role=old.role)
        except Exception:   # the next step reports the instrument's own error
            continue
        new.session.traffic[:0] = old.session.traffic
        new.__dict__["_restores"] = old.__dict__.get("_restores", [])   # what leave_idle() must still undo
        bench.instruments[role] = new


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _run_step(index: int, total: int, step: PreparedStep, bench, writer: RunWriter, say) -> StepResult:
    procedure = step.procedure()
    name = step.procedure.name
    t0 = time.monotonic()
    step_name = writer.begin_step(index, name, params_dict(step.params))
    stored: dict[str, Any] = {}
    notes: list[str] = []
    say(f"[{index}/{total}] {name}: acquiring")
    try:
        with _Deadline(step.spec.timeout_s, name):
            for capture_name, capture in gather(procedure.acquire(bench, step.params)):
                capture.name = capture_name
                writer.write_capture(step_name, capture)
                stored[capture_name] = capture
            say(f"[{index}/{total}] {name}: {len(stored)} capture(s) stored, analysing")
            analysis = procedure.analyze(stored, step.params)
        missing = sorted(set(procedure.metrics) - {m.name for m in analysis.metrics})
        metrics = judge(analysis.metrics, step.limits.for_procedure(name))
        writer.write_metrics(step_name, metrics)
        if analysis.results:
            writer.write_results(step_name, analysis.results)
        verdict = step_verdict(metrics)
        notes = list(analysis.notes)
        for note in notes:
            say(f"[{index}/{total}] {name}: note: {note}")
        error = f"metrics not reported: {', '.join(missing)}" if missing else ""
        if missing:
            verdict = ERROR if verdict != FAIL else FAIL
    except (KeyboardInterrupt, AbortRequested):
        writer.end_step(step_name, ERROR, "aborted")
        raise
    except StepTimeout as exc:
        metrics, verdict, error = [], ERROR, str(exc)
        _reconnect(bench, step.procedure.roles)
    except LabbenchError as exc:
        metrics, verdict, error = [], ERROR, str(exc)
    except Exception as exc:   # a bug in a procedure must not take the rest of the run down
        metrics, verdict, error = [], ERROR, f"{type(exc).__name__}: {exc}"
    duration = time.monotonic() - t0
    writer.end_step(step_name, verdict, error, notes if verdict != ERROR or metrics else None)
    _write_traffic(writer, bench)
    say(f"[{index}/{total}] {name}: {verdict} ({duration:.1f} s){' - ' + error if error else ''}")
    return StepResult(index, name, verdict, metrics, error, duration, step_name, sorted(stored), notes)


def _make_idle(bench) -> None:
    """Stop acquiring and undo what procedures registered (continuous sweeps ...), on every instrument."""
    for instrument in bench.instruments.values():
        try:
            getattr(instrument, "leave_idle", instrument.make_idle)()
        except Exception:
            pass


def _write_traffic(writer: RunWriter, bench) -> None:
    for role, instrument in bench.instruments.items():
        try:
            writer.write_traffic(role, instrument.session.traffic)
        except Exception:
            pass


# ---------------------------------------------------------------- terminal table

def format_table(result: RunResult) -> str:
    lines = []
    for step in result.steps:
        lines.append(f"{step.procedure}: {step.verdict}{'  (' + step.error + ')' if step.error else ''}")
        if step.metrics:
            width = max(len(m.name) for m in step.metrics)
            for m in step.metrics:
                low = "" if m.low is None else f"{m.low:.4g}"
                high = "" if m.high is None else f"{m.high:.4g}"
                lines.append(f"  {m.name:<{width}}  {m.value:>12.5g} {m.unit:<5} [{low:>9} .. {high:<9}]  {m.verdict}")
        lines.extend(f"  note: {note}" for note in step.notes)
    for alarm in result.drift_alarms:
        text = alarm.get("text") or (f"{alarm['procedure']} {alarm['metric']} = {alarm['value']:.4g} {alarm['unit']}, "
                                     f"{alarm['deviation_sigma']:+.1f} sigma from the mean {alarm['mean']:.4g} of its "
                                     f"last {alarm['runs']} runs")
        lines.append(f"drift alarm: {text}")
    lines.append(f"verdict: {result.verdict}   run file: {result.run_file}")
    return "\n".join(lines)

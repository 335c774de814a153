"""Recompute a run's metrics from its stored captures with the current code and any limits.

No instrument is touched and the run file is not changed: the raw record stays as measured.
A step stored without a procedure (data only, e.g. an imported Touchstone channel) has nothing to
recompute: it is listed with verdict '-' and does not count towards the run's verdict; a run made only
of such steps is reported as not judged ('-', exit code 0).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from labbench.limits import ERROR, NOT_JUDGED, Limits, judge, load_limits, run_verdict, step_verdict
from labbench.procedure import Analysis, get_procedure, parse_params
from labbench.runner import DEFAULT_LIMITS, RunResult, StepResult
from labbench.store import StepRecord, read_captures, read_run_attrs, read_steps

DATA_ONLY = "data only: no procedure to analyse"


@dataclass
class _NotJudgedRun(RunResult):
    """Nothing in the run could be judged: not an error, not a pass."""

    @property
    def exit_code(self) -> int:
        return 0


def reanalyze_step(run_file: str | Path, step: StepRecord, limits_doc: Limits, sets: dict[str, str] | None = None,
                   index: int = 0) -> tuple[StepResult, Analysis | None]:
    """One stored step analysed again: (result as the runner reports it, the analysis or None on error)."""
    if not step.procedure:
        return StepResult(index, step.name, NOT_JUDGED, [], DATA_ONLY, 0.0, step.name, list(step.capture_names)), None
    procedure_cls = get_procedure(step.procedure)
    stored = {k: ("" if v is None else str(v)) for k, v in step.parameters.items()}
    stored.update(sets or {})
    params = parse_params(procedure_cls, stored)
    captures = read_captures(run_file, step.name)
    if not captures:
        return StepResult(index, step.procedure, ERROR, [], "no captures stored", 0.0, step.name), None
    try:
        analysis = procedure_cls().analyze(captures, params)
    except Exception as exc:
        return StepResult(index, step.procedure, ERROR, [], str(exc), 0.0, step.name), None
    metrics = judge(analysis.metrics, limits_doc.for_procedure(step.procedure))
    return (StepResult(index, step.procedure, step_verdict(metrics), metrics, "", 0.0, step.name, sorted(captures)),
            analysis)


def reanalyze(run_file: str | Path, limits: str | None = None, sets: dict[str, str] | None = None,
              json_path: str | Path | None = None) -> RunResult:
    attrs = read_run_attrs(run_file)
    limits_doc = load_limits(limits or DEFAULT_LIMITS)
    results = [reanalyze_step(run_file, step, limits_doc, sets, index)[0]
               for index, step in enumerate(read_steps(run_file), 1)]
    judged = [r.verdict for r in results if r.error != DATA_ONLY]
    if results and not judged:
        result: RunResult = _NotJudgedRun(str(attrs.get("run_id", "")), str(run_file), NOT_JUDGED, "reanalyzed",
                                          results, str(attrs.get("plan", "")))
    else:
        result = RunResult(str(attrs.get("run_id", "")), str(run_file), run_verdict(judged), "reanalyzed", results,
                           str(attrs.get("plan", "")))
    if json_path:
        Path(json_path).write_text(json.dumps(result.summary(), indent=2, default=str))
    return result

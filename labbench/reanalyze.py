"""Recompute a run's metrics from its stored captures with the current code and any limits.

No instrument is touched and the run file is not changed: the raw record stays as measured.
"""
from __future__ import annotations

import json
from pathlib import Path

from labbench.limits import ERROR, judge, load_limits, run_verdict, step_verdict
from labbench.procedure import get_procedure, parse_params
from labbench.runner import DEFAULT_LIMITS, RunResult, StepResult
from labbench.store import read_captures, read_run_attrs, read_steps


def reanalyze(run_file: str | Path, limits: str | None = None, sets: dict[str, str] | None = None,
              json_path: str | Path | None = None) -> RunResult:
    attrs = read_run_attrs(run_file)
    limits_doc = load_limits(limits or DEFAULT_LIMITS)
    results = []
    for index, step in enumerate(read_steps(run_file), 1):
        procedure_cls = get_procedure(step.procedure)
        stored = {k: ("" if v is None else str(v)) for k, v in step.parameters.items()}
        stored.update(sets or {})
        params = parse_params(procedure_cls, stored)
        captures = read_captures(run_file, step.name)
        if not captures:
            results.append(StepResult(index, step.procedure, ERROR, [], "no captures stored", 0.0, step.name))
            continue
        try:
            analysis = procedure_cls().analyze(captures, params)
        except Exception as exc:
            results.append(StepResult(index, step.procedure, ERROR, [], str(exc), 0.0, step.name))
            continue
        metrics = judge(analysis.metrics, limits_doc.for_procedure(step.procedure))
        results.append(StepResult(index, step.procedure, step_verdict(metrics), metrics, "", 0.0, step.name,
                                  sorted(captures)))
    result = RunResult(str(attrs.get("run_id", "")), str(run_file), run_verdict([r.verdict for r in results]),
                       "reanalyzed", results, str(attrs.get("plan", "")))
    if json_path:
        Path(json_path).write_text(json.dumps(result.summary(), indent=2, default=str))
    return result

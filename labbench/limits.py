"""Metrics, limits files and verdicts.

A limits file is TOML with one table per procedure, one entry per metric:

    product = "IoT-Sensor-X1"
    [eye-jitter]
    tj_s = { high = 29e-12 }
    eye_height_v = { low = 0.15, high = 1.0 }

A metric without limits is reported, not judged. Limits live in files, never in code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from labbench.errors import ConfigError

PASS, FAIL, ERROR, NOT_JUDGED = "PASS", "FAIL", "ERROR", "-"


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    verdict: str = NOT_JUDGED

    def judged(self, low: float | None, high: float | None) -> "Metric":
        if low is None and high is None:
            return replace(self, low=None, high=None, verdict=NOT_JUDGED)
        value = float(self.value)
        ok = math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)
        return replace(self, low=low, high=high, verdict=PASS if ok else FAIL)

    def describe_failure(self) -> str:
        bounds = []
        if self.low is not None:
            bounds.append(f">= {self.low:g}")
        if self.high is not None:
            bounds.append(f"<= {self.high:g}")
        return f"{self.name} = {self.value:g} {self.unit} (limit {' and '.join(bounds)})"


@dataclass(frozen=True)
class Limits:
    """Limits per procedure, as read from one file."""
    path: str
    product: str
    table: dict[str, dict[str, tuple[float | None, float | None]]]

    def for_procedure(self, procedure: str) -> dict[str, tuple[float | None, float | None]]:
        return self.table.get(procedure, {})


def load_limits(path: str | Path) -> Limits:
    """Read a limits file. Every table must name a procedure that exists (a typo would otherwise
    leave its metrics unjudged and the run PASS), and the file must hold at least one limit."""
    from labbench.procedure import all_procedures
    from labbench.tomlfile import line_of, read_toml

    path = Path(path)
    doc, text = read_toml(path, "limits file")
    known = all_procedures()
    for procedure, entries in doc.items():
        if procedure == "product" or not isinstance(entries, dict) or procedure in known:
            continue
        import difflib
        close = difflib.get_close_matches(procedure, list(known), n=1)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        raise ConfigError(f"limits file {path}, line {line_of(text, (procedure,))}: [{procedure}] is not a "
                          f"procedure{hint}; procedures: {', '.join(known)}")
    if not any(isinstance(v, dict) and v for k, v in doc.items() if k != "product"):
        raise ConfigError(f"limits file {path}: holds no limits (expected tables such as [eye-jitter] with "
                          "lines like tj_s = { high = 28e-12 })")
    table: dict[str, dict[str, tuple[float | None, float | None]]] = {}
    for procedure, entries in doc.items():
        if procedure == "product":
            continue
        if not isinstance(entries, dict):
            raise ConfigError(f"limits file {path}: [{procedure}] must be a table of metrics")
        table[procedure] = {}
        for metric, bound in entries.items():
            line = line_of(text, (procedure,), metric)
            if not isinstance(bound, dict) or not set(bound) <= {"low", "high"}:
                raise ConfigError(f"limits file {path}, line {line}: {procedure}.{metric} must be "
                                  "{ low = ..., high = ... } (either may be left out)")
            low, high = bound.get("low"), bound.get("high")
            for key, value in (("low", low), ("high", high)):
                if value is not None and not isinstance(value, (int, float)):
                    raise ConfigError(f"limits file {path}, line {line}: {procedure}.{metric}.{key} "
                                      f"must be a number, got {value!r}")
            if low is not None and high is not None and low > high:
                raise ConfigError(f"limits file {path}, line {line}: {procedure}.{metric} low {low} > high {high}")
            table[procedure][metric] = (None if low is None else float(low), None if high is None else float(high))
    return Limits(str(path), str(doc.get("product", "")), table)


def judge(metrics: list[Metric], bounds: dict[str, tuple[float | None, float | None]]) -> list[Metric]:
    """Judge against the limits file; a bound the procedure put on the metric itself (from a parameter
    such as rf-reach's required_range_m) applies too, the tighter of the two winning."""
    out = []
    for metric in metrics:
        low, high = bounds.get(metric.name, (None, None))
        if metric.low is not None:
            low = metric.low if low is None else max(low, metric.low)
        if metric.high is not None:
            high = metric.high if high is None else min(high, metric.high)
        out.append(metric.judged(low, high))
    return out


def step_verdict(metrics: list[Metric]) -> str:
    return FAIL if any(m.verdict == FAIL for m in metrics) else PASS


def run_verdict(step_verdicts: list[str]) -> str:
    """FAIL if any step fails, ERROR if any step errors and none fails, else PASS."""
    if FAIL in step_verdicts:
        return FAIL
    if ERROR in step_verdicts or not step_verdicts:
        return ERROR
    return PASS

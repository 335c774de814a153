"""Plans: ordered steps in TOML, each a procedure with parameters, a limits file and on_error.

    # procedures/plans/nightly.toml
    name = "nightly"
    limits = "default.toml"        # default for every step; relative to procedures/limits/ or to the plan
    timeout_s = 900                # default per-step timeout (seconds)

    [[step]]
    procedure = "eye-jitter"
    on_error = "continue"          # or "stop": the remaining steps are not run after an ERROR
    timeout_s = 300                # this step's own timeout
    [step.set]                     # parameters, as `--set NAME=VALUE` would give them
    ber = 1e-12

Everything is checked when the plan is read, before any instrument is touched: unknown keys, unknown
procedures, parameters the procedure does not have, missing limits files. Errors name the file, line
and key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from labbench.errors import ConfigError, UsageError
from labbench.tomlfile import describe_key, line_of, read_toml

PLAN_KEYS = {"name", "description", "limits", "timeout_s", "on_error", "step"}
STEP_KEYS = {"procedure", "name", "set", "limits", "on_error", "timeout_s"}
ON_ERROR = ("continue", "stop")


def plans_dir() -> Path:
    import labbench.procedures as procedures
    return Path(procedures.__path__[0]) / "plans"


def _limits_dir() -> Path:
    return plans_dir().parent / "limits"


def find_plan(target: str) -> Path | None:
    """A plan by path (`my/plan.toml`) or by name (`nightly` -> procedures/plans/nightly.toml)."""
    path = Path(target)
    if path.suffix == ".toml" and path.is_file():
        return path
    candidate = plans_dir() / f"{target}.toml"
    return candidate if candidate.is_file() else None


class _Where:
    """Builds the 'plan FILE, line N, key K:' prefix of a message."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def error(self, table: tuple, key: str | None, message: str) -> ConfigError:
        line = line_of(self.text, table, key) or line_of(self.text, table) or 0
        at = f", line {line}" if line else ""
        name = describe_key(table, key)
        return ConfigError(f"plan {self.path}{at}{', key ' + repr(name) if name else ''}: {message}")


def _timeout(where: _Where, table: tuple, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise where.error(table, "timeout_s", f"timeout_s = {value!r}; must be a positive number of seconds")
    return float(value)


def _on_error(where: _Where, table: tuple, value: Any) -> str:
    if value not in ON_ERROR:
        raise where.error(table, "on_error", f"on_error = {value!r}; use \"continue\" or \"stop\"")
    return value


def _limits(where: _Where, table: tuple, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise where.error(table, "limits", f"limits = {value!r}; must be a file name")
    for base in (where.path.parent, _limits_dir()):
        if (base / value).is_file():
            return str(base / value)
    raise where.error(table, "limits", f"limits file {value!r} not found next to the plan nor in {_limits_dir()}")


def load_plan(path: str | Path, procedures: dict[str, type] | None = None):
    """Read and check a plan: a list of `labbench.runner.StepSpec`, in order."""
    from labbench.procedure import all_procedures, parse_params
    from labbench.runner import StepSpec

    path = Path(path)
    doc, text = read_toml(path, "plan")
    where = _Where(path, text)
    procedures = all_procedures() if procedures is None else procedures
    unknown = sorted(set(doc) - PLAN_KEYS)
    if unknown:
        raise where.error((), unknown[0], f"unknown key(s) {', '.join(unknown)}; a plan has "
                          f"{', '.join(sorted(PLAN_KEYS))}")
    default_limits = _limits(where, (), doc.get("limits"))
    default_timeout = _timeout(where, (), doc.get("timeout_s"))
    default_on_error = _on_error(where, (), doc.get("on_error", "continue"))
    steps = doc.get("step")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"plan {path}: no [[step]] tables (each step: [[step]] procedure = \"...\")")
    specs = []
    for i, step in enumerate(steps):
        table = ("step", i)
        unknown = sorted(set(step) - STEP_KEYS)
        if unknown:
            raise where.error(table, unknown[0], f"unknown key(s) {', '.join(unknown)}; a step has "
                              f"{', '.join(sorted(STEP_KEYS))}")
        name = step.get("procedure")
        if not isinstance(name, str) or not name:
            raise where.error(table, None if "procedure" not in step else "procedure",
                              f"step {i + 1} names no procedure (procedure = \"eye-jitter\", ...)")
        if name not in procedures:
            raise where.error(table, "procedure", f"unknown procedure {name!r}; procedures: "
                              f"{', '.join(procedures) or 'none'}")
        sets_doc = step.get("set", {})
        if not isinstance(sets_doc, dict):
            raise where.error(table, "set", "set must be a table of parameters ([step.set] or set = { ... })")
        sets = {}
        for key, value in sets_doc.items():
            if isinstance(value, (dict, list)):
                raise where.error(table + ("set",), key, f"{key} = {value!r}; a parameter is a single value")
            sets[key] = str(value)
        try:
            parse_params(procedures[name], sets)
        except UsageError as exc:
            bad = next((k for k in sets if f"{k}=" in str(exc) or f"{k!r}" in str(exc)), None)
            raise where.error(table + ("set",) if bad else table, bad, str(exc)) from None
        label = step.get("name", "")
        if not isinstance(label, str):
            raise where.error(table, "name", f"name = {label!r}; must be a string")
        specs.append(StepSpec(
            name, sets, _limits(where, table, step.get("limits")) or default_limits,
            _on_error(where, table, step.get("on_error", default_on_error)),
            _timeout(where, table, step.get("timeout_s")) if "timeout_s" in step else default_timeout,
            label))
    return specs


def plan_procedures(path: str | Path) -> list[str]:
    """The procedures a plan runs, in order (read without checking them against the registry)."""
    doc, _ = read_toml(path, "plan")
    return [str(step.get("procedure", "")) for step in doc.get("step", []) if isinstance(step, dict)]

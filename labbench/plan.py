"""Plans: ordered steps in TOML, each a procedure with parameters, a limits file and on_error.

    # procedures/plans/nightly.toml
    name = "nightly"
    [[step]]
    procedure = "eye-jitter"
    limits = "default.toml"        # relative to procedures/limits/ or to the plan file
    on_error = "continue"          # or "stop"
    timeout_s = 300
    [step.set]
    ber = 1e-12
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from labbench.errors import ConfigError


def _plans_dir() -> Path:
    import labbench.procedures as procedures
    return Path(procedures.__path__[0]) / "plans"


def _limits_dir() -> Path:
    return _plans_dir().parent / "limits"


def find_plan(target: str) -> Path | None:
    path = Path(target)
    if path.suffix == ".toml" and path.is_file():
        return path
    candidate = _plans_dir() / f"{target}.toml"
    return candidate if candidate.is_file() else None


def _line_of(text: str, needle: str, occurrence: int = 0) -> int:
    seen = -1
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    return 0


def load_plan(path: str | Path):
    from labbench.runner import StepSpec

    path = Path(path)
    try:
        text = path.read_text()
        doc = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"plan {path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"plan {path}: {exc}") from None
    steps = doc.get("step")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"plan {path}: no [[step]] tables")
    specs = []
    for i, step in enumerate(steps):
        line = _line_of(text, "[[step]]", i)
        unknown = set(step) - {"procedure", "set", "limits", "on_error", "timeout_s", "name"}
        if unknown:
            raise ConfigError(f"plan {path}, line {line}: step {i + 1} has unknown key(s) {', '.join(sorted(unknown))}")
        if "procedure" not in step:
            raise ConfigError(f"plan {path}, line {line}: step {i + 1} names no procedure")
        on_error = step.get("on_error", "continue")
        if on_error not in ("continue", "stop"):
            raise ConfigError(f"plan {path}, line {_line_of(text, 'on_error') or line}: on_error = {on_error!r}; "
                              "use \"continue\" or \"stop\"")
        limits = step.get("limits")
        if limits:
            for base in (path.parent, _limits_dir()):
                if (base / limits).is_file():
                    limits = str(base / limits)
                    break
            else:
                raise ConfigError(f"plan {path}, line {line}: step {i + 1} limits file {limits!r} not found")
        sets = {k: str(v) for k, v in dict(step.get("set", {})).items()}
        specs.append(StepSpec(str(step["procedure"]), sets, limits, on_error, step.get("timeout_s"),
                              str(step.get("name", ""))))
    return specs

"""Procedures: declared instruments, parameters and metrics; `acquire` and `analyze` kept apart.

`acquire(bench, params)` talks to instruments and returns captures (a dict, or a generator of
(name, capture) pairs so the runner stores each one the moment it exists). `analyze(captures,
params)` is a pure function of captures and parameters returning an Analysis: metrics plus the arrays
worth keeping (eye histogram, spectra, state tables). The runner does the rest.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator

from labbench.capture import Capture
from labbench.errors import AnalysisError, UsageError
from labbench.limits import Metric


@dataclass
class Analysis:
    metrics: list[Metric]
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # what the operator should know (shown and stored)


def choices(*values: str, default: str) -> Any:
    """A parameter limited to named values (listed in usage errors)."""
    return field(default=default, metadata={"choices": values})


class Procedure:
    name: ClassVar[str] = ""
    roles: ClassVar[dict[str, type]] = {}
    Params: ClassVar[type] = type(None)
    metrics: ClassVar[dict[str, str]] = {}       # every metric it reports: name -> unit
    description: ClassVar[str] = ""

    def acquire(self, bench, params) -> dict[str, Capture] | Iterator[tuple[str, Capture]]:
        raise NotImplementedError

    def analyze(self, captures: dict[str, Capture], params) -> Analysis:
        raise NotImplementedError

    def figures(self, step) -> list[tuple[str, Any]]:
        """The plots people look at for a stored step (`labbench.store.StepData`): a list of
        (title, matplotlib Figure), used by the HTML report and in notebooks. Default: none."""
        return []

    def metric(self, name: str, value: float) -> Metric:
        """A declared metric (an undeclared name is a bug, caught here rather than at judging)."""
        if name not in self.metrics:
            raise AnalysisError(f"{self.name} reports undeclared metric {name!r}")
        return Metric(name, float(value), self.metrics[name])


# ---------------------------------------------------------------- parameters from the command line

def _field_kind(f: dataclasses.Field, owner: type) -> tuple[type, bool]:
    """The parameter's type and whether it may be None; string annotations (`from __future__ import
    annotations`) are resolved by typing.get_type_hints against the Params class's own module."""
    hint = typing.get_type_hints(owner).get(f.name, f.type)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) != len(typing.get_args(hint))
        hint = args[0]
    return hint, optional


def describe_params(params_cls: type) -> str:
    parts = []
    for f in dataclasses.fields(params_cls):
        kind, _ = _field_kind(f, params_cls)
        options = f.metadata.get("choices")
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f"{f.name} ({'|'.join(options) if options else kind.__name__}, default {default})"
        parts.append(text)
    return ", ".join(parts)


def parse_params(procedure: type[Procedure], sets: dict[str, str] | None) -> Any:
    """Build the Params dataclass from NAME=VALUE strings; unknown names or bad values are usage errors."""
    params_cls = procedure.Params
    fields_by_name = {f.name: f for f in dataclasses.fields(params_cls)}
    values: dict[str, Any] = {}
    for name, text in (sets or {}).items():
        if name not in fields_by_name:
            raise UsageError(f"{procedure.name}: no parameter {name!r}; valid: {describe_params(params_cls)}")
        f = fields_by_name[name]
        kind, optional = _field_kind(f, params_cls)
        raw = str(text).strip()
        if optional and raw.lower() in ("", "none", "auto"):
            values[name] = None
            continue
        options = f.metadata.get("choices")
        try:
            if kind is bool:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value: Any = raw.lower() in ("1", "true", "yes", "on")
            elif kind is int:
                value = int(float(raw)) if float(raw).is_integer() else int(raw)
            elif kind is float:
                value = float(raw)
            else:
                value = raw
        except ValueError:
            raise UsageError(f"{procedure.name}: {name}={raw!r} is not a valid {kind.__name__}") from None
        if options and value not in options:
            raise UsageError(f"{procedure.name}: {name}={raw!r}; valid values: {', '.join(options)}")
        values[name] = value
    try:
        return params_cls(**values)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{procedure.name}: {exc}") from None


def params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}


# ---------------------------------------------------------------- registry

def all_procedures() -> dict[str, type[Procedure]]:
    """Every procedure in labbench.procedures, by name."""
    import labbench.procedures as package

    found: dict[str, type[Procedure]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"labbench.procedures.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Procedure) and value.name and value is not Procedure:
                found[value.name] = value
    return dict(sorted(found.items()))


def get_procedure(name: str) -> type[Procedure]:
    procedures = all_procedures()
    if name not in procedures:
        raise UsageError(f"unknown procedure {name!r}; valid: {', '.join(procedures)}")
    return procedures[name]


def gather(captures: dict[str, Capture] | Iterable[tuple[str, Capture]]) -> Iterator[tuple[str, Capture]]:
    if isinstance(captures, dict):
        yield from captures.items()
    else:
        yield from captures

"""`labbench import FILE` and `labbench.import_file(path)`: a vendor capture file as a run file.

Captures saved from an instrument's own front panel become run files like any other, so `open_run`,
`labbench show`, `labbench reanalyze` and every procedure's analysis take them:

- Keysight/Agilent .bin (InfiniiVision, Infiniium): one step per waveform (segments and channels alike),
  its float buffer as capture "data" exactly as stored (float32 volts), any other buffer (max, min,
  counts, digital ...) as a capture named by its kind. The file-size field and the header's point count
  are not trusted (see labbench.fileformats.keysight_bin).
- Infiniium .h5 (H5: float32 volts; H5INt: int16 codes kept raw, with YInc/YOrg as the capture's scale):
  one step per source and segment, the samples as capture "data".
- Touchstone (.sNp) through scikit-rf: a data-only step "channel" with Sdd21 (4-port, single-ended pair
  converted to mixed mode) or S21 (2-port) as captures "sdd21" (re, im columns) and "sdd21_db" against
  frequency; the full S matrices under results. `data_figures` draws it (dB against frequency) for the
  HTML report and `Step.figures()`.

Waveforms with a time axis are analysed as eye-jitter unless another procedure (or none) is named; the
step stores its parameters, so `labbench reanalyze` reproduces and revises the analysis. A waveform is
stored as capture "data", so a procedure whose analysis reads other captures ("rail", "spectrogram",
...) cannot analyse it and is refused before anything is written (`fitting_procedures` says which fit:
it asks each procedure's analysis which capture it reads first). Steps without analysis are named by
the waveform's label ("channel-1" for InfiniiVision's "1").

`labbench import` exits like `labbench run`: 0 PASS, 1 FAIL, 2 ERROR, as the imported run's verdict;
0 when nothing was judged (`--procedure none`, `--no-analyze`, a Touchstone channel); 64 usage error.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labbench import __version__
from labbench.capture import Capture
from labbench.errors import FileFormatError, LabbenchError, UsageError
from labbench.limits import ERROR, FAIL, judge, load_limits, run_verdict, step_verdict
from labbench.store import COMPLETE, ERRORED, RunWriter

__all__ = ["import_file", "register_cli", "detect_format", "fitting_procedures", "data_figures"]

DEFAULT_PROCEDURE = "eye-jitter"
_TOUCHSTONE = re.compile(r"\.(s\d+p|ts)$", re.IGNORECASE)
_THRU_GUESSES = (((1, 2), (3, 4)), ((1, 3), (2, 4)))


@dataclass
class _Step:
    label: str
    captures: dict[str, Capture]
    analysable: bool                 # has a time-domain waveform as capture "data"
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Source:
    fmt: str                         # keysight-bin, infiniium-h5, touchstone
    instrument: str                  # "MODEL:SERIAL" or what the file says
    role: str
    steps: list[_Step]


def detect_format(path: str | Path) -> str:
    """'keysight-bin', 'infiniium-h5' or 'touchstone' from the file's first bytes (and name for Touchstone)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] in (b"AG", b"RG"):
        return "keysight-bin"
    if h5py.is_hdf5(path):
        try:
            f = h5py.File(path, "r")
        except OSError as exc:     # e.g. "truncated file: eof = 20000, ... stored_eof = 1229236"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FileFormatError(f"{path}: an HDF5 file that cannot be opened, truncated or damaged ({reason})") \
                from None
        with f:
            if "format_version" in f.attrs and "steps" in f:
                raise FileFormatError(f"{path}: already a labbench run file; open it with labbench.open_run "
                                      f"or `labbench show`")
        return "infiniium-h5"
    if _TOUCHSTONE.search(path.name):
        return "touchstone"
    if path.suffix.lower() in (".h5", ".hdf5", ".osc"):
        raise FileFormatError(f"{path}: not an HDF5 file, so not an Infiniium .h5 waveform export")
    raise FileFormatError(f"{path}: not a capture file labbench imports (Keysight .bin starts with 'AG', "
                          f"Infiniium .h5 is HDF5, Touchstone is .sNp); it starts with {head[:8]!r}")


# ---------------------------------------------------------------- readers -> steps

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _label(text: str, fallback: str) -> str:
    """A step label from a waveform's label: InfiniiVision labels channels "1", "2" ...: "channel-1"."""
    slug = _slug(text)
    if slug.isdigit():
        return f"channel-{slug}"
    return slug or fallback


def _unique(name: str, taken: dict) -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name}_{k}", k + 1
    return out


def _from_keysight_bin(path: Path) -> _Source:
    from labbench.fileformats.keysight_bin import read_keysight_bin

    waveforms = read_keysight_bin(path)
    steps = []
    for index, wf in enumerate(waveforms, 1):
        float_buffers = [b for b in wf.buffers if b.data.dtype.kind == "f"]
        primary = next((b for b in float_buffers if b.type_code == 1), float_buffers[0] if float_buffers else None)
        base_attrs = {"source_file": str(path), "waveform": index, "waveforms": len(waveforms), "label": wf.label,
                      "frame": wf.frame, "kind": wf.kind, "date": wf.date, "time": wf.time,
                      "header_points": int(wf.points), "count": int(wf.count), "time_tag_s": wf.time_tag_s,
                      "segment_index": int(wf.segment_index)}
        settings = {"x_display_range": wf.x_display_range, "x_display_origin": wf.x_display_origin}
        captures: dict[str, Capture] = {}
        for buf in wf.buffers:
            name = "data" if buf is primary else _unique(buf.kind, captures)
            y_unit = wf.y_units if buf.data.dtype.kind == "f" else "code"
            captures[name] = Capture(name, buf.data, x0=wf.x_origin_s, dx=wf.x_increment_s, x_unit=wf.x_units,
                                     y_unit=y_unit, instrument=wf.frame, settings=settings,
                                     attrs={**base_attrs, "buffer": buf.kind})
        analysable = primary is not None and wf.x_units == "s"
        steps.append(_Step(_label(wf.label, f"waveform-{index}"), captures, analysable))
    return _Source("keysight-bin", waveforms[0].frame if waveforms else "", "scope", steps)


def _from_infiniium_h5(path: Path) -> _Source:
    from labbench.fileformats.infiniium_h5 import read_infiniium_h5

    waveforms = read_infiniium_h5(path)
    steps = []
    for wf in waveforms:
        integer = wf.is_integer
        if integer and (wf.y_increment is None or wf.y_origin is None):
            raise FileFormatError(f"{path}: {wf.name!r} holds integer codes but has no YInc/YOrg to scale them")
        attrs = {"source_file": str(path), "source": wf.name, "segment": wf.segment, "time_tag_s": wf.time_tag_s,
                 "frame": wf.frame, "variant": "H5INt int16 codes" if integer else "H5 float values"}
        capture = Capture("data", wf.raw, x0=wf.x_origin_s, dx=wf.x_increment_s, x_unit=wf.x_units,
                          y_unit=wf.y_units, y_increment=wf.y_increment if integer else 1.0,
                          y_origin=wf.y_origin if integer else 0.0, instrument=wf.frame,
                          settings={k: v for k, v in wf.attrs.items()}, attrs=attrs)
        label = _label(wf.name, "waveform") + (f"-seg{wf.segment}" if wf.segment else "")
        steps.append(_Step(label, {"data": capture}, wf.x_units == "s"))
    return _Source("infiniium-h5", waveforms[0].frame if waveforms else "", "scope", steps)


def _frequency_capture(name: str, data: np.ndarray, f_hz: np.ndarray, y_unit: str, attrs: dict) -> Capture:
    step_hz = np.diff(f_hz)
    dx = float(np.median(step_hz)) if step_hz.size else 1.0
    attrs = dict(attrs)
    if step_hz.size and np.max(np.abs(step_hz - dx)) > 1e-6 * dx:   # not a uniform grid: keep the axis itself
        attrs["x_values"] = f_hz.tolist()
    return Capture(name, data, x0=float(f_hz[0]), dx=dx, x_unit="Hz", y_unit=y_unit, attrs=attrs)


def _from_touchstone(path: Path, thru_pairs=None) -> _Source:
    import skrf

    from labbench.errors import ConfigError
    from labbench.fileformats.touchstone import load_differential_thru

    try:
        net = skrf.Network(str(path))
    except Exception as exc:  # scikit-rf raises many types for a malformed file
        raise FileFormatError(f"{path}: cannot read as Touchstone: {exc}".splitlines()[0]) from None
    f_hz = np.asarray(net.f, dtype=np.float64)
    attrs: dict[str, Any] = {"source_file": str(path), "ports": int(net.nports), "z0_ohm": float(np.real(net.z0.flat[0]))}
    results: dict[str, Any] = {"network": {"frequency_hz": f_hz, "s": net.s, "z0_ohm": np.real(net.z0)}}
    if net.nports == 4:
        last = None
        for pairs in ([tuple(thru_pairs)] if thru_pairs else _THRU_GUESSES):
            try:
                sdd = load_differential_thru(path, thru_pairs=pairs)
                break
            except ConfigError as exc:
                last = exc
        else:
            raise last
        transfer, name = sdd.s[:, 1, 0], "sdd21"
        attrs["thru_pairs"] = [list(p) for p in pairs]
        results["differential"] = {"frequency_hz": np.asarray(sdd.f, dtype=np.float64), "sdd": sdd.s}
    elif net.nports == 2:
        transfer, name = net.s[:, 1, 0], "s21"
    elif net.nports == 1:
        transfer, name = net.s[:, 0, 0], "s11"
    else:
        transfer, name = None, ""
    captures = {}
    if transfer is not None:
        pair = np.column_stack([transfer.real, transfer.imag]).astype(np.float64)
        captures[name] = _frequency_capture(name, pair, f_hz, "1", {**attrs, "columns": ["re", "im"]})
        db = 20.0 * np.log10(np.maximum(np.abs(transfer), 1e-30))
        captures[f"{name}_db"] = _frequency_capture(f"{name}_db", db, f_hz, "dB", attrs)
    return _Source("touchstone", net.name or path.stem, "vna", [_Step("channel", captures, False, results)])


# ---------------------------------------------------------------- writing the run

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_file(path: str | Path, out: str | Path | None = None, *, procedure: str | None = DEFAULT_PROCEDURE,
                sets: dict[str, Any] | None = None, limits: str | Path | None = None, analyze: bool = True,
                thru_pairs=None):
    """Write a run file holding the vendor file's data and return it opened (`labbench.runview.Run`).

    `procedure`: the analysis for time-domain waveforms (None or "none": data only). `sets`: its
    parameters, as with `labbench run --set` (stored with the step, so reanalysis reproduces it).
    `analyze`: also analyse now and store metrics and results (judged against `limits`, default the
    default limits file), as a bench run would; False stores only the data. `out`: folder for the run
    file (default ./data/runs). `thru_pairs`: Touchstone 4-port thru paths, e.g. ((1, 2), (3, 4));
    None tries 1->2/3->4, then 1->3/2->4.
    """
    from labbench.procedure import get_procedure, params_dict, parse_params
    from labbench.runner import DEFAULT_LIMITS, _operator, default_out_dir, new_run_id
    from labbench.runview import open_run

    path = Path(path)
    fmt = detect_format(path)
    procedure = None if procedure in (None, "", "none") else procedure
    procedure_cls = get_procedure(procedure) if procedure else None
    params = parse_params(procedure_cls, {k: ("none" if v is None else str(v)) for k, v in (sets or {}).items()}) \
        if procedure_cls else None
    limits_doc = load_limits(limits or DEFAULT_LIMITS) if analyze and procedure_cls else None
    if fmt == "keysight-bin":
        source = _from_keysight_bin(path)
    elif fmt == "infiniium-h5":
        source = _from_infiniium_h5(path)
    else:
        source = _from_touchstone(path, thru_pairs)
    if procedure_cls:
        _check_fit(path, procedure_cls, params, [s for s in source.steps if s.analysable])

    folder = _output_folder(out if out else default_out_dir())
    run_id = new_run_id()
    run_path = folder / f"{run_id}.h5"
    model, _, serial = source.instrument.partition(":")
    try:
        writer = RunWriter(run_path, run_id, {"station": f"import:{fmt}", "operator": _operator(), "dut_model": "",
                                              "dut_serial": "", "plan": "", "software_version": __version__})
    except OSError as exc:
        raise UsageError(f"--out {folder}: cannot write the run file {run_path.name} ({exc.strerror or exc})") \
            from None
    writer.set_attrs(source_file=str(path.resolve()), source_sha256=_sha256(path), source_format=fmt,
                     source_instrument=source.instrument)
    writer.add_instrument(source.role, ",".join(p for p in (model, serial) if p) or "unknown",
                          f"file:{path.resolve()}", f"import:{fmt}")
    verdicts = []
    for index, step in enumerate(source.steps, 1):
        analysed_by = procedure if (procedure_cls and step.analysable) else ""
        name = writer.begin_step(index, analysed_by, params_dict(params) if analysed_by else {},
                                 label=None if analysed_by else step.label)
        for capture in step.captures.values():
            writer.write_capture(name, capture)
        if step.results:
            writer.write_results(name, step.results)
        if not (analysed_by and analyze):
            writer.end_step(name, "")
            continue
        verdict, error = _analyse(writer, name, procedure_cls, step.captures, params, limits_doc)
        verdicts.append(verdict)
    status = ERRORED if ERROR in verdicts else COMPLETE
    writer.finish(status, run_verdict(verdicts) if verdicts else "")
    return open_run(run_path)


def _output_folder(folder: str | Path) -> Path:
    """The folder for the run file, created if needed; UsageError (one line) when it cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder}: not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {folder}: cannot write there (permission denied)")
    return folder


# ---------------------------------------------------------------- which procedures fit a file

class _Read(BaseException):
    """Raised by _CaptureProbe at the first capture an analysis reads. A BaseException, so no `except
    Exception` inside an analysis can swallow it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _CaptureProbe(dict):
    """An empty set of captures that tells which capture an analysis asks for first."""

    def __getitem__(self, name):
        raise _Read(str(name))


def required_capture(procedure_cls, params=None) -> str | None:
    """The capture `procedure_cls.analyze` reads first, found by running it on no captures at all (it stops
    at that read); None when it reads none that way, or its parameters have no defaults."""
    try:
        params = procedure_cls.Params() if params is None else params
        procedure_cls().analyze(_CaptureProbe(), params)
    except _Read as read:
        return read.name
    except Exception:
        return None
    return None


def fitting_procedures(capture_names) -> list[str]:
    """The installed procedures whose analysis reads a capture among `capture_names` first."""
    from labbench.procedure import all_procedures

    names = set(capture_names)
    return [name for name, cls in all_procedures().items() if required_capture(cls) in names]


def _check_fit(path: Path, procedure_cls, params, steps: list[_Step]) -> None:
    """UsageError, before anything is written, if the procedure's analysis reads a capture the file's
    waveforms do not provide (rail-noise reads "rail"; a waveform is stored as "data")."""
    if not steps:
        return
    needed = required_capture(procedure_cls, params)
    if needed is None or all(needed in step.captures for step in steps):
        return
    given = sorted({name for step in steps for name in step.captures})
    fits = [name for name in fitting_procedures(given) if name != procedure_cls.name]
    raise UsageError(f"--procedure {procedure_cls.name}: its analysis reads capture {needed!r}, which {path} does "
                     f"not provide (its waveforms are stored as {', '.join(repr(g) for g in given)}); procedures "
                     f"that fit: {', '.join(fits) or 'none'}, or 'none' to store the data only")


# ---------------------------------------------------------------- figures of data-only steps

def _axis(capture: Capture) -> np.ndarray:
    """The capture's x axis: the explicit one stored for a non-uniform grid, else x0 + n * dx."""
    if "x_values" in capture.attrs:
        return np.asarray(capture.attrs["x_values"], dtype=np.float64)
    return capture.x0 + np.arange(capture.data.shape[0], dtype=np.float64) * capture.dx


def data_figures(step) -> list[tuple[str, Any]]:
    """Figures of a data-only step (no procedure; `labbench.store.StepData`): every capture in dB against
    frequency, i.e. an imported Touchstone channel's Sdd21 (or S21, S11) magnitude. Used by the HTML report
    and `Step.figures()`; [] for a step with nothing of that kind."""
    from matplotlib.figure import Figure

    from labbench.plots import engineering_scale

    out = []
    for name in step.capture_names:
        capture = step.capture(name)
        if capture.x_unit != "Hz" or capture.y_unit != "dB" or capture.data.ndim != 1:
            continue
        f_hz = _axis(capture)
        scale, unit = engineering_scale(f_hz, "Hz")
        label = name.removesuffix("_db")
        label = label[:1].upper() + label[1:]                 # sdd21 -> Sdd21, s21 -> S21
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.subplots()
        ax.plot(f_hz / scale, capture.values(), color="tab:blue", lw=1.2, label=label)
        ax.set_xlabel(f"frequency [{unit}]")
        ax.set_ylabel(f"|{label}| [dB]")
        source = capture.attrs.get("source_file")
        ax.set_title(f"{label} magnitude" + (f": {Path(str(source)).name}" if source else ""))
        ax.grid(alpha=0.3)
        out.append((f"{label} in dB against frequency", fig))
    return out


# ---------------------------------------------------------------- analysis

def _analyse(writer: RunWriter, step_name: str, procedure_cls, captures, params, limits_doc) -> tuple[str, str]:
    """Analyse one imported step as the runner does after acquiring: metrics, results, verdict."""
    procedure = procedure_cls()
    try:
        analysis = procedure.analyze(captures, params)
        metrics = judge(analysis.metrics, limits_doc.for_procedure(procedure_cls.name))
        writer.write_metrics(step_name, metrics)
        if analysis.results:
            writer.write_results(step_name, analysis.results)
        verdict, error = step_verdict(metrics), ""
        missing = sorted(set(procedure_cls.metrics) - {m.name for m in analysis.metrics})
        if missing:
            error = f"metrics not reported: {', '.join(missing)}"
            verdict = FAIL if verdict == FAIL else ERROR
    except LabbenchError as exc:
        verdict, error = ERROR, str(exc)
    except Exception as exc:   # a bug in an analysis must not lose the imported data
        verdict, error = ERROR, f"{type(exc).__name__}: {exc}"
    writer.end_step(step_name, verdict, error)
    return verdict, error


# ---------------------------------------------------------------- command line

def _parse_thru(text: str | None):
    if not text:
        return None
    try:
        pairs = tuple(tuple(int(p) for p in pair.split("-")) for pair in text.split(","))
    except ValueError:
        pairs = ()
    if len(pairs) != 2 or any(len(p) != 2 for p in pairs):
        from labbench.errors import UsageError
        raise UsageError(f"--thru-pairs {text!r}: expected two input-output pairs, e.g. 1-2,3-4")
    return pairs


def cmd_import(args) -> int:
    from labbench.cli import _parse_sets
    from labbench.inspect_run import describe_run

    from labbench.runner import EXIT_CODES

    run = import_file(args.file, out=args.out, procedure=args.procedure, sets=_parse_sets(args.set),
                      limits=args.limits, analyze=not args.no_analyze, thru_pairs=_parse_thru(args.thru_pairs))
    print(describe_run(run.path))
    print(f"imported {args.file} -> {run.path}")
    if not run.verdict:
        return 0                                   # stored, nothing judged
    print(f"verdict: {run.verdict}")
    return EXIT_CODES.get(run.verdict, 2)


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("import", help="a vendor capture file (Keysight .bin, Infiniium .h5, Touchstone) "
                                             "into a run file",
                              description="Store a vendor capture file as a run file and analyse its waveforms "
                                          "as a bench run would.",
                              epilog="Exit code: the imported run's verdict, as with `labbench run`: 0 PASS, "
                                     "1 FAIL, 2 ERROR; 0 when nothing was judged (--procedure none, --no-analyze, "
                                     "a Touchstone channel); 64 for a usage error (a file that is not a capture, "
                                     "a procedure that does not fit it, an --out that cannot be written).")
    p.add_argument("file")
    p.add_argument("--out", help="folder for the run file (default: ./data/runs)")
    p.add_argument("--procedure", default=DEFAULT_PROCEDURE,
                   help=f"analysis for time-domain waveforms (default {DEFAULT_PROCEDURE}; 'none': data only); "
                        "one that reads other captures than the file gives is refused")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="procedure parameter (repeatable)")
    p.add_argument("--limits", help="limits TOML for the analysis (default: procedures/limits/default.toml)")
    p.add_argument("--no-analyze", action="store_true", help="store the data only; analyse later with reanalyze")
    p.add_argument("--thru-pairs", help="Touchstone 4-port thru paths, e.g. 1-2,3-4 (default: found)")
    p.set_defaults(func=cmd_import)

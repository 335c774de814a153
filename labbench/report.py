"""Reports of a run: JUnit XML for CI systems, and one self-contained HTML file for people.

JUnit: one testcase per step, metrics as properties, a failure naming each out-of-limit metric with
its value and limits, drift alarms as properties and in system-out (a drifting step still passes).
HTML (`labbench report RUN.h5 --html FILE`): the verdict table, drift alarms, and per step its metrics
and the figures its procedure draws (`Procedure.figures(StepData)`), embedded as base64 PNG so the file
opens anywhere, mailed or archived, with nothing beside it.
"""
from __future__ import annotations

import base64
import html
import io
import json
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

from labbench.limits import ERROR, FAIL, PASS


# ---------------------------------------------------------------- JUnit

def _describe_alarm(alarm: dict[str, Any]) -> str:
    if alarm.get("text"):        # the trend index's own sentence: which sigma, limits or none
        return f"drift alarm: {alarm['text']}"
    return (f"drift alarm: {alarm['metric']} = {alarm['value']:.4g} {alarm['unit']} is "
            f"{alarm['deviation_sigma']:+.1f} sigma from the mean {alarm['mean']:.4g} of its last {alarm['runs']} "
            f"runs (sigma {alarm['sigma']:.3g}, alarm beyond {alarm['k_sigma']:g}); inside its limits")


def write_junit(result, path: str | Path) -> None:
    """JUnit XML readable by Jenkins, GitLab and GitHub Actions: a failure names each out-of-limit metric."""
    alarms = list(getattr(result, "drift_alarms", []) or [])
    suite = ET.Element("testsuite", name=f"labbench.{result.plan or 'run'}", tests=str(len(result.steps)),
                       failures=str(sum(s.verdict == FAIL for s in result.steps)),
                       errors=str(sum(s.verdict == ERROR for s in result.steps)),
                       time=f"{sum(s.duration_s for s in result.steps):.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="run_id", value=result.run_id)
    ET.SubElement(props, "property", name="run_file", value=result.run_file)
    ET.SubElement(props, "property", name="drift_alarms", value=str(len(alarms)))
    for step in result.steps:
        case = ET.SubElement(suite, "testcase", classname=f"labbench.{result.plan or 'run'}",
                             name=f"{step.index:02d}_{step.procedure}", time=f"{step.duration_s:.3f}")
        cprops = ET.SubElement(case, "properties")
        for m in step.metrics:
            ET.SubElement(cprops, "property", name=m.name, value=f"{m.value:.6g} {m.unit}")
        mine = [a for a in alarms if a.get("step") == step.index]
        for alarm in mine:
            ET.SubElement(cprops, "property", name=f"drift_alarm.{alarm['metric']}", value=_describe_alarm(alarm))
        if step.verdict == FAIL:
            failed = [m.describe_failure() for m in step.metrics if m.verdict == FAIL]
            node = ET.SubElement(case, "failure", message="; ".join(failed), type="LimitFailure")
            node.text = "\n".join(failed)
        elif step.verdict == ERROR:
            node = ET.SubElement(case, "error", message=step.error or "error", type="StepError")
            node.text = step.error
        if mine:
            ET.SubElement(case, "system-out").text = "\n".join(_describe_alarm(a) for a in mine)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True))


# ---------------------------------------------------------------- HTML

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: 2px 10px; text-align: left; }
th { background: #eee; } tr:nth-child(even) td { background: #f7f7f7; } td.num { text-align: right;
font-variant-numeric: tabular-nums; }
.PASS { color: #fff; background: #2e7d32 !important; } .FAIL { color: #fff; background: #c62828 !important; }
.ERROR { color: #fff; background: #ef6c00 !important; } tr.ALARM td { background: #ffe0b2; }
span.PASS, span.FAIL, span.ERROR { padding: 1px 8px; border-radius: 3px; font-weight: bold; }
figure { display: inline-block; margin: .5em 1em .5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; } .note { color: #666; font-style: italic; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0 1em; } dt { color: #666; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="{_esc(verdict)}">{_esc(verdict or "-")}</span>' if verdict else "-"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.5g}"


def _duration_s(start: str, end: str) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def figure_png(figure) -> bytes:
    """A matplotlib Figure as PNG bytes (Agg canvas: no display needed); the figure is closed after."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if figure.canvas is None or not hasattr(figure.canvas, "print_png"):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(figure)
    return buffer.getvalue()


def _step_figures(procedure_cls, step) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(title, PNG) of every figure the procedure draws for the step, and notes on any that failed."""
    if procedure_cls is None and step.procedure:
        return [], [f"procedure {step.procedure!r} is not installed here: no figures"]
    try:
        if procedure_cls is None:      # data only (an imported Touchstone channel): its captures in dB
            from labbench.importer import data_figures
            figures = list(data_figures(step))
        else:
            figures = list(procedure_cls().figures(step) or [])
    except Exception as exc:   # a broken plot must not lose the report
        return [], [f"figures of {step.procedure or step.name} failed: {type(exc).__name__}: {exc}"]
    out, notes = [], []
    for title, figure in figures:
        try:
            out.append((str(title), figure_png(figure)))
        except Exception as exc:
            notes.append(f"figure {title!r} failed: {type(exc).__name__}: {exc}")
    return out, notes


def render_html(run_file: str | Path, procedures: dict[str, type] | None = None) -> str:
    """The HTML report of one stored run, as text."""
    from labbench.procedure import all_procedures
    from labbench.store import read_run_attrs, read_step, read_steps

    run_file = Path(run_file)
    attrs = read_run_attrs(run_file)
    records = read_steps(run_file)
    notes = []
    if procedures is None:
        try:
            procedures = all_procedures()
        except Exception as exc:   # a procedure module that does not import must not lose the report
            procedures = {}
            notes.append(f"procedures could not be loaded ({type(exc).__name__}: {exc}): no figures")
    try:
        alarms = json.loads(str(attrs.get("drift_alarms", "") or "[]"))
    except ValueError:
        alarms = []
    verdict = str(attrs.get("verdict", "")) or "-"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>labbench {_esc(attrs.get('plan') or 'run')} {_esc(attrs.get('run_id'))}: {_esc(verdict)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{_esc(attrs.get('plan') or 'run')} {_esc(attrs.get('run_id'))} {_badge(verdict)}</h1><dl>"]
    for label, key in (("status", "status"), ("DUT", "dut_model"), ("serial", "dut_serial"), ("station", "station"),
                       ("operator", "operator"), ("start (UTC)", "start"), ("end (UTC)", "end"),
                       ("labbench", "software_version"), ("run file", None)):
        value = str(run_file) if key is None else attrs.get(key, "")
        out.append(f"<dt>{_esc(label)}</dt><dd>{_esc(value or '-')}</dd>")
    out.append("</dl>")
    out.extend(f'<p class="note">{_esc(note)}</p>' for note in notes)

    out.append('<h2 id="verdicts">Verdicts</h2><table><tr><th>#</th><th>procedure</th><th>verdict</th>'
               "<th>time</th><th>out of limits</th><th>drift alarms</th><th>error</th></tr>")
    with_data = []
    for record in records:
        data = read_step(run_file, record.name)
        with_data.append(data)
        failed = ", ".join(m.name for m in record.metrics if m.verdict == FAIL)
        drifted = ", ".join(a["metric"] for a in alarms if a.get("step") == _step_number(record.name))
        seconds = _duration_s(*_step_times(run_file, record.name))
        out.append(f'<tr><td>{_step_number(record.name):02d}</td><td><a href="#step-{_esc(record.name)}">'
                   f"{_esc(record.procedure)}</a></td><td class=\"{_esc(record.verdict)}\">{_esc(record.verdict)}</td>"
                   f"<td class=\"num\">{'' if seconds is None else f'{seconds:.1f} s'}</td>"
                   f"<td>{_esc(failed)}</td><td>{_esc(drifted)}</td><td>{_esc(record.error)}</td></tr>")
    out.append("</table>")

    out.append('<h2 id="drift">Drift alarms</h2>')
    if alarms:
        out.append("<p>Metrics inside their limits (or without limits) that moved away from the recent history "
                   "of the same DUT, procedure and parameters:</p><table><tr>"
                   "<th>#</th><th>procedure</th><th>metric</th><th>value</th><th>mean of last runs</th>"
                   "<th>sigma</th><th>deviation</th><th>runs</th></tr>")
        for a in alarms:
            out.append(f"<tr class=\"ALARM\"><td>{a.get('step', 0):02d}</td><td>{_esc(a['procedure'])}</td>"
                       f"<td>{_esc(a['metric'])}</td><td class=\"num\">{_num(a['value'])} {_esc(a['unit'])}</td>"
                       f"<td class=\"num\">{_num(a['mean'])}</td><td class=\"num\">{_num(a['sigma'])}</td>"
                       f"<td class=\"num\">{a['deviation_sigma']:+.1f} &sigma; (alarm beyond {a['k_sigma']:g})</td>"
                       f"<td class=\"num\">{a['runs']}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="note">None: every metric within its recent history (or too few earlier runs to '
                   "judge).</p>")

    for data in with_data:
        out.append(f'<h2 id="step-{_esc(data.name)}">{_esc(data.name)} {_badge(data.verdict)}</h2>')
        if data.error:
            out.append(f"<p><b>error:</b> {_esc(data.error)}</p>")
        if data.parameters:
            out.append(f'<p class="note">parameters: {_esc(", ".join(f"{k}={v}" for k, v in data.parameters.items()))}'
                       "</p>")
        if data.metrics:
            drifted = {a["metric"] for a in alarms if a.get("step") == _step_number(data.name)}
            out.append("<table><tr><th>metric</th><th>value</th><th>unit</th><th>low</th><th>high</th>"
                       "<th>verdict</th></tr>")
            for m in data.metrics:
                row_class = ' class="ALARM"' if m.name in drifted else ""
                out.append(f"<tr{row_class}><td>{_esc(m.name)}{' (drift)' if m.name in drifted else ''}</td>"
                           f"<td class=\"num\">{_num(m.value)}</td><td>{_esc(m.unit)}</td>"
                           f"<td class=\"num\">{_num(m.low)}</td><td class=\"num\">{_num(m.high)}</td>"
                           f"<td class=\"{_esc(m.verdict) if m.verdict in (PASS, FAIL) else ''}\">"
                           f"{_esc(m.verdict)}</td></tr>")
            out.append("</table>")
        images, notes = _step_figures(procedures.get(data.procedure), data)
        for title, png in images:
            encoded = base64.b64encode(png).decode("ascii")
            out.append(f'<figure><img alt="{_esc(title)}" src="data:image/png;base64,{encoded}">'
                       f"<figcaption>{_esc(title)}</figcaption></figure>")
        for note in notes:
            out.append(f'<p class="note">{_esc(note)}</p>')
        if not images and not notes:
            out.append(f'<p class="note">{_esc(data.procedure or data.name)} draws no figures.</p>')
    out.append("</body></html>")
    return "\n".join(out)


def _step_number(name: str) -> int:
    """The step's number from its group name `NN_procedure`."""
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


def _step_times(run_file: Path, step: str) -> tuple[str, str]:
    from labbench.store import open_file

    with open_file(run_file) as f:
        g = f["steps"][step]
        return str(g.attrs.get("start", "")), str(g.attrs.get("end", ""))


def write_html(run_file: str | Path, path: str | Path | None = None,
               procedures: dict[str, type] | None = None) -> Path:
    """Write the HTML report of a stored run (default: beside the run file, .html) and return its path."""
    target = Path(path) if path else Path(run_file).with_suffix(".html")
    text = render_html(run_file, procedures)
    target.write_text(text, encoding="utf-8")
    return target


def cmd_report(args) -> int:
    import os
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = write_html(args.run_file, args.html)
    print(f"report: {path}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("report", help="HTML report of a run file: verdicts, metrics, drift alarms, plots")
    p.add_argument("run_file")
    p.add_argument("--html", help="output file (default: the run file with .html)")
    p.set_defaults(func=cmd_report)

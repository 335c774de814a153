"""`labbench show`: what a run file holds, in words."""
from __future__ import annotations

from labbench.store import open_file, read_metrics


def describe_run(path) -> str:
    lines = []
    with open_file(path) as f:
        a = f.attrs
        lines.append(f"run {a.get('run_id')}  status {a.get('status')}  verdict {a.get('verdict') or '-'}")
        lines.append(f"  start {a.get('start')}  end {a.get('end') or '-'}")
        lines.append(f"  station {a.get('station')}  plan {a.get('plan') or '-'}  operator {a.get('operator') or '-'}")
        lines.append(f"  DUT {a.get('dut_model') or '-'} serial {a.get('dut_serial') or '-'}  "
                     f"labbench {a.get('software_version')} (format {a.get('format_version')})")
        for role, group in f["instruments"].items():
            log = group["scpi_log"].shape[0] if "scpi_log" in group else 0
            lines.append(f"  {role}: {group.attrs.get('idn')} at {group.attrs.get('resource')} "
                         f"({group.attrs.get('driver')}, {log} SCPI log lines)")
        for name, step in f["steps"].items():
            verdict = step.attrs.get("verdict") or "-"
            error = step.attrs.get("error")
            lines.append(f"step {name}: {verdict}{'  (' + error + ')' if error else ''}")
            for cname, ds in step["captures"].items():
                lines.append(f"  capture {cname}: {ds.shape} {ds.dtype} dx={ds.attrs['dx']:.6g} {ds.attrs['x_unit']}, "
                             f"y in {ds.attrs['y_unit']}")
            if "results" in step and len(step["results"]):
                lines.append(f"  results: {', '.join(step['results'])}")
            for m in read_metrics(step):
                bounds = f"[{'' if m.low is None else f'{m.low:.4g}'} .. {'' if m.high is None else f'{m.high:.4g}'}]"
                lines.append(f"  {m.name:<26} {m.value:>12.5g} {m.unit:<5} {bounds:<22} {m.verdict}")
    return "\n".join(lines)

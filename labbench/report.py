"""Reports of a run: JUnit XML for CI systems (one testcase per step, metrics as properties)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from labbench.limits import ERROR, FAIL


def write_junit(result, path: str | Path) -> None:
    """JUnit XML readable by Jenkins, GitLab and GitHub Actions: a failure names each out-of-limit metric."""
    suite = ET.Element("testsuite", name=f"labbench.{result.plan or 'run'}", tests=str(len(result.steps)),
                       failures=str(sum(s.verdict == FAIL for s in result.steps)),
                       errors=str(sum(s.verdict == ERROR for s in result.steps)),
                       time=f"{sum(s.duration_s for s in result.steps):.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="run_id", value=result.run_id)
    ET.SubElement(props, "property", name="run_file", value=result.run_file)
    for step in result.steps:
        case = ET.SubElement(suite, "testcase", classname=f"labbench.{result.plan or 'run'}",
                             name=f"{step.index:02d}_{step.procedure}", time=f"{step.duration_s:.3f}")
        cprops = ET.SubElement(case, "properties")
        for m in step.metrics:
            ET.SubElement(cprops, "property", name=m.name, value=f"{m.value:.6g} {m.unit}")
        if step.verdict == FAIL:
            failed = [m.describe_failure() for m in step.metrics if m.verdict == FAIL]
            node = ET.SubElement(case, "failure", message="; ".join(failed), type="LimitFailure")
            node.text = "\n".join(failed)
        elif step.verdict == ERROR:
            node = ET.SubElement(case, "error", message=step.error or "error", type="StepError")
            node.text = step.error
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True))

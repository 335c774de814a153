"""The nightly regression: every procedure in the plan, unattended, with verdicts a CI system can act on.

The end-to-end stories run the whole plan on the simulated bench (about 5 s per eye-jitter step) and
are marked slow: `python -m pytest -m slow tests/test_nightly.py`.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labbench.cli import main
from labbench.instruments.sim.bench import SIMULATORS
from labbench.limits import ERROR, PASS
from labbench.plan import find_plan, load_plan, plan_procedures
from labbench.procedure import all_procedures
from labbench.runner import run

REPO = Path(__file__).resolve().parents[1]
NIGHTLY = find_plan("nightly")
SIM_STATION = REPO / "procedures" / "stations" / "sim.toml"
FAULT_PROFILE = REPO / "instruments" / "sim" / "profiles" / "fault-jitter.toml"
DRIFT_PROFILE = REPO / "tests" / "data" / "profiles" / "drift-within-limits.toml"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABBENCH_TREND", raising=False)
    return tmp_path / "data"


def test_every_registered_procedure_is_a_step_of_the_nightly_plan():
    missing = sorted(set(all_procedures()) - set(plan_procedures(NIGHTLY)))
    assert not missing, f"procedures/plans/nightly.toml lacks a [[step]] for: {', '.join(missing)}"


def test_nightly_plan_is_valid_against_the_registry():
    assert [s.procedure for s in load_plan(NIGHTLY)] == plan_procedures(NIGHTLY)


def plan(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return str(path)


def test_step_past_its_timeout_errors_and_the_next_step_still_runs(tmp_path, data_dir):
    """A 1 Mpts acquisition cannot finish in 0.3 s; the second step gets fresh sessions and passes."""
    result = run(plan(tmp_path, '[[step]]\nprocedure = "eye-jitter"\ntimeout_s = 0.3\n'
                                '[[step]]\nprocedure = "eye-jitter"\nset = { points = 100000 }\n'),
                 out=tmp_path / "runs")
    first, second = result.steps
    assert first.verdict == ERROR and "timeout of 0.3 s" in first.error and first.duration_s < 2.0
    assert second.verdict == PASS, second.error
    assert (result.verdict, result.exit_code, result.status) == (ERROR, 2, "error")


def test_on_error_stop_skips_the_remaining_steps(tmp_path, data_dir):
    result = run(plan(tmp_path, '[[step]]\nprocedure = "eye-jitter"\ntimeout_s = 0.3\non_error = "stop"\n'
                                '[[step]]\nprocedure = "eye-jitter"\n'), out=tmp_path / "runs")
    assert [s.verdict for s in result.steps] == [ERROR, ERROR]
    assert "not run" in result.steps[1].error and result.exit_code == 2


def test_sigterm_stops_the_nightly_run_cleanly_with_exit_2_and_an_aborted_run_file(tmp_path, data_dir):
    import signal

    from labbench.store import read_run_attrs

    proc = subprocess.Popen([sys.executable, "-m", "labbench.cli", "run", "nightly", "--out", str(tmp_path / "runs"),
                             "--json", str(tmp_path / "s.json")], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "acquiring" in line:
            proc.send_signal(signal.SIGTERM)
            break
    output = "".join(lines) + proc.communicate(timeout=60)[0]
    assert proc.returncode == 2, output
    run_file = json.loads((tmp_path / "s.json").read_text())["run_file"]
    assert read_run_attrs(run_file)["status"] == "aborted"


# ---------------------------------------------------------------- end to end

def nightly(tmp_path: Path, name: str, *extra: str) -> tuple[int, dict, ET.Element]:
    junit, summary = tmp_path / f"{name}.xml", tmp_path / f"{name}.json"
    code = main(["run", "nightly", "-q", "--out", str(tmp_path / "runs"), "--junit", str(junit),
                 "--json", str(summary), *extra])
    return code, json.loads(summary.read_text()), ET.parse(junit).getroot()


@pytest.mark.slow
def test_nightly_story_pass_pass_pass_fail_then_drift(tmp_path, data_dir, capsys):
    every = sorted(all_procedures())
    for night in range(5):                 # drift is judged once 5 earlier runs are there
        code, summary, junit = nightly(tmp_path, f"night{night}")
        assert (code, summary["verdict"]) == (0, PASS)
        assert sorted(s["procedure"] for s in summary["steps"]) == every
        assert len(junit.findall(".//testcase")) == len(summary["steps"]) and not junit.findall(".//failure")
        assert summary["drift_alarms"] == []                     # a repeatable bench: no drift

    code, summary, junit = nightly(tmp_path, "degraded", "--dut-profile", str(FAULT_PROFILE))
    assert (code, summary["verdict"]) == (1, "FAIL")
    failure = junit.find(".//testcase[@name='01_eye-jitter']/failure")
    assert failure is not None and "rj_rms_s = " in failure.get("message") and "limit <= 1e-12" in failure.get("message")

    capsys.readouterr()
    assert main(["trend", "rj_rms_s", "--dut", "SIM-000123"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("20")]
    values = [float(row[4]) for row in rows]
    assert len(values) == 6 and max(values[:5]) < 0.5e-12 and values[5] > 2e-12       # the step change
    assert "FAIL" in rows[5] and "PASS" in rows[0]

    code, summary, junit = nightly(tmp_path, "drift", "--dut-profile", str(DRIFT_PROFILE))
    assert (code, summary["verdict"]) == (0, PASS)                                    # inside every limit
    drifted = {a["metric"] for a in summary["drift_alarms"]}
    assert "rj_rms_s" in drifted
    prop = junit.find(".//testcase[@name='01_eye-jitter']/properties/property[@name='drift_alarm.rj_rms_s']")
    assert prop is not None and "sigma" in prop.get("value")
    html = tmp_path / "drift.html"
    assert main(["report", summary["run_file"], "--html", str(html)]) == 0
    assert "rj_rms_s (drift)" in html.read_text()


def free_base_port() -> int:
    """A base port with base + every simulator's offset free on 127.0.0.1."""
    span = max(spec.port_offset for spec in SIMULATORS.values()) + 1
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + span > 65535:
            continue
        try:
            sockets = []
            for offset in range(span):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def station_on(base: int, tmp_path: Path) -> Path:
    """procedures/stations/sim.toml with its ports moved from 5025.. to base.. (5025 may be taken here)."""
    text = re.sub(r"::(\d+)::SOCKET", lambda m: f"::{int(m.group(1)) - 5025 + base}::SOCKET", SIM_STATION.read_text())
    path = tmp_path / "sim-here.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_labbench_sim_in_another_process_gives_the_in_process_verdicts(tmp_path, data_dir):
    base = free_base_port()
    server = subprocess.Popen([sys.executable, "-m", "labbench.cli", "sim", "--port", str(base)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            lines.append(line)
            if "serving" in line or not line:
                break
        assert "serving" in lines[-1], "".join(lines)
        remote_json = tmp_path / "remote.json"
        remote = subprocess.run([sys.executable, "-m", "labbench.cli", "run", "nightly", "-q",
                                 "--station", str(station_on(base, tmp_path)), "--out", str(tmp_path / "runs"),
                                 "--json", str(remote_json)], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=10)
    local = run("nightly", out=tmp_path / "runs").summary()
    remote_summary = json.loads(remote_json.read_text())
    assert remote.returncode == 0 == run_exit(local), remote.stdout + remote.stderr
    assert [(s["procedure"], s["verdict"]) for s in remote_summary["steps"]] == \
           [(s["procedure"], s["verdict"]) for s in local["steps"]]
    for mine, theirs in zip(local["steps"], remote_summary["steps"]):
        assert {m["name"]: m["verdict"] for m in mine["metrics"]} == {m["name"]: m["verdict"] for m in theirs["metrics"]}


def run_exit(summary: dict) -> int:
    return {"PASS": 0, "FAIL": 1, "ERROR": 2}[summary["verdict"]]

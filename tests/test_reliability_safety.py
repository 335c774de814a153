"""Safety: simulators listen on loopback unless told otherwise, and nothing labbench reads is ever
executed or unpickled: stations, plans, limits and DUT profiles (faults included) are TOML data."""
from __future__ import annotations

import ast
import inspect
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import reliability_support as rs
from labbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("labbench", "instruments", "procedures") for p in (REPO / folder).rglob("*.py")]
PYTHON_IN_A_DATA_FILE = "__import__('os').system('touch {marker}')\n"


def test_simulators_bind_loopback_unless_told_otherwise():
    from labbench.bench import open_bench
    from labbench.cli import build_parser
    from labbench.instruments.sim.bench import start_sim_bench
    from labbench.scpi.tcpserver import SimServer

    assert inspect.signature(SimServer).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(start_sim_bench).parameters["host"].default == "127.0.0.1"
    assert build_parser().parse_args(["sim"]).host == "127.0.0.1"
    server = rs.serve_scope()
    try:
        assert server._listener.getsockname()[0] == "127.0.0.1"
    finally:
        server.stop()
    with open_bench() as bench:                       # the simulated bench `labbench run` starts in-process
        assert bench.servers and all(s._listener.getsockname()[0] == "127.0.0.1" for s in bench.servers.values())


def test_labbench_sim_serves_loopback_with_the_faults_asked_for(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "labbench.cli", "sim", "--port", "0",
                             "--fault", "garbage:match=*ESR?,count=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "serving the simulated bench" in line:
                break
        resources = dict(re.findall(r"^(\w+)\s+\S+\s+(TCPIP0::\S+::SOCKET)", "".join(lines), re.M))
        assert resources and all("::127.0.0.1::" in r for r in resources.values()), lines
        assert any("fault: garbage on '*ESR?'" in line for line in lines)
        host, port = resources["scope"].split("::")[1:3]
        server = type("Addr", (), {"host": host, "port": int(port)})
        assert "garbage" in rs.ask(server, "*ESR?")
        assert rs.ask(server, "*IDN?").startswith("KEYSIGHT TECHNOLOGIES,DSAZ334A")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def _forbidden(tree: ast.AST) -> list[str]:
    """Calls and imports that execute or unpickle what they are given."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n and n.split(".")[0] in ("pickle", "cPickle", "marshal", "shelve", "dill",
                                                                    "cloudpickle", "joblib", "runpy", "yaml")]
            found += [f"line {node.lineno}: import {n}" for n in bad]
        if isinstance(node, ast.Call):
            func = node.func
            builtin = func.id if isinstance(func, ast.Name) else ""        # re.compile is not compile()
            method = func.attr if isinstance(func, ast.Attribute) else ""
            if builtin in ("eval", "exec", "compile", "execfile") or method in ("read_pickle", "unsafe_load"):
                found.append(f"line {node.lineno}: {builtin or method}()")
            name = builtin
            if name == "__import__" and not all(isinstance(a, ast.Constant) for a in node.args):
                found.append(f"line {node.lineno}: __import__ of a computed name")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant)
                                                          and keyword.value.value is False):
                    found.append(f"line {node.lineno}: allow_pickle")
    return found


def test_no_source_file_evaluates_executes_or_unpickles_anything():
    assert len(SOURCES) > 20
    problems = {str(p.relative_to(REPO)): bad for p in SOURCES if (bad := _forbidden(ast.parse(p.read_text())))}
    assert problems == {}


def test_the_scan_would_see_them():
    # the check above can fail: each form it looks for is found in a sample
    sample = "import pickle\nfrom yaml import load\neval('1')\nexec('x=1')\nnp.load(f, allow_pickle=True)\n" \
             "__import__(name)\npd.read_pickle(p)\n"
    assert len(_forbidden(ast.parse(sample))) == 7


@pytest.mark.parametrize("what", ["station", "plan", "limits", "profile"])
def test_python_in_a_data_file_is_a_config_error_and_never_runs(what, tmp_path):
    from labbench.instruments.sim.dut import load_profile
    from labbench.limits import load_limits
    from labbench.plan import load_plan
    from labbench.station import load_station

    marker = tmp_path / "executed"
    path = tmp_path / f"{what}.toml"
    path.write_text(PYTHON_IN_A_DATA_FILE.format(marker=marker))
    loader = {"station": load_station, "plan": load_plan, "limits": load_limits, "profile": load_profile}[what]
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        loader(path)
    assert not marker.exists()


def test_names_in_data_files_select_from_registries_never_import(tmp_path, monkeypatch):
    from labbench.plan import load_plan
    from labbench.runner import prepare
    from labbench.station import load_station

    station = tmp_path / "station.toml"
    station.write_text('[scope]\nresource = "TCPIP0::127.0.0.1::5025::SOCKET"\ndriver = "os:system"\n')
    with pytest.raises(ConfigError, match="driver 'os:system' unknown"):
        load_station(station)
    plan = tmp_path / "plan.toml"
    plan.write_text('[[step]]\nprocedure = "os.system"\n')
    with pytest.raises(ConfigError, match="unknown procedure 'os.system'"):
        prepare(load_plan(plan), None, {})
    with pytest.raises(ConfigError, match="kind 'os.system' unknown"):
        rs.serve_scope([{"kind": "os.system"}])
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("a data file ran a command"))

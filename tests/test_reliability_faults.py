"""Every injected fault kind, through a whole run: the faulted step is ERROR with a clear message, every
capture taken before the fault is in the run file, and the next step runs as the plan says.

The simulated scope serves a plan of three eye-jitter steps (one capture each). Each fault is set in the
scope's DUT profile to let step 1 through (`after`) and to fire on step 2 as often as the client tries
(`count` = 1 + client.RETRIES, so the repeat after reconnecting fails too); step 3 then runs clean.
"""
from __future__ import annotations

import numpy as np
import pytest

import reliability_support as rs
from labbench.instruments.sim.bench import SIMULATORS, make_simulator
from labbench.limits import ERROR
from labbench.runner import run
from labbench.scpi import client
from labbench.scpi.tcpserver import SimServer
from labbench.store import read_captures, read_run_attrs, read_steps

TRIES = 1 + client.RETRIES          # how often the client sends a repeatable query before giving up
FAST_RECONNECT_S = (0.0, 0.05, 0.1)  # three reconnect attempts, quickly

# kind -> (the fault as a [[faults]] table, what the step's error must say)
FAULTS = {
    "drop": ({"kind": "drop", "after": 1, "count": TRIES},
             r"connection closed after \d+ of 40000 block bytes for ':WAVeform:DATA\?'"),
    "stall": ({"kind": "stall", "match": ":WAVeform:DATA?", "after": 1, "count": TRIES},
              r"did not answer ':WAVeform:DATA\?' within 0.3 s"),
    "stall-mid-block": ({"kind": "stall", "match": ":WAVeform:DATA?", "keep": 0.5, "after": 1, "count": TRIES},
                        r"timeout after \d+ of 40000 block bytes"),
    "truncate": ({"kind": "truncate", "after": 1, "count": TRIES},
                 r"timeout after 20001 of 40000 block bytes for ':WAVeform:DATA\?'"),
    "corrupt": ({"kind": "corrupt", "after": 1, "count": TRIES},
                r"reply to ':WAVeform:DATA\?': expected a binary block, got '\\x00"),
    "corrupt-length": ({"kind": "corrupt", "mode": "length", "after": 1, "count": TRIES},
                       r"more bytes after the block the header announced for ':WAVeform:DATA\?'"),
    "garbage": ({"kind": "garbage", "match": ":MEASure:VPP?", "after": 1, "count": TRIES},
                r"answered '.*garbage.*' to ':MEASure:VPP\? CHANnel1', not a number"),
    "errors": ({"kind": "errors", "match": ":DIGitize", "after": 1},
               r"reported after ':DIGitize CHANnel1': -200,.*-350,\"Queue overflow\" \(30 errors"),
    "refuse": ({"kind": "refuse", "match": ":WAVeform:DATA?", "after": 1, "connections": len(FAST_RECONNECT_S)},
               r"cannot reconnect \(3 attempts"),
}


@pytest.fixture
def fast_reconnect(monkeypatch):
    monkeypatch.setattr(client, "RECONNECT_DELAYS_S", FAST_RECONNECT_S)


def _run_with_fault(tmp_path, runs_dir, fault: dict, on_error: str = "continue"):
    server = rs.serve_scope([fault])
    # the scope's own measurements (cross_check) only where the fault needs one as its target
    plan = rs.write_plan(tmp_path, steps=3, on_error=on_error, cross_check=":MEASure" in fault.get("match", ""))
    try:
        result = run(str(plan), station=str(rs.write_station(tmp_path, server, timeout_s=0.3)), out=runs_dir)
    finally:
        server.stop()
    return result, server.faults.events


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_errors_its_step_keeps_earlier_captures_and_the_next_step_runs(kind, tmp_path, runs_dir,
                                                                             fast_reconnect):
    fault, message = FAULTS[kind]
    result, events = _run_with_fault(tmp_path, runs_dir, fault)

    verdicts = [s.verdict for s in result.steps]
    assert verdicts[1] == ERROR and verdicts[0] != ERROR and verdicts[2] != ERROR, verdicts
    assert result.steps[1].error and __import__("re").search(message, result.steps[1].error), result.steps[1].error
    assert result.verdict in (ERROR, "FAIL") and result.status == "error"
    expected_fired = fault.get("count", 1) + fault.get("connections", 0)
    assert len(events) == expected_fired, events

    stored = read_steps(result.run_file)
    assert [s.verdict for s in stored] == verdicts
    assert stored[0].capture_names == ["data"] and stored[2].capture_names == ["data"]
    assert stored[1].capture_names == []                      # nothing half-written from the faulted transfer
    for step in (stored[0], stored[2]):
        capture = read_captures(result.run_file, step.name)["data"]
        assert capture.n == rs.POINTS and np.all(np.isfinite(capture.values()))
        assert step.metrics                                   # analysed and judged
    assert read_run_attrs(result.run_file)["status"] == "error"


def test_on_error_stop_skips_the_rest_and_still_keeps_the_first_capture(tmp_path, runs_dir, fast_reconnect):
    result, _ = _run_with_fault(tmp_path, runs_dir, FAULTS["drop"][0], on_error="stop")
    assert [s.verdict for s in result.steps][1:] == [ERROR, ERROR]
    assert "not run" in result.steps[2].error
    stored = read_steps(result.run_file)
    assert len(stored) == 2 and stored[0].capture_names == ["data"]


def test_a_fault_that_passes_is_absorbed_by_one_repeat(tmp_path, runs_dir, fast_reconnect):
    # the block of step 2 is dropped once; the repeat after reconnecting gets it: no step errors
    result, events = _run_with_fault(tmp_path, runs_dir, {"kind": "drop", "after": 1, "count": 1})
    assert ERROR not in [s.verdict for s in result.steps] and len(events) == 1
    assert all(s.capture_names == ["data"] for s in read_steps(result.run_file))


def test_every_registered_simulator_takes_faults_from_its_profile():
    # whatever simulators the bench has (more land over time), each gets the profile's faults through
    # SimServer; *ESR? is numeric on every SimInstrument, so 'garbage' has a target on all of them
    profile = rs.profile_with([{"kind": "garbage", "match": "*ESR?"}])
    for role in SIMULATORS:
        server = SimServer(make_simulator(role, profile), port=0).start()
        try:
            assert server.faults is not None, f"{role}: faults from the DUT profile were not installed"
            assert "garbage" in rs.ask(server, "*ESR?")
            assert rs.ask(server, "*ESR?").lstrip("+").isdigit()          # count = 1: it passes
            assert rs.ask(server, "*IDN?") == ",".join(server.instrument.idn)
        finally:
            server.stop()


def test_faults_for_another_model_are_not_installed():
    server = rs.serve_scope([{"kind": "garbage", "instrument": "N9030B"}])
    try:
        assert server.faults is None and rs.ask(server, "*ESR?").lstrip("+").isdigit()
    finally:
        server.stop()


def test_a_malformed_fault_table_names_the_profile_and_key():
    from labbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fault 1: unknown key\(s\) aftr"):
        rs.serve_scope([{"kind": "drop", "aftr": 1}])
    with pytest.raises(ConfigError, match="kind 'explode' unknown"):
        rs.serve_scope([{"kind": "explode"}])


def test_a_fault_profile_reaches_the_simulated_bench_of_labbench_run(tmp_path, runs_dir):
    # `labbench run --dut-profile faulty.toml` with no station: the in-process simulated bench reads
    # [[faults]] from the profile like any other section
    from labbench.instruments.sim.dut import DEFAULT_PROFILE

    profile = tmp_path / "faulty.toml"
    profile.write_text(f'base = "{DEFAULT_PROFILE}"\n[serial]\npoints = {rs.POINTS}\n'
                       f'[[faults]]\nkind = "drop"\ninstrument = "DSAZ334A"\ncount = {TRIES}\n')
    result = run("eye-jitter", dut_profile=str(profile), sets={"cross_check": "false"}, out=runs_dir)
    assert result.verdict == ERROR and "connection closed after" in result.steps[0].error
    assert read_run_attrs(result.run_file)["status"] == "error"

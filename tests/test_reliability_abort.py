"""Stopping a run: Ctrl-C and SIGTERM leave the instruments idle and a run file marked `aborted`;
SIGKILL leaves a readable file. Either way every capture finished before the stop is in the file.

`labbench run` runs as a subprocess against a simulated scope in this process (a station file points
at it). The scope stalls step 2's waveform transfer part-way (30 % of the block sent), so the stop
arrives mid-capture; by then step 1's capture is stored.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import reliability_support as rs
from labbench.store import open_file, read_captures, read_run_attrs, read_steps

STALL_MID_BLOCK = {"kind": "stall", "match": ":WAVeform:DATA?", "after": 1, "keep": 0.3}
WAIT_S = 60.0       # generous: the subprocess imports numpy/scipy/h5py on a loaded machine


def _start_run(tmp_path, server):
    station = rs.write_station(tmp_path, server, timeout_s=60.0)   # the stall outlasts the test, not the timeout
    plan = rs.write_plan(tmp_path, steps=3, cross_check=False)
    env = {**os.environ, "LABBENCH_DATA": str(tmp_path / "data")}
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "labbench.cli", "run", str(plan), "--station", str(station),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    if not server.faults.fired.wait(WAIT_S):
        proc.kill()
        pytest.fail(f"the run never reached step 2's transfer:\n{proc.communicate()[0]}")
    return proc, out


def _run_file(out) -> str:
    files = sorted(out.glob("*.h5"))
    assert len(files) == 1, files
    return str(files[0])


def _assert_first_capture_complete(path: str) -> None:
    steps = read_steps(path)
    assert steps[0].capture_names == ["data"] and steps[0].verdict not in ("", "ERROR")
    capture = read_captures(path, steps[0].name)["data"]
    assert capture.n == rs.POINTS and np.all(np.isfinite(capture.values()))
    assert steps[1].capture_names == []          # the interrupted transfer left nothing half-written
    assert len(steps) == 2                       # step 3 never began


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_mid_capture_leaves_idle_instruments_and_an_aborted_readable_file(tmp_path, stop):
    server = rs.serve_scope([STALL_MID_BLOCK])
    try:
        proc, out = _start_run(tmp_path, server)
        rs.tell(server, ":RUN")                  # the scope acquires again, as if Run were pressed meanwhile
        assert rs.ask(server, ":RSTate?") == "RUN"
        proc.send_signal(stop)
        output, _ = proc.communicate(timeout=WAIT_S)
        assert proc.returncode == 2, output
        assert ("aborted: Ctrl-C" if stop == signal.SIGINT else "aborted: stopped by signal SIGTERM") in output

        path = _run_file(out)
        attrs = read_run_attrs(path)
        assert attrs["status"] == "aborted" and attrs["verdict"] == "ERROR" and attrs["end"]
        _assert_first_capture_complete(path)
        step2 = read_steps(path)[1]
        assert step2.verdict == "ERROR" and step2.error == "aborted"

        # the instrument is idle: acquisition stopped, and no command was cut in half (no syntax or
        # header error in its queue, which is what a truncated program message would leave)
        assert rs.ask(server, ":RSTate?") == "STOP"
        assert rs.ask(server, ":SYSTem:ERRor? STRing").startswith("+0,")
        with open_file(path) as f:
            log = [row["text"].decode() for row in f["instruments/scope/scpi_log"][()] if row["direction"] == b">"]
        # after reconnecting, the run stopped the acquisition, then put back what the driver changed
        # (the DSAZ334A's colour-grade display), and sent nothing else
        assert log[-3:] == [":STOP", ":DISPlay:CGRade 0", "*OPC?"]
    finally:
        server.stop()


def test_sigkill_mid_capture_leaves_a_readable_file_with_every_finished_capture(tmp_path):
    server = rs.serve_scope([STALL_MID_BLOCK])
    try:
        proc, out = _start_run(tmp_path, server)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=WAIT_S)
        assert proc.returncode == -signal.SIGKILL

        path = _run_file(out)
        assert read_run_attrs(path)["status"] == "running"      # nobody lived to write the end
        _assert_first_capture_complete(path)
    finally:
        server.stop()

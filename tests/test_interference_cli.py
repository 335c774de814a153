"""`labbench run interference` end to end on the simulated N9030B: the 2.4 GHz survey of the default
profile's [environment] (two access points, a BLE beacon, a microwave oven), known answers from the
emitters themselves, the stored spectrogram, verdicts and usage errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import PROFILES, labbench_cli
from labbench.instruments.sim.dut import load_profile
from labbench.instruments.sim.rf_emitters import build_environment
from labbench.runner import run
from labbench.store import read_step

METRICS = [f"occupancy_pct_ch{n}" for n in range(1, 14)] + ["best_channel", "interferer_power_dbm", "sir_db"]
DEFAULT_PROFILE = PROFILES / "default.toml"


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    proc = labbench("run", "interference", "--out", out, "--json", summary)
    data = json.loads(summary.read_text())
    return proc, data, read_step(data["run_file"], "01_interference")


def test_default_profile_passes_with_every_metric(default_run):
    proc, summary, _ = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS" and summary["steps"][0]["procedure"] == "interference"
    assert [m["name"] for m in summary["steps"][0]["metrics"]] == METRICS
    assert all(m["value"] is not None and np.isfinite(m["value"]) for m in summary["steps"][0]["metrics"])


def test_every_emitter_of_the_environment_is_found_with_its_kind(default_run):
    _, _, step = default_run
    e = step.results["emitters"]
    found = {(text(k), int(c)) for k, c in zip(e["kind"], e["channel"]) if text(k) != "unknown"}
    assert found == {("wifi", 1), ("wifi", 11), ("ble", 37), ("ble", 38), ("ble", 39), ("microwave_oven", -1)}
    kinds = [text(k) for k in e["kind"]]
    oven = kinds.index("microwave_oven")
    assert e["mains_hz"][oven] == pytest.approx(50.0, rel=0.02)          # on every other 10 ms half cycle
    assert e["duty_cycle"][oven] == pytest.approx(0.5, abs=0.03)
    # powers as the profile sets them at the analyzer input (levels of [environment])
    power = {(kinds[i], int(e["channel"][i])): e["power_dbm"][i] for i in range(len(kinds))}
    assert power[("wifi", 1)] == pytest.approx(-65.0, abs=0.5) and power[("wifi", 11)] == pytest.approx(-70.0, abs=0.5)
    assert power[("microwave_oven", -1)] == pytest.approx(-62.0, abs=0.7)
    # the few edge fragments of bursts that stay "unknown" are weak: none within 10 dB of a real emitter
    assert all(p < -75.0 for k, p in zip(kinds, e["power_dbm"]) if k == "unknown")


def test_occupancy_equals_the_access_point_air_time(default_run):
    """Channels 12 and 13 see only the channel-11 access point (and BLE 39 on 13): their occupancy is the
    fraction of sweeps that crossed 2462 MHz while it was on, computed from the emitter itself. A sweep
    that crosses a slot boundary inside the band counts as busy when either half is: within 1 %."""
    _, summary, step = default_run
    m = {x["name"]: x["value"] for x in summary["steps"][0]["metrics"]}
    ap = next(x for x in build_environment(load_profile()) if x.name == "ap-neighbour")
    cap = step.capture("spectrogram")
    t_rows = np.asarray(cap.attrs["time_s"]) + float(cap.attrs["sweep_start_s"])
    sweep = float(cap.settings["sweep_time_s"])
    f = cap.x0 + np.arange(cap.data.shape[1]) * cap.dx
    band = (f >= 2453e6) & (f <= 2471e6)
    on = ap.on(t_rows[:, None] + sweep * np.flatnonzero(band)[None, :] / (f.size - 1)).any(axis=1)
    assert m["occupancy_pct_ch12"] == pytest.approx(100 * on.mean(), abs=1.0)
    assert m["occupancy_pct_ch12"] == pytest.approx(20.0, abs=3.0)         # duty_cycle 0.20, 1000 sweeps
    assert m["occupancy_pct_ch1"] > m["occupancy_pct_ch12"] + 5              # the 30 % access point
    assert m["best_channel"] == 11                                            # 11 and 12 tie: 1/6/11 preferred


def test_the_oven_is_the_interferer_on_the_dut_channel(default_run):
    _, summary, step = default_run
    m = {x["name"]: x["value"] for x in summary["steps"][0]["metrics"]}
    assert text(step.results["interferer"]["kind"]) == "microwave_oven"
    # its line (-62 dBm) sweeps 2438-2448 MHz: wholly inside channel 6 (2427-2447 MHz) most of the time
    assert m["interferer_power_dbm"] == pytest.approx(-62.0, abs=1.0)
    signal = float(step.results["dut"]["signal_dbm"])
    assert signal == pytest.approx(16.0 - 30.0, abs=0.5)                     # [radio]: 16 dBm through 30 dB
    assert m["sir_db"] == pytest.approx(signal - m["interferer_power_dbm"], abs=1e-9)


def test_spectrogram_capture_is_stored_as_rows_of_sweeps(default_run):
    _, summary, _ = default_run
    with h5py.File(summary["run_file"], "r") as f:
        ds = f["steps/01_interference/captures/spectrogram"]
        assert ds.shape == (1000, 1101) and ds.dtype == np.float32
        attrs = json.loads(ds.attrs["attrs"])
        t = np.asarray(attrs["time_s"])
        assert attrs["rows"] == "time" and np.allclose(np.diff(t), 2e-3, rtol=1e-9)   # back to back in time
        assert ds.attrs["x0"] == pytest.approx(2390e6) and ds.attrs["dx"] == pytest.approx(100e3)
        assert "dut_channel" in f["steps/01_interference/captures"]


def test_figures_of_the_stored_step(default_run):
    _, _, step = default_run
    from labbench.procedures.interference import Interference

    assert [title for title, _ in Interference().figures(step)] == ["Spectrogram", "Survey spectrum"]


def _profile(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f'base = "{DEFAULT_PROFILE}"\n\n{body}\n')
    return str(path)


def test_a_strong_access_point_on_the_dut_channel_fails_the_sir(tmp_path, runs_dir):
    prof = _profile(tmp_path, "busy.toml", '[environment]\nwifi = [{ name = "ap-next-door", channel = 6, '
                                          'level_dbm = -25.0, duty_cycle = 0.5, slot_s = 5e-3 }]')
    result = run("interference", dut_profile=prof, out=tmp_path / "runs", sets={"sweeps": "300"})
    m = {x.name: x for x in result.steps[0].metrics}
    # -25 dBm in its channel while on; its skirts (-55 dBr) reach the other emitters, so their bursts merge
    # with its own, and sweeps that catch a slot boundary inside its band dilute the mean: within 1 dB
    assert m["interferer_power_dbm"].value == pytest.approx(-25.0, abs=1.0)
    assert m["sir_db"].verdict == "FAIL" and m["sir_db"].value == pytest.approx(11.0, abs=1.5)
    # busy when the access point (50 %) or the oven (every other 10 ms) is on: about 1 - 0.5 x 0.5 = 75 %
    assert 70.0 <= m["occupancy_pct_ch6"].value <= 90.0 and result.exit_code == 1


def test_a_drifting_line_without_the_mains_rhythm_is_unknown(tmp_path, runs_dir):
    prof = _profile(tmp_path, "odd.toml", '[environment]\nwifi = []\nble = []\nmicrowave = [{ level_dbm = -55.0, '
                                          'mains_hz = 10.0, start_hz = 2.438e9, sweep_hz = 10e6 }]')
    result = run("interference", dut_profile=prof, out=tmp_path / "runs", sets={"sweeps": "300"})
    kinds = [text(k) for k in read_step(result.run_file, "01_interference").results["emitters"]["kind"]]
    assert kinds and set(kinds) == {"unknown"}


@pytest.mark.parametrize("args, expected", [
    (["--set", "channel=14"], "the survey covers 2.4 GHz Wi-Fi channels 1-13"),
    (["--set", "sweeps=5"], "sweeps >= 10"),
    (["--set", "channel=six"], "channel='six' is not a valid int"),
])
def test_usage_errors_exit_64(args, expected):
    proc = labbench("run", "interference", *args)
    assert proc.returncode == 64, proc.stdout + proc.stderr
    assert expected in proc.stderr

"""`labbench run current-profile` and `current-ccdf` end to end: simulated CX3324A over a socket, run
file, verdicts, known answers from the DUT profile's [power] section."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from scipy.integrate import quad

from conftest import PROFILES, labbench_cli
from labbench.analysis.current import METRIC_NAMES
from labbench.errors import UsageError
from labbench.instruments.sim.dut import load_profile, section_dataclass
from labbench.instruments.sim.dut_power import PowerProfile, SupplyCurrent
from labbench.limits import FAIL, PASS
from labbench.procedures.current_ccdf import CurrentCcdfProcedure
from labbench.procedures.current_profile import CurrentProfileParams, CurrentProfileProcedure
from labbench.runner import run
from labbench.store import read_step

POWER = section_dataclass(PowerProfile, load_profile(), "power")
FS = 20e3                                  # the procedure's default sample rate: 50 us per sample
DT = 1 / FS
STEP = "01_current-profile"


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


def event_charge_c(p: PowerProfile) -> float:
    """The charge of one wake event above nothing: the integral of the noise-free event current."""
    shape = SupplyCurrent(p).event_shape
    edges = [0.0, p.wake_ramp_s, p.mcu_s, p.mcu_s + p.rx_s]
    for k in range(p.tx_packets):
        t = p.mcu_s + p.rx_s + k * p.tx_interval_s
        edges += [t + p.tx_s, t + p.tx_interval_s]
    edges.append(p.event_s)
    return sum(quad(lambda t: float(shape(np.array([t]))[0]), a, b, limit=200)[0] for a, b in zip(edges, edges[1:]))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    proc = labbench("run", "current-profile", "--out", out, "--json", summary, data=out)
    return proc, json.loads(summary.read_text())


@pytest.fixture(scope="module")
def default_metrics(default_run):
    return {m["name"]: m["value"] for m in default_run[1]["steps"][0]["metrics"]}


def test_default_profile_passes_with_every_metric(default_run):
    proc, summary = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS"
    step = summary["steps"][0]
    assert step["procedure"] == "current-profile"
    assert [m["name"] for m in step["metrics"]] == list(METRIC_NAMES)
    assert all(m["value"] is not None for m in step["metrics"]), step["metrics"]
    assert {m["name"] for m in step["metrics"] if m["verdict"] == PASS} == set(METRIC_NAMES) - {"current_spur_freq_hz"}
    assert step["duration_s"] < 10           # a 60 s record in virtual time


def test_metric_names_are_the_analysis_names():
    assert tuple(CurrentProfileProcedure.metrics) == METRIC_NAMES


def test_levels_charge_and_battery_life_match_the_dut_profile(default_metrics):
    m = default_metrics
    assert m["sleep_current_a"] == pytest.approx(POWER.sleep_a, rel=0.01)     # 50 nA noise, 30.5 nA steps
    assert m["active_current_a"] == pytest.approx(POWER.mcu_a, rel=0.02)      # ramp and edge samples mixed in
    # the top TX sample: 150 mA within the 0.5 % noise (3 sigma) and the 20 us edge (e^-5 = 0.7 % short)
    assert m["tx_peak_current_a"] == pytest.approx(POWER.tx_a, rel=0.02)
    charge = event_charge_c(POWER)
    # the event sampled every 50 us and summed: 2 % (each 100 us packet is two samples)
    assert m["wake_event_charge_c"] == pytest.approx(charge, rel=0.02)
    assert m["wake_event_energy_j"] == pytest.approx(m["wake_event_charge_c"] * POWER.supply_v, rel=1e-9)
    # whole periods of 25 s (+-20 ms jitter): the event charge plus sleep for the rest of the period
    avg = (charge + POWER.sleep_a * (POWER.period_s - POWER.event_s)) / POWER.period_s
    assert m["avg_current_a"] == pytest.approx(avg, rel=0.02)
    assert m["battery_life_h"] == pytest.approx(225 * 0.8 / (m["avg_current_a"] * 1e3), rel=1e-9)


def test_wake_transient_matches_the_ramp_and_overshoot_of_the_profile(default_metrics):
    m, p = default_metrics, POWER
    peak = p.mcu_a * (1 + p.wake_overshoot_pct / 100)
    # resume: trigger to 90 % of the MCU level on the linear ramp. The trigger is interpolated
    # between the last sleep sample and the first ramp sample, so it may be up to one sample early.
    resume = p.wake_ramp_s * 0.9 * (p.mcu_a - p.sleep_a) / (peak - p.sleep_a)
    assert resume - 10e-6 <= m["resume_time_s"] <= resume + DT + 10e-6
    # settling into +-5 %: the 20 % overshoot decays with tau to 5 % in tau ln 4, after the ramp
    settle = p.wake_ramp_s + p.wake_settle_tau_s * np.log(0.20 / 0.05)
    assert settle - 10e-6 <= m["wake_settling_time_s"] <= settle + DT + 10e-6
    # overshoot: the sampled crest is at most one sample past the ramp's end, so it is lower by up to
    # e^(-dt/tau); the worst event is reported
    low = (p.mcu_a + (peak - p.mcu_a) * np.exp(-DT / p.wake_settle_tau_s)) / p.mcu_a - 1
    assert 100 * low - 1 <= m["wake_overshoot_pct"] <= p.wake_overshoot_pct + 1.5


def test_p99_99_is_the_rx_level_and_the_spur_is_a_harmonic_of_the_packet_rate(default_run, default_metrics):
    # TX is 2 samples x 12 packets per 25 s event (1e-4 would need 5): the level exceeded 0.01 % of
    # the time lies in the RX listen window
    assert default_metrics["current_p99_99_a"] == pytest.approx(POWER.rx_a, rel=0.03)
    with h5py.File(default_run[1]["run_file"]) as f:
        resolution = float(f[f"steps/{STEP}/results/spectrum/resolution_hz"][()])
    f_spur, f_packet = default_metrics["current_spur_freq_hz"], 1 / POWER.tx_interval_s
    harmonic = round(f_spur / f_packet)
    assert harmonic >= 1 and abs(f_spur - harmonic * f_packet) <= resolution


def test_instrument_mean_and_pp_agree_with_labbench_on_the_same_capture(default_run):
    # The simulator computes :MEASure:CURRent with its own numpy code; labbench's mean is the charge of
    # every state over the record's duration and its pk-pk the analysis peak minus the record minimum.
    with h5py.File(default_run[1]["run_file"]) as f:
        c = {k: float(v[()]) for k, v in f[f"steps/{STEP}/results/cross_check"].items()}
    # 7 significant digits in the instrument's NR3 replies
    assert c["instrument_mean_a"] == pytest.approx(c["labbench_mean_a"], rel=2e-6)
    assert c["instrument_pp_a"] == pytest.approx(c["labbench_pp_a"], rel=2e-6)
    assert c["instrument_max_a"] == pytest.approx(c["labbench_max_a"], rel=2e-6)
    assert c["instrument_rms_a"] == pytest.approx(c["labbench_rms_a"], rel=2e-6)


def test_run_file_holds_raw_amperes_the_state_table_and_the_spectrum(default_run):
    with h5py.File(default_run[1]["run_file"]) as f:
        raw = f[f"steps/{STEP}/captures/current"]
        assert raw.dtype == np.float32 and raw.shape == (1_200_000,) and raw.attrs["y_unit"] == "A"
        assert raw.attrs["dx"] == pytest.approx(DT) and raw.attrs["x0"] == pytest.approx(-6.0)
        res = f[f"steps/{STEP}/results"]
        names = [n.decode() if isinstance(n, bytes) else n for n in res["states/name"][()]]
        assert names == ["sleep", "active", "active_2", "tx"]
        assert np.sum(res["states/time_fraction"][()]) == pytest.approx(1.0)
        assert res["events/complete"][()].tolist() == [True, True, True]
        assert res["spectrum/density_a2_hz"].shape == res["spectrum/freq_hz"].shape == (4097,)
        checks = res["capture_checks/current"]
        assert not checks["clipped"][()] and checks["rejected_samples"][()] == 0
        assert "CX3324A" in f["instruments/current"].attrs["idn"]


def test_figures_draw_from_the_stored_step(default_run):
    step = read_step(default_run[1]["run_file"], STEP)
    titles = [t for t, _ in CurrentProfileProcedure().figures(step)]
    assert titles == ["Current profile", "Wake event", "Current CCDF", "Current spectrum"]


def test_fault_sleep_profile_fails_on_sleep_current_and_battery_life(tmp_path):
    summary = tmp_path / "S.json"
    proc = labbench("run", "current-profile", "--out", tmp_path, "--json", summary,
                    "--dut-profile", PROFILES / "fault-sleep.toml", data=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    metrics = {m["name"]: m for m in json.loads(summary.read_text())["steps"][0]["metrics"]}
    failed = {name for name, m in metrics.items() if m["verdict"] == FAIL}
    assert failed == {"sleep_current_a", "battery_life_h", "avg_current_a"}
    assert metrics["sleep_current_a"]["value"] == pytest.approx(40e-6, rel=0.01)


def test_range_too_small_is_reported_for_the_capture_not_averaged(tmp_path, runs_dir):
    # 100 mA range (0.05 A rounds up to it) under 150 mA packets: every packet sample clips
    result = run("current-profile", sets={"range_a": "0.05"}, out=tmp_path)
    assert result.exit_code == 1
    metrics = {m.name: m for m in result.steps[0].metrics}
    for name in ("tx_peak_current_a", "wake_event_charge_c", "avg_current_a", "battery_life_h"):
        assert np.isnan(metrics[name].value) and metrics[name].verdict == FAIL, name
    assert metrics["sleep_current_a"].verdict == PASS            # sleep never came near the limit
    with h5py.File(result.run_file) as f:
        raw = f[f"steps/{STEP}/captures/current"][()]
        checks = f[f"steps/{STEP}/results/capture_checks/current"]
        top = float(np.float32(0.1 - 0.1 / 2 ** 15))            # 16 bit on 100 mA: range - 1 LSB
        assert checks["clipped"][()] and checks["clipped_samples"][()] == np.count_nonzero(raw >= top) > 0
        assert "range is too small" in checks.attrs["message"]
        tx = [n.decode() if isinstance(n, bytes) else n for n in f[f"steps/{STEP}/results/states/name"][()]].index("tx")
        assert f[f"steps/{STEP}/results/states/clipped_samples"][()][tx] == checks["clipped_samples"][()]


def test_impossible_samples_are_rejected_and_counted(default_run):
    step = read_step(default_run[1]["run_file"], STEP)
    capture = step.capture("current")
    p = CurrentProfileParams()
    glitched = capture.data.copy()
    where = [1000, 2000, 3000, 400_000, 900_000, 900_001, 1_100_000]
    glitched[where] = [50.0, -20.0, np.inf, 3.0, -np.inf, 11.0, 7.5]     # a 1 A range cannot report these
    holes = capture.data.copy()
    holes[where] = np.nan
    procedure = CurrentProfileProcedure()
    bad = procedure.analyze({"current": _with(capture, glitched)}, p)
    ref = procedure.analyze({"current": _with(capture, holes)}, p)
    assert bad.results["capture_checks"]["current"]["rejected_samples"] == len(where)
    assert ref.results["capture_checks"]["current"]["missing_samples"] == len(where)
    for a, b in zip(bad.metrics, ref.metrics):
        assert a.value == pytest.approx(b.value, rel=1e-12, nan_ok=True), a.name


def _with(capture, data):
    from dataclasses import replace
    return replace(capture, data=data)


def test_unknown_parameter_is_a_usage_error_exit_64(tmp_path):
    proc = labbench("run", "current-profile", "--set", "foo=1", data=tmp_path)
    assert proc.returncode == 64, proc.stdout + proc.stderr
    assert "no parameter 'foo'; valid: channel" in proc.stderr and "capacity_mah" in proc.stderr


@pytest.mark.parametrize("sets, expected", [
    ({"resolution_bits": "12"}, "resolution_bits=12"),
    ({"derating": "1.5"}, r"derating=1.5: must be in \(0, 1\]"),
    ({"points": "10"}, "record of 10 points"),
    ({"duration_s": "-1"}, "duration_s=-1.0: must be positive"),
    ({"on_clip": "ignore"}, "valid values: flag, raise, measure"),
])
def test_impossible_parameter_values_are_usage_errors_before_any_instrument(sets, expected, tmp_path):
    # the CLI turns a UsageError into exit 64 (test above); here the Python API, checked up front
    with pytest.raises(UsageError, match=expected):
        run("current-profile", sets=sets, out=tmp_path)


def test_current_ccdf_passes_and_agrees_with_the_instruments_own_ccdf(tmp_path, runs_dir):
    result = run("current-ccdf", out=tmp_path)
    assert result.exit_code == 0, result.summary()
    metrics = {m.name: m.value for m in result.steps[0].metrics}
    assert set(metrics) == set(CurrentCcdfProcedure.metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    # time above 50 mA: the TX packets, 2 samples (100 us) each, 12 per event, over the 60 s record
    with h5py.File(result.run_file) as f:
        raw = f["steps/01_current-ccdf/captures/current"][()]
        cross = {k: v[()] for k, v in f["steps/01_current-ccdf/results/cross_check"].items()}
    assert metrics["tx_time_pct"] == pytest.approx(100 * np.mean(raw >= 50e-3), rel=1e-9)   # exact at thresholds
    assert metrics["current_peak_a"] == float(raw.max())
    # above the sleep floor the two CCDFs count the same samples; labbench interpolates inside a
    # 0.017 dB bin, so a level may differ by one sample's share
    above = cross["instrument_level_a"] >= 1e-5
    np.testing.assert_allclose(cross["labbench_fraction"][above], cross["instrument_fraction"][above],
                               atol=2 / raw.size)


def test_current_ccdf_on_a_clipping_range_drops_only_what_the_clipped_samples_falsify(tmp_path, runs_dir):
    # 100 mA range under 150 mA packets: the peak and the mean are not measured; the 0.01 % level is
    # (the clipped samples are 0.006 % of the record) and so is the time above 50 mA (below the range)
    result = run("current-ccdf", sets={"range_a": "0.05"}, out=tmp_path)
    metrics = {m.name: m for m in result.steps[0].metrics}
    assert np.isnan(metrics["current_peak_a"].value) and metrics["current_peak_a"].verdict == FAIL
    assert np.isnan(metrics["current_mean_a"].value)
    assert np.isfinite(metrics["current_p99_99_a"].value) and np.isfinite(metrics["tx_time_pct"].value)
    assert result.exit_code == 1
    with h5py.File(result.run_file) as f:
        checks = f["steps/01_current-ccdf/results/capture_checks/current"]
        assert checks["clipped_samples"][()] > 0 and "range limits" in checks.attrs["message"]

"""Mistakes a technician makes at the command line: one clear line, the right exit code, nothing run."""
from __future__ import annotations

import json

import h5py
import pytest

from labbench.cli import main
from conftest import PROFILES, shared_file


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture
def garbage(tmp_path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(200, 256)) * 5)
    return path


@pytest.mark.parametrize("option, what", [("--limits", "limits file"), ("--station", "station file"),
                                          ("--dut-profile", "DUT profile")])
def test_binary_file_where_toml_is_expected(capsys, garbage, option, what):
    code, err = run_cli(capsys, "run", "eye-jitter", option, garbage)
    assert code == 64 and f"{what}" in err and "not a TOML text file" in err and "Traceback" not in err


def test_limits_table_with_a_typo_is_refused_not_silently_unjudged(capsys, tmp_path):
    limits = tmp_path / "l.toml"
    limits.write_text("[eye-jiter]\ntj_s = { high = 28e-12 }\n")
    code, err = run_cli(capsys, "run", "eye-jitter", "--limits", limits)
    assert code == 64 and "line 1: [eye-jiter] is not a procedure (did you mean [eye-jitter]?)" in err
    limits.write_text("# nothing yet\n")
    code, err = run_cli(capsys, "run", "eye-jitter", "--limits", limits)
    assert code == 64 and "holds no limits" in err


def test_dut_profile_section_typo_and_wrong_type(capsys, tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text('base = "default.toml"\n[serail]\nrj_rms_s = 1e-12\n')
    code, err = run_cli(capsys, "run", "eye-jitter", "--dut-profile", typo)
    assert code == 64 and "line 2: unknown section [serail] (did you mean [serial]?)" in err
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('base = "default.toml"\n[serial]\nrj_rms_s = "big"\n')
    code, err = run_cli(capsys, "run", "eye-jitter", "--dut-profile", wrong)
    assert code == 64 and "[serial] rj_rms_s = 'big' must be a number" in err


@pytest.mark.parametrize("args, expected", [
    (["--json", "/proc/no/such/x.json"], "--json /proc/no/such/x.json: folder /proc/no/such does not exist"),
    (["--junit", "/tmp"], "--junit /tmp: is a folder"),
    (["--out", "/proc/no/such"], "--out /proc/no/such: cannot create the folder"),
    (["--set", "ber=0"], "ber=0.0: use 1e-18 to 1e-2"),
    (["--set", "expected_amplitude_v=-1"], "expected_amplitude_v=-1.0: use 0.005 to 8 V"),
    (["--set", "loop_bandwidth_hz=-4"], "loop_bandwidth_hz=-4.0: must be positive"),
    (["--set", "points=1e12"], "points=1000000000000: use 16 to 2e9"),
])
def test_unusable_outputs_and_parameters_are_refused_before_measuring(capsys, tmp_path, args, expected):
    code, err = run_cli(capsys, "run", "eye-jitter", "--out", tmp_path, *args) if "--out" not in args else \
        run_cli(capsys, "run", "eye-jitter", *args)
    assert code == 64 and expected in err
    assert not list(tmp_path.glob("*.h5"))          # no instrument was touched, no run file made


def test_options_that_would_be_ignored_are_refused(capsys, tmp_path):
    uart = shared_file("keysight_dsox1102g_uart.bin")
    code, err = run_cli(capsys, "run", "rail-noise", "--replay", uart, "--out", tmp_path)
    assert code == 64 and "rail-noise does not use the scope" in err
    code, err = run_cli(capsys, "run", "eye-jitter", "--station", "procedures/stations/sim.toml",
                        "--dut-profile", PROFILES / "fault-jitter.toml")
    assert code == 64 and "with --station the instruments measure the real DUT" in err


def test_a_nominal_rate_at_half_the_real_one_is_reported_not_locked_to(capsys, tmp_path):
    summary = tmp_path / "S.json"
    code, _ = run_cli(capsys, "run", "eye-jitter", "--set", "nominal_rate_bps=5e9", "--set", "points=200000",
                      "--out", tmp_path, "--json", summary, "-q")
    step = json.loads(summary.read_text())["steps"][0]
    assert code == 2 and step["verdict"] == "ERROR" and "check nominal_rate_bps" in step["error"]


def test_replay_runs_say_what_they_replayed_and_are_not_the_simulated_dut(capsys, tmp_path):
    uart = shared_file("keysight_dsox1102g_uart.bin")
    summary = tmp_path / "S.json"
    run_cli(capsys, "run", "eye-jitter", "--replay", uart, "--set", "nominal_rate_bps=115200", "--out", tmp_path,
            "--json", summary, "-q")
    with h5py.File(json.loads(summary.read_text())["run_file"]) as f:
        assert f.attrs["dut_serial"] == "replay:keysight_dsox1102g_uart.bin"
        assert f.attrs["replay"].endswith("keysight_dsox1102g_uart.bin")
        assert f.attrs["replay_sha256"].startswith("a846055f66f3")       # PROVENANCE.md


def test_unknown_nominal_rate_is_explained(capsys, tmp_path):
    uart = shared_file("keysight_dsox1102g_uart.bin")
    main(["run", "eye-jitter", "--replay", str(uart), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "note: no nominal rate is known" in out and "--set nominal_rate_bps=" in out


def test_simulator_port_range_is_checked(capsys):
    code, err = run_cli(capsys, "sim", "--port", "65534")
    assert code == 64 and "needs ports 65534 to 65537" in err

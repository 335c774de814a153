"""Verdicts that follow the parameters a technician sets, and notes that say why."""
from __future__ import annotations

import json
import math

from labbench.cli import main


def summary_of(tmp_path, capsys, *args) -> tuple[int, dict, str]:
    path = tmp_path / "S.json"
    code = main(["run", *map(str, args), "--out", str(tmp_path), "--json", str(path), "-q"])
    return code, json.loads(path.read_text()), capsys.readouterr().out


def test_required_range_is_judged_as_a_lower_bound_on_range(tmp_path, capsys):
    code, summary, _ = summary_of(tmp_path, capsys, "rf-reach", "--set", "required_range_m=100")
    reach = {m["name"]: m for m in summary["steps"][0]["metrics"]}["range_m"]
    assert code == 1 and reach["low"] == 100 and reach["verdict"] == "FAIL" and reach["value"] < 100
    code, summary, _ = summary_of(tmp_path, capsys, "rf-reach", "--set", "required_range_m=10")
    reach = {m["name"]: m for m in summary["steps"][0]["metrics"]}["range_m"]
    assert code == 0 and reach["low"] == 30      # the limits file's 30 m is the tighter bound


def test_dfs_without_a_radar_burst_measures_no_move_or_closing_time_and_says_so(tmp_path, capsys):
    code, summary, out = summary_of(tmp_path, capsys, "dfs", "--set", "radar_after_cac_s=0")
    step = summary["steps"][0]
    metrics = {m["name"]: m["value"] for m in step["metrics"]}
    assert metrics["radar_pulses_detected"] == 0
    assert metrics["channel_move_time_s"] is None and metrics["closing_tx_time_s"] is None   # NaN in JSON
    assert code == 1 and any("no radar burst was found" in n for n in step["notes"])
    assert "note: no radar burst was found" in out


def test_a_clipped_current_capture_says_so_in_the_table(tmp_path, capsys):
    code, summary, out = summary_of(tmp_path, capsys, "current-profile", "--set", "range_a=0.1")
    assert code == 1 and "samples at the range limits" in out
    assert any("range is too small" in n for n in summary["steps"][0]["notes"])


def test_rail_tolerance_parameter_tightens_the_window(tmp_path, capsys):
    code, summary, _ = summary_of(tmp_path, capsys, "rail-noise", "--set", "tolerance_pct=0.5")
    worst = {m["name"]: m for m in summary["steps"][0]["metrics"]}["worst_deviation_pct"]
    assert code == 1 and worst["high"] == 0.5 and worst["verdict"] == "FAIL" and worst["value"] > 0.5

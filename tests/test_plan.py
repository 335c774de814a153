"""Plans: read and checked before any instrument is touched; errors name the file, the line and the key."""
from __future__ import annotations

from pathlib import Path

import pytest

import labbench.bench
from labbench.errors import ConfigError
from labbench.limits import load_limits
from labbench.plan import find_plan, load_plan
from labbench.runner import run
from labbench.tomlfile import line_of

NIGHTLY = find_plan("nightly")


def write(tmp_path: Path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nightly_plan_loads_with_its_defaults():
    steps = load_plan(NIGHTLY)
    assert steps and all(s.on_error == "continue" for s in steps)
    assert all(s.timeout_s and s.timeout_s > 0 for s in steps)          # unattended: every step has a deadline
    assert all(s.limits and Path(s.limits).is_file() for s in steps)


def test_step_keys_override_plan_defaults(tmp_path):
    path = write(tmp_path, """
        timeout_s = 100
        on_error = "stop"
        [[step]]
        procedure = "eye-jitter"
        [[step]]
        procedure = "eye-jitter"
        name = "long record"
        timeout_s = 5
        on_error = "continue"
        set = { points = 200000, ber = 1e-15 }
        """)
    first, second = load_plan(path)
    assert (first.timeout_s, first.on_error, first.sets) == (100.0, "stop", {})
    assert (second.timeout_s, second.on_error, second.name) == (5.0, "continue", "long record")
    assert second.sets == {"points": "200000", "ber": "1e-15"}


def test_syntax_error_names_file_line_and_key(tmp_path):
    path = write(tmp_path, '[[step]]\nprocedure = "eye-jitter"\ntimeout_s = \n')
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    text = str(info.value)
    assert str(path) in text and "line 3" in text and "step[1].timeout_s" in text


@pytest.mark.parametrize("body, line, key, words", [
    ('[[step]]\nprocedure = "eye-jitter"\n[[step]]\nprocedure = "eye-jiter"\n', 4, "step[2].procedure",
     "unknown procedure 'eye-jiter'"),
    ('[[step]]\nprocedure = "eye-jitter"\non_eror = "stop"\n', 3, "step[1].on_eror", "unknown key"),
    ('[[step]]\nprocedure = "eye-jitter"\non_error = "halt"\n', 3, "step[1].on_error", "\"continue\" or \"stop\""),
    ('[[step]]\nprocedure = "eye-jitter"\ntimeout_s = -1\n', 3, "step[1].timeout_s", "positive"),
    ('[[step]]\nprocedure = "eye-jitter"\n[step.set]\nbre = 1e-12\n', 4, "step[1].set.bre", "no parameter 'bre'"),
    ('[[step]]\nprocedure = "eye-jitter"\nset = { ber = "often" }\n', 3, "step[1].set.ber", "not a valid float"),
    ('[[step]]\nprocedure = "eye-jitter"\nlimits = "nowhere.toml"\n', 3, "step[1].limits", "not found"),
    ('timeout = 5\n[[step]]\nprocedure = "eye-jitter"\n', 1, "timeout", "unknown key"),
])
def test_bad_plan_is_refused_with_file_line_and_key(tmp_path, body, line, key, words):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    text = str(info.value)
    assert str(path) in text and f"line {line}" in text and repr(key) in text and words in text, text


def test_plan_without_steps_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no \\[\\[step\\]\\]"):
        load_plan(write(tmp_path, 'name = "empty"\n'))


def test_unknown_procedure_is_rejected_before_any_instrument_is_touched(tmp_path, monkeypatch):
    touched = []
    monkeypatch.setattr(labbench.bench, "open_bench", lambda *a, **k: touched.append(a) or 1 / 0)
    path = write(tmp_path, '[[step]]\nprocedure = "eye-jitter"\n[[step]]\nprocedure = "rf-reech"\n')
    with pytest.raises(ConfigError, match="line 4.*unknown procedure 'rf-reech'"):
        run(str(path), out=tmp_path / "runs")
    assert touched == [] and not (tmp_path / "runs").exists()


def test_limits_file_errors_name_file_line_and_key(tmp_path):
    path = write(tmp_path, '[eye-jitter]\ntj_s = { high = 28e-12 }\nrj_rms_s = { high = "1ps" }\n', "limits.toml")
    with pytest.raises(ConfigError) as info:
        load_limits(path)
    assert str(path) in str(info.value) and "line 3" in str(info.value) and "rj_rms_s" in str(info.value)


def test_limits_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, '[eye-jitter]\ntj_s = { high = }\n', "limits.toml")
    with pytest.raises(ConfigError) as info:
        load_limits(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_plan_naming_a_malformed_limits_file_fails_before_the_bench_opens(tmp_path, monkeypatch):
    touched = []
    monkeypatch.setattr(labbench.bench, "open_bench", lambda *a, **k: touched.append(a) or 1 / 0)
    write(tmp_path, '[eye-jitter]\ntj_s = { hihg = 1 }\n', "bad-limits.toml")
    path = write(tmp_path, '[[step]]\nprocedure = "eye-jitter"\nlimits = "bad-limits.toml"\n')
    with pytest.raises(ConfigError, match="bad-limits.toml, line 2: eye-jitter.tj_s"):
        run(str(path), out=tmp_path / "runs")
    assert touched == []


def test_line_of_finds_keys_in_arrays_of_tables_and_inline_tables():
    text = ('name = "n"\n[[step]]\nprocedure = "a"\n[step.set]\nber = 1\n'
            '[[step]]\nprocedure = "b"\nset = { ber = 2, points = 3 }\n')
    assert line_of(text, ("step", 0, "set"), "ber") == 5
    assert line_of(text, ("step", 1), "procedure") == 7
    assert line_of(text, ("step", 1, "set"), "points") == 8
    assert line_of(text, ("step", 1)) == 6
    assert line_of(text, (), "name") == 1
    assert line_of(text, ("step", 2)) == 0

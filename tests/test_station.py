"""Station files: checked before anything is sent; sim.toml stays in step with the simulated bench."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from labbench.bench import open_bench
from labbench.errors import ConfigError
from labbench.instruments.sim.bench import SIMULATORS
from labbench.station import ROLES, known_drivers, load_station

STATIONS = Path(__import__("labbench.procedures", fromlist=["x"]).__path__[0]) / "stations"
SIM_BASE_PORT = 5025          # `labbench sim` default --port


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_sim_station_lists_exactly_the_roles_of_the_simulated_bench():
    station = load_station(STATIONS / "sim.toml")
    assert set(station.roles) == set(SIMULATORS), "sim.toml and instruments/sim/bench.py: SIMULATORS differ"


@pytest.mark.parametrize("role", sorted(SIMULATORS))
def test_sim_station_role_is_where_labbench_sim_serves_it(role):
    config = load_station(STATIONS / "sim.toml").roles[role]
    spec = SIMULATORS[role]
    assert config.resource == f"TCPIP0::127.0.0.1::{SIM_BASE_PORT + spec.port_offset}::SOCKET"
    assert config.driver == spec.driver


def test_sim_station_dut_is_the_default_simulated_dut():
    from labbench.instruments.sim.dut import load_profile

    profile = load_profile()
    dut = load_station(STATIONS / "sim.toml").dut
    assert (dut["model"], dut["serial"]) == (profile.model, profile.serial)
    assert float(dut["serial_rate_bps"]) == profile.section("serial")["rate_bps"]


def test_every_simulated_role_has_a_known_driver():
    assert {spec.driver for spec in SIMULATORS.values()} <= set(known_drivers())


def test_example_lab_station_uses_lan_resources_and_known_drivers():
    station = load_station(STATIONS / "example-lab.toml")
    assert station.roles and station.dut["serial"]
    for config in station.roles.values():
        assert re.match(r"TCPIP0::\d+\.\d+\.\d+\.\d+::", config.resource), config.resource
        assert config.driver in known_drivers()


def test_optional_keys_are_read(tmp_path):
    path = write(tmp_path, '[scope]\nresource = "TCPIP0::10.0.0.5::hislip0::INSTR"\ndriver = "DSAZ334A"\n'
                           'visa_library = "@ivi"\ntimeout_s = 45\n')
    config = load_station(path).roles["scope"]
    assert (config.visa_library, config.timeout_s) == ("@ivi", 45.0)


@pytest.mark.parametrize("body, line, key, words", [
    ('[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\ndriver = "DSAZ334A"\n[oven]\nresource = "x"\n', 4,
     "oven", "unknown role"),
    ('[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\ndriver = "DSA-Z334A"\n', 3, "scope.driver",
     "driver 'DSA-Z334A' unknown"),
    ('name = "b"\n\n[scope]\nresource = "10.0.0.5:5025"\ndriver = "DSAZ334A"\n', 4, "scope.resource",
     "not a VISA resource string"),
    ('[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\ndriver = "DSAZ334A"\ntimeout_s = 0\n', 4,
     "scope.timeout_s", "positive"),
    ('[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\ndriver = "DSAZ334A"\nadress = "x"\n', 4,
     "scope.adress", "unknown key"),
    ('[dut]\nserail = "X"\n', 2, "dut.serail", "unknown key"),
    ('[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET\ndriver = "DSAZ334A"\n', 2, "scope.resource", "line 2"),
])
def test_bad_station_is_refused_with_file_line_and_key(tmp_path, body, line, key, words):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_station(path)
    text = str(info.value)
    assert str(path) in text and f"line {line}" in text and repr(key) in text and words in text, text


def test_resource_error_points_at_the_role_that_has_it(tmp_path):
    """Two roles, the second one wrong: the message must name the second table's line, not the first's."""
    path = write(tmp_path, '[scope]\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\ndriver = "DSAZ334A"\n'
                           '[analyzer]\nresource = "TCPIP0::10.0.0.7"\ndriver = "DSAZ334A"\n')
    with pytest.raises(ConfigError, match="line 5, key 'analyzer.resource'"):
        load_station(path)


def test_bad_station_fails_before_anything_is_sent(tmp_path):
    path = write(tmp_path, '[scope]\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\ndriver = "MSO-X"\n')
    with pytest.raises(ConfigError, match="driver 'MSO-X' unknown"):
        open_bench(str(path))


def test_roles_are_the_documented_four():
    assert ROLES == ("scope", "analyzer", "current", "rail")

"""The DSAZ334A driver against the simulated scope, over a real loopback socket."""
from __future__ import annotations

import numpy as np
import pytest

from labbench.errors import IdentityError, ScpiError, TransferError
from labbench.instruments.keysight.dsaz334a import DSAZ334A
from labbench.instruments.sim.dsaz334a import SimDSAZ334A
from labbench.scpi.tcpserver import SimServer


def test_wrong_model_is_refused_naming_resource_and_model():
    class OtherScope(SimDSAZ334A):
        idn = ("KEYSIGHT TECHNOLOGIES", "MSOS604A", "MY1", "1.0")

    with SimServer(OtherScope(), port=0) as server:
        with pytest.raises(IdentityError) as err:
            DSAZ334A(server.resource)
    assert server.resource in str(err.value) and "MSOS604A" in str(err.value) and "DSAZ334A" in str(err.value)


def test_settings_read_back_as_written(scope):
    ch = scope.channel(2)
    ch.scale_v = 0.125
    ch.offset_v = -0.05
    ch.input = "DC50"
    scope.sample_rate_sa_s = 40e9
    assert ch.scale_v == pytest.approx(0.125)
    assert ch.offset_v == pytest.approx(-0.05)
    assert ch.input == "DC50"
    assert scope.sample_rate_sa_s == pytest.approx(40e9)


def test_out_of_range_setting_raises_naming_setting_command_and_queue_text(scope):
    with pytest.raises(ScpiError) as err:
        scope.channel(1).scale_v = 5.0
    text = str(err.value)
    assert "scale_v" in text and ":CHANnel1:SCALe 5.0" in text and "-222" in text and "Data out of range" in text


def test_acquire_returns_int16_codes_with_scale_offset_and_axis(scope):
    scope.setup_serial_capture(1, amplitude_v=0.4, rate_bps=10.3125e9, points=200_000)
    capture = scope.acquire(1)
    assert capture.data.dtype == np.int16 and capture.n == 200_000
    assert capture.dx == pytest.approx(1 / 80e9)
    volts = capture.values()
    assert 0.35 < np.nanmax(volts) - np.nanmin(volts) < 0.5     # 0.4 V swing plus noise
    assert capture.settings["preamble"]["points"] == 200_000
    assert scope.channel(2).display is False                    # :DIGitize CHANnel1 turned it off ...
    assert scope.channel(1).display is True                     # ... and the driver turned channel 1 back on


def test_preamble_point_count_mismatch_is_a_transfer_error(scope_sim, scope):
    scope.session.write(":ACQuire:POINts 1000;:DIGitize CHANnel1")
    original = scope_sim.instrument.preamble

    def lying_preamble(source):
        p = original(source)
        return type(p)(**{**p.__dict__, "points": p.points + 5})

    scope_sim.instrument.preamble = lying_preamble
    with pytest.raises(TransferError, match="preamble announced 1005"):
        scope.read_waveform("CHANnel1")


def test_settings_snapshot_holds_every_declared_setting(scope):
    snapshot = scope.settings()
    for key in ("timebase_scale_s", "sample_rate_sa_s", "points", "channel1.scale_v", "channel4.input",
                "trigger_level_v", "waveform_format"):
        assert key in snapshot
    assert snapshot["waveform_format"] == "WORD"


def test_scope_measurements_answer_invalid_before_an_acquisition(scope):
    assert np.isnan(scope.rise_time_s("CHANnel1"))

"""The MSOS604A driver against the simulated MSOS604A (power-rail probe on channel 1), over loopback."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from labbench.analysis.rail import analyze_rail
from labbench.errors import AnalysisError, IdentityError, InstrumentError, ScpiError
from labbench.instruments.keysight.dsaz334a import DSAZ334A
from labbench.instruments.keysight.infiniium_wire import WORD_CLIP_HIGH, adc_resolution
from labbench.instruments.keysight.msos604a import MSOS604A
from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.instruments.sim.msos604a import SimMSOS604A
from labbench.scpi.client import Session
from labbench.scpi.tcpserver import SimServer

POINTS = 200_000          # 1 ms at 200 MSa/s: several hundred switching periods, fast to transfer


def profile_with(**rail) -> DutProfile:
    base = load_profile()
    data = {**base.data, "rail": {**base.data.get("rail", {}), **rail}}
    return DutProfile(base.path, data)


@pytest.fixture
def sim_server():
    server = SimServer(SimMSOS604A(), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def scope(sim_server):
    driver = MSOS604A(sim_server.resource, role="rail")
    yield driver
    driver.close()


def serve(profile: DutProfile):
    return SimServer(SimMSOS604A(profile), port=0).start()


def test_a_dsaz334a_is_refused_by_the_msos604a_driver_and_vice_versa(sim_server):
    from labbench.instruments.sim.dsaz334a import SimDSAZ334A

    with SimServer(SimDSAZ334A(), port=0) as other:
        with pytest.raises(IdentityError, match="DSAZ334A.*not a MSOS604A"):
            MSOS604A(other.resource)
    with pytest.raises(IdentityError, match="MSOS604A.*not a DSAZ334A"):
        DSAZ334A(sim_server.resource)


def test_rail_settings_read_back_as_written(scope):
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=2e-3, points=POINTS)
    ch = scope.channel(1)
    assert (ch.offset_v, ch.scale_v, ch.input) == (pytest.approx(1.0), pytest.approx(2e-3), "DC50")
    assert scope.bandwidth_hz == pytest.approx(20e6)
    assert scope.points == POINTS and scope.timebase_reference == "LEFT"
    ch.bw_limit = True
    assert ch.bw_limit is True
    snapshot = scope.settings()
    assert snapshot["channel1.offset_v"] == pytest.approx(1.0) and snapshot["channel1.probe_id"] == "N7020A"


@pytest.mark.parametrize("setting, value, command", [
    ("offset_v", 30.0, ":CHANnel1:OFFSet 30.0"),        # the N7020A offsets +-24 V
    ("scale_v", 1e-4, ":CHANnel1:SCALe 0.0001"),        # 1 mV/div is the finest
    ("scale_v", 5.0, ":CHANnel1:SCALe 5.0"),            # 1 V/div the coarsest on 50 ohm
])
def test_out_of_range_vertical_setting_raises_naming_the_setting(scope, setting, value, command):
    with pytest.raises(ScpiError) as err:
        setattr(scope.channel(1), setting, value)
    text = str(err.value)
    assert f"setting {setting} = {value!r}" in text and command in text
    assert "-222" in text and "Data out of range" in text and "allowed" in text


def test_simulator_queues_222_for_an_offset_out_of_range(sim_server):
    session = Session(sim_server.resource, name="raw")
    try:
        session.write(":CHANnel1:OFFSet 25")
        assert session.query(":SYSTem:ERRor? STRing").startswith('-222,"Data out of range')
        assert session.query(":SYSTem:ERRor? STRing").startswith("+0")
        assert float(session.query(":CHANnel1:OFFSet?")) == 0.0          # the refused value was not applied
    finally:
        session.close()


def test_capture_is_10_bit_codes_sent_as_word(scope):
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=5e-3, points=POINTS)
    capture = scope.acquire(1)
    adc = adc_resolution("MSOS604A")
    assert scope.adc_bits == 10 and adc.word_step == 64 and adc.max_step * adc.word_step == WORD_CLIP_HIGH
    assert capture.data.dtype == np.int16 and capture.n == POINTS
    assert np.all(capture.data % 64 == 0)                          # 10 bits, left-justified in 16
    lsb_v = 8 * 5e-3 / (2 * 448)                                    # 8 divisions over +-448 steps
    assert capture.y_increment * 64 == pytest.approx(lsb_v, rel=1e-9)
    assert capture.dx == pytest.approx(5e-9) and capture.clipped_count() == 0
    assert np.nanmean(capture.values()) == pytest.approx(1.0015, abs=1e-4)   # nominal + the set-point error


def test_8_bit_and_10_bit_models_share_the_wire_codes_not_the_step():
    assert (adc_resolution("DSAZ334A").word_step, adc_resolution("MSOS604A").word_step) == (256, 64)
    assert adc_resolution("DSAZ334A").lsb_v(1e-3) == pytest.approx(4 * adc_resolution("MSOS604A").lsb_v(1e-3))


def test_scope_vpp_vrms_vaverage_match_an_analysis_of_the_transferred_codes(scope):
    # The simulator measures with its own code on the codes it holds; labbench converts the transferred
    # codes and analyses them without a filter. Same samples, same definitions: agreement to the 7 digits
    # of the NR3 replies.
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=2e-3, points=POINTS)
    capture = scope.acquire(1)
    rail = analyze_rail(capture.values(), capture.dx, nominal_v=1.0, bandwidth_hz=None)
    assert scope.vpp_v("CHANnel1") == pytest.approx(rail.ripple_pp_v, rel=1e-5)
    assert scope.vrms_ac_v("CHANnel1") == pytest.approx(rail.noise_rms_v, rel=1e-5)
    assert scope.vaverage_v("CHANnel1") == pytest.approx(rail.rail_dc_v, rel=1e-6)


def test_fft_magnitude_of_a_pure_ripple_sine_has_its_known_level_at_f_sw():
    # 10 mV pk-pk sine = 3.536 mV rms (standards.md §7.8) = 70.97 dBuV; 1.2 MHz sits on a bin of the
    # 100 Hz resolution (2 Mpts at 200 MSa/s), so the Hann window loses nothing; noise and 10-bit steps
    # move the bin by far less than 0.05 dB.
    profile = profile_with(ripple_pp_v=10e-3, ripple_harmonics=[1.0])
    with serve(profile) as server:
        scope = MSOS604A(server.resource)
        try:
            scope.setup_rail_capture(1, offset_v=1.0, scale_v=2e-3, points=2_000_000)
            scope.digitize(1)
            fft = scope.rail_fft(1, 1, stop_hz=20e6)
        finally:
            scope.close()
    assert (fft.x_unit, fft.y_unit, fft.clip_high) == ("Hz", "dBuV", None)
    assert fft.x0 == 0.0 and fft.dx == pytest.approx(100.0) and fft.attrs["resolution_hz"] == pytest.approx(100.0)
    assert fft.x()[-1] == pytest.approx(20e6)
    level = fft.values()
    k = int(np.argmax(np.where(fft.x() > 10e3, level, -np.inf)))
    assert fft.x()[k] == pytest.approx(1.2e6, abs=100.0)
    assert level[k] == pytest.approx(20 * np.log10(10e-3 / (2 * np.sqrt(2)) / 1e-6), abs=0.05)
    assert level[0] == pytest.approx(20 * np.log10(1.0015 / 1e-6), abs=0.01)       # DC bin: the rail's mean


def test_reading_an_undefined_fft_function_is_refused(scope):
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=5e-3, points=POINTS)
    scope.digitize(1)
    with pytest.raises(InstrumentError, match="FUNCtion3 is not defined"):
        scope.read_fft(3)


def test_bandwidth_limit_cuts_broadband_noise():
    # Noise only: white from the DUT up to 100 MHz (1 mV rms) plus the probe's. At 200 MSa/s a 20 MHz
    # front end keeps about 20/100 of the DUT noise power: 0.45 mV rms, against 1 mV at full bandwidth.
    profile = profile_with(ripple_pp_v=0.0, noise_rms_v=1e-3, probe_noise_rms_v=0.0, transient_ohm=0.0,
                           load_regulation_ohm=0.0)
    with serve(profile) as server:
        scope = MSOS604A(server.resource)
        try:
            out = {}
            for bandwidth_hz in (20e6, 6e9):
                scope.setup_rail_capture(1, offset_v=1.0, scale_v=2e-3, points=POINTS, bandwidth_hz=bandwidth_hz)
                scope.digitize(1)
                out[bandwidth_hz] = scope.vrms_ac_v("CHANnel1")
        finally:
            scope.close()
    assert out[6e9] == pytest.approx(1e-3, rel=0.03)
    assert out[20e6] == pytest.approx(1e-3 * np.sqrt(20 / 100), rel=0.1)   # Butterworth, not a brick wall


def test_rail_off_screen_is_a_clipped_capture_and_analysis_refuses_it(scope):
    scope.setup_rail_capture(1, offset_v=0.95, scale_v=1e-3, points=POINTS)   # screen 0.946..0.954 V
    capture = scope.acquire(1)
    assert capture.clipped_count() == capture.n                              # the 1.0 V rail is above it all
    limits_v = tuple((c - capture.y_reference) * capture.y_increment + capture.y_origin
                     for c in (capture.clip_low, capture.clip_high))
    with pytest.raises(AnalysisError, match="ADC limits"):
        analyze_rail(capture.values(), capture.dx, nominal_v=1.0, adc_limits_v=limits_v, on_clip="raise")


def test_load_step_trigger_lands_on_the_dut_tx_burst(sim_server, scope):
    # The rail dips where the current analyzer's [power] model steps up to TX: the simulated trigger
    # on a level below the ripple must fire within the current's TX edge.
    sim = sim_server.instrument
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=5e-3, points=POINTS, pretrigger_s=0.2e-3)
    scope.trigger_on_rail(1, 0.9975, "NEGative")
    capture = scope.acquire(1)
    assert scope.triggered()
    supply = sim.supply_rail.supply
    wake = max(t for t in supply.wake_times_s(0.0, sim.last_trigger_s) if t <= sim.last_trigger_s)
    tx_start = wake + supply.p.mcu_s + supply.p.rx_s
    assert 0.0 <= sim.last_trigger_s - tx_start < 5 * supply.p.edge_tau_s
    assert capture.x0 == pytest.approx(-0.2e-3)
    values = capture.values()
    t = capture.x()
    assert np.nanmin(values[t > 0]) < 0.9975 < np.nanmin(values[t < -20e-6])   # the dip is after the trigger


def test_a_level_the_rail_never_reaches_auto_triggers_and_ter_says_so(scope):
    scope.setup_rail_capture(1, offset_v=1.0, scale_v=5e-3, points=POINTS)
    scope.trigger_on_rail(1, 0.9, "NEGative")                   # 10 % below: no load step goes there
    scope.acquire(1)
    assert scope.triggered() is False


def test_profile_with_an_unknown_rail_key_is_refused_by_name():
    from labbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[rail\] has unknown key\(s\) ripple_mv"):
        SimMSOS604A(profile_with(ripple_mv=3))


def test_rail_model_is_a_dataclass_of_the_profile_section():
    sim = SimMSOS604A()
    assert dataclasses.is_dataclass(sim.rail) and sim.rail.nominal_v == 1.0 and sim.adc.bits == 10

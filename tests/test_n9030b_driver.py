"""The N9030B driver against the simulated analyzer, over a real loopback socket."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from labbench.analysis.spectrum import SpectrumTrace, channel_power, occupied_bandwidth
from labbench.errors import IdentityError, ScpiError, TransferError
from labbench.instruments.keysight.n9030b import N9030B
from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.instruments.sim.n9030b import SimN9030B
from labbench.scpi.tcpserver import SimServer

CENTER_HZ = 2.437e9                 # the default DUT: 802.11 OFDM on channel 6, 16 dBm through 30 dB
DUT_AT_INPUT_DBM = 16.0 - 30.0
QUIET = DutProfile("quiet", {"radio": {"enabled": False}})     # nothing on the air: the noise floor alone


@pytest.fixture(scope="module")
def analyzer_sim():
    server = SimServer(SimN9030B(load_profile()), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def sa(analyzer_sim):
    """The driver on a freshly reset analyzer (the simulator is shared by the module's tests)."""
    driver = N9030B(analyzer_sim.resource, role="analyzer")
    driver.session.write("*RST;*CLS")
    driver.setup()
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def quiet_sim():
    server = SimServer(SimN9030B(QUIET), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def quiet_sa(quiet_sim):
    driver = N9030B(quiet_sim.resource, role="analyzer")
    driver.session.write("*RST;*CLS")
    driver.setup()
    yield driver
    driver.close()


def test_wrong_model_is_refused_naming_resource_and_model():
    class OtherAnalyzer(SimN9030B):
        idn = ("Keysight Technologies", "N9020B", "MY1", "A.1")

    with SimServer(OtherAnalyzer(), port=0) as server:
        with pytest.raises(IdentityError) as err:
            N9030B(server.resource)
    assert server.resource in str(err.value) and "N9020B" in str(err.value) and "N9030B" in str(err.value)


def test_setup_sets_real32_with_an_explicit_byte_order_and_the_x_series_error_format(sa):
    assert sa.data_format == "REAL,32" and sa.byte_order == "SWAP"
    assert any(":FORMat:BORDer SWAPped" in e.text for e in sa.session.traffic)
    assert sa.session.query(":SYSTem:ERRor?") == '+0,"No error"'


def test_settings_read_back_as_written(sa):
    sa.center_hz = 2.4375125e9                  # 13 significant digits come back, not the 7 of a short NR3
    sa.span_hz = 40e6
    sa.rbw_hz = 30e3
    sa.vbw_hz = 100e3
    sa.points = 2001
    sa.sweep_time_s = 0.5
    sa.reference_offset_db = 30.0
    sa.reference_level_dbm = 40.0               # +10 dBm at the input plus the offset
    sa.detector = "AVERage"
    sa.average_type = "RMS"
    sa.trace_type = "MAXHold"
    assert sa.center_hz == 2.4375125e9 and sa.span_hz == 40e6
    assert sa.start_hz == pytest.approx(2.4175125e9) and sa.stop_hz == pytest.approx(2.4575125e9)
    assert (sa.rbw_hz, sa.vbw_hz, sa.points, sa.sweep_time_s) == (30e3, 100e3, 2001, 0.5)
    assert sa.rbw_auto is False and sa.sweep_time_auto is False
    assert (sa.detector, sa.average_type, sa.trace_type) == ("AVER", "RMS", "MAXH")
    assert sa.reference_level_dbm == 40.0 and sa.attenuation_db == 20.0     # auto: 10 dBm at the input + 10 dB
    snapshot = sa.settings()
    for key in ("center_hz", "span_hz", "rbw_hz", "vbw_hz", "points", "sweep_time_s", "attenuation_db",
                "reference_level_dbm", "detector", "average_count", "trace_type", "continuous", "data_format"):
        assert key in snapshot


@pytest.mark.parametrize("name, value, text", [
    ("center_hz", 30e9, "center frequency"), ("center_hz", 1.0, "center frequency"),
    ("start_hz", 1.0, "start frequency"), ("stop_hz", 27e9, "stop frequency"),
    ("span_hz", 26.4e9, "start frequency"), ("rbw_hz", 20e6, "outside 1..8e+06"),
    ("rbw_hz", 0.5, "outside 1..8e+06"), ("points", 30001, "outside 1..20001"),
])
def test_out_of_range_setting_raises_naming_the_setting_and_the_222(sa, name, value, text):
    with pytest.raises(ScpiError) as err:
        setattr(sa, name, value)
    message = str(err.value)
    assert f"setting {name} = " in message and "-222" in message and "Data out of range" in message
    assert text in message


def test_simulator_queues_222_for_a_frequency_outside_2_hz_to_26_5_ghz(sa):
    sa.session.write(":SENSe:FREQuency:CENTer 26.6 GHz")
    assert sa.session.query(":SYSTem:ERRor?").startswith('-222,"Data out of range')
    assert sa.center_hz == CENTER_HZ                 # the refused value left the setting alone


def test_single_sweep_turns_continuous_off_and_leave_idle_restores_it(sa):
    assert sa.continuous is True                     # the analyzer powers on sweeping
    capture = sa.sweep()
    assert sa.continuous is False
    sent = [e.text for e in sa.session.traffic if e.direction == ">"]
    assert ":INITiate:CONTinuous OFF;:SYSTem:PON:TIME?;:INITiate:IMMediate;*OPC?" in sent
    assert capture.n == sa.points
    assert sa.leave_idle() == []
    assert sa.continuous is True


def test_swept_trace_is_float32_dbm_on_the_frequency_axis_and_matches_the_x_y_pairs(sa):
    sa.configure_spectrum(CENTER_HZ, 80e6, rbw_hz=100e3, points=1601, detector="AVERage", average_type="RMS")
    capture = sa.sweep()
    assert capture.data.dtype == np.float32 and capture.n == 1601 and capture.x_unit == "Hz"
    assert capture.x0 == CENTER_HZ - 40e6 and capture.dx == pytest.approx(50e3)
    assert capture.settings["rbw_hz"] == 100e3 and capture.settings["detector"] == "AVER"
    # The DUT's flat top: 106.45 kHz (the RBW's noise bandwidth) of the ~16.5 MHz its -14 dBm fill, 21.9 dB
    # under its power. Power mean of 240 points of ~1.25 looks each: 0.25 dB rms.
    flat = np.abs(capture.x() - CENTER_HZ) < 6e6
    top = 10 * np.log10(np.mean(10 ** (capture.values()[flat] / 10)))
    assert top == pytest.approx(DUT_AT_INPUT_DBM - 10 * math.log10(16.5e6 / 106.45e3), abs=0.6)
    xy = sa.read_xy()                                # :READ:SANalyzer1? sweeps again: new noise, same axis
    assert np.array_equal(xy.x(), capture.x())
    assert any("READ:SANalyzer1?" in e.text for e in sa.session.traffic)


def test_a_trace_whose_point_count_disagrees_with_the_sweep_is_a_clear_error(sa):
    sa.points = 1001
    sa.sweep()
    sa.session.write(":SENSe:SWEep:POINts 501")      # changed behind the driver's back, no new sweep
    with pytest.raises(TransferError, match=r"sent 1001 points .* the sweep has 501"):
        sa.read_trace()


def test_zero_span_of_70_s_returns_at_once_on_virtual_time(sa):
    sa.configure_zero_span(CENTER_HZ, 70.0, points=20001, rbw_hz=8e6, detector="POSitive")
    t_before = sa.instrument_time_s()
    wall = time.perf_counter()
    capture = sa.sweep(name="pvt")
    assert time.perf_counter() - wall < 2.0
    assert capture.x_unit == "s" and capture.x0 == 0.0 and capture.dx == pytest.approx(70.0 / 20000)
    assert capture.attrs["sweep_start_s"] == pytest.approx(t_before)
    assert sa.instrument_time_s() - t_before == pytest.approx(70.0, abs=1e-6)
    # The DUT transmits continuously; 8 MHz of it at the carrier is 2.8 dB under its channel power. Each
    # 3.5 ms point holds 3.5 ms x 8 MHz = 28000 looks: the peak of that many exponentials is
    # ln(28000) + 0.58 = 10.8 times the mean (+10.3 dB).
    assert np.median(capture.values()) == pytest.approx(DUT_AT_INPUT_DBM - 2.8 + 10.3, abs=1.0)


def test_noise_floor_reads_kTB_plus_nf_through_rms_and_2_5_db_lower_through_log_averaging(quiet_sa):
    # -174 dBm/Hz + NF 12 dB + 10 dB attenuation + 10 log10(1.0645 MHz) = -91.73 dBm (rf_scene.py)
    expected = -174.0 + SimN9030B.noise_figure_db + 10.0 + 10 * math.log10(1.0645e6)
    quiet_sa.configure_spectrum(1e9, 100e6, rbw_hz=1e6, points=1001, detector="AVERage", average_type="RMS",
                                trace_type="AVERage", average_count=20, attenuation_db=10.0)
    rms = quiet_sa.sweep().values()
    assert np.mean(rms) == pytest.approx(expected, abs=0.15)      # 20 sweeps x ~250 looks: 0.02 dB rms per point
    quiet_sa.average_type = "LOG"
    quiet_sa.detector = "SAMPle"
    log = quiet_sa.sweep().values()
    assert np.mean(log) - np.mean(rms) == pytest.approx(-2.51, abs=0.25)   # E[10 log10 Exp(1)] = -2.507 dB


def test_max_hold_average_and_min_hold_of_ten_noise_sweeps_sit_where_exponential_statistics_put_them(quiet_sa):
    # Sample detector on the floor (-101.73 dBm in 100 kHz), 10 sweeps, every look exponential in power.
    # Relative to the mean power: max of 10 has its median at -ln(1 - 0.5^0.1) = 2.70 (+4.31 dB); min of 10
    # at ln 2 / 10 (-11.59 dB); the LOG average of 10 has the mean E[10 log10 Exp(1)] = -2.51 dB.
    # Over 2001 points these statistics scatter by ~0.1 dB.
    floor = -174.0 + SimN9030B.noise_figure_db + 10.0 + 10 * math.log10(106.45e3)
    expected = {"MAXHold": (np.median, 4.31), "AVERage": (np.mean, -2.51), "MINHold": (np.median, -11.59)}
    for kind, (statistic, offset_db) in expected.items():
        quiet_sa.configure_spectrum(1e9, 10e6, rbw_hz=100e3, points=2001, detector="SAMPle", trace_type=kind,
                                    average_count=10, attenuation_db=10.0)
        assert statistic(quiet_sa.sweep().values()) - floor == pytest.approx(offset_db, abs=0.3), kind


def test_configure_presets_the_measurement_but_ndefault_keeps_its_settings(sa):
    sa.configure_spectrum(CENTER_HZ, 20e6, rbw_hz=30e3, points=801)
    sa.session.write(":CONFigure:SANalyzer:NDEFault", check=True)
    assert (sa.span_hz, sa.rbw_hz, sa.points) == (20e6, 30e3, 801)
    sa.session.write(":CONFigure:SANalyzer", check=True)
    assert (sa.span_hz, sa.rbw_auto, sa.points) == (80e6, True, 1001)
    assert sa.center_hz == CENTER_HZ                 # the centre belongs to the mode, not the measurement


def test_markers_find_the_carrier_and_read_the_trace(sa):
    sa.configure_spectrum(CENTER_HZ, 80e6, rbw_hz=100e3, points=1601, detector="AVERage", average_type="RMS",
                          trace_type="AVERage", average_count=10)
    capture = sa.sweep()
    x, y = sa.marker_peak(1)
    values = capture.values()
    assert abs(x - CENTER_HZ) < 8.2e6 and y == pytest.approx(float(values.max()), abs=1e-4)
    x2, y2 = sa.set_marker(2, CENTER_HZ + 25e6)
    i = int(np.argmin(np.abs(capture.x() - (CENTER_HZ + 25e6))))
    assert x2 == capture.x()[i] and y2 == pytest.approx(float(values[i]), abs=1e-4)
    sa.session.write(":CALCulate:MARKer2:MODE DELTa;:CALCulate:MARKer2:X -25 MHz", check=True)
    dx, dy = sa.marker(2)                             # delta: relative to where marker 2 stood
    assert dx == pytest.approx(-25e6) and dy == pytest.approx(values[800] - values[i], abs=1e-3)
    sa.markers_off()
    assert all(math.isnan(v) for v in sa.marker(1))


def test_measurement_results_come_as_real32_blocks(sa):
    result = sa.channel_power(CENTER_HZ, 20e6, rbw_hz=100e3)
    assert result.power_dbm == pytest.approx(DUT_AT_INPUT_DBM, abs=0.2)
    assert result.psd_dbm_hz == pytest.approx(result.power_dbm - 10 * math.log10(20e6), abs=1e-4)
    received = [e.text for e in sa.session.traffic if e.direction == "<"]
    assert "#block 8 bytes" in received              # two float32 values
    sa.back_to_spectrum()
    assert sa.measurement == "SAN"


def test_acp_reports_each_offset_and_power_statistics_the_ccdf_traces(sa):
    acp = sa.acp(CENTER_HZ, 20e6, [20e6, 40e6], 20e6, rbw_hz=100e3)
    assert acp.carrier_power_dbm == pytest.approx(DUT_AT_INPUT_DBM, abs=0.2)
    assert len(acp.lower_dbc) == 2 and acp.lower_dbc[1] < acp.lower_dbc[0] < -25      # skirts fall away
    assert acp.upper_dbm[0] == pytest.approx(acp.carrier_power_dbm + acp.upper_dbc[0], abs=1e-3)
    stats = sa.power_statistics(CENTER_HZ, 8e6, counts=100_000)
    assert stats.sample_count == 100_000 and stats.x_db.size == stats.probability.size == 501
    assert stats.gaussian_probability[0] == pytest.approx(math.exp(-1.0), rel=1e-6)
    assert stats.levels_db[1e-3] == pytest.approx(8.39, abs=0.4)      # OFDM is close to Gaussian (standards.md §3)
    assert math.isnan(stats.levels_db[1e-6])                          # 0.0001 % of 1e5 samples: not measurable


@pytest.mark.parametrize("rbw_hz, points", [(30e3, 4001), (100e3, 1601), (100e3, 801), (300e3, 401)])
def test_channel_power_from_traces_does_not_change_with_rbw_or_points(sa, rbw_hz, points):
    """labbench.analysis integrates the simulated trace (RMS detector) to the same 20 MHz channel power,
    -14 dBm at the input, whatever RBW and point count the analyzer used: within 0.3 dB."""
    sa.configure_spectrum(CENTER_HZ, 60e6, rbw_hz=rbw_hz, points=points, detector="AVERage", average_type="RMS",
                          trace_type="AVERage", average_count=10)
    capture = sa.sweep()
    trace = SpectrumTrace.from_dbm(capture.x(), capture.values(), rbw_hz=capture.settings["rbw_hz"])
    assert channel_power(trace, CENTER_HZ, 20e6).power_dbm == pytest.approx(DUT_AT_INPUT_DBM, abs=0.3)


def test_the_analyzers_channel_power_and_obw_agree_with_labbench_on_its_trace(sa):
    # 50 RMS-averaged sweeps: each 20 MHz channel power scatters by ~0.03 dB rms between independent sweeps
    sa.configure_spectrum(CENTER_HZ, 80e6, rbw_hz=100e3, points=1601, detector="AVERage", average_type="RMS",
                          trace_type="AVERage", average_count=50)
    trace_capture = sa.sweep()
    trace = SpectrumTrace.from_dbm(trace_capture.x(), trace_capture.values(), rbw_hz=100e3)
    ours_chp = channel_power(trace, CENTER_HZ, 20e6).power_dbm
    ours_obw = occupied_bandwidth(trace, 99.0, f_lo_hz=CENTER_HZ - 20e6, f_hi_hz=CENTER_HZ + 20e6).obw_hz
    theirs_chp = sa.channel_power(CENTER_HZ, 20e6, rbw_hz=100e3, average_count=50).power_dbm
    theirs_obw = sa.occupied_bandwidth(CENTER_HZ, 40e6, rbw_hz=100e3, average_count=50).obw_hz
    assert ours_chp == pytest.approx(DUT_AT_INPUT_DBM, abs=0.15)
    assert theirs_chp == pytest.approx(ours_chp, abs=0.15)
    assert theirs_obw == pytest.approx(ours_obw, rel=0.01)          # 99 % of 16.6 MHz, edges on the skirts
    assert ours_obw == pytest.approx(16.6e6, rel=0.02)


def test_configure_resets_the_amplitude_an_earlier_procedure_left(sa):
    """The reference-level offset, reference level and attenuation belong to the mode: `:CONFigure:SANalyzer`
    keeps them, so configure_spectrum sets them every time (a 30 dB offset left behind would shift every
    reading of the next procedure)."""
    sa.configure_spectrum(CENTER_HZ, 80e6, reference_offset_db=30.0, reference_level_dbm=26.0, attenuation_db=20.0)
    assert (sa.reference_offset_db, sa.reference_level_dbm, sa.attenuation_db) == (30.0, 26.0, 20.0)
    sa.configure_zero_span(5.5e9, 1.0)
    assert (sa.reference_offset_db, sa.reference_level_dbm, sa.attenuation_auto) == (0.0, 0.0, True)
    assert sa.attenuation_db == 10.0


def test_the_dut_transmits_while_the_analyzer_is_tuned_to_its_channel_and_listens_during_a_band_survey(sa):
    """[radio] transmit = "when-tuned": the simulated DUT's continuous-TX test mode follows the analyzer."""
    def dut_reading_dbm(center_hz, span_hz):
        sa.configure_spectrum(center_hz, span_hz, rbw_hz=300e3, points=1101, detector="AVERage",
                              average_type="RMS", trace_type="AVERage", average_count=10, attenuation_db=10.0)
        capture = sa.sweep()
        at_dut = np.abs(capture.x() - CENTER_HZ) < 5e6          # the oven's line sits above 2438 MHz: stay below
        return float(np.median(capture.values()[at_dut & (capture.x() < CENTER_HZ)]))

    floor_300k = -174.0 + SimN9030B.noise_figure_db + 10.0 + 10 * math.log10(1.0645 * 300e3)
    assert dut_reading_dbm(CENTER_HZ, 60e6) > floor_300k + 50       # tuned: the OFDM flat top, ~-31 dBm
    assert dut_reading_dbm(2.445e9, 110e6) < floor_300k + 3         # survey of 2390-2500 MHz: nothing at 2437

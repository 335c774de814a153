"""The CX3324A driver against the simulated analyzer, at the wire, over real loopback sockets."""
from __future__ import annotations

import time

import numpy as np
import pytest

from labbench.errors import IdentityError, InstrumentError, ScpiError
from labbench.instruments.keysight import cx3300_dialect as D
from labbench.instruments.keysight.cx3324a import CX3324A
from labbench.instruments.sim.cx3324a import SimCX3324A
from labbench.instruments.sim.dut import load_profile, section_dataclass
from labbench.instruments.sim.dut_power import PowerProfile
from labbench.scpi.tcpserver import SimServer

POWER = section_dataclass(PowerProfile, load_profile(), "power")


@pytest.fixture
def cx_sim():
    server = SimServer(SimCX3324A(), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def cx(cx_sim):
    driver = CX3324A(cx_sim.resource, role="current")
    yield driver
    driver.close()


def sent(driver, since: int = 0) -> list[str]:
    """Commands the driver wrote after traffic entry `since`, error-queue polls left out."""
    return [e.text for e in driver.session.traffic[since:]
            if e.direction == ">" and not e.text.startswith(":SYSTem:ERRor")]


def test_wrong_model_is_refused_naming_resource_and_model():
    class OtherAnalyzer(SimCX3324A):
        idn = ("Keysight Technologies", "CX3322A", "MY1", "1.0")

    with SimServer(OtherAnalyzer(), port=0) as server:
        with pytest.raises(IdentityError) as err:
            CX3324A(server.resource)
    text = str(err.value)
    assert server.resource in text and "CX3322A" in text and "CX3324A" in text


def test_setup_sends_exactly_the_dialect_tables_commands(cx):
    start = len(cx.session.traffic)
    cx.setup_current_capture(1, sample_rate_sa_s=20e3, points=4000, range_a=0.1, seamless=True,
                             resolution_bits=16, trigger_level_a=2e-3)
    assert sent(cx, start) == [
        ":CHANnel1:SENSor?", ":CHANnel1:DISPlay 1", ":CHANnel1:SEAMless 1", ":CHANnel1:RANGe 0.1",
        ":ACQuire:SRATe 20000.0", ":ACQuire:RESolution 16", ":ACQuire:POINts 4000", ":TRIGger:SOURce CHANnel1",
        ":TRIGger:LEVel 0.002", ":TRIGger:SLOPe POSitive", ":TRIGger:SWEep TRIGgered"]
    # every header above is the table's: correcting the table corrects the driver
    headers = {c.split()[0].rstrip("?") for c in sent(cx, start)}
    table = {D.header(k, 1) for k in D.COMMANDS}
    assert headers <= table


def test_every_table_command_is_known_to_the_simulator_in_long_and_short_form(cx_sim):
    sim = cx_sim.instrument
    for key, cmd in D.COMMANDS.items():
        long = cmd.text(1).lstrip(":").split(":")
        short = ["".join(ch for ch in node if ch.isupper() or ch.isdigit() or ch == "*") for node in long]
        for mnemonics in (long, short):
            assert sim.find(mnemonics) is not None, (key, mnemonics)


def test_commands_are_marked_confirmed_only_for_the_ieee_488_2_and_scpi_common_ones():
    confirmed = {k for k, c in D.COMMANDS.items() if c.status == D.CONFIRMED}
    assert confirmed == {"idn", "rst", "cls", "opc", "esr", "error"}
    assert all(c.status == D.PROVISIONAL for k, c in D.COMMANDS.items() if k not in confirmed)


def test_range_rounds_up_to_the_sensors_next_range_and_reads_back(cx):
    ch = cx.channel(1)
    assert ch.sensor == "CX1102A"
    ch.range_a = 0.05                    # CX1102A ranges (I): 1 mA, 10 mA, 100 mA, 1 A
    assert ch.range_a == 0.1
    cx.sample_rate_sa_s = 1e6
    cx.points = 123_456
    assert (cx.sample_rate_sa_s, cx.points) == (1e6, 123_456)


def test_out_of_range_setting_raises_naming_setting_command_and_queue_text(cx):
    with pytest.raises(ScpiError) as err:
        cx.channel(1).range_a = 5.0      # above the CX1102A's 1 A
    text = str(err.value)
    assert "range_a" in text and ":CHANnel1:RANGe 5.0" in text and "-222" in text and "Data out of range" in text


def test_16_bit_above_10_msa_s_is_a_settings_conflict(cx):
    cx.resolution_bits = 14
    cx.sample_rate_sa_s = 1e9
    with pytest.raises(ScpiError, match="-221"):
        cx.resolution_bits = 16
    assert cx.resolution_bits == 14      # the refused value did not stick


def test_channel_without_sensor_is_refused_before_acquiring(cx):
    with pytest.raises(InstrumentError, match="no current sensor on channel 3"):
        cx.setup_current_capture(3, sample_rate_sa_s=1e3, points=100, range_a=1.0)
    cx.session.write(":DIGitize CHANnel3")
    with pytest.raises(ScpiError, match="-241"):
        cx.session.check_errors(":DIGitize CHANnel3")


def test_seamless_record_is_float32_amperes_triggered_at_zero_with_microamp_sleep(cx):
    # 0.5 s at 100 kSa/s, trigger 1 mA rising: 50 ms before the trigger (10 %), the wake-up at t = 0
    cx.setup_current_capture(1, sample_rate_sa_s=100e3, points=50_000, range_a=1.0, trigger_level_a=1e-3)
    capture = cx.acquire(1)
    assert capture.data.dtype == np.float32 and capture.n == 50_000
    assert (capture.y_increment, capture.y_origin, capture.y_unit) == (1.0, 0.0, "A")
    assert capture.dx == pytest.approx(1e-5) and capture.x0 == pytest.approx(-0.05)
    i = capture.values()
    t = capture.x()
    before, after = i[t < -1e-4], i[(t > 1e-4) & (t < 3e-3)]
    # sleep resolved on the low path: 1.5 uA within 1 % (leakage noise 50 nA rms over 5000 samples)
    assert np.mean(before) == pytest.approx(POWER.sleep_a, rel=0.01)
    assert np.all(before < 1e-3) and np.all(after > 1e-3)          # the trigger sits at the crossing
    assert i.max() == pytest.approx(POWER.tx_a, rel=0.02)           # TX packets on the high path
    assert capture.clipped_count() == 0
    assert capture.settings["seamless"] is True and capture.settings["dialect"] == "cx3300-provisional"


def test_fixed_range_sends_word_codes_and_a_range_too_small_shows_as_clipped_codes(cx):
    cx.setup_current_capture(1, sample_rate_sa_s=100e3, points=20_000, range_a=0.1, seamless=False,
                             resolution_bits=14)
    capture = cx.acquire(1)
    assert capture.data.dtype == np.int16
    assert capture.y_increment == pytest.approx(0.1 / 32768)
    low, high = D.word_clip_codes(14)
    assert (capture.clip_low, capture.clip_high) == (low, high)
    # 150 mA packets on a 100 mA range: every packet sample is at the top code, and only those
    on_top = int(np.count_nonzero(capture.data == high))
    assert on_top > 0 and capture.clipped_count() == on_top
    assert np.nanmax(capture.values()) == pytest.approx(0.1 - D.lsb_a(0.1, 14))
    # 14 bit on 100 mA: 12.2 uA steps, so the 1.5 uA sleep reads as 0 or one step
    assert set(np.unique(capture.data[:1000])) <= {0, 4}


def test_instrument_measurements_equal_numpy_on_the_transferred_record(cx):
    cx.setup_current_capture(1, sample_rate_sa_s=50e3, points=30_000, range_a=1.0)
    capture = cx.acquire(1)
    i = capture.values()
    m = cx.current_measurements(1)
    # NR3 with 7 significant digits: 1e-6 relative
    assert m["mean_a"] == pytest.approx(np.mean(i), rel=1e-6)
    assert m["rms_a"] == pytest.approx(np.sqrt(np.mean(i * i)), rel=1e-6)
    assert m["max_a"] == pytest.approx(i.max(), rel=1e-6) and m["min_a"] == pytest.approx(i.min(), rel=1e-6)
    assert m["pp_a"] == pytest.approx(i.max() - i.min(), rel=1e-6)


def test_ccdf_block_is_level_fraction_pairs_of_the_record(cx):
    cx.setup_current_capture(1, sample_rate_sa_s=50e3, points=30_000, range_a=1.0)
    i = cx.acquire(1).values()
    level, fraction = cx.ccdf_data(1)
    assert level.size == 91 and level[0] == pytest.approx(1e-9) and level[-1] == pytest.approx(1.0)
    expected = np.array([np.mean(i >= np.float32(v)) for v in level])
    np.testing.assert_allclose(fraction, expected, atol=1e-7)       # float32 fractions


def test_measurements_before_any_acquisition_are_not_a_number(cx):
    assert np.isnan(cx.measure_current_a("MEAN", 1))


def test_no_trigger_raises_with_the_instruments_own_text(cx):
    # 0.5 A: above the DUT's highest current (150 mA TX), so the trigger never fires
    cx.setup_current_capture(1, sample_rate_sa_s=1e3, points=1000, range_a=1.0, trigger_level_a=0.5)
    with pytest.raises(ScpiError, match="no trigger at 0.5 A"):
        cx.acquire(1)


def test_successive_records_move_on_in_virtual_time(cx_sim, cx):
    # a 60 s record returns at once; the next one arms where it ended, so it sees later wake events
    cx.setup_current_capture(1, sample_rate_sa_s=1e3, points=60_000, range_a=1.0)
    t0 = time.monotonic()
    first = cx.acquire(1)
    assert time.monotonic() - t0 < 2.0              # virtual time: nothing waits for the 60 s
    clock_after_first = cx_sim.instrument.clock_s
    second = cx.acquire(1)
    assert clock_after_first >= 60.0
    assert cx_sim.instrument.clock_s >= clock_after_first + 60.0
    assert not np.array_equal(first.data, second.data)


def test_settings_snapshot_holds_every_declared_setting(cx):
    snapshot = cx.settings()
    for key in ("sample_rate_sa_s", "points", "resolution_bits", "trigger_level_a", "trigger_source",
                "channel1.range_a", "channel1.seamless", "channel1.sensor", "channel4.sensor", "dialect"):
        assert key in snapshot
    assert snapshot["channel4.sensor"] == "NONE" and np.isnan(snapshot["channel4.range_a"])

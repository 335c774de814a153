"""Differential channel from the measured cable (../shared/data/CABLE1_TX_pair.s4p) and its FIR model."""

import time
from pathlib import Path

import numpy as np
import pytest
import skrf
from scipy.signal import fftconvolve

from labbench.errors import ConfigError, FileFormatError
from labbench.fileformats.touchstone import dc_gain, impulse_response, load_differential_thru, sdd21

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CABLE = DATA / "CABLE1_TX_pair.s4p"
DT_S = 12.5e-12  # 80 GSa/s, the simulated scope's rate


@pytest.fixture(scope="module")
def cable():
    if not CABLE.exists():
        pytest.skip(f"measured cable {CABLE.name} not present in {DATA}")
    return load_differential_thru(CABLE)


def _db_at(net, f_hz):
    """|Sdd21| in dB at f_hz, interpolated in dB between the 6.25 MHz-spaced points."""
    f, h = sdd21(net)
    return float(np.interp(f_hz, f, 20 * np.log10(np.abs(h))))


def _amplitude_at(y, f_hz, dt_s):
    """Least-squares amplitude of a sinusoid of known frequency in y."""
    t = np.arange(y.size) * dt_s
    basis = np.column_stack([np.sin(2 * np.pi * f_hz * t), np.cos(2 * np.pi * f_hz * t)])
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(*coef))


# --- mixed-mode conversion -----------------------------------------------------------------------------

@pytest.mark.parametrize("f_hz, expected_db", [(1e9, -2.8), (5e9, -7.4), (10e9, -13.2)])
def test_sdd21_of_measured_cable_matches_known_loss(cable, f_hz, expected_db):
    # 0.2 dB: the known values are quoted to 0.1 dB and adjacent points ripple by about 0.05 dB
    assert cable.nports == 2
    assert _db_at(cable, f_hz) == pytest.approx(expected_db, abs=0.2)


def test_without_renumbering_the_ports_se2gmm_pairs_input_with_output_and_loss_is_wrong():
    if not CABLE.exists():
        pytest.skip(f"measured cable {CABLE.name} not present")
    naive = skrf.Network(str(CABLE))
    naive.se2gmm(p=2)  # assumes thru paths 1->3 and 2->4
    f, h = naive.f, naive.s[:, 1, 0]
    assert float(np.interp(1e9, f, 20 * np.log10(np.abs(h)))) < -10  # about -14.8 dB, not -2.8 dB


def test_a_pairing_that_is_not_a_thru_is_refused():
    if not CABLE.exists():
        pytest.skip(f"measured cable {CABLE.name} not present")
    with pytest.raises(ConfigError, match=r"1->3 is not a thru path"):
        load_differential_thru(CABLE, thru_pairs=((1, 3), (2, 4)))
    with pytest.raises(ConfigError, match="thru_pairs"):
        load_differential_thru(CABLE, thru_pairs=((1, 2), (2, 4)))


def test_parsed_network_is_cached_and_callers_get_independent_copies(cable):
    t0 = time.perf_counter()
    again = load_differential_thru(CABLE)
    assert time.perf_counter() - t0 < 0.05  # parsing the 2.3 MB file takes ~0.2 s; a cache hit ~0.1 ms
    again.s[:] = 0
    assert _db_at(load_differential_thru(CABLE), 1e9) == pytest.approx(_db_at(cable, 1e9))


def test_a_file_that_is_not_touchstone_is_a_file_format_error(tmp_path):
    bad = tmp_path / "junk.s4p"
    bad.write_text("this is not a touchstone file\n")
    with pytest.raises(FileFormatError, match=r"junk\.s4p"):
        load_differential_thru(bad)
    with pytest.raises(FileFormatError, match=r"missing\.s4p"):
        load_differential_thru(tmp_path / "missing.s4p")


# --- impulse response ----------------------------------------------------------------------------------

def test_dc_gain_extrapolates_smoothly_from_the_lowest_measured_point(cable):
    f, h = sdd21(cable)
    # the lowest point is 10 MHz; the cable's loss there is ~0.46 dB and falls to DC: within 0.1 dB
    assert 20 * np.log10(dc_gain(cable)) == pytest.approx(20 * np.log10(abs(h[0])), abs=0.1)
    assert 0 < dc_gain(cable) <= 1


def test_long_step_through_the_fir_settles_at_the_dc_gain(cable):
    h = impulse_response(cable, DT_S)
    assert h.sum() == pytest.approx(dc_gain(cable), rel=1e-12)
    y = fftconvolve(np.ones(3 * h.size), h)[: 3 * h.size]
    assert y[-1] == pytest.approx(dc_gain(cable), rel=1e-9)
    # and the step arrives after the cable's delay (~14.3 ns from the phase slope), not before
    assert np.all(np.abs(y[: int(12e-9 / DT_S)]) < 0.01)


def test_5_ghz_sine_through_the_fir_is_attenuated_by_sdd21_at_5_ghz(cable):
    h = impulse_response(cable, DT_S)
    n = h.size + 16_000
    x = np.sin(2 * np.pi * 5e9 * np.arange(n) * DT_S)
    y = fftconvolve(x, h)[h.size:n]  # steady state only
    got_db = 20 * np.log10(_amplitude_at(y, 5e9, DT_S))
    assert got_db == pytest.approx(_db_at(cable, 5e9), abs=0.3)  # measured error ~0.002 dB


def test_fir_frequency_response_follows_sdd21_across_the_band(cable):
    h = impulse_response(cable, DT_S)
    f = np.fft.rfftfreq(1 << 18, DT_S)
    resp_db = 20 * np.log10(np.abs(np.fft.rfft(h, 1 << 18)))
    for f_hz in (0.1e9, 1e9, 3e9, 10e9, 15e9):
        # 0.05 dB: interpolation of the 6.25 MHz grid and the Hann DC correction below ~50 MHz
        assert np.interp(f_hz, f, resp_db) == pytest.approx(_db_at(cable, f_hz), abs=0.05), f_hz


def test_fir_peak_sits_at_the_cable_delay(cable):
    f, h = sdd21(cable)
    low = f < 2e9
    delay_s = -np.polyfit(f[low], np.unwrap(np.angle(h[low])), 1)[0] / (2 * np.pi)
    taps = impulse_response(cable, DT_S)
    assert np.argmax(taps) * DT_S == pytest.approx(delay_s, abs=0.2e-9)  # dispersion moves the peak a little


def test_explicit_tap_count_is_honoured_and_still_sums_to_dc_gain(cable):
    h = impulse_response(cable, DT_S, n_taps=2048)
    assert h.shape == (2048,) and h.sum() == pytest.approx(dc_gain(cable), rel=1e-12)


def test_pure_delay_with_gain_gives_a_single_pulse_of_that_gain_at_that_delay():
    f = np.linspace(10e6, 40e9, 4000)
    delay_s, gain = 1.0e-9, 0.5  # 80 samples at 12.5 ps
    h = impulse_response((f, gain * np.exp(-2j * np.pi * f * delay_s)), DT_S)
    assert np.argmax(h) == 80
    assert h.sum() == pytest.approx(gain, rel=1e-12)
    assert dc_gain((f, gain * np.exp(-2j * np.pi * f * delay_s))) == pytest.approx(gain, rel=1e-9)
    # the taper above 32 GHz turns the ideal single tap into a short sinc-like pulse: 95 % of its energy
    # lies within +-3 taps of the delay
    assert np.sum(h[77:84] ** 2) >= 0.95 * np.sum(h**2)


def test_first_order_lowpass_step_response_matches_the_analytic_one():
    fc_hz = 2e9
    tau_s = 1 / (2 * np.pi * fc_hz)
    f = np.linspace(10e6, 40e9, 4000)
    h = impulse_response((f, 1 / (1 + 1j * f / fc_hz)), DT_S, n_taps=4096)
    step = np.cumsum(h)
    t = np.arange(h.size) * DT_S
    late = t > 0.2e-9  # past the band-limit ringing of the t = 0 corner
    # 0.02: the response is cut at 40 GHz where |H| ~ fc/f is still 0.05; the missing band is worth about
    # fc / (pi * 40 GHz) = 0.016 of the step at early times (measured 0.014; shrinks 5x with a 5x band)
    np.testing.assert_allclose(step[late], 1 - np.exp(-t[late] / tau_s), atol=0.02)
    # the step settles at the extrapolated DC gain; a line through the lowest points of a curve that starts
    # flat (1 - (f/fc)^2 / 2) lands within 1e-4 of the true 1
    assert step[-1] == pytest.approx(dc_gain((f, 1 / (1 + 1j * f / fc_hz))), rel=1e-12)
    assert step[-1] == pytest.approx(1.0, abs=1e-4)


def test_bad_arguments_are_config_errors(cable):
    with pytest.raises(ConfigError, match="sample_interval_s"):
        impulse_response(cable, 0.0)
    with pytest.raises(ConfigError, match="increasing"):
        impulse_response((np.array([2e9, 1e9]), np.array([1, 1])), DT_S)

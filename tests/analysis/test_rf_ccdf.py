"""Known answers for power statistics (standards.md §3, §7.4) and the P(X >= x) convention."""

import math

import numpy as np
import pytest

from labbench.analysis.ccdf import (
    CURVE_X_DB, CcdfAccumulator, LevelHistogram, ccdf, current_ccdf, fraction_at_or_above,
    gaussian_ccdf, gaussian_level_db, level_at_probability,
)
from labbench.errors import AnalysisError

N = 2_000_000


@pytest.fixture(scope="module")
def complex_noise():
    rng = np.random.default_rng(1234)
    return (rng.standard_normal(N, dtype=np.float32) + 1j * rng.standard_normal(N, dtype=np.float32))


@pytest.fixture(scope="module")
def noise_ccdf(complex_noise):
    return ccdf(complex_noise)


# Reference values of §3/§7.4 to their printed 3 decimals.
@pytest.mark.parametrize("prob, expected_db", [(0.1, 3.622), (0.01, 6.632), (1e-3, 8.393), (1e-4, 9.643),
                                               (1e-5, 10.612), (1e-6, 11.404)])
def test_gaussian_reference_level_complex(prob, expected_db):
    assert gaussian_level_db(prob) == pytest.approx(expected_db, abs=6e-4)
    assert gaussian_ccdf(expected_db) == pytest.approx(prob, rel=2e-3)


@pytest.mark.parametrize("prob, expected_db", [(0.1, 4.323), (0.01, 8.218), (1e-3, 10.345), (1e-4, 11.800)])
def test_gaussian_reference_level_real(prob, expected_db):
    assert gaussian_level_db(prob, "real") == pytest.approx(expected_db, abs=6e-4)
    assert gaussian_ccdf(expected_db, "real") == pytest.approx(prob, rel=2e-3)


def test_complex_gaussian_noise_at_0p1_percent_is_8_39_db(noise_ccdf):
    # 2e6 samples: 2000 beyond the 0.1 % level, whose statistical spread is ~0.03 dB; 0.15 dB required.
    assert noise_ccdf.ccdf_0p1pct_db == pytest.approx(8.393, abs=0.15)


def test_complex_gaussian_noise_at_10_and_1_percent(noise_ccdf):
    assert noise_ccdf.ccdf_10pct_db == pytest.approx(3.622, abs=0.02)  # 2e5 samples beyond: ~0.005 dB
    assert noise_ccdf.ccdf_1pct_db == pytest.approx(6.632, abs=0.05)   # 2e4 samples beyond: ~0.015 dB
    assert noise_ccdf.ccdf_0p01pct_db == pytest.approx(9.643, abs=0.25)  # 200 beyond: ~0.07 dB


def test_probability_at_average_is_36_79_percent(noise_ccdf):
    assert noise_ccdf.prob_at_avg == pytest.approx(math.exp(-1), abs=2e-3)


def test_curve_has_501_points_and_follows_the_gaussian_reference(noise_ccdf):
    assert noise_ccdf.x_db.shape == (501,) and noise_ccdf.x_db[0] == 0.0 and noise_ccdf.x_db[-1] == 50.0
    assert noise_ccdf.probability.shape == (501,)
    ref = noise_ccdf.gaussian_probability
    sel = ref * N > 2000  # where the estimate has > 2000 samples: relative error ~2 %
    assert np.all(np.abs(noise_ccdf.probability[sel] / ref[sel] - 1) < 0.08)
    assert np.all(np.diff(noise_ccdf.probability) <= 0)


def test_average_power_and_papr(noise_ccdf, complex_noise):
    p = np.abs(complex_noise.astype(np.complex128)) ** 2
    assert noise_ccdf.avg_power_dbm == pytest.approx(10 * math.log10(p.mean() / 50) + 30, abs=1e-4)
    assert noise_ccdf.papr_db == pytest.approx(10 * math.log10(p.max() / p.mean()), abs=1e-4)
    # Expected PAPR of N iid complex WGN samples ~ 10·log10(ln N + 0.5772): 11.75 dB for 2e6; spread ~0.3 dB
    assert noise_ccdf.papr_db == pytest.approx(10 * math.log10(math.log(N) + 0.5772), abs=0.6)
    assert noise_ccdf.sample_count == N and noise_ccdf.invalid_count == 0


def test_histogram_levels_match_exact_order_statistics(complex_noise):
    p = (np.abs(complex_noise.astype(np.complex128)) ** 2)[:300_000]
    acc = CcdfAccumulator("power")
    acc.add(p)
    for q in (0.3, 0.1, 0.01, 1e-3, 1e-4):
        exact = 10 * math.log10(level_at_probability(p, q) / p.mean())
        assert acc.level_db(q) == pytest.approx(exact, abs=0.017)  # one bin at most


def test_chunked_feeding_equals_one_shot(complex_noise):
    x = complex_noise[:500_000]
    acc = CcdfAccumulator("complex")
    for part in np.array_split(x, 7):
        acc.add(part)
    a, b = acc.result(), ccdf(x)
    # Identical counts; only the float32 partial sums of the mean differ with the chunk boundaries.
    assert a.ccdf_0p1pct_db == pytest.approx(b.ccdf_0p1pct_db, abs=1e-5)
    assert a.avg_power_dbm == pytest.approx(b.avg_power_dbm, abs=1e-5)
    np.testing.assert_allclose(a.probability, b.probability, atol=1e-5)
    assert a.sample_count == b.sample_count == x.size


def test_real_gaussian_waveform_follows_real_reference():
    rng = np.random.default_rng(5)
    r = ccdf(rng.standard_normal(1_000_000))
    assert r.reference == "real"
    assert r.ccdf_0p1pct_db == pytest.approx(10.345, abs=0.15)
    assert r.ccdf_10pct_db == pytest.approx(4.323, abs=0.03)


# ---- the convention P(X >= x), its ends with few samples ------------------------------------------

def test_ends_with_five_samples_follow_at_or_above():
    # powers 1,1,1,1,10: mean 2.8; the peak is 10·log10(10/2.8) = 5.528 dB above average
    acc = CcdfAccumulator("power")
    acc.add([1.0, 1.0, 1.0, 1.0, 10.0])
    r = acc.result()
    peak_db = 10 * math.log10(10 / 2.8)
    assert r.papr_db == pytest.approx(peak_db, abs=1e-6)
    assert r.prob_at_avg == 0.2                       # one of five at or above the mean
    h = acc.histogram
    assert h.fraction_at_or_above(10.0) == 0.2        # at the largest sample: 1/N, not 0
    assert h.fraction_at_or_above(np.nextafter(np.float32(10.0), np.float32(11))) == 0.0
    assert h.fraction_at_or_above(1.0) == 1.0         # at the smallest sample: 1
    assert h.fraction_at_or_above(0.5) == 1.0
    i55, i56 = 55, 56                                 # the curve steps from 1/N to 0 between 5.5 and 5.6 dB
    assert r.probability[i55] == 0.2 and r.probability[i56] == 0.0
    # levels: q·N < 1 is unresolved (NaN); 10 % and 20 % of 5 samples is the largest one
    assert math.isnan(r.ccdf_10pct_db)               # 10 % of 5 samples is half a sample
    assert acc.level_db(0.2) == pytest.approx(peak_db, abs=1e-9)
    # 50 % -> the 3rd largest = 1.0 (−4.472 dB), within one 0.017 dB bin
    assert acc.level_db(0.5) == pytest.approx(10 * math.log10(1 / 2.8), abs=0.017)
    assert acc.level_db(1.0) == pytest.approx(10 * math.log10(1 / 2.8), abs=1e-9)  # the smallest


def test_constant_envelope_is_100_percent_at_average_and_zero_above():
    x = np.full(10_000, 0.6 + 0.8j, dtype=np.complex64)  # constant envelope: every |x|² identical
    r = ccdf(x)
    assert r.prob_at_avg == 1.0 and r.probability[0] == 1.0 and r.probability[1] == 0.0
    assert r.papr_db == pytest.approx(0.0, abs=1e-6) and r.ccdf_1pct_db == pytest.approx(0.0, abs=1e-6)


def test_nan_samples_are_counted_invalid_and_left_out():
    x = np.array([1.0, np.nan, 1.0, 1.0, 10.0, np.inf, -np.inf, 1.0])
    acc = CcdfAccumulator("power")
    acc.add(x)
    r = acc.result()
    assert r.sample_count == 5 and r.invalid_count == 3
    assert r.papr_db == pytest.approx(10 * math.log10(10 / 2.8), abs=1e-6)


def test_kind_mismatch_and_empty_input_raise():
    with pytest.raises(AnalysisError, match="complex"):
        ccdf(np.ones(10), kind="complex")
    with pytest.raises(AnalysisError, match="no valid samples"):
        ccdf(np.full(4, np.nan), kind="power")


# ---- current CCDF ----------------------------------------------------------------------------------

def test_current_ccdf_fraction_in_tx_and_p99_99():
    # 1 ms period: 5 mA for 10 % of the time, 1 uA otherwise, plus 1 uA rms probe noise (some < 0)
    rng = np.random.default_rng(3)
    n = 1_000_000
    i = np.where((np.arange(n) % 1000) < 100, 5e-3, 1e-6) + rng.normal(0, 1e-6, n)
    i[::5000] += 2e-3  # 200 spikes of +2 mA, all on the TX plateau: 0.02 % of samples reach 7 mA
    r = current_ccdf(i, probabilities=(0.1, 1e-4), thresholds_a=(1e-3, 6e-3))
    assert r.fraction_at_or_above[0] == pytest.approx(0.1, abs=1e-9)     # exactly the TX samples
    assert r.fraction_at_or_above[1] == pytest.approx(200 / n, abs=1e-9)  # exactly the spikes
    assert r.levels_a[1] == pytest.approx(level_at_probability(i, 1e-4), rel=0.004)  # p99.99
    assert r.levels_a[1] == pytest.approx(7e-3, rel=0.01)
    assert r.min_a < 0 and r.sample_count == n
    assert fraction_at_or_above(i, 1e-3) == pytest.approx(0.1, abs=1e-9)


def test_current_ccdf_from_histogram_fed_in_chunks_with_nans():
    h = LevelHistogram(thresholds=(2e-3,))
    h.add([1e-3, np.nan, 2e-3])
    h.add([3e-3, 4e-3])
    r = current_ccdf(h, probabilities=(0.25, 0.5), thresholds_a=(2e-3, 2.5e-3))
    assert r.sample_count == 4 and r.invalid_count == 1
    assert r.levels_a[0] == 4e-3 and r.levels_a[1] == pytest.approx(3e-3, rel=0.004)
    assert r.fraction_at_or_above == (0.75, 0.5)  # declared level exact; 2.5 mA falls in an empty bin
    assert r.mean_a == pytest.approx(2.5e-3)


def test_undeclared_level_equal_to_samples_is_within_that_bins_count():
    h = LevelHistogram()
    h.add([1e-3, 2e-3, 3e-3, 4e-3])
    assert 0.5 <= h.fraction_at_or_above(2e-3) <= 0.75  # the bin holding 2 mA is counted in part


def test_exact_helpers_on_tiny_inputs():
    x = [3.0, 1.0, np.nan, 2.0]
    assert fraction_at_or_above(x, 2.0) == pytest.approx(2 / 3)
    assert level_at_probability(x, 1 / 3) == 3.0
    assert level_at_probability(x, 1.0) == 1.0
    assert math.isnan(level_at_probability(x, 0.1))


def test_curve_grid_is_the_analyzers():
    assert CURVE_X_DB.size == 501 and CURVE_X_DB[1] == pytest.approx(0.1)

"""Known answers for path loss, link budget and range (standards.md §4, §7.6)."""

import math

import pytest

from labbench.analysis.linkbudget import (
    FreeSpace, ItuP1238, ItuP1238SiteGeneral, LogDistance, PathLossModel, eirp_dbm,
    friis_received_power_dbm, fspl_db, link_budget, path_loss_model,
)
from labbench.errors import AnalysisError, UsageError

CH6_HZ = 2437e6


# The reference values in §7.6 are given to 0.01 dB; 0.006 dB covers their rounding.
@pytest.mark.parametrize("distance_m, expected_db", [(1, 40.18), (10, 60.18), (100, 80.18)])
def test_fspl_at_channel_6_matches_reference(distance_m, expected_db):
    assert fspl_db(distance_m, CH6_HZ) == pytest.approx(expected_db, abs=0.006)


def test_fspl_is_textbook_mhz_formula_with_unrounded_constant():
    d, f_mhz = 37.0, 5500.0
    textbook = 20 * math.log10(d) + 20 * math.log10(f_mhz) - 27.55
    assert fspl_db(d, f_mhz * 1e6) == pytest.approx(textbook, abs=0.003)  # −27.5522 vs −27.55


def test_friis_received_power_subtracts_fspl_and_adds_gains():
    assert friis_received_power_dbm(20, 10, CH6_HZ, 3, 2) == pytest.approx(25 - fspl_db(10, CH6_HZ))


def test_eirp_adds_gain_and_subtracts_cable_loss():
    assert eirp_dbm(17, 5, 1.5) == 20.5


# §7.6: 20 dBm, 0 dBi, −82 dBm: a 102 dB budget. Distances are quoted to 0.1 m (1232 to 1 m).
@pytest.mark.parametrize("exponent, margin_db, expected_m, tol_m", [
    (2.0, 0.0, 1232.0, 0.5), (3.0, 0.0, 114.9, 0.05), (3.5, 0.0, 58.4, 0.05),
    (2.0, 10.0, 389.7, 0.05), (3.0, 10.0, 53.4, 0.05), (3.5, 10.0, 30.2, 0.05),
])
def test_range_for_102_db_budget_matches_reference(exponent, margin_db, expected_m, tol_m):
    lb = link_budget(20.0, -82.0, CH6_HZ, LogDistance(exponent), margin_db=margin_db)
    assert lb.link_budget_db == pytest.approx(102.0)
    assert lb.range_m == pytest.approx(expected_m, abs=tol_m)


def test_free_space_range_equals_log_distance_with_exponent_two():
    fs = link_budget(20.0, -82.0, CH6_HZ, FreeSpace()).range_m
    assert fs == pytest.approx(link_budget(20.0, -82.0, CH6_HZ, LogDistance(2.0)).range_m, rel=1e-12)


def test_margin_at_the_range_distance_equals_required_margin():
    lb = link_budget(20.0, -82.0, CH6_HZ, LogDistance(3.0), margin_db=10.0, distance_m=53.36)
    lb_exact = link_budget(20.0, -82.0, CH6_HZ, LogDistance(3.0), margin_db=10.0, distance_m=lb.range_m)
    assert lb_exact.link_margin_db == pytest.approx(10.0, abs=1e-9)
    assert lb.rx_power_dbm == pytest.approx(-72.0, abs=0.01)


@pytest.mark.parametrize("floors, expected_db", [(0, 69.60), (1, 83.60)])
def test_p1238_office_2400_mhz_10_m(floors, expected_db):
    assert ItuP1238("office", floors).loss_db(10.0, 2400e6) == pytest.approx(expected_db, abs=0.005)


def test_p1238_5ghz_office_uses_coefficient_31():
    m = ItuP1238("office")
    assert m.loss_db(100.0, 5200e6) - m.loss_db(10.0, 5200e6) == pytest.approx(31.0)


def test_p1238_untabulated_case_raises_unless_overridden():
    with pytest.raises(AnalysisError, match="floor"):
        ItuP1238("office", floors=2).loss_db(10.0, 2400e6)
    assert ItuP1238("office", floors=2, floor_loss_db=20.0).loss_db(10.0, 2400e6) == pytest.approx(89.604, abs=1e-3)


class _OnlyLoss(PathLossModel):
    """A model with no closed-form range: exercises the brentq fallback."""

    def __init__(self, inner):
        self.inner = inner

    def loss_db(self, distance_m, freq_hz):
        return self.inner.loss_db(distance_m, freq_hz)


@pytest.mark.parametrize("model", [FreeSpace(), LogDistance(3.3), ItuP1238("office", 1),
                                   ItuP1238SiteGeneral("office-nlos"), ItuP1238SiteGeneral("corridor-los")])
def test_closed_form_range_agrees_with_root_search(model):
    closed = model.range_m(95.0, CH6_HZ)
    searched = _OnlyLoss(model).range_m(95.0, CH6_HZ)
    assert searched == pytest.approx(closed, rel=1e-9)
    assert model.loss_db(closed, CH6_HZ) == pytest.approx(95.0, abs=1e-9)


def test_path_loss_model_factory_names_and_usage_error():
    assert isinstance(path_loss_model("free-space"), FreeSpace)
    assert path_loss_model("log-distance", path_loss_exponent=3.0) == LogDistance(3.0)
    assert path_loss_model("itu-p1238", floors=1) == ItuP1238("office", 1)
    with pytest.raises(UsageError, match="free-space"):
        path_loss_model("okumura")


def test_nonpositive_distance_is_an_analysis_error():
    with pytest.raises(AnalysisError, match="distance_m"):
        fspl_db(0.0, CH6_HZ)

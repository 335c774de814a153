"""Path loss, link budget and range (standards.md §4 "RF reach", reference case §7.6).

Conventions: distances in metres, frequencies in Hz, powers in dBm, gains in dBi, losses in dB (positive).
A path-loss model is a small frozen dataclass with ``loss_db(distance_m, freq_hz)`` and
``range_m(max_loss_db, freq_hz)``; every model solves range in closed form, and :class:`PathLossModel`
falls back to a bracketed root (scipy ``brentq``) for models that only define ``loss_db``.

The free-space loss uses the exact Friis constant 20·log10(4π/c) (= −147.552 dB with f in Hz, i.e. the
textbook "−27.55" with f in MHz, rounded): 2437 MHz at 1 m gives 40.185 dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from labbench.errors import AnalysisError, UsageError

SPEED_OF_LIGHT_M_S = 299_792_458.0
_FRIIS_CONST_DB = 20.0 * math.log10(4.0 * math.pi / SPEED_OF_LIGHT_M_S)  # −147.552 dB (f in Hz, d in m)


def _check_positive(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~(arr > 0)):
        raise AnalysisError(f"{name} must be > 0, got {value!r}")
    return arr


def _out(x):
    """Return a Python float for scalar input, an array otherwise."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def fspl_db(distance_m, freq_hz):
    """Free-space path loss, FSPL = 20·log10(4π·d·f/c) dB (standards.md §4, Friis).

    Same as 20·log10 d_m + 20·log10 f_MHz − 27.55 with the constant unrounded. Vectorised over both
    arguments; a scalar in gives a float out.
    """
    d = _check_positive("distance_m", distance_m)
    f = _check_positive("freq_hz", freq_hz)
    return _out(20.0 * np.log10(d) + 20.0 * np.log10(f) + _FRIIS_CONST_DB)


def eirp_dbm(tx_power_dbm: float, tx_antenna_gain_dbi: float = 0.0, cable_loss_db: float = 0.0) -> float:
    """Equivalent isotropically radiated power: P_t + G_t − cable loss (dBm)."""
    return float(tx_power_dbm + tx_antenna_gain_dbi - cable_loss_db)


def friis_received_power_dbm(tx_power_dbm: float, distance_m, freq_hz: float,
                             tx_antenna_gain_dbi: float = 0.0, rx_antenna_gain_dbi: float = 0.0):
    """Friis received power P_r = P_t + G_t + G_r − 20·log10(4πdf/c) in dBm (standards.md §4)."""
    return _out(tx_power_dbm + tx_antenna_gain_dbi + rx_antenna_gain_dbi - np.asarray(fspl_db(distance_m, freq_hz)))


# --------------------------------------------------------------------------------------------------
# Path-loss models
# --------------------------------------------------------------------------------------------------

class PathLossModel:
    """Base of the path-loss models: subclasses define ``loss_db``; ``range_m`` defaults to a root search.

    The root search assumes the loss grows with distance (true of every model here) and looks between
    1 mm and 1000 km.
    """

    def loss_db(self, distance_m, freq_hz: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def range_m(self, max_loss_db: float, freq_hz: float) -> float:
        """Distance at which the loss equals ``max_loss_db`` (bracketed root, scipy ``brentq``)."""
        lo, hi = 1e-3, 1e6

        def f(log_d: float) -> float:
            return float(self.loss_db(10.0 ** log_d, freq_hz)) - max_loss_db

        a, b = math.log10(lo), math.log10(hi)
        fa, fb = f(a), f(b)
        if fa > 0:
            raise AnalysisError(f"{self}: loss at 1 mm ({fa + max_loss_db:.1f} dB) already exceeds "
                                f"the budget {max_loss_db:.1f} dB")
        if fb < 0:
            raise AnalysisError(f"{self}: loss at 1000 km ({fb + max_loss_db:.1f} dB) is still below "
                                f"the budget {max_loss_db:.1f} dB")
        return 10.0 ** brentq(f, a, b, xtol=1e-12)


@dataclass(frozen=True)
class FreeSpace(PathLossModel):
    """Free-space loss (Friis), :func:`fspl_db`."""

    def loss_db(self, distance_m, freq_hz: float):
        return fspl_db(distance_m, freq_hz)

    def range_m(self, max_loss_db: float, freq_hz: float) -> float:
        return 10.0 ** ((max_loss_db - fspl_db(1.0, freq_hz)) / 20.0)


@dataclass(frozen=True)
class LogDistance(PathLossModel):
    """Log-distance model PL(d) = FSPL(d₀) + 10·n·log10(d/d₀) (standards.md §4; d₀ = 1 m indoors).

    ``exponent`` n: 2 free space, about 2–4 in general, 4–6 in buildings (standards.md §4). The
    shadowing term X_σ is left out (this is the median loss).
    """

    exponent: float = 2.0
    reference_distance_m: float = 1.0

    def __post_init__(self):
        if not self.exponent > 0 or not self.reference_distance_m > 0:
            raise UsageError(f"LogDistance needs exponent > 0 and reference_distance_m > 0, got {self}")

    def loss_db(self, distance_m, freq_hz: float):
        d = _check_positive("distance_m", distance_m)
        pl0 = fspl_db(self.reference_distance_m, freq_hz)
        return _out(pl0 + 10.0 * self.exponent * np.log10(d / self.reference_distance_m))

    def range_m(self, max_loss_db: float, freq_hz: float) -> float:
        pl0 = fspl_db(self.reference_distance_m, freq_hz)
        return self.reference_distance_m * 10.0 ** ((max_loss_db - pl0) / (10.0 * self.exponent))


# ITU-R P.1238, older site-general model: L = 20·log10 f_MHz + N·log10 d + L_f(n) − 28 (standards.md §4,
# source ns-3 itu-r-1238-propagation-loss-model.cc). Distance power-loss coefficient N and floor
# penetration loss L_f(n) per environment and band. Values tagged [U] in standards.md are marked so.
_P1238_N = {
    # (environment, band): N
    ("residential", "1.9GHz"): 28.0, ("office", "1.9GHz"): 30.0, ("commercial", "1.9GHz"): 22.0,
    ("office", "2.4GHz"): 30.0,      # [V] public MATLAB example
    ("office", "5GHz"): 31.0,        # [V]
    ("residential", "2.4GHz"): 28.0, # [U]
}


def _p1238_floor_loss_db(environment: str, band: str, floors: int) -> float | None:
    if floors == 0:
        return 0.0
    if band == "1.9GHz":
        return {"residential": 4.0 * floors, "office": 15.0 + 4.0 * (floors - 1),
                "commercial": 6.0 + 3.0 * (floors - 1)}[environment]
    if (environment, band, floors) == ("office", "2.4GHz", 1):
        return 14.0  # [V]
    if (environment, band, floors) == ("office", "5GHz", 1):
        return 16.0  # [U] (5.2 GHz office)
    return None


def _p1238_band(freq_hz: float) -> str:
    if 1.7e9 <= freq_hz <= 2.1e9:
        return "1.9GHz"
    if 2.3e9 <= freq_hz <= 2.6e9:
        return "2.4GHz"
    if 4.9e9 <= freq_hz <= 5.95e9:
        return "5GHz"
    raise AnalysisError(f"ITU-R P.1238 (older model) has coefficients near 1.9, 2.4 and 5 GHz only; "
                        f"got {freq_hz / 1e9:.3f} GHz")


@dataclass(frozen=True)
class ItuP1238(PathLossModel):
    """ITU-R P.1238 older site-general indoor model (standards.md §4).

    L = 20·log10 f_MHz + N·log10 d_m + L_f(n) − 28, with N and L_f(n) from the table for the
    environment and band (1.8–2 GHz: N = 28/30/22 residential/office/commercial, L_f = 4n / 15+4(n−1) /
    6+3(n−1); 2.4 GHz office N = 30, L_f = 14 dB for one floor; 5 GHz office N = 31). Pass
    ``distance_coefficient`` or ``floor_loss_db`` to override where the table has no value (for example
    more than one floor at 2.4 GHz); otherwise that case raises.
    2400 MHz, office, 10 m: 69.60 dB on the same floor, 83.60 dB one floor apart (§7.6).
    """

    environment: str = "office"
    floors: int = 0
    distance_coefficient: float | None = None
    floor_loss_db: float | None = None

    def __post_init__(self):
        if self.environment not in ("residential", "office", "commercial"):
            raise UsageError(f"ItuP1238 environment {self.environment!r} is not one of "
                             "residential, office, commercial")
        if self.floors < 0:
            raise UsageError(f"ItuP1238 floors must be >= 0, got {self.floors}")

    def coefficients(self, freq_hz: float) -> tuple[float, float]:
        """(N, L_f) used at ``freq_hz``: from the overrides, else the table, else raise."""
        band = _p1238_band(freq_hz)
        n = self.distance_coefficient
        if n is None:
            n = _P1238_N.get((self.environment, band))
        lf = self.floor_loss_db
        if lf is None:
            lf = _p1238_floor_loss_db(self.environment, band, self.floors)
        if n is None or lf is None:
            raise AnalysisError(f"ITU-R P.1238: no tabulated coefficient for {self.environment} at {band} "
                                f"with {self.floors} floor(s); pass distance_coefficient / floor_loss_db")
        return float(n), float(lf)

    def loss_db(self, distance_m, freq_hz: float):
        d = _check_positive("distance_m", distance_m)
        n, lf = self.coefficients(freq_hz)
        return _out(20.0 * math.log10(freq_hz / 1e6) + n * np.log10(d) + lf - 28.0)

    def range_m(self, max_loss_db: float, freq_hz: float) -> float:
        n, lf = self.coefficients(freq_hz)
        return 10.0 ** ((max_loss_db - 20.0 * math.log10(freq_hz / 1e6) - lf + 28.0) / n)


# ITU-R P.1238 rev. 10+ site-general model: L = 10·α·log10 d + β + 10·γ·log10 f_GHz (+ N(0, σ)),
# standards.md §4 (octave-rxt model_p1238.m). Median loss: σ is reported, not added.
P1238_SITE_GENERAL = {
    "office-los": (1.46, 34.62, 2.03, 3.76),
    "office-nlos": (2.46, 29.53, 2.38, 5.04),
    "corridor-los": (1.63, 28.12, 2.25, 4.07),
    "corridor-nlos": (2.77, 29.27, 2.48, 7.63),
    "industrial-los": (2.31, 24.52, 2.06, 2.69),
    "industrial-nlos": (3.79, 21.01, 1.34, 9.05),
}


@dataclass(frozen=True)
class ItuP1238SiteGeneral(PathLossModel):
    """ITU-R P.1238 (rev. 10+) site-general model, median loss (standards.md §4).

    L = 10·α·log10 d_m + β + 10·γ·log10 f_GHz; ``environment`` is one of :data:`P1238_SITE_GENERAL`
    ("office-los", "office-nlos", ...); ``sigma_db`` gives the shadowing spread of that row.
    """

    environment: str = "office-nlos"

    def __post_init__(self):
        if self.environment not in P1238_SITE_GENERAL:
            raise UsageError(f"ItuP1238SiteGeneral environment {self.environment!r}; valid: "
                             + ", ".join(P1238_SITE_GENERAL))

    @property
    def sigma_db(self) -> float:
        return P1238_SITE_GENERAL[self.environment][3]

    def loss_db(self, distance_m, freq_hz: float):
        a, b, g, _ = P1238_SITE_GENERAL[self.environment]
        d = _check_positive("distance_m", distance_m)
        return _out(10.0 * a * np.log10(d) + b + 10.0 * g * math.log10(freq_hz / 1e9))

    def range_m(self, max_loss_db: float, freq_hz: float) -> float:
        a, b, g, _ = P1238_SITE_GENERAL[self.environment]
        return 10.0 ** ((max_loss_db - b - 10.0 * g * math.log10(freq_hz / 1e9)) / (10.0 * a))


PATH_LOSS_MODELS = ("free-space", "log-distance", "itu-p1238", "itu-p1238-site-general")


def path_loss_model(name: str, *, path_loss_exponent: float = 2.0, floors: int = 0,
                    environment: str | None = None) -> PathLossModel:
    """Build a model from the names procedures use: ``free-space``, ``log-distance`` (with
    ``path_loss_exponent``), ``itu-p1238`` (office by default, with ``floors``),
    ``itu-p1238-site-general`` (``environment`` such as "office-nlos")."""
    if name == "free-space":
        return FreeSpace()
    if name == "log-distance":
        return LogDistance(exponent=path_loss_exponent)
    if name == "itu-p1238":
        return ItuP1238(environment=environment or "office", floors=floors)
    if name == "itu-p1238-site-general":
        return ItuP1238SiteGeneral(environment=environment or "office-nlos")
    raise UsageError(f"unknown path_loss_model {name!r}; valid: {', '.join(PATH_LOSS_MODELS)}")


# --------------------------------------------------------------------------------------------------
# Link budget
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkBudget:
    """A link budget (standards.md §4 "Link margin and range").

    ``link_budget_db`` = P_t + G_t + G_r − L_misc − S_rx, the largest path loss the link tolerates;
    ``range_m`` is where the model's loss equals link_budget_db − margin_db. When a ``distance_m`` is
    given, ``path_loss_db``, ``rx_power_dbm`` and ``link_margin_db`` (= P_r − S_rx) are at that distance,
    else NaN.
    """

    eirp_dbm: float
    link_budget_db: float
    required_margin_db: float
    range_m: float
    distance_m: float
    path_loss_db: float
    rx_power_dbm: float
    link_margin_db: float


def link_budget(tx_power_dbm: float, sensitivity_dbm: float, freq_hz: float,
                model: PathLossModel | None = None, *, tx_antenna_gain_dbi: float = 0.0,
                rx_antenna_gain_dbi: float = 0.0, misc_loss_db: float = 0.0, margin_db: float = 0.0,
                distance_m: float | None = None) -> LinkBudget:
    """Link budget, margin and range for one path-loss model (standards.md §4, §7.6).

    Margin = P_t + G_t + G_r − PL(d) − L_misc − S_rx. Range: the distance where that margin equals
    ``margin_db``. Example (§7.6): 20 dBm, 0 dBi, −82 dBm at 2437 MHz is a 102 dB budget; free space or
    log-distance n = 2 reaches 1232 m, n = 3 114.9 m, n = 3.5 58.4 m (389.7 / 53.4 / 30.2 m with a
    10 dB margin).
    """
    model = model or FreeSpace()
    eirp = eirp_dbm(tx_power_dbm, tx_antenna_gain_dbi)
    budget = tx_power_dbm + tx_antenna_gain_dbi + rx_antenna_gain_dbi - misc_loss_db - sensitivity_dbm
    range_m = model.range_m(budget - margin_db, freq_hz)
    if distance_m is None:
        pl = rx = lm = dist = math.nan
    else:
        dist = float(distance_m)
        pl = float(model.loss_db(dist, freq_hz))
        rx = tx_power_dbm + tx_antenna_gain_dbi + rx_antenna_gain_dbi - misc_loss_db - pl
        lm = rx - sensitivity_dbm
    return LinkBudget(eirp_dbm=eirp, link_budget_db=float(budget), required_margin_db=float(margin_db),
                      range_m=float(range_m), distance_m=dist, path_loss_db=pl, rx_power_dbm=rx,
                      link_margin_db=lm)

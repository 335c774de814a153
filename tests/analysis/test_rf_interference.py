"""Known answers for 2.4 GHz interference analysis (standards.md §4) on synthesized spectrograms."""

import math

import numpy as np
import pytest

from labbench.analysis.interference import (
    Spectrogram, best_channel, channel_interference, channel_occupancy, detect_emitters, wifi24_center_hz,
)
from labbench.analysis.spectrum import ble_psd_dbr, ofdm20_psd_w_hz
from labbench.errors import UsageError

DF = 100e3
F = np.arange(2390e6, 2500e6 + 1, DF)       # 1101 bins of 100 kHz
DT = 1e-3
T = np.arange(400) * DT                       # 0.4 s in 1 ms slices
NOISE_MW = 10 ** (-100 / 10)                  # −100 dBm per bin


class Scene:
    """A spectrogram built emitter by emitter: readings in mW per 100 kHz bin (ENBW = bin width)."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.mw = NOISE_MW * self.rng.standard_exponential((T.size, F.size))

    def wifi(self, channel, power_dbm, period_slices, on_slices, offset=0):
        on = ((np.arange(T.size) - offset) % period_slices) < on_slices
        row = ofdm20_psd_w_hz(F, wifi24_center_hz(channel), power_dbm) * 1e3 * DF
        self.mw[on] += row
        return on.mean()

    def ble(self, power_dbm, every_slices=100, first=7):
        shape = {37: 2402e6, 38: 2426e6, 39: 2480e6}
        for k, (ch, fc) in enumerate(shape.items()):
            row = 10 ** (ble_psd_dbr(F - fc) / 10)
            row *= 10 ** (power_dbm / 10) / row.sum()
            self.mw[first + k // 2::every_slices] += row

    def oven(self, power_dbm, mains_hz=50.0, f0=2450e6, sweep_hz=20e6, sigma_hz=0.5e6):
        period = 1.0 / mains_hz
        phase = (T % period) / (period / 2)       # on for the first half of each mains cycle
        on = phase < 1.0
        for k in np.flatnonzero(on):
            # the line sweeps f0 → f0 + sweep over the half cycle; a slice averages its positions
            centres = f0 + sweep_hz * (phase[k] + np.linspace(0, DT / (period / 2), 5))
            row = np.mean([np.exp(-0.5 * ((F - c) / sigma_hz) ** 2) for c in centres], axis=0)
            self.mw[k] += row * 10 ** (power_dbm / 10) / row.sum()
        return on.mean()

    def raise_floor(self, lo_hz, hi_hz, db):
        """Noise-like energy `db` over the floor in [lo, hi]: far below the detection threshold."""
        band = (F >= lo_hz) & (F <= hi_hz)
        self.mw[:, band] *= 10 ** (db / 10)

    def cw(self, freq_hz, power_dbm):
        self.mw[:, np.argmin(np.abs(F - freq_hz))] += 10 ** (power_dbm / 10)

    def spectrogram(self):
        return Spectrogram(T, F, 10 * np.log10(self.mw))


def test_channel_plan():
    assert [wifi24_center_hz(c) / 1e6 for c in (1, 6, 11, 13, 14)] == [2412, 2437, 2462, 2472, 2484]
    with pytest.raises(UsageError, match="1-14"):
        wifi24_center_hz(15)


def test_occupancy_of_one_access_point_spreads_over_overlapping_channels():
    s = Scene(1)
    duty = s.wifi(6, -50.0, period_slices=10, on_slices=3)
    occ = {o.channel: o for o in channel_occupancy(s.spectrogram())}
    assert occ[6].occupancy_pct == pytest.approx(100 * duty, abs=0.5)
    # its occupied ±9 MHz reach channels 3..9 (bands within 18 MHz of 2437 MHz), not 1, 2, 10..13
    assert all(occ[c].occupancy_pct == pytest.approx(30.0, abs=0.5) for c in range(3, 10))
    assert all(occ[c].occupancy_pct < 0.5 for c in (1, 2, 10, 11, 12, 13))
    # band power while busy is the AP's channel power (its skirts beyond ±10 MHz hold < 0.1 dB)
    assert occ[6].busy_power_dbm == pytest.approx(-50.0, abs=0.2)


def test_best_channel_is_the_clear_one_between_two_access_points():
    s = Scene(2)
    s.wifi(1, -55.0, period_slices=10, on_slices=4)
    s.wifi(11, -60.0, period_slices=10, on_slices=3, offset=5)
    occ = channel_occupancy(s.spectrogram())
    assert best_channel(occ) == 6          # 5, 6, 7 are all clear: 6 is in the 1/6/11 plan
    assert best_channel(occ, candidates=(1, 11)) == 11


def test_best_channel_prefers_quieter_of_equal_occupancy():
    s = Scene(3)
    s.wifi(1, -55.0, period_slices=10, on_slices=4)
    s.raise_floor(2430e6, 2444e6, 2.0)  # 2 dB over the floor: no cell over threshold, channel 6 louder
    occ = {o.channel: o for o in channel_occupancy(s.spectrogram())}
    assert occ[6].occupancy_pct == 0.0 and occ[6].mean_power_dbm > occ[11].mean_power_dbm + 1
    assert best_channel(tuple(occ.values()), candidates=(6, 11)) == 11 == best_channel(tuple(occ.values()))


@pytest.fixture(scope="module")
def busy_band():
    s = Scene(4)
    duty1 = s.wifi(1, -60.0, period_slices=10, on_slices=5)
    duty6 = s.wifi(6, -50.0, period_slices=10, on_slices=2, offset=3)
    s.ble(-55.0)
    duty_oven = s.oven(-45.0, mains_hz=50.0)
    return s.spectrogram(), dict(duty1=duty1, duty6=duty6, duty_oven=duty_oven)


def test_emitters_of_each_kind_are_found(busy_band):
    sg, truth = busy_band
    em = detect_emitters(sg)
    kinds = sorted((e.kind, e.channel) for e in em)
    assert kinds == [("ble", 37), ("ble", 38), ("ble", 39), ("microwave_oven", None), ("wifi", 1), ("wifi", 6)]


def test_wifi_emitter_parameters(busy_band):
    sg, truth = busy_band
    w6 = next(e for e in detect_emitters(sg) if e.kind == "wifi" and e.channel == 6)
    assert w6.center_hz == pytest.approx(2437e6, abs=0.1e6)
    assert 16e6 <= w6.bandwidth_hz <= 20e6           # occupied width of the OFDM shape 27 dB over noise
    assert w6.duty_cycle == pytest.approx(truth["duty6"], abs=0.01)
    assert w6.power_dbm == pytest.approx(-50.0, abs=0.3)
    assert w6.period_s == pytest.approx(10 * DT, abs=1e-9) and w6.bursts == 40


def test_ble_advertising_channels(busy_band):
    sg, _ = busy_band
    ble = {e.channel: e for e in detect_emitters(sg) if e.kind == "ble"}
    assert {c: round(e.center_hz / 1e6, 1) for c, e in ble.items()} == {37: 2402.0, 38: 2426.0, 39: 2480.0}
    assert all(e.bandwidth_hz <= 3e6 and e.bursts == 4 for e in ble.values())
    assert ble[37].power_dbm == pytest.approx(-55.0, abs=0.3)


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_microwave_oven_is_recognised_by_drift_and_mains_rate(mains_hz):
    s = Scene(5)
    duty = s.oven(-45.0, mains_hz=mains_hz)
    (oven,) = detect_emitters(s.spectrogram())
    assert oven.kind == "microwave_oven"
    # burst starts fall on 1 ms slices: the period is quantised to a slice (60 Hz: 16.7 -> 16 or 17 ms)
    assert oven.mains_hz == pytest.approx(mains_hz, rel=0.05)
    assert oven.drift_hz > 10e6 and oven.f_low_hz < 2451e6 and oven.f_high_hz > 2468e6
    assert oven.duty_cycle == pytest.approx(duty, abs=0.02)


def test_drifting_line_without_mains_rhythm_is_unknown():
    s = Scene(6)
    s.oven(-45.0, mains_hz=10.0)  # 10 Hz on/off: not mains
    (e,) = detect_emitters(s.spectrogram())
    assert e.kind == "unknown"


def test_steady_narrow_carrier_off_the_ble_channels_is_unknown():
    s = Scene(7)
    s.cw(2420.3e6, -70.0)
    (e,) = detect_emitters(s.spectrogram())
    assert e.kind == "unknown" and e.center_hz == pytest.approx(2420.3e6, abs=0.1e6) and e.duty_cycle == 1.0


def test_strongest_interferer_and_sir(busy_band):
    sg, _ = busy_band
    em = detect_emitters(sg)
    ci = channel_interference(em, 11, signal_dbm=-40.0)
    assert ci.interferer_kind == "microwave_oven"
    assert ci.interferer_power_dbm == pytest.approx(-45.0, abs=0.5)  # the whole sweep lies in 2452-2472 MHz
    assert ci.sir_db == pytest.approx(5.0, abs=0.5)
    w6 = next(e for e in em if e.kind == "wifi" and e.channel == 6)
    own = channel_interference(em, 6, signal_dbm=-50.0)
    assert own.interferer_kind == "wifi" and own.sir_db == pytest.approx(0.0, abs=0.3)
    others = channel_interference(em, 6, signal_dbm=-50.0, exclude=(w6,))
    assert others.interferer_power_dbm < -60.0  # only a BLE edge at 2426 MHz reaches 2427 MHz


def test_empty_band_has_no_emitters_and_no_interferer():
    sg = Scene(8).spectrogram()
    assert detect_emitters(sg) == ()
    ci = channel_interference((), 6, signal_dbm=-50.0)
    assert ci.interferer_power_dbm == -math.inf and ci.sir_db == math.inf

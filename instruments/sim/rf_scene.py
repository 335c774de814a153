"""The RF scene the simulated N9030B looks at: emitters, the analyzer's noise floor, virtual time.

Emitters (duck-typed, /notes protocol): `name`, `kind`, `power_dbm(freq_hz, t_s, rbw_hz)` (mean power a
resolution filter of 3 dB bandwidth rbw_hz centred at each frequency passes, at each time, dBm at the
analyzer input) and `iq(center_hz, sample_rate_hz, n, t0_s, rng)` (complex baseband samples in sqrt(mW),
or None). Optional: `peak_power_dbm(freq_hz, t_start_s, t_stop_s, rbw_hz)`, the highest power within each
interval, used by the peak detector when points are far apart in time (pulses shorter than a bucket);
without it the bucket is sub-sampled (`PEAK_SUBSAMPLES`).

The scene holds the DUT's transmitter from the profile's `[radio]` section (802.11 OFDM 20 MHz with its
spectral-mask shape, or BLE 1M GFSK; TX power, channel, path loss/attenuation to the analyzer, spectral
regrowth), transmitting continuously while the analyzer is tuned to its channel and listening during a
survey of the band (`RfScene.dut_transmits`), and whatever `instruments/sim/rf_emitters.py` builds from
`[environment]` and `[dfs]`.

Virtual time (`now_s`) starts at 0 when the simulator is powered on and advances by each sweep's sweep
time: a 70 s zero-span sweep returns at once and reports 70 s.

Receiver model (what the analyzer does with the scene, `sweep`): the sum of the emitters' linear powers
plus the thermal floor (-174 dBm/Hz + noise figure + input attenuation, in the Gaussian RBW filter's noise
bandwidth 1.0645 x RBW), every component noise-like (Rayleigh envelope, exponential power). A trace point
("bucket") lasts sweep_time / points and holds max(1, duration x RBW) independent looks; the video filter
averages max(1, RBW / VBW) looks in the averaging domain (`:AVERage:TYPE` LOG, RMS or SCALar, as the
X-series couples them); the detector then takes one value (SAMPle), the largest or smallest (POSitive,
NEGative, NORMal alternating the two) or the average of every look (AVERage). Statistics are drawn from
their exact distributions (gamma, order statistics), so a 1001-point sweep costs microseconds.

Zero span with an emitter that models its waveform (the DUT) is built from that waveform instead:
complex samples at >= 40 MSa/s through the Gaussian RBW filter, the other emitters and the floor added as
complex Gaussian noise of their power, |.|^2, the video filter, the detector over each bucket. This is
what power statistics (CCDF) of the trace need: the sample distribution of the real signal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special
from scipy import fft as sfft
from scipy.fft import next_fast_len

from labbench.errors import ConfigError
from labbench.instruments.sim.dut import DutProfile, section_dataclass

THERMAL_DBM_HZ = -174.0                                     # kTB at 290 K
ENBW_PER_RBW = math.sqrt(math.pi / (4.0 * math.log(2.0)))   # Gaussian filter: noise bw / 3 dB bw = 1.0645
LOG_MEAN_DB = -10.0 * np.euler_gamma / math.log(10.0)       # E[10 log10 X], X ~ Exp(1): -2.5068 dB
LOG_STD_DB = 10.0 / math.log(10.0) * math.pi / math.sqrt(6.0)   # its standard deviation: 5.570 dB
RAYLEIGH_MEAN = math.sqrt(math.pi) / 2.0                    # E[sqrt X], X ~ Exp(1)
RAYLEIGH_VAR = 1.0 - math.pi / 4.0                          # Var[sqrt X]
PEAK_SUBSAMPLES = 32        # peak detector: looks per bucket at which power_dbm is evaluated (no hook)
WAVEFORM_MIN_RATE_HZ = 40e6         # zero-span waveform path: sample rate at least this
WAVEFORM_MAX_PER_POINT = 64         # ... and at most this many samples per trace point, else statistics
WAVEFORM_MAX_SAMPLES = 1 << 23      # ... and at most this many per sweep
DETECTORS = ("NORM", "AVER", "POS", "SAMP", "NEG")
AVERAGE_TYPES = ("LOG", "RMS", "SCAL")

TUNED_OFFSET_HZ = 5e6        # the DUT's test mode follows the analyzer (RfScene.dut_transmits): centred on
TUNED_SPAN_HZ = 100e6        # its channel, at most five 20 MHz channels wide (ACP out to +-50 MHz)


def dbm_to_mw(dbm):
    return np.power(10.0, np.asarray(dbm, dtype=np.float64) / 10.0)


def mw_to_dbm(mw):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(mw)


# ---------------------------------------------------------------------------------- the DUT's radio

@dataclass(frozen=True)
class RadioConfig:
    """The profile's [radio] section: the DUT's 2.4 GHz transmitter, conducted to the analyzer."""

    standard: str = "802.11-ofdm-20"    # or "ble"
    channel: int = 6                    # Wi-Fi 1-14 (standards.md §4 channel plan); BLE 0-39 (37/38/39 advertising)
    center_hz: float | None = None      # overrides the channel's centre
    tx_power_dbm: float = 16.0          # conducted channel power at the DUT's antenna port
    path_loss_db: float = 30.0          # cable and pad from the DUT's port to the analyzer input
    regrowth_db: float = 0.0            # a compressed PA: skirts from 9 MHz out raised this much (OFDM), and
                                        # the waveform's peaks clipped (soft_clip), pulling its CCDF left
    enabled: bool = True                # False: the DUT does not transmit
    transmit: str = "when-tuned"        # "when-tuned": continuous TX while the analyzer is tuned to its channel,
                                        # listening otherwise (a band survey); "always"
    seed: int = 21

    def __post_init__(self):
        if self.standard not in ("802.11-ofdm-20", "ble"):
            raise ValueError(f"standard {self.standard!r}: use '802.11-ofdm-20' or 'ble'")
        if self.transmit not in ("when-tuned", "always"):
            raise ValueError(f"transmit {self.transmit!r}: use 'when-tuned' or 'always'")
        if self.center_hz is None:
            valid = range(1, 15) if self.standard != "ble" else range(0, 40)
            if self.channel not in valid:
                raise ValueError(f"channel {self.channel} is not a {self.standard} channel ({valid.start}-{valid.stop - 1})")

    @property
    def carrier_hz(self) -> float:
        if self.center_hz is not None:
            return float(self.center_hz)
        if self.standard == "ble":
            return ble_channel_hz(self.channel)
        return wifi24_channel_hz(self.channel)

    @property
    def input_power_dbm(self) -> float:
        """Channel power at the analyzer input."""
        return self.tx_power_dbm - self.path_loss_db


def wifi24_channel_hz(channel: int) -> float:
    """2412 + 5 (n - 1) MHz for channels 1-13, 2484 MHz for 14 (standards.md §4)."""
    return 2484e6 if channel == 14 else (2412.0 + 5.0 * (channel - 1)) * 1e6


def ble_channel_hz(channel: int) -> float:
    """BLE channel index to RF centre: advertising 37/38/39 at 2402/2426/2480 MHz, data 0-10 at 2404-2424,
    11-36 at 2428-2478 MHz."""
    if channel == 37:
        return 2402e6
    if channel == 38:
        return 2426e6
    if channel == 39:
        return 2480e6
    return (2404.0 + 2.0 * channel) * 1e6 if channel <= 10 else (2428.0 + 2.0 * (channel - 11)) * 1e6


# Shape of the DUT's 802.11 OFDM 20 MHz PSD (|offset| Hz, dBr), linear in dB between points: flat over the
# 52 occupied subcarriers (+-8.125 MHz), skirts some 9 dB under the transmit mask (standards.md §4:
# 0 / -20 / -28 / -40 dBr at 9 / 11 / 20 / 30 MHz), the PA's far-out noise beyond, filtered off past
# 100 MHz (nothing beyond 120 MHz). A plausible clean transmitter; `regrowth_db` raises every point from
# 9 MHz out (a compressed PA).
OFDM20_SHAPE_DBR = ((0.0, 0.0), (8.0e6, 0.0), (8.6e6, -10.0), (9.0e6, -22.0), (11e6, -29.0), (20e6, -37.0),
                    (30e6, -49.0), (40e6, -56.0), (60e6, -62.0), (100e6, -80.0), (120e6, -100.0))
BLE_SIGMA_HZ = 350e3          # BLE 1M GFSK: Gaussian PSD, -20 dB width ~1.5 MHz
BLE_FLOOR_DBR = -65.0
SHAPE_GRID_HZ = 10e3          # fine grid the PSD is held on for the RBW convolution
SHAPE_HALF_WIDTH_HZ = 120e6


class DutTransmitter:
    """The DUT's transmitter, continuous (test mode), seen at the analyzer input."""

    kind = "dut"
    on = True              # transmitting now (the scene sets it per sweep, RadioConfig.transmit)

    def __init__(self, radio: RadioConfig):
        self.radio = radio
        self.name = f"DUT {radio.standard} at {radio.carrier_hz / 1e6:g} MHz"
        self.carrier_hz = radio.carrier_hz
        self.power_mw = float(dbm_to_mw(radio.input_power_dbm)) if radio.enabled else 0.0
        self.offsets_hz = np.arange(-SHAPE_HALF_WIDTH_HZ, SHAPE_HALF_WIDTH_HZ + SHAPE_GRID_HZ / 2, SHAPE_GRID_HZ)
        shape = dbm_to_mw(self.shape_dbr(self.offsets_hz))
        in_channel = np.abs(self.offsets_hz) <= (10e6 if radio.standard != "ble" else 1e6)
        # scale: the channel power (OFDM: within +-10 MHz; BLE: within +-1 MHz) is the configured power
        self.psd_mw_hz = shape * self.power_mw / (shape[in_channel].sum() * SHAPE_GRID_HZ)
        self._smoothed: dict[float, np.ndarray] = {}
        self.bandwidth_hz = 16.6e6 if radio.standard != "ble" else 2e6

    def shape_dbr(self, offset_hz: np.ndarray) -> np.ndarray:
        f = np.abs(offset_hz)
        if self.radio.standard == "ble":
            return np.maximum(-10.0 * np.log10(np.e) * f * f / (2.0 * BLE_SIGMA_HZ ** 2), BLE_FLOOR_DBR)
        pts = np.asarray(OFDM20_SHAPE_DBR)
        levels = pts[:, 1] + np.where(pts[:, 0] >= 9e6, self.radio.regrowth_db, 0.0)
        return np.interp(f, pts[:, 0], levels)

    def _reading_grid(self, rbw_hz: float) -> np.ndarray:
        """Power through a Gaussian RBW filter centred at each grid offset: the PSD convolved with |H|^2
        (sigma = RBW / (2 sqrt(2 ln 2)) in power), times the filter's noise bandwidth. Cached per RBW."""
        key = float(rbw_hz)
        grid = self._smoothed.get(key)
        if grid is None:
            sigma_bins = rbw_hz / (2.0 * math.sqrt(2.0 * math.log(2.0))) / SHAPE_GRID_HZ
            grid = ndimage.gaussian_filter1d(self.psd_mw_hz, sigma_bins, mode="nearest", truncate=5.0)
            grid = grid * ENBW_PER_RBW * rbw_hz
            if len(self._smoothed) > 32:
                self._smoothed.clear()
            self._smoothed[key] = grid
        return grid

    def power_dbm(self, freq_hz, t_s, rbw_hz: float):
        offset = np.asarray(freq_hz, dtype=np.float64) - self.carrier_hz
        if self.power_mw <= 0 or not self.on:
            return np.full(offset.shape, -np.inf)
        if rbw_hz < 3 * SHAPE_GRID_HZ:      # the PSD is flat on this scale: density x noise bandwidth
            reading = np.interp(offset, self.offsets_hz, self.psd_mw_hz, left=0.0, right=0.0) * ENBW_PER_RBW * rbw_hz
        else:
            reading = np.interp(offset, self.offsets_hz, self._reading_grid(rbw_hz), left=0.0, right=0.0)
        return mw_to_dbm(reading)

    def iq(self, center_hz: float, sample_rate_hz: float, n: int, t0_s: float, rng: np.random.Generator):
        shift = self.carrier_hz - center_hz
        if self.power_mw <= 0 or not self.on or abs(shift) > sample_rate_hz / 2 + self.bandwidth_hz:
            return None
        t = t0_s + np.arange(n) / sample_rate_hz
        if self.radio.standard == "ble":
            x = gfsk_waveform(t, rng)
        else:
            x = ofdm_waveform(t, rng)
        if self.radio.regrowth_db > 0:
            x = soft_clip(x, self.radio.regrowth_db)
        x *= math.sqrt(self.power_mw / max(float(np.mean(np.abs(x) ** 2)), 1e-300))
        if shift:
            x *= np.exp(2j * np.pi * shift * t)
        return x


OFDM_SUBCARRIER_HZ = 312.5e3
OFDM_SYMBOL_S = 4e-6            # 3.2 us + 0.8 us guard interval
OFDM_GEN_RATE_HZ = 80e6         # 256-point IFFT, 64-sample cyclic prefix
OFDM_USED = np.r_[-26:0, 1:27]  # 52 occupied subcarriers, DC empty


def ofdm_waveform(t_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """802.11a/g-like OFDM (16-QAM on 52 subcarriers, 3.2 us + 0.8 us guard) of unit mean power at the
    uniform times t_s; symbols start at multiples of 4 us. Built by IFFT directly at the sample rate when
    the guard interval is a whole number of samples (e.g. 40 MSa/s), else at 80 MSa/s and interpolated
    (10x oversampled: linear interpolation error < 1 %)."""
    fs = 1.0 / (t_s[1] - t_s[0]) if t_s.size > 1 else OFDM_GEN_RATE_HZ
    n_cp = OFDM_SYMBOL_S / 5.0 * fs
    direct = abs(n_cp - round(n_cp)) < 1e-6 and round(n_cp) >= 16
    rate = fs if direct else OFDM_GEN_RATE_HZ
    n_cp = int(round(OFDM_SYMBOL_S / 5.0 * rate))
    n_fft = 4 * n_cp
    first = math.floor(t_s[0] / OFDM_SYMBOL_S)
    n_sym = math.floor(t_s[-1] / OFDM_SYMBOL_S) + 2 - first
    levels = (np.array([-3.0, -1.0, 1.0, 3.0]) / math.sqrt(10.0)).astype(np.complex64)
    spectrum = np.zeros((n_sym, n_fft), dtype=np.complex64)
    spectrum[:, OFDM_USED % n_fft] = (levels[rng.integers(0, 4, (n_sym, OFDM_USED.size), dtype=np.int8)]
                                      + 1j * levels[rng.integers(0, 4, (n_sym, OFDM_USED.size), dtype=np.int8)])
    body = sfft.ifft(spectrum, axis=1, norm="forward") * np.float32(1.0 / math.sqrt(OFDM_USED.size))
    symbols = np.concatenate([body[:, -n_cp:], body], axis=1).reshape(-1)
    if direct:
        i0 = int(round((t_s[0] - first * OFDM_SYMBOL_S) * rate))
        return symbols[i0:i0 + t_s.size].astype(np.complex128)
    t_gen = first * OFDM_SYMBOL_S + np.arange(symbols.size) / rate
    return np.interp(t_s, t_gen, symbols.real) + 1j * np.interp(t_s, t_gen, symbols.imag)


BLE_RATE_BPS = 1e6
BLE_BT = 0.5
BLE_INDEX = 0.5


def gfsk_waveform(t_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BLE 1M GFSK (BT 0.5, modulation index 0.5), random bits, unit constant envelope at times t_s."""
    tb = 1.0 / BLE_RATE_BPS
    first = math.floor(t_s[0] / tb) - 3
    bits = rng.integers(0, 2, math.floor(t_s[-1] / tb) - first + 5) * 2.0 - 1.0
    sigma = math.sqrt(math.log(2.0)) / (2.0 * math.pi * BLE_BT) * tb
    u = (t_s - first * tb) / tb
    k0 = np.floor(u).astype(np.int64)
    freq = np.zeros_like(t_s)
    root2_sigma = math.sqrt(2.0) * sigma
    for d in range(-2, 3):          # a bit's Gaussian-filtered pulse spans about +-2 bits: 5 terms
        k = np.clip(k0 + d, 0, bits.size - 1)
        since = (u - k) * tb        # time since bit k began
        freq += bits[k] * 0.5 * (special.erf(since / root2_sigma) - special.erf((since - tb) / root2_sigma))
    dt = np.diff(t_s, prepend=t_s[0])
    phase = 2.0 * np.pi * (BLE_INDEX * BLE_RATE_BPS / 2.0) * np.cumsum(freq * dt)
    return np.exp(1j * phase)


def soft_clip(x: np.ndarray, regrowth_db: float) -> np.ndarray:
    """A compressing PA: magnitudes limited near a level above the rms that falls as the regrowth grows
    (regrowth 0 dB: 12 dB above the rms, practically linear; 12 dB: 4 dB above the rms)."""
    rms = math.sqrt(float(np.mean(np.abs(x) ** 2)))
    limit = rms * 10.0 ** (max(12.0 - 0.66 * regrowth_db, 2.0) / 20.0)
    mag = np.abs(x)
    return x / np.sqrt(1.0 + (mag / limit) ** 4) ** 0.5


# ---------------------------------------------------------------------------------- the scene

@dataclass(frozen=True)
class SweepSpec:
    """One sweep as the receiver makes it. span_hz 0: zero span at center_hz."""

    center_hz: float
    span_hz: float
    rbw_hz: float
    vbw_hz: float
    points: int
    sweep_time_s: float
    detector: str = "AVER"          # DETECTORS
    average_type: str = "RMS"       # AVERAGE_TYPES
    attenuation_db: float = 10.0

    @property
    def freq_hz(self) -> np.ndarray:
        if self.span_hz == 0 or self.points == 1:
            return np.full(self.points, float(self.center_hz))
        return self.center_hz - self.span_hz / 2 + np.arange(self.points) * (self.span_hz / (self.points - 1))

    @property
    def bucket_s(self) -> float:
        """Time between trace points (the zero-span x step: points span the sweep time end to end)."""
        return self.sweep_time_s / max(self.points - 1, 1)


class RfScene:
    """Emitters + the analyzer's thermal floor, on a virtual clock."""

    def __init__(self, profile: DutProfile, noise_figure_db: float = 12.0):
        self.profile = profile
        self.noise_figure_db = noise_figure_db
        self.radio: RadioConfig = section_dataclass(RadioConfig, profile, "radio")
        self.now_s = 0.0
        self.dut = DutTransmitter(self.radio)
        self.emitters: list = [self.dut] + self._other_emitters(profile)
        self.rng = np.random.default_rng(self.radio.seed)

    @staticmethod
    def _other_emitters(profile: DutProfile) -> list:
        try:
            from labbench.instruments.sim import rf_emitters
        except ImportError:                 # the environment and DFS emitters are optional
            return []
        out = []
        for builder in ("build_environment", "build_dfs"):
            fn = getattr(rf_emitters, builder, None)
            if fn is not None:
                try:
                    out.extend(fn(profile) or [])
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"DUT profile {profile.path}: {builder}: {exc}") from None
        return out

    def advance(self, dt_s: float) -> None:
        self.now_s += float(dt_s)

    def dut_transmits(self, center_hz: float, span_hz: float) -> bool:
        """Whether the DUT transmits during a sweep: always, or (transmit = "when-tuned") while the analyzer
        is tuned to its channel (centre within TUNED_OFFSET_HZ of the carrier, span at most TUNED_SPAN_HZ),
        as an operator runs continuous-TX test mode for the measurements on its channel and leaves it
        listening for a survey of the band. Nothing else tells a simulated DUT what the test wants."""
        if self.radio.transmit == "always":
            return True
        return abs(center_hz - self.dut.carrier_hz) <= TUNED_OFFSET_HZ and span_hz <= TUNED_SPAN_HZ

    def floor_mw(self, rbw_hz: float, attenuation_db: float) -> float:
        """Thermal floor in the RBW filter's noise bandwidth: -174 dBm/Hz + NF + attenuation (dB for dB:
        the input attenuator sits before the first mixer)."""
        return float(dbm_to_mw(THERMAL_DBM_HZ + self.noise_figure_db + attenuation_db)) * ENBW_PER_RBW * rbw_hz

    def mean_power_mw(self, freq_hz: np.ndarray, t_s: np.ndarray, rbw_hz: float, emitters=None) -> np.ndarray:
        total = np.zeros(np.shape(freq_hz))
        for e in self.emitters if emitters is None else emitters:
            total += dbm_to_mw(e.power_dbm(freq_hz, t_s, rbw_hz))
        return total

    def peak_power_mw(self, freq_hz: np.ndarray, t_s: np.ndarray, bucket_s: float, rbw_hz: float) -> np.ndarray:
        """Highest mean power within each bucket [t, t + bucket): an emitter's peak_power_dbm hook, else
        PEAK_SUBSAMPLES evenly spread looks (the sum of peaks bounds the peak of the sum; emitters rarely
        peak in the same bucket)."""
        total = np.zeros(np.shape(freq_hz))
        k = PEAK_SUBSAMPLES if bucket_s * rbw_hz > 1.5 else 1
        for e in self.emitters:
            hook = getattr(e, "peak_power_dbm", None)
            if hook is not None:
                total += dbm_to_mw(hook(freq_hz, t_s, t_s + bucket_s, rbw_hz))
            elif k == 1:
                total += dbm_to_mw(e.power_dbm(freq_hz, t_s, rbw_hz))
            else:
                sub = t_s[:, None] + (np.arange(k) + 0.5) * (bucket_s / k)
                f = np.broadcast_to(np.asarray(freq_hz)[:, None], sub.shape)
                total += dbm_to_mw(e.power_dbm(f, sub, rbw_hz)).max(axis=1)
        return total

    # ------------------------------------------------------------ sweeps
    def sweep(self, spec: SweepSpec, n_sweeps: int = 1) -> np.ndarray:
        """Detected readings (dBm at the analyzer input), shape (n_sweeps, points); the clock advances
        by n_sweeps x sweep time."""
        self.dut.on = self.dut_transmits(spec.center_hz, spec.span_hz)
        rows = []
        for _ in range(n_sweeps):
            t0 = self.now_s
            if spec.span_hz == 0:
                row = self._zero_span_waveform(spec, t0)
                if row is None:
                    row = self._statistical(spec, t0)
            else:
                row = self._statistical(spec, t0)
            rows.append(row)
            self.advance(spec.sweep_time_s)
        return np.asarray(rows)

    def _statistical(self, spec: SweepSpec, t0_s: float) -> np.ndarray:
        f = spec.freq_hz
        t = t0_s + np.arange(spec.points) * spec.bucket_s
        floor = self.floor_mw(spec.rbw_hz, spec.attenuation_db)
        looks = max(1.0, spec.bucket_s * spec.rbw_hz)
        if spec.detector in ("POS", "NORM") and looks > 1.5:
            peak = self.peak_power_mw(f, t, spec.bucket_s, spec.rbw_hz) + floor
        else:
            peak = None
        mean = self.mean_power_mw(f, t, spec.rbw_hz) + floor
        return detect_db(mean, spec, looks, self.rng, peak_mw=peak)

    def _zero_span_waveform(self, spec: SweepSpec, t0_s: float) -> np.ndarray | None:
        """Zero span from the waveforms of the emitters that model one (None when none does or the
        trace points are too far apart for it)."""
        dt = spec.bucket_s
        per_point = max(1, math.ceil(WAVEFORM_MIN_RATE_HZ * dt))
        n = spec.points * per_point
        if per_point > WAVEFORM_MAX_PER_POINT or n > WAVEFORM_MAX_SAMPLES:
            return None
        fs = per_point / dt
        pad = int(math.ceil(4.0 * fs / spec.rbw_hz)) + 8
        start = t0_s - pad / fs
        waves, others = [], []
        for e in self.emitters:
            x = e.iq(spec.center_hz, fs, n + 2 * pad, start, self.rng)
            (others if x is None else waves).append(e if x is None else x)
        if not waves:
            return None
        z = rbw_filter(np.sum(waves, axis=0), fs, spec.rbw_hz)[pad:pad + n]
        t = t0_s + np.arange(n) / fs
        other_mw = self.mean_power_mw(np.full(n, spec.center_hz), t, spec.rbw_hz, others) \
            + self.floor_mw(spec.rbw_hz, spec.attenuation_db)
        z = z + complex_noise(n, fs, spec.rbw_hz, self.rng) * np.sqrt(other_mw)
        power = (z.real * z.real + z.imag * z.imag).reshape(spec.points, per_point)
        return detect_samples_db(power, spec, fs)

    def power_samples_mw(self, center_hz: float, bandwidth_hz: float, n: int, attenuation_db: float) -> np.ndarray:
        """Instantaneous power (mW) of n samples through a Gaussian filter of 3 dB bandwidth
        bandwidth_hz, as the analyzer's power statistics take them; the clock advances by their span."""
        self.dut.on = self.dut_transmits(center_hz, 0.0)
        fs = max(WAVEFORM_MIN_RATE_HZ, 2.5 * bandwidth_hz)
        pad = int(math.ceil(4.0 * fs / bandwidth_hz)) + 8
        t0 = self.now_s
        out = np.empty(n)
        done = 0
        block = 1 << 20
        while done < n:
            m = min(block, n - done)
            start = t0 + done / fs
            waves, others = [], []
            for e in self.emitters:
                x = e.iq(center_hz, fs, m + 2 * pad, start - pad / fs, self.rng)
                (others if x is None else waves).append(e if x is None else x)
            z = rbw_filter(np.sum(waves, axis=0), fs, bandwidth_hz)[pad:pad + m] if waves else np.zeros(m, complex)
            t = start + np.arange(m) / fs
            other = self.mean_power_mw(np.full(m, center_hz), t, bandwidth_hz, others) \
                + self.floor_mw(bandwidth_hz, attenuation_db)
            z = z + complex_noise(m, fs, bandwidth_hz, self.rng) * np.sqrt(other)
            out[done:done + m] = z.real * z.real + z.imag * z.imag
            done += m
        self.advance(n / fs)
        return out


def rbw_filter(x: np.ndarray, fs: float, rbw_hz: float) -> np.ndarray:
    """Gaussian resolution filter, 3 dB bandwidth rbw_hz, unity gain at its centre (so a flat density S
    comes out as S x noise bandwidth); applied in the frequency domain (callers pad the ends)."""
    n = next_fast_len(x.size)              # a length with small prime factors: FFTs of any size stay fast
    f = np.fft.fftfreq(n, 1.0 / fs)
    h = np.exp(-2.0 * math.log(2.0) * (f / rbw_hz) ** 2)
    spectrum = sfft.fft(x, n, workers=-1)
    spectrum *= h
    return sfft.ifft(spectrum, workers=-1, overwrite_x=True)[:x.size]


def complex_noise(n: int, fs: float, rbw_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power complex Gaussian noise with the RBW filter's correlation."""
    pad = int(math.ceil(4.0 * fs / rbw_hz)) + 8
    w = (rng.standard_normal(n + 2 * pad) + 1j * rng.standard_normal(n + 2 * pad)) * math.sqrt(0.5)
    y = rbw_filter(w, fs, rbw_hz)[pad:pad + n]
    gain = ENBW_PER_RBW * rbw_hz / fs          # power gain of the filter on unit white noise
    return y / math.sqrt(gain)


# ---------------------------------------------------------------------------------- detectors

def _video_db(mean_mw: np.ndarray, k: float, avg_type: str, u: np.ndarray) -> np.ndarray:
    """Inverse CDF at u of one video-filtered value (k looks averaged in the averaging domain), dBm."""
    if k <= 1.0 + 1e-9:
        x = -np.log1p(-np.clip(u, 0.0, 1.0 - 1e-16))          # exponential power
        return mw_to_dbm(mean_mw * np.maximum(x, 1e-300))
    if avg_type == "LOG":
        return mw_to_dbm(mean_mw) + LOG_MEAN_DB + LOG_STD_DB / math.sqrt(k) * special.ndtri(np.clip(u, 1e-16, 1 - 1e-16))
    if avg_type == "SCAL":
        amp = RAYLEIGH_MEAN + math.sqrt(RAYLEIGH_VAR / k) * special.ndtri(np.clip(u, 1e-16, 1 - 1e-16))
        return mw_to_dbm(mean_mw * np.maximum(amp, 1e-6) ** 2)
    return mw_to_dbm(mean_mw * special.gammaincinv(k, np.clip(u, 1e-16, 1 - 1e-16)) / k)


def detect_db(mean_mw: np.ndarray, spec: SweepSpec, looks: float, rng: np.random.Generator,
              peak_mw: np.ndarray | None = None) -> np.ndarray:
    """One detected trace from each bucket's mean power (and its peak, for the peak detector)."""
    video = max(1.0, spec.rbw_hz / spec.vbw_hz)
    values = max(1.0, looks / video)            # video-filtered values per bucket
    n = mean_mw.size
    det = spec.detector
    if det == "NORM":
        out = np.empty(n)
        out[0::2] = detect_db(mean_mw[0::2], _with(spec, "POS"), looks, rng,
                              None if peak_mw is None else peak_mw[0::2])
        out[1::2] = detect_db(mean_mw[1::2], _with(spec, "NEG"), looks, rng)
        return out
    u = rng.random(n)
    if det == "SAMP":
        return _video_db(mean_mw, video, spec.average_type, u)
    if det == "POS":
        return _video_db(mean_mw if peak_mw is None else peak_mw, video, spec.average_type, u ** (1.0 / values))
    if det == "NEG":
        return _video_db(mean_mw, video, spec.average_type, 1.0 - u ** (1.0 / values))
    # AVERage: every look of the bucket averaged in the averaging domain
    if spec.average_type == "LOG":
        if looks <= 1.0 + 1e-9:
            return _video_db(mean_mw, 1.0, "LOG", u)
        return mw_to_dbm(mean_mw) + LOG_MEAN_DB + LOG_STD_DB / math.sqrt(looks) * special.ndtri(np.clip(u, 1e-16, 1 - 1e-16))
    if spec.average_type == "SCAL":
        return _video_db(mean_mw, looks, "SCAL", u)
    return _video_db(mean_mw, looks, "RMS", u)


def _with(spec: SweepSpec, detector: str) -> SweepSpec:
    return SweepSpec(spec.center_hz, spec.span_hz, spec.rbw_hz, spec.vbw_hz, spec.points, spec.sweep_time_s,
                     detector, spec.average_type, spec.attenuation_db)


def detect_samples_db(power_mw: np.ndarray, spec: SweepSpec, fs: float) -> np.ndarray:
    """Detected trace from instantaneous power, shape (points, samples per point): the video filter
    (one pole at VBW, in the averaging domain) and then the detector over each bucket."""
    det = spec.detector
    shape = power_mw.shape
    if spec.vbw_hz < spec.rbw_hz:
        from scipy.signal import lfilter
        a = math.exp(-2.0 * math.pi * spec.vbw_hz / fs)
        flat = power_mw.reshape(-1)
        if spec.average_type == "LOG":
            db = mw_to_dbm(np.maximum(flat, 1e-300))
            flat = dbm_to_mw(lfilter([1 - a], [1, -a], db, zi=[a * db[0]])[0])
        elif spec.average_type == "SCAL":
            amp = np.sqrt(flat)
            flat = lfilter([1 - a], [1, -a], amp, zi=[a * amp[0]])[0] ** 2
        else:
            flat = lfilter([1 - a], [1, -a], flat, zi=[a * flat[0]])[0]
        power_mw = flat.reshape(shape)
    if det == "SAMP":
        return mw_to_dbm(power_mw[:, 0])
    if det == "POS":
        return mw_to_dbm(power_mw.max(axis=1))
    if det == "NEG":
        return mw_to_dbm(power_mw.min(axis=1))
    if det == "NORM":
        out = mw_to_dbm(power_mw.max(axis=1))
        out[1::2] = mw_to_dbm(power_mw[1::2].min(axis=1))
        return out
    if spec.average_type == "LOG":
        return mw_to_dbm(np.maximum(power_mw, 1e-300)).mean(axis=1)
    if spec.average_type == "SCAL":
        return mw_to_dbm(np.sqrt(power_mw).mean(axis=1) ** 2)
    return mw_to_dbm(power_mw.mean(axis=1))

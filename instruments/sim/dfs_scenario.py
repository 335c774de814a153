"""The 5 GHz DFS scenario of the simulated DUT: the DUT on a W53/W56 channel and a radar test signal.

How the scenario starts (a simulator cannot be told anything a real analyzer would not be told):
the DUT begins its DFS test on the channel the analyzer is tuned to at the first *zero-span* sweep whose
centre lies within 5 MHz of a W53/W56 channel centre (5000 + 5·ch MHz, standards.md §1.3). That sweep's
first instant is "channel selected" (t = 0 of the test). A later zero-span sweep starts a new test when it
is on another DFS channel, or when the previous test is over (radar + 30 min non-occupancy period); on a
real bench the operator starts the DUT and the radar generator together with the first sweep.

The radar test signal comes from the profile's ``[dfs]`` section (domain, radar type, when it is injected
after the channel availability check), drawn once per test from labbench.analysis.radar_tables with the
section's seed. The simulator never tells the analyzer what it injected: the dfs procedure finds the
type from the power-vs-time trace.

DUT behaviour, t from channel selection (standards.md §1):
- silent for its channel availability check, ``cac_s`` (0: the domain's, 60 s, or 600 s for ETSI on
  channels overlapping 5600-5650 MHz), and ``tx_delay_s`` more (its first beacon); a faulty DUT may send
  ``cac_frames_s`` during the check;
- then traffic: ``frame_s`` frames every ``frame_period_s`` (802.11 OFDM 20 MHz at ``dut_level_dbm``);
- the radar burst comes ``radar_after_cac_s`` after the domain's CAC (the test's timing, not the DUT's);
- traffic goes on until ``stop_after_s`` after the burst ends, then ``closing_frames_s`` control frames
  (channel switch announcements, ``closing_frame_s`` long) and the DUT leaves for ``new_channel``;
- it never returns to the channel in this test (the 30 min non-occupancy period is kept).

Radar pulses: rectangular in time at ``radar_level_dbm`` (threshold + 1 dB, −63 dBm for the FCC −64 dBm
threshold). Through a Gaussian RBW filter a pulse at offset Δf reads P·min(1, ENBW/B)·exp(−4 ln2 Δf²/(RBW² + B²)),
B the larger of its chirp and 1/width: a chirped pulse's power is taken as spread over its chirp for its
whole width (a zero-span trace shows its full width, a few dB lower). Frequency-hopping types (FCC 6,
MIC W56 hopping) keep only hops within ±4 MHz of the channel centre, which an 8 MHz RBW sees whole.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from labbench.analysis.radar_tables import (
    BAND_CHANNELS, RadarBurst, cac_time_s, channel_center_hz, draw_burst, radar_type,
)
from labbench.analysis.spectrum import GAUSSIAN_RBW_ENBW_RATIO
from labbench.errors import ConfigError, UsageError
from labbench.instruments.sim.dut import DutProfile, section_dataclass
from labbench.instruments.sim.rf_emitters import FOUR_LN2, ofdm20_reading_mw, to_dbm

DFS_CHANNELS = tuple(ch for chans in BAND_CHANNELS.values() for ch in chans)
CHANNEL_CAPTURE_HZ = 5e6           # a zero-span sweep this close to a channel centre selects it
HOP_BANDWIDTH_HZ = 8e6             # hopping radar: hops kept within ±4 MHz of the channel centre
NON_OCCUPANCY_S = 1800.0


@dataclass(frozen=True)
class DfsConfig:
    """The profile's ``[dfs]`` section (module docstring)."""

    enabled: bool = True
    domain: str = "FCC"                  # the DUT's regulatory domain and the radar test signal's
    radar_type: str = "1"                # a type name of that domain (labbench.analysis.radar_tables)
    radar_after_cac_s: float = 5.0       # injection time after the domain's CAC
    radar_level_dbm: float = -63.0       # at the analyzer input: FCC threshold −64 dBm + 1 dB
    radar_pulse_width_s: float = 0.0     # 0: drawn from the table; else fixed (to pin a test point)
    radar_pri_s: float = 0.0             # 0: drawn
    radar_pulses: int = 0                # 0: drawn
    dut_level_dbm: float = -30.0         # the DUT's channel power at the analyzer input
    frame_s: float = 1.5e-3
    frame_period_s: float = 5e-3
    cac_s: float = 0.0                   # the DUT's own CAC; 0: the domain's
    tx_delay_s: float = 0.05             # first frame this long after its CAC (the next beacon time)
    cac_frames_s: list = field(default_factory=list)    # fault: frames during the CAC, s after selection
    stop_after_s: float = 0.05           # traffic continues this long after the burst ends
    closing_frames_s: list = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0, 1.25])
    closing_frame_s: float = 1e-3
    new_channel: int = 36                # where the DUT goes (W52, no DFS)
    seed: int = 5

    def __post_init__(self):
        radar_type(self.domain, self.radar_type)  # UsageError naming the valid types
        if not (self.frame_s > 0 and self.frame_period_s >= self.frame_s and self.closing_frame_s > 0):
            raise ValueError("need frame_s > 0, frame_period_s >= frame_s and closing_frame_s > 0")
        if min(self.radar_after_cac_s, self.stop_after_s, self.cac_s, self.tx_delay_s) < 0:
            raise ValueError("radar_after_cac_s, stop_after_s, cac_s and tx_delay_s must be >= 0")


@dataclass(frozen=True)
class DfsTest:
    """One running test: its channel, when it started, the drawn radar burst and the DUT's timeline."""

    channel: int
    center_hz: float
    selected_s: float
    dut_silent_s: float
    radar: RadarBurst
    stop_s: float                        # traffic ends
    closing_start_s: np.ndarray
    cac_start_s: np.ndarray

    @property
    def tx_start_s(self) -> float:
        return self.selected_s + self.dut_silent_s

    @property
    def radar_end_s(self) -> float:
        return self.radar.end_s

    @property
    def end_s(self) -> float:
        """After this the test is over: a new zero-span sweep on a DFS channel starts another one."""
        return self.radar_end_s + NON_OCCUPANCY_S


def dfs_channel_at(freq_hz: float) -> int | None:
    """The W53/W56 channel whose centre lies within 5 MHz of ``freq_hz``, else None."""
    ch = int(round((freq_hz / 1e6 - 5000.0) / 5.0))
    if ch in DFS_CHANNELS and abs(channel_center_hz(ch) - freq_hz) <= CHANNEL_CAPTURE_HZ:
        return ch
    return None


class DfsScenario:
    """State shared by the DUT and the radar: the current test, started by the analyzer's sweeps."""

    def __init__(self, config: DfsConfig):
        self.config = config
        self.test: DfsTest | None = None
        self.tests_started = 0
        self._lock = threading.Lock()

    def observe(self, freq_hz: np.ndarray, t_s: np.ndarray) -> DfsTest | None:
        """Look at what the analyzer asks about: a zero-span sweep (one frequency, times increasing) on a
        DFS channel starts a test (module docstring). Returns the current test."""
        f = np.asarray(freq_hz).reshape(-1)
        if f.size < 2 or not np.all(f == f[0]):
            return self.test
        ch = dfs_channel_at(float(f[0]))
        if ch is None:
            return self.test
        t0 = float(np.min(t_s))
        with self._lock:
            test = self.test
            if test is None or (ch != test.channel and t0 >= test.selected_s) or t0 >= test.end_s:
                self.test = self._start(ch, t0)
            return self.test

    def _start(self, channel: int, t0_s: float) -> DfsTest:
        c = self.config
        rng = np.random.default_rng([c.seed, self.tests_started])
        self.tests_started += 1
        radar = radar_type(c.domain, c.radar_type)
        center = channel_center_hz(channel)
        test_cac = cac_time_s(c.domain, channel)
        burst = draw_burst(radar, rng, t0_s=t0_s + test_cac + c.radar_after_cac_s, channel_hz=center,
                           bandwidth_hz=HOP_BANDWIDTH_HZ,
                           pulse_width_s=c.radar_pulse_width_s or None, pri_s=c.radar_pri_s or None,
                           pulses=c.radar_pulses or None)
        end = burst.end_s
        return DfsTest(channel=channel, center_hz=center, selected_s=t0_s,
                       dut_silent_s=(c.cac_s or cac_time_s(c.domain, channel)) + c.tx_delay_s, radar=burst,
                       stop_s=end + c.stop_after_s,
                       closing_start_s=end + np.sort(np.asarray(c.closing_frames_s, dtype=float)),
                       cac_start_s=t0_s + np.sort(np.asarray(c.cac_frames_s, dtype=float)))


def _in_frames(t: np.ndarray, starts: np.ndarray, width_s) -> np.ndarray:
    """Whether each t lies in one of the intervals [starts[i], starts[i] + width[i]) (starts sorted)."""
    if starts.size == 0:
        return np.zeros(t.shape, dtype=bool)
    i = np.searchsorted(starts, t, side="right") - 1
    ok = i >= 0
    ic = np.clip(i, 0, None)
    w = np.broadcast_to(np.asarray(width_s, dtype=float), starts.shape)
    return ok & (t < starts[ic] + w[ic])


def _overlaps(starts: np.ndarray, ends: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Whether [t0, t1) meets one of the disjoint intervals [starts[i], ends[i]) (sorted)."""
    if starts.size == 0:
        return np.zeros(np.shape(t0), dtype=bool)
    i = np.searchsorted(ends, t0, side="right")          # first interval ending after t0
    return (i < starts.size) & (starts[np.minimum(i, starts.size - 1)] < t1)


def _periodic_overlaps(t0: np.ndarray, t1: np.ndarray, origin_s: float, period_s: float, on_s: float,
                       lo_s: float, hi_s: float) -> np.ndarray:
    """Whether [t0, t1) meets a frame [origin + kP, origin + kP + on) inside the window [lo, hi)."""
    a, b = np.maximum(t0, lo_s), np.minimum(t1, hi_s)
    k = np.floor((a - origin_s) / period_s)
    frame = origin_s + k * period_s
    return (a < b) & ((a < frame + on_s) | (frame + period_s < b))


class DfsDut:
    """The DUT's 5 GHz transmitter under DFS (module docstring)."""

    kind = "dut"

    def __init__(self, scenario: DfsScenario, name: str = "dut-5ghz"):
        self.scenario, self.name = scenario, name

    def _moved_s(self, test: DfsTest) -> float:
        c = self.scenario.config
        last_closing = float(test.closing_start_s[-1] + c.closing_frame_s) if test.closing_start_s.size else 0.0
        return max(test.stop_s, last_closing)

    def transmitting(self, t_s: np.ndarray, test: DfsTest, t_stop_s: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(on the test channel, on the new channel) at each t, or at any time in [t, t_stop) when given."""
        c = self.scenario.config
        t = np.asarray(t_s, dtype=float)
        moved = self._moved_s(test)
        if t_stop_s is None:
            traffic = np.mod(t - test.tx_start_s, c.frame_period_s) < c.frame_s
            on_test = ((t >= test.tx_start_s) & (t < test.stop_s) & traffic) \
                | _in_frames(t, test.cac_start_s, c.frame_s) \
                | _in_frames(t, test.closing_start_s, c.closing_frame_s)
            return on_test, (t >= moved) & traffic & ~on_test
        t1 = np.asarray(t_stop_s, dtype=float)
        on_test = _periodic_overlaps(t, t1, test.tx_start_s, c.frame_period_s, c.frame_s, test.tx_start_s,
                                     test.stop_s) \
            | _overlaps(test.cac_start_s, test.cac_start_s + c.frame_s, t, t1) \
            | _overlaps(test.closing_start_s, test.closing_start_s + c.closing_frame_s, t, t1)
        on_new = _periodic_overlaps(t, t1, test.tx_start_s, c.frame_period_s, c.frame_s, moved, math.inf)
        return on_test, on_new

    def power_dbm(self, freq_hz, t_s, rbw_hz: float) -> np.ndarray:
        return self._power(freq_hz, t_s, None, rbw_hz)

    def peak_power_dbm(self, freq_hz, t_start_s, t_stop_s, rbw_hz: float) -> np.ndarray:
        """Highest power within each [t_start, t_stop) (the scene's peak detector): a frame anywhere in the
        interval shows at its full level."""
        return self._power(freq_hz, t_start_s, t_stop_s, rbw_hz)

    def _power(self, freq_hz, t_s, t_stop_s, rbw_hz: float) -> np.ndarray:
        f, t = np.broadcast_arrays(np.asarray(freq_hz, dtype=float), np.asarray(t_s, dtype=float))
        test = self.scenario.observe(f, t)
        if test is None:
            return np.full(f.shape, -np.inf)
        t1 = None if t_stop_s is None else np.broadcast_to(np.asarray(t_stop_s, dtype=float), t.shape)
        on_test, on_new = self.transmitting(t, test, t1)
        p_mw = 10.0 ** (self.scenario.config.dut_level_dbm / 10.0)
        mw = np.zeros(f.shape)
        if on_test.any():
            mw[on_test] = ofdm20_reading_mw(f[on_test], test.center_hz, p_mw, rbw_hz)
        if on_new.any():
            new_hz = channel_center_hz(self.scenario.config.new_channel)
            mw[on_new] = ofdm20_reading_mw(f[on_new], new_hz, p_mw, rbw_hz)
        return to_dbm(mw)

    def iq(self, center_hz, sample_rate_hz, n, t0_s, rng):
        return None


class RadarEmitter:
    """The radar test signal of the current DFS test (module docstring)."""

    kind = "radar"

    def __init__(self, scenario: DfsScenario, name: str = "radar"):
        self.scenario, self.name = scenario, name

    def _pulse_mw(self, test: DfsTest, k: np.ndarray, f: np.ndarray, rbw_hz: float) -> np.ndarray:
        """Reading of pulse k at frequency f (module docstring)."""
        b = test.radar
        width = b.width_s[k]
        chirp = np.nan_to_num(b.chirp_hz[k], nan=0.0)
        carrier = np.where(np.isfinite(b.freq_hz[k]), b.freq_hz[k], test.center_hz)
        occupied = np.maximum(chirp, 1.0 / width)
        spread = np.minimum(1.0, GAUSSIAN_RBW_ENBW_RATIO * rbw_hz / occupied)
        offset = f - carrier
        return 10.0 ** (self.scenario.config.radar_level_dbm / 10.0) * spread \
            * np.exp(-FOUR_LN2 * offset ** 2 / (rbw_hz ** 2 + occupied ** 2))

    def power_dbm(self, freq_hz, t_s, rbw_hz: float) -> np.ndarray:
        f, t = np.broadcast_arrays(np.asarray(freq_hz, dtype=float), np.asarray(t_s, dtype=float))
        test = self.scenario.observe(f, t)
        out = np.full(f.shape, -np.inf)
        if test is None:
            return out
        b = test.radar
        i = np.searchsorted(b.start_s, t, side="right") - 1
        on = (i >= 0) & (t < b.start_s[np.clip(i, 0, None)] + b.width_s[np.clip(i, 0, None)])
        if on.any():
            out[on] = to_dbm(self._pulse_mw(test, i[on], f[on], rbw_hz))
        return out

    def peak_power_dbm(self, freq_hz, t_start_s, t_stop_s, rbw_hz: float) -> np.ndarray:
        """Highest power within each [t_start, t_stop) (the scene's peak detector): the strongest pulse
        that overlaps the interval."""
        f, t0 = np.broadcast_arrays(np.asarray(freq_hz, dtype=float), np.asarray(t_start_s, dtype=float))
        t1 = np.broadcast_to(np.asarray(t_stop_s, dtype=float), t0.shape)
        test = self.scenario.observe(f, t0)
        out = np.full(f.shape, -np.inf)
        if test is None:
            return out
        b = test.radar
        first = np.searchsorted(b.start_s + b.width_s, t0.ravel(), side="right")   # first pulse ending after t0
        last = np.searchsorted(b.start_s, t1.ravel(), side="left")                 # pulses starting before t1
        count = np.maximum(last - first, 0)
        q = np.flatnonzero(count)
        if q.size == 0:
            return out
        which = np.repeat(q, count[q])
        within = np.arange(which.size) - np.repeat(np.cumsum(count[q]) - count[q], count[q])
        k = np.repeat(first[q], count[q]) + within          # every pulse overlapping each interval
        mw = self._pulse_mw(test, k, f.ravel()[which], rbw_hz)
        peak = np.zeros(f.size)
        np.maximum.at(peak, which, mw)
        return to_dbm(peak).reshape(f.shape)

    def iq(self, center_hz: float, sample_rate_hz: float, n: int, t0_s: float, rng) -> np.ndarray | None:
        """Complex baseband (sqrt(mW)) of the pulses in [t0, t0 + n/fs): rectangular carrier pulses at their
        offset from ``center_hz`` (the scene's RBW filter shapes their edges). A chirped pulse is sent
        unchirped with the power an 8 MHz RBW (the analyzer's widest, used for DFS) passes of it,
        min(1, ENBW/chirp), as ``power_dbm`` has it. None when no pulse falls in the window (or no test
        runs), so the scene can sweep statistically."""
        test = self.scenario.test
        if test is None:
            return None
        b = test.radar
        t = t0_s + np.arange(n) / sample_rate_hz
        i = np.searchsorted(b.start_s, t, side="right") - 1
        ic = np.clip(i, 0, None)
        on = (i >= 0) & (t < b.start_s[ic] + b.width_s[ic])
        carrier = np.where(np.isfinite(b.freq_hz), b.freq_hz, test.center_hz)
        on &= np.abs(carrier[ic] - center_hz) < 0.45 * sample_rate_hz
        if not on.any():
            return None
        k = ic[on]
        chirp = np.nan_to_num(b.chirp_hz[k], nan=0.0)
        spread = np.minimum(1.0, GAUSSIAN_RBW_ENBW_RATIO * 8e6 / np.maximum(chirp, 1.0))
        x = np.zeros(n, dtype=np.complex128)
        x[on] = np.sqrt(10.0 ** (self.scenario.config.radar_level_dbm / 10.0) * spread) \
            * np.exp(2j * np.pi * (carrier[k] - center_hz) * (t[on] - b.start_s[k]))
        return x


def load_dfs_config(profile: DutProfile) -> DfsConfig | None:
    """The ``[dfs]`` section as a DfsConfig (None when absent or disabled); bad keys or values name the file."""
    if not profile.section("dfs"):
        return None
    try:
        config = section_dataclass(DfsConfig, profile, "dfs")
    except UsageError as exc:
        raise ConfigError(f"DUT profile {profile.path}: [dfs]: {exc}") from None
    return config if config.enabled else None


def build_dfs(profile: DutProfile) -> list:
    """[DfsDut, RadarEmitter] sharing one :class:`DfsScenario`, or [] without a ``[dfs]`` section."""
    config = load_dfs_config(profile)
    if config is None:
        return []
    scenario = DfsScenario(config)
    return [DfsDut(scenario), RadarEmitter(scenario)]

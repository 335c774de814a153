"""Simulated MSOS604A with an N7020A power-rail probe: the DUT's core rail on one channel ([rail]),
its load steps tied to the DUT's activity ([power]); 10-bit ADC, FFT functions and the scope's own
VPP / VRMS / VAVerage from the shared Infiniium simulator (their code is independent of labbench.analysis).

Trigger: an edge trigger on the rail channel fires where the noiseless rail crosses the level (ripple
or a load step, found in virtual time, so a wake period of seconds costs nothing); when nothing crosses
within ``trigger_horizon_s`` (AUTO sweep: AUTO_TRIGGER_S) the scope triggers by itself and `:TER?`
answers 0 (a real scope in TRIGgered sweep would wait on; the simulator never hangs). The record sits around the
trigger by `:TIMebase:REFerence` (LEFT/CENTer/RIGHt) and `:TIMebase:POSition`.
"""
from __future__ import annotations

import numpy as np

from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.instruments.sim.infiniium import SimInfiniium
from labbench.instruments.sim.supply_rail import SupplyRail
from labbench.scpi.commands import Command, Query

REFERENCE_FRACTION = {"LEFT": 0.0, "CENT": 0.5, "RIGH": 1.0}
REARM_S = 1e-3            # I: dead time between acquisitions
AUTO_TRIGGER_S = 50e-3    # I: with `:TRIGger:SWEep AUTO` the scope triggers by itself after this long


class SimMSOS604A(SimInfiniium):
    idn = ("KEYSIGHT TECHNOLOGIES", "MSOS604A", "MY00SIM604", "06.40.00201")
    n_channels = 4
    max_sample_rate = 20e9
    max_points = 800_000_000
    max_bandwidth_hz = 6e9
    scale_limits = (1e-3, 1.0)         # 50-ohm input: 1 mV/div to 1 V/div
    offset_limits = (-24.0, 24.0)      # I: the N7020A power-rail probe's offset range
    trigger_horizon_s = 600.0          # virtual time the trigger waits for a crossing

    def __init__(self, profile: DutProfile | None = None, real_time: bool = False):
        self.profile = profile or load_profile()
        self.supply_rail = SupplyRail.from_profile(self.profile)
        self.rail = self.supply_rail.model
        self.clock_s = 0.0              # virtual time since power-on
        self.triggered = False
        self.last_trigger_s: float | None = None
        super().__init__(real_time=real_time)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.set("points", int(self.rail.points))
        self.set("srate", float(self.rail.sample_rate_sa_s))

    @property
    def commands(self) -> list[Command]:  # type: ignore[override]
        own = {":TER"}            # answered here: whether the last acquisition found its trigger
        return [c for c in self.infiniium_commands() if c.pattern not in own] + [
            Query(":TER", lambda s, f, p: "1" if s.triggered else "0"),
            Query(":CHANnel<N>:PROBe:ID", lambda s, f, p: '"N7020A"' if f[0] == s.rail.channel else '"None"'),
            Query(":CHANnel<N>:PROBe", lambda s, f, p: "1.0"),     # the probe's ratio is compensated
        ]

    # ------------------------------------------------------------ the signal at the inputs
    def synthesize(self, channel: int, t0_s: float, dt_s: float, n: int):
        """The rail on its channel (a little noise elsewhere). t0_s is the base class's centred origin;
        the record is placed around this acquisition's trigger instead."""
        if channel != self.rail.channel:
            return super().synthesize(channel, t0_s, dt_s, n)
        record_s = n * dt_s
        reference = REFERENCE_FRACTION.get(str(self.get("tb_reference", default="CENT"))[:4].upper(), 0.5)
        x0 = float(self.get("tb_position", default=0.0)) - reference * record_s
        t_trigger = self._trigger_time(max(0.0, -x0) + self.clock_s, channel)
        self.last_trigger_s = t_trigger
        self.clock_s = t_trigger + x0 + record_s + REARM_S
        rng = np.random.default_rng([self.rail.seed, self.acquisitions])
        volts = self.supply_rail.render(t_trigger + x0, dt_s, n, self.front_end_bandwidth_hz(channel), rng)
        return volts, x0, dt_s

    def _trigger_time(self, armed_at_s: float, channel: int) -> float:
        """Virtual time of the trigger: the first crossing on the trigger channel, else auto trigger."""
        source = str(self.get("trig_source", default="CHAN1")).upper()
        on_rail = source in (f"CHAN{channel}", f"CHANNEL{channel}")
        slope = str(self.get("trig_slope", default="POS")).upper()
        auto = str(self.get("trig_sweep", default="TRIG")).upper() == "AUTO"
        if on_rail and self.get("trig_mode", default="EDGE") == "EDGE" and slope in ("POS", "NEG"):
            level = float(self.get("trig_level", channel, default=0.0))
            horizon = AUTO_TRIGGER_S if auto else self.trigger_horizon_s
            found = self.supply_rail.first_crossing_s(armed_at_s, level, slope == "NEG", horizon)
            if found is not None:
                self.triggered = True
                return found
        self.triggered = False
        # auto trigger: at a random phase of the switching cycle
        phase = np.random.default_rng([self.rail.seed, self.acquisitions, 1]).uniform(0, 1.0)
        return armed_at_s + phase / self.rail.switching_freq_hz

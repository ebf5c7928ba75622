"""The boards zskip builds for: one small entry each.

A :class:`Target` names the board as users type it, its amaranth-boards platform, the engine clock
(made by a PLL when it differs from the board's oscillator), the UART baud rate, the device's
capacity (to say what does not fit before place and route would), the command that programs it
(``zskip build --program``) and the Debian package that installs that command, and the engine
configuration that fits it, with the reason. Adding a board is adding one entry to :data:`TARGETS`:

    "orangecrab": Target(name="orangecrab", platform="amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_85FPlatform",
                         family="ecp5", device="LFE5U-85F", clock_mhz=48, ...,
                         programmer=("dfu-util", "-D", "{bitstream}"), programmer_package="dfu-util",
                         engine={...}, why="...")
"""

import importlib
from dataclasses import dataclass, field

from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError

__all__ = ["Target", "TARGETS", "get_target"]


@dataclass(frozen=True)
class Target:
    name: str                 # as users type it
    title: str
    platform: str             # "module:Class" of amaranth-boards
    family: str               # "ice40" or "ecp5"
    device: str
    clock_mhz: float          # the engine's clock (a PLL makes it from the board's oscillator)
    goal_mhz: float           # the Fmax goal for this part (docs/DESIGN.md)
    baud: int
    capacity: dict            # Yosys cell type -> how many the device has
    programmer: tuple         # the command that programs the board; "{bitstream}" stands for the file
    programmer_package: str   # the Debian package that installs it
    engine: dict = field(default_factory=dict)   # EngineConfig fields of the default configuration
    why: str = ""             # why that configuration fits the part and uses it well
    lean: bool = False        # the logic cells run out first: fewer registers for longer paths (BoardCore)
    place_mhz: float = 0      # the clock constraint nextpnr places and routes for, where above the engine's
                              # clock (with a PLL; 0: the engine's clock). nextpnr stops improving a path once
                              # it meets the constraint, so a constraint above the clock is the margin the
                              # placement seeds spread over; timing is met when Fmax reaches the clock

    def make_platform(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)()

    def default_config(self):
        return EngineConfig(**self.engine)

    def program_command(self, bitstream):
        """The command (a list) that programs ``bitstream`` onto the board."""
        return [part.format(bitstream=bitstream) for part in self.programmer]


TARGETS = {t.name: t for t in (
    Target(
        name="icebreaker", title="1BitSquared iCEBreaker", family="ice40", device="iCE40UP5K-SG48",
        platform="amaranth_boards.icebreaker:ICEBreakerPlatform", clock_mhz=12, goal_mhz=48, baud=115200,
        capacity={"SB_LUT4": 5280, "SB_DFF*": 5280, "SB_CARRY": 5280, "SB_MAC16": 8, "SB_RAM40_4K": 30,
                  "SB_SPRAM256KA": 4, "SB_IO": 39, "SB_PLL40_PAD": 1},
        programmer=("iceprog", "{bitstream}"), programmer_package="fpga-icestorm",
        engine=dict(input_size=8, hidden_size=8, lanes=1, max_batch=4, max_seq=32, ggu_cycles=10,
                    lane_pipeline="compact"),
        why="The UP5K has 5280 logic cells, 30 block RAMs of 4 kbit and 8 multipliers (SB_MAC16); the logic "
            "cells run out first. The gate-gradient unit is serial (ggu_cycles = 10: one element at a time on "
            "3 multipliers, one register per value; the pipelined unit alone would need 2400 cells), one lane "
            "has 2 multipliers and the compact pipeline (lane_pipeline: the registered one needs 560 more flip-flops "
            "than the part has room for). The block RAMs decide the size: the exact dW accumulators are 39 bits wide and "
            "every small memory (da, a, the dz buffer) costs whole block RAMs, so I = H = 8 (N = 16 columns) "
            "fills 26 of them; batch 4 and T = 32 cost no more than batch 2 and T = 16. A second lane needs 37. "
            "The design fills 96.9 % of the logic cells and reaches 18.9 MHz, so the engine runs on the board's "
            "12 MHz oscillator (no PLL); lean: the engine takes its inputs without FIFOs.",
        lean=True),
    Target(
        name="ulx3s-85f", title="Radiona ULX3S (ECP5-85F)", family="ecp5", device="LFE5U-85F-6BG381C",
        platform="amaranth_boards.ulx3s:ULX3S_85F_Platform", clock_mhz=85, goal_mhz=125, place_mhz=125, baud=115200,
        capacity={"TRELLIS_SLICE": 41820, "LUT4": 83640, "TRELLIS_FF": 83640, "MULT18X18D": 156, "DP16KD": 208,
                  "TRELLIS_IO": 197, "EHXPLLL": 4},
        programmer=("openFPGALoader", "-b", "ulx3s", "{bitstream}"), programmer_package="openfpgaloader",
        engine=dict(input_size=28, hidden_size=64, lanes=16, max_batch=4, max_seq=28),
        why="The 85F has 156 18x18 multipliers and 208 DP16KD block RAMs. Sixteen lanes (32 multipliers beside "
            "the gate-gradient unit's 16) split N = 92 columns into 6 per lane; H = 64 keeps W and dW (256 x 92 "
            "words) and the da buffers in 181 block RAMs, with the small a buffers in LUT RAM; Fashion-MNIST rows (I = 28, "
            "T = 28) fit whole. Every lane stage is registered (lane_pipeline registered), the column reaches the "
            "lanes through a tree of registers that synthesis keeps, and the core's enable comes from a register. "
            "nextpnr places for the 125 MHz goal (place_mhz); the PLL makes 85 MHz, the host link runs on the "
            "25 MHz oscillator: the design reaches 86.1-99.5 MHz over the placement seeds 1-5 that routed (median "
            "89.8; seed 4 did not route in 30 minutes; bench/results/seeds-ulx3s-85f.md), every one above 85 MHz."),
)}


def get_target(name):
    if name not in TARGETS:
        raise ConfigError(f"unknown board {name!r}; choose from {', '.join(TARGETS)} (zskip build --list)")
    return TARGETS[name]

"""The engine's timing as golden_model.cycles needs it, read from the parts that have it.

Each part of hw/ states its own latency as a property (``ALoader.latency``,
``Feed.latency_of(config)``, ``ReadOut.latency``, ``lane_timing(config)``, ...); the gate-gradient
unit's comes from the schedule it is built from. :func:`micro_arch` collects them
into the cycle model's :class:`golden_model.cycles.MicroArch`, so a change of timing
is made in one place, the part, and tests/hw/test_engine.py checks the cycle model
against the simulated engine cycle for cycle.
"""

from golden_model.cycles import MicroArch
from golden_model.ggu import ggu_schedule
from golden_model.engine_config import check_config

from .a_loader import ALoader
from .dz_buffer import DzBuffer
from .feed import Feed
from .mac_lanes import lane_timing
from .readout import ReadOut

__all__ = ["micro_arch"]


def micro_arch(config):
    """The MicroArch of the engine hw/ builds for ``config`` (an EngineConfig)."""
    config = check_config(config)
    ggu, lanes = ggu_schedule(config.ggu_cycles), lane_timing(config)
    return MicroArch(load_latency=ALoader.latency, feed_latency=Feed.latency_of(config), feed_interval=ggu.interval,
                     ggu_latency=ggu.latency, return_latency=Feed.return_latency, buffer_latency=DzBuffer.latency_of(config),
                     read_latency=lanes.read_latency, mac_drain=lanes.drain,
                     readout_latency=ReadOut.latency, round_latency=ReadOut.round_latency_of(config))

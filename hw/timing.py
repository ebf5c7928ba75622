"""The engine's timing as golden_model.cycles needs it, read from the parts that have it.

Each part of hw/ states its own latency as a property (``ALoader.latency``,
``Feed.latency``, ``ReadOut.latency``, ``MacLanes.rmw_depth``, ...); the gate-gradient
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
from .mac_lanes import MacLanes
from .readout import ReadOut

__all__ = ["micro_arch"]


def micro_arch(config):
    """The MicroArch of the engine hw/ builds for ``config`` (an EngineConfig)."""
    ggu = ggu_schedule(check_config(config).ggu_cycles)
    return MicroArch(load_latency=ALoader.latency, feed_latency=Feed.latency, feed_interval=ggu.interval,
                     ggu_latency=ggu.latency, return_latency=Feed.return_latency, buffer_latency=DzBuffer.latency,
                     rmw_depth=MacLanes.rmw_depth, mac_drain=MacLanes.drain,
                     readout_latency=ReadOut.latency)

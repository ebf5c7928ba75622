"""Amaranth hardware of the zero-skipping LSTM backward engine (docs/DESIGN.md, "The engine").

- ``engine``: :class:`~hw.engine.Engine`, the top with its stream ports and the host protocol;
- ``controller``: the core: the sequencer over a whole sequence, and the parts it connects:
  ``a_loader`` (a_t into the lanes, a step ahead), ``feed`` (a step's elements to the gate-gradient
  unit and their results back), ``dz_buffer`` (the dz of a step's elements with a nonzero, on to the
  encoder), ``readout`` (da after each step, dW and db after the last),
  ``counters`` (performance counters and sticky flags);
- ``gate_grad``: the gate-gradient unit (elementwise backward of one step, and the threshold);
- ``encoder``: the zero-skip encoder (dz of an element -> its nonzero (k, b, v) entries);
- ``mac_lanes``: P MAC lanes with their column-banked memories (W, a, dW, da, db);
- ``timing``: each part's latency, collected for the cycle model (``micro_arch``);
- ``layouts``: every stream payload; ``transfers``: what each stream carries, in which order;
- ``fixed`` and ``bits``: fixed-point rules and bit helpers, equal to golden_model.fixedpoint bit for bit;
  ``part``: the base of the engine's parts;
- ``uart``, ``host_link``, ``commands``: the board's serial link and its command set.

Values follow golden_model.engine_model exactly and cycles golden_model.cycles
exactly; tests/hw compares both in simulation.
"""

__all__ = []

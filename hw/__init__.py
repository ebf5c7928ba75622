"""Amaranth hardware of the zero-skipping LSTM backward engine (DESIGN.md, "The engine").

- ``engine``: :class:`~hw.engine.Engine`, the top with its stream ports and the host protocol;
- ``controller``: the sequencing of a whole sequence (a-loader, feed, read-outs), counters and flags;
- ``gate_grad``: the gate-gradient unit (elementwise backward of one step, and the threshold);
- ``encoder``: the zero-skip encoder (dz of an element -> its nonzero (k, b, v) entries);
- ``mac_lanes``: P MAC lanes with their column-banked memories (W, a, dW, da, db);
- ``layouts``: every stream payload; ``transfers``: what each stream carries, in which order;
- ``fixed`` and ``bits``: fixed-point rules and bit helpers, equal to golden_model.fixedpoint bit for bit.

Values follow golden_model.engine_model exactly and cycles golden_model.cycles
exactly; tests/hw compares both in simulation.
"""

__all__ = []

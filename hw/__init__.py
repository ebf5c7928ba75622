"""Amaranth hardware of the zero-skipping LSTM backward engine.

Present: ``fixed`` (the fixed-point rules as Amaranth expressions, equal to
golden_model.fixedpoint bit for bit) and ``layouts`` (the stream payloads).
Planned (DESIGN.md, "The engine"; issue 4): gate-gradient unit, zero-skip
encoder, MAC lanes, memories, controller and engine top, following the
arithmetic of golden_model.engine_model and the timing of golden_model.cycles.
"""

__all__ = []

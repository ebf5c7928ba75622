"""Amaranth hardware of the zero-skipping LSTM backward engine.

Planned contents (DESIGN.md, "The engine"): gate-gradient unit, zero-skip
encoder, MAC lanes, memories, controller, engine top and payload layouts.
Nothing is implemented here yet; see the open issues.
"""

__all__ = []

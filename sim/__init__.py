"""Verilog export and cocotb co-simulation of the engine against the golden model.

Nothing is implemented here yet; see the open issues.
"""

__all__ = []

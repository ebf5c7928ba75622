"""Simulation of the engine: Amaranth's simulator (``pysim``, with the stream helpers in ``streams``);
Verilog export and cocotb co-simulation follow (issue 5)."""

__all__ = []

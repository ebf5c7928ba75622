"""Simulation of the engine.

- ``export``: the engine of an EngineConfig as Verilog or RTLIL, with a summary (``zskip verilog``);
- ``cosim`` and ``tb_engine``: cocotb co-simulation of that Verilog on Verilator or Icarus against the
  golden model, bit for bit and cycle for cycle (``zskip cosim``);
- ``pysim`` and ``streams``: the engine in Amaranth's own simulator, for unit tests and short slices.
"""

__all__ = []

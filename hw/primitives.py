"""The FPGA's hard blocks as the engine's pipeline uses them: a block-RAM read, through an output register
or not, and a multiplier with one or three register stages.

Block RAM without its output register (5.8 ns clock-to-out on the ECP5's DP16KD) and a multiplier
with neither input nor output registers cap the clock far below what the parts can do
(docs/engine.md, "The lanes' pipeline"). The helpers here give those registers with a stated
latency, which the lanes' timing (hw.mac_lanes.lane_timing) is written in terms of:

- :func:`read`: the word at the address a read port sees in cycle t is there in cycle t + ``stages``:
  1, the memory's own synchronous read; 2, then an output register (a DP16KD with REGMODE "OUTREG");
- :func:`product`: operands presented in cycle t give their exact product in cycle t + ``stages``:
  1, one product register; 3, input registers, pipeline register and output register (the stages of
  the ECP5's MULT18X18D with REG_INPUTA/B, REG_PIPELINE and REG_OUTPUT clocked).

The registers hold data only and have no reset (a hard block's registers need none; on the iCE40 a
register without one packs more freely). Both are written in plain Amaranth (``amaranth.lib.memory``
and ``*``), the form every family, the simulator and the exported Verilog share; synthesis keeps the
registers in the fabric beside the hard block.
"""

from amaranth.hdl import Signal, signed

__all__ = ["read", "product", "READ_STAGES", "PRODUCT_STAGES"]

#: The latencies :func:`read` and :func:`product` build.
READ_STAGES = (1, 2)
PRODUCT_STAGES = (1, 3)


def read(m, port, stages, name):
    """The data of the synchronous read ``port`` (amaranth.lib.memory), ``stages`` cycles after its address."""
    if stages not in READ_STAGES:
        raise ValueError(f"a read takes one of {READ_STAGES} cycles, not {stages!r}")
    if stages == 1:
        return port.data
    word = Signal(port.data.shape(), name=name, reset_less=True)
    m.d.sync += word.eq(port.data)
    return word


def product(m, a, b, stages, name, shape=None):
    """The exact product of the signed values ``a`` and ``b``, ``stages`` cycles later, in a register of
    ``shape`` (at least as wide as the product; the product's own width by default)."""
    if stages not in PRODUCT_STAGES:
        raise ValueError(f"a product takes one of {PRODUCT_STAGES} cycles, not {stages!r}")
    exact = signed(len(a) + len(b))
    out = Signal(exact if shape is None else shape, name=name, reset_less=True)
    if stages == 1:
        m.d.sync += out.eq(a * b)
        return out
    ra, rb = Signal(a.shape(), name=f"{name}_a", reset_less=True), Signal(b.shape(), name=f"{name}_b", reset_less=True)
    piped = Signal(exact, name=f"{name}_pipe", reset_less=True)
    m.d.sync += [ra.eq(a), rb.eq(b), piped.eq(ra * rb), out.eq(piped)]
    return out

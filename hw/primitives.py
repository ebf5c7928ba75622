"""The FPGA's hard blocks as the engine's pipeline uses them: a block RAM read through its output register
or not, a multiplier with one or three register stages, and a register copy that synthesis keeps.

Block RAM without its output register (5.8 ns clock-to-out on the ECP5's DP16KD) and a multiplier
with neither input nor output registers cap the clock far below what the parts can do
(docs/engine.md, "The lanes' pipeline"). The helpers here give those registers with a stated
latency, which the lanes' timing (hw.mac_lanes.lane_timing) is written in terms of:

- :func:`read`: the word at the address a read port sees in cycle t is there in cycle t + ``stages``:
  1, the memory's own synchronous read; 2, then an output register; without Yosys' read/write collision
  logic for a memory built with ``attrs=NO_RW_CHECK``;
- :func:`block_ram`: a memory in block RAM with one write port and one such read, whose second stage
  is, on the ECP5, the DP16KD's own output register (REGMODE "OUTREG");
- :func:`product`: operands presented in cycle t give their exact product in cycle t + ``stages``:
  1, one product register; 3, input registers, pipeline register and output register (the stages of
  the ECP5's MULT18X18D with REG_INPUTA/B, REG_PIPELINE and REG_OUTPUT clocked);
- :func:`copy`: a value one cycle later in a register that is not merged with its equals, for a
  registered fan-out.

Each helper has two forms, chosen by ``family`` (:func:`family` of the platform ``elaborate`` is given,
the one place the choice is made):

- ``"generic"``: plain Amaranth (``amaranth.lib.memory`` and ``*``), the form every family, Amaranth's
  simulator and the exported Verilog (sim.export, which elaborates without a platform) use; synthesis
  keeps its registers in the fabric beside the hard block;
- ``"ecp5"``: the product of :func:`product` with 3 stages is a ``MULT18X18D`` instance whose own
  registers are the three stages; a :func:`block_ram` read in 2 stages is ``DP16KD`` instances whose
  address and output registers are the two; a :func:`copy` is Lattice flip-flop instances. (:func:`read` of
  any other memory stays generic: Yosys maps the memory, and its second register stays in the fabric:
  Yosys' ECP5 block-RAM map leaves the output register unused, share/lattice/brams_map_16kd.v.)

The generic form is the primitive's *twin*: the same latency and, cycle by cycle, the same values for the
same operands and the same enable (tests/sim/test_netlist.py checks the ECP5 forms, with the simulation models
sim/models/mult18x18d.v and sim/models/dp16kd.v, against it; sim.netlist co-simulates the whole synthesised ECP5 netlist against the
golden model).

The enable. The registers hold data only and have no reset (a hard block's registers need none; on the
iCE40 a register without one packs more freely), but for a :func:`copy` asked for one. They update in the
cycles the clock domain is enabled: the generic form's registers are ordinary ``sync`` registers, so an ``EnableInserter`` around the module
(hw.engine freezes the core that way) reaches them; an ``Instance`` is beyond its reach, so the instance's
clock enable is driven from the ``enable`` argument, which must be that same enable (1 where there is none).
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, ResetSignal, Shape, Signal, Value, signed
from amaranth.lib import memory

from golden_model.errors import ConfigError

__all__ = ["read", "block_ram", "dp16kd_tiles", "product", "fits_mult18x18d", "copy", "broadcast", "family", "NO_RW_CHECK", "READ_STAGES", "PRODUCT_STAGES", "FAMILIES",
           "MULT18X18D_WIDTH"]

#: The latencies :func:`read` and :func:`product` build.
READ_STAGES = (1, 2)
PRODUCT_STAGES = (1, 3)

#: The primitives' forms: the generic twin, and the ECP5's hard blocks.
FAMILIES = ("generic", "ecp5")

#: The attributes of a memory whose owner never uses a read of a word in the cycle it is written (:func:`read`).
NO_RW_CHECK = {"no_rw_check": 1}

#: A DP16KD's configurations with one write port and one read port of the same width, widest first:
#: (data bits, words, the low address bits below the word address). 36 bits is the pseudo-dual-port mode
#: (Lattice's PDPW16KD): port A writes DIA and DIB, port B reads DOA and DOB. (The address convention,
#: the byte enables on the low address bits of the 18- and 36-bit modes and the data pins of the 36-bit
#: mode are those of Yosys' own map, share/lattice/brams_map_16kd.v.)
DP16KD_MODES = ((36, 512, 5), (18, 1024, 4), (9, 2048, 3), (4, 4096, 2), (2, 8192, 1), (1, 16384, 0))

#: The widest signed operand a MULT18X18D takes (an unsigned one: one bit less).
MULT18X18D_WIDTH = 18


def family(platform):
    """The form of the primitives to build on ``platform`` (what ``elaborate`` is given): ``"ecp5"`` on an
    Amaranth Lattice platform of the ECP5 family (``amaranth.vendor.LatticeECP5Platform``), ``"generic"`` on
    any other and without one (Amaranth's simulator, the exported Verilog)."""
    if platform is None:
        return "generic"
    from amaranth.vendor import LatticeECP5Platform
    if isinstance(platform, LatticeECP5Platform) and getattr(platform, "family", None) == "ecp5":
        return "ecp5"
    return "generic"


def _check_family(form):
    if form not in FAMILIES:
        raise ConfigError(f"unknown primitives' family {form!r}; choose from {', '.join(FAMILIES)}")


def read(m, port, stages, name, *, family="generic"):
    """The data of the asynchronous read ``port`` (amaranth.lib.memory, ``domain="comb"``) ``stages``
    registers later: the word at the address the port sees in cycle t, in cycle t + ``stages``. (One form on
    every family: the generic one.)

    The first register is the memory's synchronous read: Yosys (``memory_dff``) merges it into the block RAM's
    read port. A memory built with ``attrs=NO_RW_CHECK`` is then mapped without the logic that would make a
    read of a word in the cycle it is written return its old value (a DP16KD does not, across its ports): the
    owner of such a memory promises that it never uses what such a read returns. (Amaranth's own synchronous
    read port says "old value" and Yosys cannot be told otherwise for it: it adds a comparator and a
    multiplexer in the fabric in front of every read register.)"""
    _check_family(family)
    if stages not in READ_STAGES:
        raise ValueError(f"a read takes one of {READ_STAGES} cycles, not {stages!r}")
    if port.domain != "comb":
        raise ValueError(f"the read {name!r} registers an asynchronous port (domain 'comb'), "
                         f"not one of domain {port.domain!r}")
    return _registers(m, port.data, stages, name)


def _registers(m, value, stages, name):
    """``value`` through ``stages`` registers without reset: the last one."""
    for i in range(stages):
        word = Signal(value.shape(), name=name if i == stages - 1 else f"{name}_{i}", reset_less=True)
        m.d.sync += word.eq(value)
        value = word
    return value


def dp16kd_tiles(width, depth):
    """The DP16KD configuration a memory of ``depth`` words of ``width`` bits is built of (:func:`block_ram`, ECP5
    form): (data bits per block, low address bits, blocks side by side), the narrowest mode that holds
    ``depth`` words; None when no mode does (more than 16384 words)."""
    for bits, words, low in DP16KD_MODES:
        if depth <= words:
            return bits, low, -(-width // bits)
    return None


def block_ram(m, name, shape, depth, stages, *, family="generic", enable=None, attrs=NO_RW_CHECK):
    """A memory of ``depth`` words of ``shape`` in block RAM, with one write port and one read port whose word
    arrives ``stages`` cycles after its address (as :func:`read`). Returns ``(read, write, word)``: ``read.addr``
    and ``write.addr``, ``.data``, ``.en`` (amaranth.lib.memory port interfaces; ``read.data`` is not used) to
    drive, and ``word``, the data read.

    The owner promises what :func:`read` asks of a memory built with ``NO_RW_CHECK``: it never uses a read of
    a word in the cycle it is written.

    The generic form is an ``amaranth.lib.memory.Memory`` with ``attrs`` (which must include
    :data:`NO_RW_CHECK`; Yosys' ``ram_style`` may ask for block RAM whatever the size) read by :func:`read`: on
    every family but the ECP5 synthesis chooses how to build it. The ``"ecp5"`` form with 2 stages (and at most 16384 words) is DP16KD instances side by side
    (:func:`dp16kd_tiles`), port A writing and port B reading, REGMODE "OUTREG": the block's address register
    and its output register are the two stages, and the route from the block starts at its output register
    (about 1 ns clock-to-out instead of 5.6 ns without). The read's clock enables (CEB, OCEB; OCEA too in the
    36-bit mode, whose word's low half leaves by port A) are ``enable``, the enable of the ``sync`` domain (1
    when None), as for :func:`product`, and a write (WEA) is gated by it, as the generic form's write port
    under an ``EnableInserter`` (CEA is 1: the enable reaches each block's pins once fewer)."""
    _check_family(family)
    if stages not in READ_STAGES:
        raise ValueError(f"a read takes one of {READ_STAGES} cycles, not {stages!r}")
    width = Shape.cast(shape).width
    tiles = dp16kd_tiles(width, depth)
    if family != "ecp5" or stages != 2 or tiles is None:
        mem = memory.Memory(shape=shape, depth=depth, init=[], attrs=attrs)
        m.submodules[name] = mem
        rp, wp = mem.read_port(domain="comb"), mem.write_port()
        return rp, wp, read(m, rp, stages, f"{name}_word")
    addr_width = (depth - 1).bit_length()
    rp = memory.ReadPort.Signature(addr_width=addr_width, shape=shape).create(path=(name, "read"))
    wp = memory.WritePort.Signature(addr_width=addr_width, shape=shape).create(path=(name, "write"))
    word = Signal(shape, name=f"{name}_word")
    bits, low, count = tiles
    enable = Const(1) if enable is None else enable
    clk = ClockSignal("sync")
    w_data, r_data = Value.cast(wp.data), Value.cast(word)
    # the low address bits: the byte enables of a write in the 18- and 36-bit modes (all written), else 0
    selects = Const((1 << min(low, 4)) - 1 if bits >= 18 else 0, low)
    for t in range(count):
        lo, hi = t * bits, min((t + 1) * bits, width)
        di, do = Signal(36, name=f"{name}_DI{t}"), Signal(36, name=f"{name}_DO{t}")
        m.d.comb += [di.eq(w_data[lo:hi]), r_data[lo:hi].eq(do[:hi - lo])]
        ada, adb = Cat(selects, wp.addr), Cat(Const(0, low), rp.addr)
        pins = {}
        for port, address in (("A", ada), ("B", adb)):
            pins.update({f"i_AD{port}{i}": address[i] if i < len(address) else Const(0) for i in range(14)})
            pins.update({f"i_CS{port}{i}": Const(0) for i in range(3)})
        # data: port A's DI (and port B's, the upper half, in the 36-bit mode); port B's DO (and port A's, the
        # lower half, in the 36-bit mode)
        wide = bits == 36
        pins.update({f"i_DIA{i}": di[i] for i in range(18)})
        pins.update({f"i_DIB{i}": di[18 + i] if wide else Const(0) for i in range(18)})
        pins.update({f"o_DOA{i}": do[i] for i in range(18)} if wide else {})
        pins.update({f"o_DOB{i}": do[18 + i] if wide else do[i] for i in range(18)})
        m.submodules[f"{name}_bram{t}"] = Instance(
            "DP16KD",
            p_DATA_WIDTH_A=bits, p_DATA_WIDTH_B=bits, p_REGMODE_A="OUTREG", p_REGMODE_B="OUTREG",
            p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
            p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_GSR="AUTO",
            i_CLKA=clk, i_CEA=Const(1), i_OCEA=enable if wide else Const(1), i_WEA=wp.en & enable, i_RSTA=Const(0),
            i_CLKB=clk, i_CEB=enable, i_OCEB=enable, i_WEB=Const(0), i_RSTB=Const(0),
            **pins)
    return rp, wp, word


def product(m, a, b, stages, name, shape=None, *, family="generic", enable=None):
    """The exact product of the signed values ``a`` and ``b``, ``stages`` cycles later, in a register of
    ``shape`` (at least as wide as the product; the product's own width by default).

    ``family`` ``"ecp5"`` with 3 stages builds a MULT18X18D (its input, pipeline and output registers,
    clock-enabled by ``enable``: the enable of the ``sync`` domain, 1 when None); each operand must fit its
    18-bit input, else ConfigError (a ValueError): build the generic form instead. Every other case is
    the generic form, whose registers the domain's enable governs (``enable`` is not used)."""
    _check_family(family)
    if stages not in PRODUCT_STAGES:
        raise ValueError(f"a product takes one of {PRODUCT_STAGES} cycles, not {stages!r}")
    exact = signed(len(a) + len(b))
    if family == "ecp5" and stages == 3:
        return _mult18x18d(m, a, b, name, exact if shape is None else shape, enable)
    out = Signal(exact if shape is None else shape, name=name, reset_less=True)
    if stages == 1:
        m.d.sync += out.eq(a * b)
        return out
    ra, rb = Signal(a.shape(), name=f"{name}_a", reset_less=True), Signal(b.shape(), name=f"{name}_b", reset_less=True)
    piped = Signal(exact, name=f"{name}_pipe", reset_less=True)
    m.d.sync += [ra.eq(a), rb.eq(b), piped.eq(ra * rb), out.eq(piped)]
    return out


def fits_mult18x18d(a, b):
    """Whether the product of ``a`` and ``b`` fits a MULT18X18D: each operand 18 bits if signed, 17 if
    unsigned (:func:`product` in the ``"ecp5"`` form refuses any other)."""
    return all(len(x) <= _room(x) for x in (Value.cast(a), Value.cast(b)))


def _room(operand):
    """The widest operand of ``operand``'s signedness a MULT18X18D input takes (signed: 18 bits; unsigned: 17)."""
    return MULT18X18D_WIDTH - (0 if operand.shape().signed else 1)


def _mult18x18d(m, a, b, name, shape, enable):
    """The 3-stage product as an ECP5 MULT18X18D (REG_INPUTA/B, REG_PIPELINE and REG_OUTPUT on CLK0, CE0 and
    RST0; RST0 low: no reset). The operands are extended to 18 bits by their own signedness and multiplied
    as signed (SIGNEDA = SIGNEDB = 1); the low len(a) + len(b) bits of the 36-bit P are the exact product,
    as the generic twin's product register holds it, and are sign-extended to ``shape``."""
    for what, operand in (("first", a), ("second", b)):
        room = _room(operand)
        if len(operand) > room:
            kind = "signed" if operand.shape().signed else "unsigned"
            raise ConfigError(f"the {what} operand of the product {name!r} is {len(operand)} bits ({kind}); a MULT18X18D "
                              f"takes at most {room}: use the generic form (family 'generic') for operands this wide")
    wa, wb = Signal(signed(MULT18X18D_WIDTH), name=f"{name}_A"), Signal(signed(MULT18X18D_WIDTH), name=f"{name}_B")
    p = Signal(2 * MULT18X18D_WIDTH, name=f"{name}_P")
    out = Signal(shape, name=name)
    m.d.comb += [wa.eq(a), wb.eq(b), out.eq(p[:len(a) + len(b)].as_signed())]
    registers = {f"p_REG_{stage}_{what}": value for stage in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")
                 for what, value in (("CLK", "CLK0"), ("CE", "CE0"), ("RST", "RST0"))}
    m.submodules[f"{name}_mult"] = Instance(
        "MULT18X18D",
        **registers,
        i_CLK0=ClockSignal("sync"), i_CE0=Const(1) if enable is None else enable, i_RST0=Const(0),
        i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        **{f"i_A{i}": wa[i] for i in range(MULT18X18D_WIDTH)},
        **{f"i_B{i}": wb[i] for i in range(MULT18X18D_WIDTH)},
        **{f"i_C{i}": Const(0) for i in range(MULT18X18D_WIDTH)},
        **{f"o_P{i}": p[i] for i in range(2 * MULT18X18D_WIDTH)},
    )
    return out


def copy(m, value, name, *, family="generic", enable=None, reset=False):
    """``value`` one cycle later, in a register that synthesis keeps as built: for copies of one value that
    drive parts of the chip far apart (a registered fan-out), each placed near its own loads.

    Yosys merges flip-flops of its own whose inputs are equal (``opt_merge``; the ``keep`` of their signals
    does not stop it), so copies written as ordinary registers end as one. On the ECP5 each bit is therefore
    a Lattice flip-flop instance (``FD1P3AX``; ``FD1P3IX``, synchronous clear over the clock enable, with
    ``reset``), which it does not merge; its clock enable is ``enable``, the enable of the ``sync`` domain (1
    when None; as for :func:`product`, an ``EnableInserter`` does not reach an instance). The generic form
    (every other family) is a ``sync`` register, reset to 0 with ``reset``, else without reset. (The instance's
    clear is the domain's reset signal: a ``ResetInserter`` does not reach it either.)"""
    _check_family(family)
    out = Signal(value.shape(), name=name, reset_less=not reset)
    if family != "ecp5":
        m.d.sync += out.eq(value)
        return out
    src, dst = Value.cast(value), Value.cast(out)
    clear = {"i_CD": ResetSignal("sync")} if reset else {}
    for i in range(len(dst)):
        m.submodules[f"{name}_ff{i}"] = Instance(
            "FD1P3IX" if reset else "FD1P3AX", i_D=src[i], i_SP=Const(1) if enable is None else enable,
            i_CK=ClockSignal("sync"), o_Q=dst[i], **clear)
    return out


def broadcast(m, value, name, *, family="generic"):
    """The one-bit ``value`` as a net that reaches every part of the chip at once: on the ECP5 through a
    ``DCCA`` onto a global network (nextpnr routes a global that drives logic to clock enables and LUT inputs
    alike, about 1.8 ns to any of them instead of several nanoseconds of fabric for a net with ten thousand
    loads); elsewhere ``value`` itself. For the engine's clock enable (hw.engine)."""
    _check_family(family)
    if family != "ecp5":
        return value
    out = Signal(name=name)
    m.submodules[f"{name}_dcca"] = Instance("DCCA", i_CLKI=value, i_CE=Const(1, 1), o_CLKO=out)
    return out

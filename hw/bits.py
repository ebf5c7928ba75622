"""Small bit-level helpers that keep the exported Verilog free of Verilator's width warnings, and the
index counter every walk of the engine uses.

Amaranth and Yosys print constants at their smallest width, and Verilator
warns when an operator widens a narrower operand. So comparisons with a
constant are written as bit tests (:func:`equals`), and memory addresses are
concatenations of indices (:func:`address`) instead of sums of products.

The engine walks its memories in nested orders (chunk c within batch row b,
unit j then batch b within j, ...): :func:`count` advances such indices like
the digits of an odometer.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, Value

__all__ = ["equals", "address", "depth", "index_bits", "advance", "count", "in_row", "delayed"]


def index_bits(n):
    """Bits of an index in range(n) (0 for n == 1)."""
    return (n - 1).bit_length()


def equals(value, const):
    """``value == const`` from the bits of ``value`` alone."""
    value = Value.cast(value)
    if const < 0 or const >= 1 << len(value):
        return Const(0, 1)
    if len(value) == 0:
        return Const(1, 1)
    return Cat(value[i] if (const >> i) & 1 else ~value[i] for i in range(len(value))).all()


def address(*fields):
    """The concatenation of ``(value, n)`` fields, lowest first; each takes ``index_bits(n)`` bits.

    Memories indexed this way hold ``2**index_bits(n)`` slots per field except the
    last, which is what keeps every address free of multipliers and adders.
    """
    parts = [Value.cast(v)[:index_bits(n)] for v, n in fields if index_bits(n)]
    return Cat(*parts) if parts else Const(0, 1)


def depth(*sizes):
    """Depth of a memory addressed by :func:`address` over fields of these sizes."""
    d = sizes[-1]
    for n in sizes[:-1]:
        d <<= index_bits(n)
    return max(d, 2)   # (a one-word memory would have a zero-width address)


def advance(enable, *digits):
    """The values the digits of :func:`count` take after this cycle, and its carries, as Values (nothing is
    assigned): for logic that must know where the walk will be, such as a flag registered beside it."""
    nexts, carries, carry = [], [], enable
    for register, last in digits:
        at_last = equals(register, last) if isinstance(last, int) else register == last
        nexts.append(Mux(carry, Mux(at_last, 0, (register + 1)[:len(register)]), register))
        carry = carry & at_last
        carries.append(carry)
    return nexts, carries


def count(m, enable, *digits):
    """Advance index registers like the digits of an odometer, lowest first.

    In a cycle with ``enable`` the first digit counts up; a digit at its last value goes back to 0
    instead and carries into the next. Each digit is ``(register, last)``: ``last`` an int or a Value
    (a limit set at run time).

    Returns the carries: ``carries[i]`` is high in a cycle in which digits 0 .. i all wrap, so
    ``carries[-1]`` marks the cycle that ends the whole walk.
    """
    nexts, carries = advance(enable, *digits)
    for (register, _), value, carry_in in zip(digits, nexts, [enable, *carries]):
        with m.If(carry_in):          # (a digit is assigned only when it moves: an assignment before stands)
            m.d.sync += register.eq(value)
    return carries


def in_row(value, lane, chunk, columns, lanes):
    """``value``, the word of lane ``lane`` in chunk ``chunk`` (a Value) of a row of ``columns`` columns in
    chunks of ``lanes``: itself, or 0 where the column lies beyond the row (in the last chunk)."""
    last = -(-columns // lanes) - 1
    if lane < columns - last * lanes:
        return value
    return Mux(equals(chunk, last), 0, value)


def delayed(m, value, cycles, name, reset_less=False):
    """``value`` through a chain of ``cycles`` registers: the list [value, 1 cycle later, ..., ``cycles`` later]
    (a value of a data layout stays a view of it); ``reset_less`` for data that nothing reads after a reset."""
    chain = [value]
    for i in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{i + 1}", reset_less=reset_less)
        m.d.sync += reg.eq(chain[-1])
        chain.append(reg)
    return chain

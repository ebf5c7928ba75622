"""Fixed-point arithmetic in Amaranth, bit-identical to golden_model.fixedpoint.

Each function builds an expression from Amaranth values holding the integers
of golden_model.fixedpoint (two's complement, ``frac`` fractional bits) and
applies the same rounding and overflow rule, so that hardware and model agree
bit for bit:

- :func:`round_shift` -- ``v * 2**-shift`` rounded by truncate, half-up or half-even;
- :func:`fit` -- the overflow rule of a QFormat (saturate or wrap) and whether it fired;
- :func:`mul` and :func:`add` -- exact product or sum, then round_shift and fit.

Stochastic rounding needs a generator per rounding site and is not provided.
"""

from amaranth.hdl import Const, Mux, signed, unsigned

from golden_model.fixedpoint import Overflow, QFormat, Rounding, _enum

__all__ = ["round_shift", "fit", "mul", "add", "shape_of"]


def shape_of(fmt):
    """The Amaranth shape of a QFormat's integers."""
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def round_shift(v, shift, rounding=Rounding.HALF_EVEN):
    """``v * 2**-shift`` rounded to an integer, as golden_model.fixedpoint.round_shift."""
    rounding = _enum(Rounding, rounding, "rounding")
    if rounding == Rounding.STOCHASTIC:
        raise ValueError("stochastic rounding has no hardware implementation here")
    if shift <= 0:
        return v << -shift
    if rounding == Rounding.TRUNCATE:
        return v >> shift
    if rounding == Rounding.HALF_UP:
        return (v + Const(1 << (shift - 1), v.shape())) >> shift
    q = v >> shift
    rem = v.as_unsigned()[:shift]
    half = Const(1 << (shift - 1), shift)
    up = (rem > half) | ((rem == half) & q[0])
    # operands of equal width keep the exported Verilog free of width warnings
    return q + Mux(up, Const(1, q.shape()), Const(0, q.shape()))


def fit(v, fmt, overflow=Overflow.SATURATE):
    """(value in ``fmt``'s shape, overflowed) for the integer expression ``v``."""
    overflow = _enum(Overflow, overflow, "overflow")
    lo, hi = fmt.min_int, fmt.max_int
    over = (v < lo) | (v > hi)
    shape = shape_of(fmt)
    body = v[:fmt.width].as_signed() if fmt.signed else v[:fmt.width]  # the low bits, read in the format's sign
    if overflow == Overflow.SATURATE:
        value = Mux(v > hi, Const(hi, shape), Mux(v < lo, Const(lo, shape), body))
    else:
        value = body
    return value, over


def mul(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE):
    """Exact ``a * b`` (``fa`` + ``fb`` fractional bits) rounded to ``out``; (value, overflowed)."""
    return fit(round_shift(a * b, fa + fb - out.frac, rounding), out, overflow)


def add(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE):
    """Exact ``a + b`` aligned to the finer of ``fa`` and ``fb``, rounded to ``out``; (value, overflowed)."""
    f = max(fa, fb)
    s = round_shift(a, fa - f) + round_shift(b, fb - f)
    return fit(round_shift(s, f - out.frac, rounding), out, overflow)

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

from amaranth.hdl import Const, Mux, Value, signed, unsigned

from golden_model.fixedpoint import Overflow, Rounding, parse_enum

__all__ = ["round_shift", "fit", "mul", "add", "shape_of"]


def shape_of(fmt):
    """The Amaranth shape of a QFormat's integers."""
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def round_shift(v, shift, rounding=Rounding.HALF_EVEN):
    """``v * 2**-shift`` rounded to an integer, as golden_model.fixedpoint.round_shift."""
    rounding = parse_enum(Rounding, rounding, "rounding")
    if rounding == Rounding.STOCHASTIC:
        raise ValueError("stochastic rounding has no hardware implementation here")
    if shift <= 0:
        return v << -shift
    if rounding == Rounding.TRUNCATE:
        return v >> shift
    q = v >> shift
    if rounding == Rounding.HALF_UP:
        up = v[shift - 1]  # (v + 2**(shift-1)) >> shift == q + the bit just below the cut
    else:
        rem = v.as_unsigned()[:shift]
        half = Const(1 << (shift - 1), shift)
        up = (rem > half) | ((rem == half) & q[0])
    # operands of equal width keep the exported Verilog free of width warnings
    return q + Mux(up, Const(1, q.shape()), Const(0, q.shape()))


def fit(v, fmt, overflow=Overflow.SATURATE):
    """(value in ``fmt``'s shape, overflowed) for the integer expression ``v``."""
    overflow = parse_enum(Overflow, overflow, "overflow")
    lo, hi = fmt.min_int, fmt.max_int
    v = Value.cast(v)
    over, negative = _out_of_range(v, fmt)
    shape = shape_of(fmt)
    body = v[:fmt.width].as_signed() if fmt.signed else v[:fmt.width]  # the low bits, read in the format's sign
    if overflow == Overflow.SATURATE:
        value = Mux(over, Mux(negative, Const(lo, shape), Const(hi, shape)), body)
    else:
        value = body
    return value, over


def _out_of_range(v, fmt):
    """(whether ``v`` lies outside ``fmt``, whether ``v`` is negative), from its bits alone.

    A value fits a signed w-bit format when its bits from w-1 up are all equal (a sign
    extension), an unsigned one when it is not negative and its bits from w up are zero.
    Bit tests instead of comparisons with constants: cheaper, and the exported Verilog
    has no operands of unequal width.
    """
    n, w, signed_v = len(v), fmt.width, v.shape().signed
    negative = v[n - 1] if signed_v else Const(0, 1)
    if fmt.signed:
        if n <= w - (0 if signed_v else 1):
            return Const(0, 1), negative
        top = v[w - 1:]
        return ~(top.all() | ~top.any()), negative
    high = v[w:n - 1] if signed_v else v[w:]
    return negative | (high.any() if len(high) else Const(0, 1)), negative


def mul(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE):
    """Exact ``a * b`` (``fa`` + ``fb`` fractional bits) rounded to ``out``; (value, overflowed)."""
    return fit(round_shift(a * b, fa + fb - out.frac, rounding), out, overflow)


def add(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE):
    """Exact ``a + b`` aligned to the finer of ``fa`` and ``fb``, rounded to ``out``; (value, overflowed)."""
    f = max(fa, fb)
    s = round_shift(a, fa - f) + round_shift(b, fb - f)
    return fit(round_shift(s, f - out.frac, rounding), out, overflow)

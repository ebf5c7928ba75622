"""Fixed-point arithmetic shared by the engine model and the hardware.

A :class:`QFormat` ``(width, frac, signed)`` holds the integers
``[-2**(width-1), 2**(width-1) - 1]`` (signed) or ``[0, 2**width - 1]``
(unsigned), each standing for ``integer * 2**-frac``. ``frac`` may be negative
or larger than ``width`` (a power-of-two scale).

Values are integer arrays: int64 while every intermediate fits in 62 bits,
NumPy object arrays of Python ints beyond that, so results are exact at any
width. Floats appear only in :meth:`QFormat.quantize` and
:meth:`QFormat.dequantize`.

Rounding (when a value loses fractional bits):

- ``truncate``: towards minus infinity (dropping two's-complement bits);
- ``half-up``: to nearest, ties towards plus infinity (add half, truncate);
- ``half-even``: to nearest, ties to the even integer;
- ``stochastic``: up with probability equal to the dropped fraction, from
  a :class:`Xorshift32` generator that hardware can reproduce bit for bit
  (``(v + r) >> s`` with ``r`` the top ``s`` bits of the generator's output).

Overflow (when a value does not fit the format): ``saturate`` clamps to the
nearest representable value, ``wrap`` keeps the low ``width`` bits (two's
complement). Either way the operation reports whether anything overflowed,
so a sticky flag can be raised.

Multiplication is exact (the product of formats with ``fa`` and ``fb``
fractional bits has ``fa + fb``); :func:`mul` then rounds the product to the
output format (the named rounding point) and applies the overflow rule.
:func:`mac` rounds the product to the accumulator's fractional bits
(exact when the accumulator has at least ``fa + fb``), adds, and applies
the overflow rule to the sum. :func:`accumulator_width` gives the width a
signed accumulator needs to hold any sum of ``n`` products exactly.
"""

import enum
import math
import numbers
from dataclasses import dataclass

import numpy as np

from .checks import check_size
from .errors import ConfigError

__all__ = ["Rounding", "Overflow", "parse_enum", "QFormat", "Xorshift32", "round_shift", "fit", "product", "mul", "mac",
           "accumulator_width", "add"]

#: Largest magnitude (bits, excluding sign) kept in int64 arrays; beyond it, Python ints.
_SAFE_BITS = 62


class Rounding(str, enum.Enum):
    TRUNCATE = "truncate"
    HALF_UP = "half-up"
    HALF_EVEN = "half-even"
    STOCHASTIC = "stochastic"


class Overflow(str, enum.Enum):
    WRAP = "wrap"
    SATURATE = "saturate"


def parse_enum(cls, value, what, choices=None):
    """``value`` as a member of the enum ``cls`` (a member, or its value like "half-even"), else
    ConfigError naming ``what`` and the choices (``choices``: the values to offer; all by default)."""
    try:
        return cls(value)
    except ValueError:
        offered = choices or [m.value for m in cls]
        raise ConfigError(f"{what} must be one of {', '.join(offered)}, not {value!r}") from None


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format: ``width`` bits, ``frac`` of them fractional, two's complement if ``signed``.

    ``QFormat(16, 14)`` holds [-2, 2 - 2**-14] in steps of 2**-14 ("Q2.14").
    """

    width: int
    frac: int
    signed: bool = True

    def __post_init__(self):
        if not _is_int(self.width) or self.width < (2 if self.signed else 1) or self.width > 512:
            low = 2 if self.signed else 1
            raise ConfigError(f"fixed-point width must be an integer in [{low}, 512], not {self.width!r}")
        if not _is_int(self.frac) or abs(self.frac) > 512:
            raise ConfigError(f"fixed-point frac must be an integer in [-512, 512], not {self.frac!r}")
        if not isinstance(self.signed, bool):
            raise ConfigError(f"fixed-point signed must be True or False, not {self.signed!r}")

    # -- range ---------------------------------------------------------------

    @property
    def min_int(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self):
        return (1 << (self.width - 1 if self.signed else self.width)) - 1

    @property
    def step(self):
        """The value of one least significant bit, 2**-frac."""
        return math.ldexp(1.0, -self.frac)

    @property
    def min(self):
        return math.ldexp(self.min_int, -self.frac)

    @property
    def max(self):
        return math.ldexp(self.max_int, -self.frac)

    def __str__(self):
        return f"{'Q' if self.signed else 'UQ'}{self.width - self.frac}.{self.frac}"

    @classmethod
    def parse(cls, text):
        """Parse ``"Q2.14"`` (signed) or ``"UQ1.15"`` (unsigned): integer bits (with sign) '.' fraction bits."""
        t = str(text).strip()
        signed = not t.upper().startswith("UQ")
        body = t[2:] if not signed else t[1:] if t[:1].upper() == "Q" else None
        try:
            ib, fb = (int(p) for p in body.split("."))
        except (AttributeError, ValueError):
            raise ConfigError(f"fixed-point format must look like Q2.14 or UQ1.15, not {text!r}") from None
        return cls(ib + fb, fb, signed)

    # -- conversions ---------------------------------------------------------

    def quantize(self, x, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE, rng=None):
        """Round floats ``x`` to this format; return (integers, overflowed).

        Exact: scaling by 2**frac is exact in binary floating point (up to an underflow, which keeps
        the rounding decision), and the rounding decision compares the exact fractional part. NaN is
        refused.
        """
        rounding = parse_enum(Rounding, rounding, "rounding")
        x = np.asarray(x, dtype=np.float64)
        if np.isnan(x).any():
            raise ValueError("cannot quantize NaN")
        scaled = np.ldexp(x, self.frac)
        # A negative value can underflow to -0.0 when frac < 0; its floor is -1, not 0. The smallest
        # negative subnormal keeps that, and rounds to 0 under every other rule, as the exact value does.
        scaled = np.where((scaled == 0) & (x < 0), -np.nextafter(0.0, 1.0), scaled)
        if parse_enum(Overflow, overflow, "overflow") == Overflow.SATURATE:
            lim = math.ldexp(1.0, self.width + 1)  # beyond the range: saturates all the same
            scaled = np.clip(scaled, -lim, lim)
        elif not np.isfinite(scaled).all():
            raise ValueError("cannot wrap an infinite value into a fixed-point format")
        if (np.abs(scaled) >= math.ldexp(1.0, _SAFE_BITS)).any():  # exact Python ints
            fl = np.array([math.floor(v) for v in scaled.ravel()], dtype=object).reshape(scaled.shape)
            frac = scaled - np.floor(scaled)
        else:
            flf = np.floor(scaled)
            frac = scaled - flf  # exact
            fl = flf.astype(np.int64)
        if rounding == Rounding.TRUNCATE:
            up = np.zeros(frac.shape, bool)
        elif rounding == Rounding.HALF_UP:
            up = frac >= 0.5
        elif rounding == Rounding.HALF_EVEN:
            up = (frac > 0.5) | ((frac == 0.5) & (np.asarray(fl % 2) == 1))
        else:
            gen = rng if rng is not None else Xorshift32(frac.shape)
            r = gen.bits(32, frac.shape)
            # up iff the first 32 dropped bits plus r carry into the integer part
            up = (np.floor(np.ldexp(frac, 32)).astype(np.int64) + r) >= (1 << 32)
        return fit(fl + up.astype(np.int64), self, overflow)

    def dequantize(self, q):
        """The float values of integers ``q`` in this format (exact while they fit in 53 bits)."""
        q = np.asarray(q)
        if q.dtype == object:
            return np.array([math.ldexp(int(v), -self.frac) for v in q.ravel()]).reshape(q.shape)
        return np.ldexp(q.astype(np.float64), -self.frac)

    def contains(self, q):
        """Whether every integer in ``q`` is representable."""
        q = np.asarray(q)
        return bool(q.size == 0 or (q.min() >= self.min_int and q.max() <= self.max_int))


class Xorshift32:
    """Marsaglia's xorshift32 (13, 17, 5), one independent generator per array element.

    Hardware gets the same numbers from one 32-bit register and three XORs per
    element generator: state ``s`` steps to ``s ^= s << 13; s ^= s >> 17;
    s ^= s << 5`` (32-bit). Element ``k`` (row-major) starts from
    ``(seed + k) mod 2**32``, replaced by 0x9E3779B9 if that is zero, then 16
    warm-up steps. Neighbouring elements' streams are correlated (xorshift is
    linear); good enough for rounding, not for statistics.
    """

    def __init__(self, shape, seed=1):
        n = int(np.prod(shape)) if shape != () else 1
        s = (np.arange(n, dtype=np.uint64) + np.uint64(seed)) & np.uint64(0xFFFFFFFF)
        s[s == 0] = np.uint64(0x9E3779B9)
        self.shape = tuple(shape)
        self.state = s.reshape(self.shape) if self.shape else s.reshape(())
        for _ in range(16):
            self._step()

    def _step(self):
        m = np.uint64(0xFFFFFFFF)
        s = self.state
        s = (s ^ (s << np.uint64(13))) & m
        s = s ^ (s >> np.uint64(17))
        s = (s ^ (s << np.uint64(5))) & m
        self.state = s
        return s

    def bits(self, n, shape=None):
        """Step every generator once; return the top ``n`` (1..32) bits of each as int64."""
        if shape is not None and tuple(shape) != self.shape:
            raise ValueError(f"generator shape {self.shape} does not match {tuple(shape)}")
        if not 1 <= n <= 32:
            raise ValueError(f"bits per draw must be in [1, 32], not {n}")
        return (self._step() >> np.uint64(32 - n)).astype(np.int64)


def _ints(v):
    """``v`` as an integer array (int64, or object when it holds Python ints)."""
    a = np.asarray(v)
    if a.dtype == object or a.dtype.kind in "iu":
        return a.astype(np.int64) if a.dtype.kind == "u" else a
    raise TypeError(f"fixed-point values must be integers, not dtype {a.dtype}")


def _bits_needed(a):
    if a.size == 0:
        return 0
    return max(int(abs(int(a.min()))).bit_length(), int(abs(int(a.max()))).bit_length())


def _widen(a, extra_bits):
    """Object array if ``a`` with ``extra_bits`` more might overflow int64."""
    if a.dtype != object and _bits_needed(a) + extra_bits > _SAFE_BITS:
        return a.astype(object)
    return a


def round_shift(v, shift, rounding=Rounding.HALF_EVEN, rng=None):
    """Exactly ``v * 2**-shift`` rounded to an integer (``shift`` <= 0 multiplies exactly)."""
    rounding = parse_enum(Rounding, rounding, "rounding")
    v = _ints(v)
    if shift <= 0:
        return _widen(v, -shift) << -shift
    v = v.astype(object) if shift >= _SAFE_BITS else _widen(v, 1)
    if rounding == Rounding.TRUNCATE:
        return v >> shift
    if rounding == Rounding.HALF_UP:
        return (v + (1 << (shift - 1))) >> shift
    if rounding == Rounding.HALF_EVEN:
        q = v >> shift
        rem = v - (q << shift)
        half = 1 << (shift - 1)
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
        return q + np.asarray(up, dtype=np.int64)
    gen = rng if rng is not None else Xorshift32(np.shape(v))
    if shift <= 32:
        r = gen.bits(shift, np.shape(v))
    else:  # the top 32 random bits above zeros: rounds up only when the dropped part is large
        r = _widen(gen.bits(32, np.shape(v)), shift - 32) << (shift - 32)
    return (v + r) >> shift


def fit(v, fmt, overflow=Overflow.SATURATE):
    """Apply the overflow rule of ``fmt`` to integers ``v``; return (values, overflowed)."""
    overflow = parse_enum(Overflow, overflow, "overflow")
    v = _ints(v)
    lo, hi = fmt.min_int, fmt.max_int
    if v.size == 0:
        return v, False
    over = bool(v.min() < lo or v.max() > hi)
    if not over:
        out = v
    elif overflow == Overflow.SATURATE:
        out = np.clip(v, lo, hi) if v.dtype != object else np.array(
            [min(max(int(x), lo), hi) for x in v.ravel()], dtype=object).reshape(v.shape)
    else:
        mod = 1 << fmt.width
        if v.dtype != object and fmt.width < 63:
            out = (v - lo) % mod + lo
        else:
            out = np.array([(int(x) - lo) % mod + lo for x in np.ravel(v)], dtype=object).reshape(v.shape)
    if fmt.width <= _SAFE_BITS and out.dtype == object:
        out = out.astype(np.int64)
    return out, over


def product(a, b):
    """The exact elementwise product of integer arrays (Python ints where int64 could overflow)."""
    a, b = _ints(a), _ints(b)
    if a.dtype != object and b.dtype != object and _bits_needed(a) + _bits_needed(b) > _SAFE_BITS:
        a = a.astype(object)
    return a * b


def mul(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE, rng=None):
    """Exact product of ``a`` (``fa`` fractional bits) and ``b`` (``fb``), rounded to ``out``.

    Returns (values, overflowed).
    """
    return fit(round_shift(product(a, b), fa + fb - out.frac, rounding, rng), out, overflow)


def add(a, fa, b, fb, out, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE, rng=None):
    """Exact sum of ``a`` (``fa`` fractional bits) and ``b`` (``fb``), rounded to ``out``; (values, overflowed)."""
    f = max(fa, fb)
    s = round_shift(_ints(a), fa - f) + round_shift(_ints(b), fb - f)
    return fit(round_shift(s, f - out.frac, rounding, rng), out, overflow)


def mac(acc, acc_fmt, a, fa, b, fb, rounding=Rounding.HALF_EVEN, overflow=Overflow.SATURATE, rng=None):
    """``acc + a*b``: the product rounded to ``acc_fmt.frac`` (the rounding point), then added.

    Exact when ``acc_fmt.frac >= fa + fb`` and the sum fits. Returns (values, overflowed).
    """
    p = round_shift(product(a, b), fa + fb - acc_fmt.frac, rounding, rng)
    acc = _ints(acc)
    if acc.dtype != object and p.dtype != object and max(_bits_needed(acc), _bits_needed(p)) + 1 > _SAFE_BITS:
        acc = acc.astype(object)
    return fit(acc + p, acc_fmt, overflow)


def accumulator_width(a_fmt, b_fmt, n_terms):
    """Smallest signed width that holds any sum of ``n_terms`` products of ``a_fmt`` and ``b_fmt``
    values exactly (with ``a_fmt.frac + b_fmt.frac`` fractional bits), starting from zero."""
    check_size("n_terms", n_terms)
    corners = [x * y for x in (a_fmt.min_int, a_fmt.max_int) for y in (b_fmt.min_int, b_fmt.max_int)]
    lo, hi = n_terms * min(corners), n_terms * max(corners)
    w = 2
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w

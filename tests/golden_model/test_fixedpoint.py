"""Fixed-point operations equal exact rational arithmetic followed by the stated rounding and overflow rule."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden_model import ConfigError
from golden_model.fixedpoint import (Overflow, QFormat, Rounding, Xorshift32, accumulator_width, add, fit, mac,
                                     mul, round_shift)

DETERMINISTIC = [Rounding.TRUNCATE, Rounding.HALF_UP, Rounding.HALF_EVEN]


def round_rational(q, rounding):
    """The reference: a Fraction rounded to an integer by the named rule."""
    fl = math.floor(q)
    rem = q - fl
    if rounding == Rounding.TRUNCATE:
        return fl
    if rounding == Rounding.HALF_UP:
        return fl + (rem >= Fraction(1, 2))
    return fl + (rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1))


def expected(exact, fmt, rounding, overflow):
    """The reference for one value: the exact rational ``exact`` in ``fmt``'s units, rounded, then overflowed."""
    return overflow_rational(round_rational(exact * Fraction(2) ** fmt.frac, rounding), fmt, overflow)


def operands(data, fa, fb):
    """Two equally long lists of integers of ``fa`` and ``fb``, extremes included."""
    a = data.draw(st.lists(ints_of(fa, 0), min_size=1, max_size=6))
    return a, data.draw(st.lists(ints_of(fb, 0), min_size=len(a), max_size=len(a)))


def overflow_rational(v, fmt, overflow):
    lo, hi = fmt.min_int, fmt.max_int
    if lo <= v <= hi:
        return v, False
    if overflow == Overflow.SATURATE:
        return min(max(v, lo), hi), True
    return (v - lo) % (1 << fmt.width) + lo, True


formats = st.builds(lambda w, f, s: QFormat(w, f, s), st.integers(2, 70), st.integers(-8, 80), st.booleans())
small_formats = st.builds(lambda w, f, s: QFormat(w, f, s), st.integers(2, 24), st.integers(-4, 24), st.booleans())


def ints_of(fmt, slack=4):
    """Integers in and somewhat beyond ``fmt``'s range, extremes included."""
    lo, hi = fmt.min_int - (1 << slack), fmt.max_int + (1 << slack)
    return st.one_of(st.integers(lo, hi), st.sampled_from([fmt.min_int, fmt.max_int, 0, lo, hi]))


@settings(max_examples=300, deadline=None)
@given(st.data(), formats, st.sampled_from(DETERMINISTIC), st.sampled_from(list(Overflow)))
def test_quantize_is_exact(data, fmt, rounding, overflow):
    xs = data.draw(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64,
                                      min_value=-2.0 ** 60, max_value=2.0 ** 60), min_size=1, max_size=8))
    xs += [fmt.min, fmt.max, fmt.max + fmt.step / 2, fmt.min - fmt.step / 2, fmt.step / 2, -fmt.step / 2]
    q, flag = fmt.quantize(np.array(xs), rounding, overflow)
    flags = []
    for x, got in zip(xs, q):
        want, f = overflow_rational(round_rational(Fraction(x) * Fraction(2) ** fmt.frac, rounding), fmt, overflow)
        assert int(got) == want, (x, fmt, rounding, overflow)
        flags.append(f)
    assert flag == any(flags)
    if fmt.width <= 53:  # dequantize is exact while the integers fit a double's mantissa
        assert [Fraction(float(d)) for d in fmt.dequantize(q)] == [Fraction(int(v)) / Fraction(2) ** fmt.frac
                                                                    for v in q]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(1 << 80), 1 << 80), min_size=1, max_size=8), st.integers(-20, 70),
       st.sampled_from(DETERMINISTIC))
def test_round_shift_is_exact(vs, shift, rounding):
    arr = np.array(vs, dtype=object) if max(abs(v) for v in vs) >= 1 << 62 else np.array(vs, dtype=np.int64)
    got = round_shift(arr, shift, rounding)
    for v, g in zip(vs, got):
        assert int(g) == round_rational(Fraction(v, 1) / Fraction(2) ** shift, rounding)


@settings(max_examples=300, deadline=None)
@given(st.data(), small_formats, small_formats, formats, st.sampled_from(DETERMINISTIC),
       st.sampled_from(list(Overflow)))
def test_mul_is_exact(data, fa, fb, out, rounding, overflow):
    a, b = operands(data, fa, fb)
    got, flag = mul(np.array(a), fa.frac, np.array(b), fb.frac, out, rounding, overflow)
    want = [expected(Fraction(x * y) / Fraction(2) ** (fa.frac + fb.frac), out, rounding, overflow)
            for x, y in zip(a, b)]
    assert [int(g) for g in got] == [w for w, _ in want]
    assert flag == any(f for _, f in want)


@settings(max_examples=300, deadline=None)
@given(st.data(), small_formats, small_formats, formats, st.sampled_from(DETERMINISTIC),
       st.sampled_from(list(Overflow)))
def test_mac_and_add_are_exact(data, fa, fb, acc_fmt, rounding, overflow):
    a, b = operands(data, fa, fb)
    acc = data.draw(st.lists(ints_of(acc_fmt, 0), min_size=len(a), max_size=len(a)))
    acc_arr = np.array(acc, dtype=object if acc_fmt.width > 62 else np.int64)
    got, flag = mac(acc_arr, acc_fmt, np.array(a), fa.frac, np.array(b), fb.frac, rounding, overflow)
    flags = []
    for s, x, y, g in zip(acc, a, b, got):
        p = round_rational(Fraction(x * y) / Fraction(2) ** (fa.frac + fb.frac - acc_fmt.frac), rounding)
        want, f = overflow_rational(s + p, acc_fmt, overflow)
        assert int(g) == want
        flags.append(f)
    assert flag == any(flags)
    got, flag = add(np.array(a), fa.frac, np.array(b), fb.frac, acc_fmt, rounding, overflow)
    want = [expected(Fraction(x) / Fraction(2) ** fa.frac + Fraction(y) / Fraction(2) ** fb.frac, acc_fmt, rounding,
                     overflow) for x, y in zip(a, b)]
    assert [int(g) for g in got] == [w for w, _ in want]
    assert flag == any(f for _, f in want)


@settings(max_examples=200, deadline=None)
@given(small_formats, small_formats, st.integers(1, 5000))
def test_accumulator_width_is_tight(fa, fb, n):
    w = accumulator_width(fa, fb, n)
    acc = QFormat(w, fa.frac + fb.frac)
    corners = [x * y for x in (fa.min_int, fa.max_int) for y in (fb.min_int, fb.max_int)]
    assert acc.contains(np.array([n * min(corners), n * max(corners)], dtype=object))
    if w > 2:
        smaller = QFormat(w - 1, acc.frac)
        assert not smaller.contains(np.array([n * min(corners), n * max(corners)], dtype=object))


def test_extreme_values():
    f = QFormat(8, 7)
    assert (f.min_int, f.max_int, f.min, f.max) == (-128, 127, -1.0, 127 / 128)
    q, flag = f.quantize([1.0, -1.0, -1.01, np.inf, -np.inf], overflow="saturate")
    assert q.tolist() == [127, -128, -128, 127, -128] and flag
    q, flag = f.quantize([1.0], overflow="wrap")
    assert q.tolist() == [-128] and flag
    with pytest.raises(ValueError, match="NaN"):
        f.quantize([np.nan])
    u = QFormat(8, 0, signed=False)
    assert fit(np.array([-1, 256, 255]), u, "wrap")[0].tolist() == [255, 0, 255]
    assert fit(np.array([-1, 256, 255]), u, "saturate")[0].tolist() == [0, 255, 255]
    # the most negative product of a 16-bit signed format overflows one bit more than its width
    big = QFormat(16, 15)
    p, flag = mul(np.array([big.min_int]), 15, np.array([big.min_int]), 15, big, "truncate", "saturate")
    assert p.tolist() == [big.max_int] and flag


def test_wide_accumulators_stay_exact():
    acc_fmt = QFormat(100, 60)
    acc = np.array([(1 << 98) - 5], dtype=object)
    got, flag = mac(acc, acc_fmt, np.array([1 << 20]), 10, np.array([1 << 20]), 0, "truncate", "saturate")
    assert not flag and int(got[0]) == (1 << 98) - 5 + (1 << 90)


def test_stochastic_rounding_is_reproducible_and_unbiased():
    v = np.full(20000, 3)  # 3 / 4 = 0.75: rounds up three times in four
    r1 = round_shift(v, 2, "stochastic", Xorshift32(v.shape, seed=7))
    r2 = round_shift(v, 2, "stochastic", Xorshift32(v.shape, seed=7))
    np.testing.assert_array_equal(r1, r2)
    assert set(np.unique(r1)) == {0, 1}
    assert abs(r1.mean() - 0.75) < 0.02
    q, _ = QFormat(8, 0).quantize(np.full(20000, 0.25), "stochastic", rng=Xorshift32((20000,), seed=3))
    assert abs(q.mean() - 0.25) < 0.02
    # the generator is plain xorshift32: check one step against scalar Python
    g = Xorshift32((1,), seed=5)
    s = int(g.state[0])
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    assert g.bits(32)[0] == s


@pytest.mark.parametrize("args, words", [
    ((1, 0), "width must be an integer in [2, 512]"), ((0, 0, False), "width must be an integer in [1, 512]"),
    ((16.0, 4), "width must be"), ((16, 1000), "frac must be"), ((16, 4, 1), "signed must be True or False"),
])
def test_invalid_formats(args, words):
    with pytest.raises(ConfigError) as e:
        QFormat(*args)
    assert words in str(e.value)


def test_parse_and_str():
    assert QFormat.parse("Q2.14") == QFormat(16, 14)
    assert QFormat.parse("UQ1.15") == QFormat(16, 15, False)
    assert str(QFormat(32, 30)) == "Q2.30"
    with pytest.raises(ConfigError, match="must look like Q2.14"):
        QFormat.parse("16.14")
    with pytest.raises(ConfigError, match="rounding must be one of"):
        QFormat(8, 4).quantize([0.0], rounding="nearest")


def test_a_negative_value_that_underflows_still_truncates_down():
    """-5e-324 * 2**-1 underflows to -0.0 in floats; its floor is -1 (found by the property above)."""
    f = QFormat(2, -1, False)
    assert f.quantize(np.array([-5e-324]), Rounding.TRUNCATE, Overflow.WRAP)[0][0] == 3
    assert f.quantize(np.array([-5e-324]), Rounding.HALF_EVEN, Overflow.SATURATE)[0][0] == 0
    assert QFormat(8, -4).quantize(np.array([-1e-310, -0.0]), Rounding.TRUNCATE)[0].tolist() == [-1, 0]

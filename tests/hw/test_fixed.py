"""hw.fixed equals golden_model.fixedpoint bit for bit, for every rounding and overflow rule."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from golden_model import fixedpoint as gold
from golden_model.fixedpoint import QFormat
from hw import fixed

ROUNDINGS = ["truncate", "half-up", "half-even"]
OVERFLOWS = ["saturate", "wrap"]


def evaluate(build, in_fmts, out_fmt, cases):
    """Evaluate the combinational expression ``build(*signals)`` for every tuple in ``cases``."""
    m = Module()
    ins = [Signal(fixed.shape_of(f)) for f in in_fmts]
    value, over = build(*ins)
    out = Signal(fixed.shape_of(out_fmt))
    flag = Signal()
    m.d.comb += [out.eq(value), flag.eq(over)]
    results = []

    async def bench(ctx):
        for case in cases:
            for s, v in zip(ins, case):
                ctx.set(s, int(v))
            results.append((ctx.get(out), ctx.get(flag)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return results


def edge_values(fmt, rng, n=60):
    vals = [fmt.min_int, fmt.max_int, 0, 1, -1 if fmt.signed else 2, fmt.min_int + 1, fmt.max_int - 1]
    return np.array(vals + list(rng.integers(fmt.min_int, fmt.max_int + 1, n)))


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("overflow", OVERFLOWS)
@pytest.mark.parametrize("fa, fb, out", [
    (QFormat(16, 14), QFormat(16, 24), QFormat(16, 24)),   # act x grad -> grad, as in the gate unit
    (QFormat(16, 14), QFormat(16, 14), QFormat(16, 14)),   # act x act -> act
    (QFormat(16, 11), QFormat(16, 24), QFormat(16, 24)),   # state x grad
    (QFormat(8, 3), QFormat(6, 5), QFormat(5, 2)),         # narrow: overflow is common
])
def test_mul_matches_the_model(fa, fb, out, rounding, overflow):
    rng = np.random.default_rng(0)
    a, b = edge_values(fa, rng), edge_values(fb, rng)
    cases = [(x, y) for x in a[:12] for y in b[:12]] + list(zip(a, b[::-1]))
    got = evaluate(lambda x, y: fixed.mul(x, fa.frac, y, fb.frac, out, rounding, overflow), (fa, fb), out, cases)
    want, _ = gold.mul(np.array([c[0] for c in cases]), fa.frac, np.array([c[1] for c in cases]), fb.frac, out,
                       rounding, overflow)
    assert [g[0] for g in got] == [int(w) for w in want]
    for (x, y), (_, flag) in zip(cases, got):  # the flag is per operation
        assert flag == gold.mul(np.array([x]), fa.frac, np.array([y]), fb.frac, out, rounding, overflow)[1]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_add_matches_the_model(rounding, overflow):
    fa, fb, out = QFormat(16, 24), QFormat(16, 20), QFormat(16, 22)
    rng = np.random.default_rng(1)
    a, b = edge_values(fa, rng), edge_values(fb, rng)
    cases = list(zip(a, b)) + list(zip(a, b[::-1]))
    got = evaluate(lambda x, y: fixed.add(x, fa.frac, y, fb.frac, out, rounding, overflow), (fa, fb), out, cases)
    for (x, y), (value, flag) in zip(cases, got):
        w, f = gold.add(np.array([x]), fa.frac, np.array([y]), fb.frac, out, rounding, overflow)
        assert (value, flag) == (int(w[0]), f)


@pytest.mark.parametrize("overflow", OVERFLOWS)
@pytest.mark.parametrize("fmt", [QFormat(8, 4), QFormat(8, 4, signed=False)])
def test_fit_result_keeps_its_value_inside_larger_expressions(fmt, overflow):
    """fit's value must mean the same number when used unregistered, e.g. in a product."""
    wide = QFormat(12, 4)
    cases = [(v,) for v in range(wide.min_int, wide.max_int + 1, 7)]
    got = evaluate(lambda x: (fixed.fit(x, fmt, overflow)[0] * 3, 0), (wide,), QFormat(14, 4), cases)
    want, _ = gold.fit(np.array([c[0] for c in cases]), fmt, overflow)
    assert [g[0] for g in got] == [3 * int(w) for w in want]


def test_stochastic_rounding_is_refused():
    with pytest.raises(ValueError, match="stochastic"):
        fixed.round_shift(Signal(8), 2, "stochastic")


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_round_shift_matches_the_model_on_every_8_bit_value(rounding):
    """Every value of 8 bits, shifts 1 .. 4: the ties (exactly half, rounded to even) included, which the
    random products above seldom hit."""
    values = np.arange(-128, 128)
    for shift in range(1, 5):
        out = QFormat(9, 0)
        got = evaluate(lambda v: (fixed.round_shift(v, shift, rounding), 0), (QFormat(8, 0),), out,
                       [(v,) for v in values])
        assert [g[0] for g in got] == [int(w) for w in gold.round_shift(values, shift, rounding)], shift

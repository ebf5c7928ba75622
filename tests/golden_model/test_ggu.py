"""The gate-gradient unit's dataflow (golden_model.ggu): well formed, evaluated with NumPy it equals a plain
scalar reference element by element, and its schedules are those the hardware was built with."""

import numpy as np
import pytest

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import gate_gradients
from golden_model.fixedpoint import fit, product, round_shift
from golden_model.ggu import (GGU_DATAFLOW, GGU_FORMATS, GGU_INPUTS, GGU_OUTPUTS, GGU_PRODUCTS, KINDS, Arithmetic,
                              Op, evaluate, ggu_schedule)


def test_every_operand_is_defined_before_it_is_used_and_every_result_is_used():
    defined, used = set(GGU_INPUTS), set(GGU_OUTPUTS)
    for op in GGU_DATAFLOW:
        assert op.kind in KINDS
        assert set(op.args) <= defined, f"{op.name} reads {set(op.args) - defined} before they are defined"
        assert op.name not in defined, f"{op.name} is defined twice"
        defined.add(op.name)
        used.update(op.args)
    assert set(GGU_OUTPUTS) <= defined
    assert defined - used == set(), "results nobody reads"
    assert len(GGU_PRODUCTS) == 16


def test_sums_and_differences_need_no_alignment():
    """``add`` and ``one_minus`` take their operands in the result's format (only products round)."""
    for op in GGU_DATAFLOW:
        if op.kind in ("add", "one_minus"):
            assert {GGU_FORMATS[a] for a in op.args} == {op.fmt}, op
        if op.kind == "threshold":
            assert op.args[0] in GGU_PRODUCTS and GGU_FORMATS[op.args[0]] == op.fmt == "grad", op


@pytest.mark.parametrize("args, message", [
    (("x", ("a",), "mul", "grad"), "Op.args of a mul must be 2 names, not"),
    (("x", ("a",), "sub", "grad"), "Op.kind must be one of"),
    (("x", ("a",), "one_minus", "state"), "Op.fmt must be 'act' or 'grad', not 'state'"),
])
def test_a_malformed_operation_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        Op(*args)


# (form, interval, multipliers, latency) for ggu_cycles = k, as recorded before the dataflow moved to
# golden_model.ggu: the hardware's timing must not change with the description. (k = 1: 11 then; 23 since
# each product passes the multiplier's three registers and is rounded into a register before its overflow rule.)
SCHEDULES = {
    1: ("pipelined", 1, 16, 23), 2: ("folded", 2, 16, 9), 3: ("folded", 3, 8, 13), 4: ("folded", 4, 6, 17),
    5: ("folded", 5, 4, 21), 6: ("folded", 6, 4, 25), 7: ("folded", 7, 3, 29), 8: ("folded", 8, 3, 33),
    9: ("folded", 9, 2, 37), 10: ("serial", 10, 3, 10), 11: ("serial", 11, 2, 11), 12: ("serial", 12, 2, 11),
    13: ("serial", 13, 2, 11), 14: ("serial", 14, 2, 11), 15: ("serial", 15, 2, 11), 16: ("serial", 16, 2, 11),
    17: ("serial", 17, 2, 11), 18: ("serial", 18, 1, 18),
}


@pytest.mark.parametrize("k", sorted(SCHEDULES))
def test_the_schedule_is_the_recorded_one_and_respects_the_dataflow(k):
    plan = ggu_schedule(k)
    assert (plan.form, plan.interval, plan.multipliers, plan.latency) == SCHEDULES[k]
    if plan.form == "serial":
        ready = {name: 1 for name in GGU_INPUTS}       # the first cycle a value can be read
        for op in GGU_DATAFLOW:
            t = plan.time_of[op.name]
            chained = op.name in plan.chained
            assert all(ready[a] <= t or (chained and a in GGU_PRODUCTS and ready[a] == t + 1) for a in op.args), op
            ready[op.name] = t + (2 if op.kind == "mul" else 1)
        slots = [(plan.time_of[p], plan.multiplier_of[p]) for p in GGU_PRODUCTS]
        assert len(set(slots)) == len(slots), "a multiplier does two products in one cycle"
        assert {u for _, u in slots} == set(range(plan.multipliers))
    else:
        at = plan.stage_of
        for op in GGU_DATAFLOW:
            chained = op.name in plan.chained
            assert all(at[a] < at[op.name] or (chained and a in GGU_PRODUCTS and at[a] == at[op.name])
                       for a in op.args), op
        assert plan.stages == max(at[name] for name in GGU_OUTPUTS)


def random_inputs(cfg, n, rng, extreme):
    """n elements' inputs: in a quarter of each format's range (no overflow), or over all of it (overflow everywhere)."""
    out = {}
    for name in GGU_INPUTS:
        fmt = getattr(cfg, GGU_FORMATS[name])
        lo, hi = (fmt.min_int, fmt.max_int) if extreme else (fmt.min_int // 4, fmt.max_int // 4)
        out[name] = rng.integers(lo, hi + 1, (n, 1))
    return out


@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("rounding, overflow", [("half-even", "saturate"), ("truncate", "wrap"),
                                                ("half-up", "saturate")])
def test_the_numpy_evaluation_equals_a_plain_scalar_reference(rounding, overflow, extreme, reference_element):
    cfg = EngineConfig(rounding=rounding, overflow=overflow)
    rng = np.random.default_rng(11)
    n, tau = 300, 1 << 8
    x = random_inputs(cfg, n, rng, extreme)
    gates = np.concatenate([x[q] for q in "ifgo"], axis=1)
    dz_raw, dz, dc_prev, over = gate_gradients(cfg, gates, x["tanh_c"], x["c_prev"], x["dh"], x["dh_rec"],
                                               x["dc_next"], tau)
    for e in range(n):
        raw_e, dz_e, dc_prev_e, over_e = reference_element(cfg, *(int(x[name][e, 0]) for name in GGU_INPUTS), tau)
        assert (list(dz_raw[e]), list(dz[e]), dc_prev[e, 0], over[e, 0]) == (raw_e, dz_e, dc_prev_e, over_e), e
    assert over.any() == extreme
    assert 0 < (dz == 0).mean() < 1


class Sym(str):
    """A value that spells out the arithmetic done on it."""

    def __add__(self, other):
        return Sym(f"({self}+{other})")

    def __rsub__(self, other):
        return Sym(f"({other}-{self})")


def test_evaluate_walks_the_dataflow_with_the_arithmetic_it_is_given():
    """With an arithmetic that spells out what it computes, every result is its operation applied to its
    operands, rounded by the shift its formats give and fitted to the format it states."""
    cfg = EngineConfig()
    fitted = []

    def fit_(v, fmt, overflow):
        fitted.append(fmt)
        return Sym(f"fit{fmt.frac}{v}"), False

    arith = Arithmetic(cfg, product=lambda x, y: Sym(f"({x}*{y})"), round_shift=lambda v, n, rnd: Sym(f"{v}>>{n}"),
                       fit=fit_, threshold=lambda v: Sym(f"thr({v})"))
    values, over = evaluate(arith, {name: Sym(name) for name in GGU_INPUTS})
    A, S, G = cfg.act.frac, cfg.state.frac, cfg.grad.frac
    assert values["mi"] == f"fit{A}({1 << A}-i)"
    assert values["si"] == f"fit{A}(i*fit{A}({1 << A}-i))>>{A}"
    assert values["df"] == f"fit{G}({values['dc']}*c_prev)>>{S}"
    assert values["dc"] == f"fit{G}({values['t2']}+dc_next)"
    assert values["dz_g"] == f"thr(fit{G}({values['dg']}*{values['sg']})>>{A})"
    assert over is False
    assert len(fitted) == sum(op.kind != "threshold" for op in GGU_DATAFLOW)


def test_the_numpy_evaluation_with_an_overall_flag_matches_gate_gradients():
    """fixedpoint.fit's overall overflow flag through evaluate is the any() of gate_gradients' mask."""
    cfg = EngineConfig()
    x = random_inputs(cfg, 50, np.random.default_rng(5), extreme=True)
    values, over = evaluate(Arithmetic(cfg, product, round_shift, fit, lambda v: v), x)
    gates = np.concatenate([x[q] for q in "ifgo"], axis=1)
    _, _, dc_prev, mask = gate_gradients(cfg, gates, x["tanh_c"], x["c_prev"], x["dh"], x["dh_rec"], x["dc_next"], 0)
    np.testing.assert_array_equal(values["dc_prev"], dc_prev)
    assert over == mask.any()

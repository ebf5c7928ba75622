"""The performance counters and flags (hw.counters) cycle by cycle against a reference: each counter counts
its event (the lanes' events, issued / hazard / mac_busy, one cycle late), nonzeros / zeros_skipped an
element's dz three cycles late (zeros_skipped 0 in dense mode), the
gate flag from a result's overflow bit, flags sticky, and ``clear`` winning over counting in its cycle."""

import random

import pytest

from golden_model.engine_model import FLAGS
from hw.counters import COUNTERS, PerfCounters
from tests.hw.parts import config, run

EVENTS = {"cycles": "running", "steps": "stepping"}
LANE_EVENTS = {"issued": "issued", "hazard": "hazard", "mac_busy": "mac_busy"}      # (counted a cycle late)
FLAG_EVENTS = {"dw": "ovf_dw", "da": "ovf_da", "db": "ovf_db", "out": "ovf_out"}
CLEARS = (0, 17, 30)
DZ = ("dz_i", "dz_f", "dz_g", "dz_o")


def stimulus(t, rng):
    """Cycle t's inputs: random events; a result with nonzero pattern t % 16 unless t % 5 == 4; in a
    clear cycle every event at once."""
    on = t in CLEARS
    s = {port: on or rng.random() < 0.5 for port in (*EVENTS.values(), *LANE_EVENTS.values())}
    s.update({port: on or rng.random() < 0.15 for port in FLAG_EVENTS.values()})
    s["grad_valid"] = on or t % 5 != 4
    s["grad"] = {**{name: (rng.choice([1, -1, -32768, 12345]) if t >> q & 1 else 0) for q, name in enumerate(DZ)},
                 "dc_prev": rng.randrange(-100, 100), "overflow": on or rng.random() < 0.08}
    return s


def reference(inputs, dense):
    """The counters and flags seen in each cycle: after every cycle before it."""
    cnt, flags, late, seen = dict.fromkeys(COUNTERS, 0), dict.fromkeys(FLAGS, 0), [(0, 0)] * 3, []
    before = dict.fromkeys(LANE_EVENTS.values(), 0)
    for s in inputs:
        seen.append((dict(cnt), dict(flags)))
        for name, port in EVENTS.items():
            cnt[name] += s[port]
        for name, port in LANE_EVENTS.items():
            cnt[name] += before[port]                 # the event of the cycle before
        before = {port: s[port] for port in LANE_EVENTS.values()}
        cnt["nonzeros"] += late[0][0]             # the element of three cycles before
        cnt["zeros_skipped"] += late[0][1]
        ones = sum(s["grad"][name] != 0 for name in DZ) if s["grad_valid"] else 0
        late = [*late[1:], (ones, 0 if dense or not s["grad_valid"] else 4 - ones)]
        for name, port in FLAG_EVENTS.items():
            flags[name] |= s[port]
        flags["gate"] |= s["grad_valid"] and s["grad"]["overflow"]
        if s["clear"]:
            cnt, flags = dict.fromkeys(COUNTERS, 0), dict.fromkeys(FLAGS, 0)
    return seen


@pytest.mark.parametrize("dense", [False, True], ids=["skip", "dense"])
def test_counters_and_flags_cycle_by_cycle(dense):
    cfg = config()
    dut, rng = PerfCounters(cfg), random.Random(dense)
    inputs = [{**stimulus(t, rng), "clear": t in CLEARS} for t in range(40)]

    def step(ctx, t):
        for port, value in inputs[t].items():
            ctx.set(getattr(dut, port), value)
        ctx.set(dut.dense, dense)
        counters, flags = ctx.get(dut.counters), ctx.get(dut.flags)
        return {name: int(counters[name]) for name in COUNTERS}, {name: int(flags[name]) for name in FLAGS}

    got, want = run(dut, len(inputs), step), reference(inputs, dense)
    assert got == want
    skipped = max(counters["zeros_skipped"] for counters, _ in want)
    assert skipped == 0 if dense else skipped > 0
    assert all(any(flags[name] for _, flags in want) for name in FLAGS), "the stimulus misses a flag"

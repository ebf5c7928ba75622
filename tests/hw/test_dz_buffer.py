"""The dz buffer (hw.dz_buffer) against the latency golden_model.cycles reads from it: an entry written in
cycle w is at the output from cycle w + ``DzBuffer.latency_of(config)`` (or a cycle after the one before it, or once the
encoder takes), in order, none lost or doubled; ``empty`` while nothing is inside."""

import random

import pytest

from hw.dz_buffer import DzBuffer
from tests.hw.parts import config, high, run


@pytest.mark.parametrize("pipeline", ["registered", "compact"])
@pytest.mark.parametrize("opens", [0, 12], ids=["ready", "blocked"])
def test_entries_come_out_in_order_after_the_latency(opens, pipeline):
    cfg = config(lane_pipeline=pipeline)
    dut = DzBuffer(cfg)
    writes = {2: 11, 3: 12, 4: 13, 9: 14}    # cycle -> the entry's dz_i (its identity); B x H = 4: a whole step

    def step(ctx, t):
        ctx.set(dut.i_dz.valid, t in writes)
        ctx.set(dut.i_dz.payload, {"dz": [writes.get(t, 0), 0, 0, 0], "j": 1, "b": 1})
        ctx.set(dut.o_dz.ready, t >= opens)
        taken = ctx.get(dut.o_dz.valid) and t >= opens
        return {"taken": taken, "id": int(ctx.get(dut.o_dz.payload).dz[0]), "empty": ctx.get(dut.empty),
                "in_ready": ctx.get(dut.i_dz.ready)}

    trace = run(dut, 30, step)
    want, out = [], -1
    for w, entry in writes.items():
        out = max(w + dut.latency, out + 1, opens)
        want.append((out, entry))
    assert [(t, r["id"]) for t, r in enumerate(trace) if r["taken"]] == want
    assert all(trace[w]["in_ready"] for w in writes)          # a whole step fits: no entry is refused
    inside = sorted({t for w, (out, _) in zip(writes, want) for t in range(w + 1, out + 1)})   # written .. taken
    assert [t for t, r in enumerate(trace) if not r["empty"]] == inside


@pytest.mark.parametrize("seed", range(3))
def test_no_entry_lost_or_doubled_under_random_handshakes(seed):
    """More entries than the buffer holds, offered and taken at random: each one out once, in order, the
    buffer refusing entries (ready low) while it is full rather than dropping them."""
    rng = random.Random(seed)
    dut = DzBuffer(config())
    offers = [rng.random() < 0.7 for _ in range(200)]
    takes = [rng.random() < (0.2 if t < 100 else 0.8) for t in range(200)]    # slow, then fast
    sent = []

    def step(ctx, t):
        ctx.set(dut.i_dz.valid, offers[t])
        ctx.set(dut.i_dz.payload, {"dz": [len(sent) + 1, 0, 0, 0], "j": 0, "b": 0})
        ctx.set(dut.o_dz.ready, takes[t])
        if offers[t] and ctx.get(dut.i_dz.ready):
            sent.append(len(sent) + 1)
        return {"taken": takes[t] and ctx.get(dut.o_dz.valid), "id": int(ctx.get(dut.o_dz.payload).dz[0]),
                "in_ready": ctx.get(dut.i_dz.ready)}

    trace = run(dut, 200, step)
    got = [r["id"] for r in trace if r["taken"]]
    assert got == sent[:len(got)] and len(got) > 2 * DzBuffer.depth_of(dut.config)
    assert not all(r["in_ready"] for r in trace)               # it was full at times, and said so

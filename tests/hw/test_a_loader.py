"""The a-loader (hw.a_loader) against its docstring and golden_model.cycles' rule 1: step n's B x C chunks
(chunk c within batch row b) go into buffer n % 2 at address (c, b), as they come (the lanes zero the padding), in the cycles
A_n - BC + 1 .. A_n with A_n = max(A_{n-1}, Z_{n-2}) + BC (Z: the cycles of ``step_done``), and ``ready``
follows ``ALoader.latency`` cycles after a step's last chunk until that step is done."""

import pytest

from hw.a_loader import ALoader
from tests.hw.parts import addr, config, high, run

CASES = {
    # config, B, T, the step_done cycles Z_n
    "P2-B2": (config(), 2, 3, (15, 21, 26)),       # Z_1 = A_2: a step ends as a load ends
    "P1-B1": (config(lanes=1), 1, 3, (8, 13, 20)),  # runtime B < max_batch; ready drops between steps
    "P2-T1": (config(), 2, 1, (10,)),
}


def host_chunk(cfg, t):
    """The chunk the host offers in cycle t (distinct in every cycle and lane)."""
    return [100 * t + p + 1 for p in range(cfg.lanes)]


def expected(cfg, B, T, Z, cycles):
    """{cycle: (buf, addr, data)} of the writes, and ``ready`` in every cycle."""
    C = cfg.cols_per_lane
    writes, A = {}, [0]
    for n in range(T):
        first = max(A[-1], Z[n - 2] if n >= 2 else 0) + 1
        for i in range(B * C):
            t, (b, c) = first + i, divmod(i, C)
            writes[t] = (n % 2, addr(c, C, b), host_chunk(cfg, t))
        A.append(first + B * C - 1)
    ready = [sum(a + ALoader.latency <= t for a in A[1:]) > sum(z < t for z in Z) for t in range(cycles)]
    return writes, ready, A[1:]


@pytest.mark.parametrize("case", CASES)
def test_loads_each_step_into_its_buffer_a_step_ahead(case):
    cfg, B, T, Z = CASES[case]
    cycles = Z[-1] + 4
    dut = ALoader(cfg)

    def step(ctx, t):
        ctx.set(dut.start, t == 0)            # the controller: start in cycle 0, running from cycle 1
        ctx.set(dut.running, t > 0)
        ctx.set(dut.t_last, T - 1)
        ctx.set(dut.b_last, B - 1)
        ctx.set(dut.step_done, t in Z)
        ctx.set(dut.a, host_chunk(cfg, t))
        return {"want": ctx.get(dut.a_want), "we": ctx.get(dut.we), "ready": ctx.get(dut.ready),
                "write": (ctx.get(dut.buf), ctx.get(dut.addr), [int(v) for v in ctx.get(dut.data)])}

    trace = run(dut, cycles, step)
    writes, ready, A = expected(cfg, B, T, Z, cycles)
    assert high(trace, "want") == high(trace, "we") == sorted(writes)
    assert {t: trace[t]["write"] for t in high(trace, "we")} == writes
    assert [bool(r["ready"]) for r in trace] == ready
    assert high(trace, "ready")[0] == A[0] + ALoader.latency     # the latency the cycle model reads

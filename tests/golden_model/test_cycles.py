"""The cycle model against closed forms for the edge cases (no nonzero, all nonzero, one nonzero at the
last index, batch > 1 with read-modify-write hazards, several steps) and against a cycle-by-cycle
simulation of the encoder and lanes on random patterns."""

from types import SimpleNamespace

import numpy as np
import pytest

from golden_model.cycles import MicroArch, cycle_counts
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import _issue_order, row_order

ARCH = MicroArch()


def fake(dz, dense=False):
    """A stand-in for run_engine's result: the dz pattern, its issue order, the mode."""
    return SimpleNamespace(dz=dz, dense=dense, issued=[_issue_order(d, dense) for d in dz])


def setup(B, H=5, I=7, lanes=4, T=1):
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=lanes, max_batch=max(B, 1), max_seq=max(T, 1))
    return cfg, np.zeros((T, B, 4 * H), np.int64)


def frame(cfg, B, mac_phase):
    """Total cycles of one step around a MAC phase: load, GGU fill, MAC, readout, overhead."""
    C, H = cfg.cols_per_lane, cfg.hidden_size
    ready0 = B * (H + C) + B + ARCH.ggu_latency
    return ready0 + mac_phase + B * C + ARCH.readout_latency + ARCH.step_overhead


@pytest.mark.parametrize("B", [1, 3, 4, 6])
def test_no_nonzero(B):
    cfg, dz = setup(B)
    H = cfg.hidden_size
    c = cycle_counts(cfg, fake(dz))
    # the encoder visits 4 empty rows per unit, one per cycle, and unit j becomes visible B cycles after j-1
    want = (H - 1) * B + 4 if B >= 4 else 4 * H
    assert (c.mac_phase, c.issued, c.mac_busy, c.nonzeros, c.zeros_skipped) == (want, 0, 0, 0, dz.size)
    assert c.total == frame(cfg, B, want)


@pytest.mark.parametrize("B, lanes", [(1, 4), (3, 4), (2, 2), (1, 1)])
def test_all_nonzero_and_dense_mode(B, lanes):
    cfg, dz = setup(B, lanes=lanes)
    H, C, D = cfg.hidden_size, cfg.cols_per_lane, ARCH.rmw_depth
    assert C >= D
    full = np.ones_like(dz)
    want = 4 * H * B * C + ARCH.mac_latency  # back to back, C cycles per entry
    for result in (fake(full), fake(dz, dense=True), fake(full, dense=True)):
        c = cycle_counts(cfg, result)
        assert (c.mac_phase, c.issued, c.mac_busy, c.hazard) == (want, 4 * H * B, 4 * H * B * C, 0)
        assert c.total == frame(cfg, B, want)


@pytest.mark.parametrize("B", [1, 4, 5])
def test_one_nonzero_at_the_last_index(B):
    cfg, dz = setup(B)
    H, C = cfg.hidden_size, cfg.cols_per_lane
    dz[0, B - 1, 4 * H - 1] = 7  # row o_{H-1}: the last row the encoder visits; the last batch entry
    c = cycle_counts(cfg, fake(dz))
    visit = (H - 1) * B + 3 if B >= 4 else 4 * H - 1
    want = visit + C + ARCH.mac_latency
    assert (c.mac_phase, c.issued, c.nonzeros, c.zeros_skipped) == (want, 1, 1, dz.size - 1)
    assert c.total == frame(cfg, B, want)


@pytest.mark.parametrize("B", [1, 2, 3])
def test_read_modify_write_hazards_when_columns_per_lane_are_few(B):
    cfg, dz = setup(B, H=2, I=2, lanes=4)  # N = 4, P = 4: C = 1 < rmw_depth
    H, C, D = cfg.hidden_size, cfg.cols_per_lane, ARCH.rmw_depth
    assert C < D
    c = cycle_counts(cfg, fake(dz, dense=True))
    # dense, batch ascending within a row: (k, b) waits D after (k, b-1) (same row) and D after
    # (k-1, b) (same b) -- so every entry starts D after the one B entries earlier or just before it
    starts = []
    for n in range(4 * H * B):
        prev = [starts[n - 1] + (D if B == 1 or n % B else C)] if n else [0]
        if n >= B:
            prev.append(starts[n - B] + D)
        starts.append(max(prev))
    assert c.mac_phase == starts[-1] + C + ARCH.mac_latency
    assert c.hazard == starts[-1] - (4 * H * B - 1) * C


def test_two_steps_chain_through_the_load_and_the_previous_step():
    cfg, dz = setup(2, T=2)
    one, _ = setup(2, T=1)
    c1 = cycle_counts(one, fake(dz[:1]))
    c2 = cycle_counts(cfg, fake(dz))
    # step 2 starts when step 1 is done (its inputs were loaded meanwhile): it adds the step without the load
    load = 2 * (cfg.hidden_size + cfg.cols_per_lane)
    assert c2.total == 2 * c1.total - load
    assert c2.mac_phase == 2 * c1.mac_phase


def simulate(cfg, result, arch=ARCH):
    """Cycle-by-cycle restatement of the encoder and lanes: returns (mac_phase, hazard) summed over steps.

    Each clock: the encoder either visits an empty row, or offers the next entry of its row; the lanes
    take it if they are free and no entry sharing its row or batch index started fewer than rmw_depth
    cycles ago.
    """
    T, B, G = result.dz.shape
    H, C, D = G // 4, cfg.cols_per_lane, arch.rmw_depth
    load = B * (H + C)
    total_phase = total_hazard = 0
    load_end, step_done = load, 0
    order = row_order(H)
    for t in range(T - 1, -1, -1):
        g0 = max(load_end, step_done)
        if t > 0:
            load_end = max(load_end, g0) + load
        ready0 = g0 + B + arch.ggu_latency
        kk, bb = result.issued[t]
        rows = {int(k): [] for k in order}
        for k, b in zip(kk, bb):
            rows[int(k)].append(int(b))
        pos, within = 0, 0
        started = []          # (k, b, cycle)
        lanes_free_at = 0
        cycle = ready0
        blocked = 0
        while pos < len(order):
            k = int(order[pos])
            if cycle >= g0 + (pos // 4 + 1) * B + arch.ggu_latency:
                if not rows[k]:
                    pos += 1
                else:
                    b = rows[k][within]
                    hazard_now = any((sk == k or sb == b) and cycle < sc + D for sk, sb, sc in started)
                    if cycle >= lanes_free_at and not hazard_now:
                        started.append((k, b, cycle))
                        lanes_free_at = cycle + C
                        within += 1
                        if within == len(rows[k]):
                            pos, within = pos + 1, 0
                    elif cycle >= lanes_free_at:
                        blocked += 1
            cycle += 1
        end = cycle if not started else max(cycle, started[-1][2] + C + arch.mac_latency)
        total_phase += end - ready0
        total_hazard += blocked
        step_done = end + B * C + arch.readout_latency + arch.step_overhead
    return total_phase, total_hazard, step_done


@pytest.mark.parametrize("B, H, I, lanes", [(1, 4, 4, 4), (3, 4, 4, 8), (2, 6, 6, 4), (4, 8, 12, 4), (3, 3, 5, 2)])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.8])
def test_model_equals_cycle_by_cycle_simulation(B, H, I, lanes, density):
    rng = np.random.default_rng(B * 100 + H + int(density * 10))
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=lanes, max_batch=B, max_seq=3)
    dz = (rng.random((3, B, 4 * H)) < density).astype(np.int64)
    for result in (fake(dz), fake(dz, dense=True)):
        c = cycle_counts(cfg, result)
        phase, hazard, total = simulate(cfg, result)
        assert (c.mac_phase, c.hazard, c.total) == (phase, hazard, total)


def test_skip_never_slower_than_dense_and_counts_add_up():
    rng = np.random.default_rng(0)
    cfg, dz = setup(4, H=16, I=12, lanes=4, T=3)
    for density in (0.05, 0.2, 0.5, 0.9):
        d = (rng.random(dz.shape) < density).astype(np.int64)
        s, f = cycle_counts(cfg, fake(d)), cycle_counts(cfg, fake(d, dense=True))
        assert s.total <= f.total and s.issued == s.nonzeros == d.sum() and f.issued == d.size
        assert s.mac_phase >= s.mac_busy and s.zeros_skipped + s.nonzeros == d.size


def test_micro_architecture_is_validated():
    with pytest.raises(ValueError, match="rmw_depth must be"):
        MicroArch(rmw_depth=0)
    with pytest.raises(ValueError, match="mac_latency .* must be at least rmw_depth - 1"):
        MicroArch(rmw_depth=5, mac_latency=1)

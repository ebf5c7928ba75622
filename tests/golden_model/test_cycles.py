"""The cycle model against closed forms for the edge cases: no nonzero, all nonzero, one nonzero at
the last index, batch > 1 with read-modify-write hazards, and several steps."""

from types import SimpleNamespace

import numpy as np
import pytest

from golden_model.cycles import MicroArch, cycle_counts
from golden_model.engine_config import EngineConfig

ARCH = MicroArch()


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
    c = cycle_counts(cfg, SimpleNamespace(dz=dz))
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
    for result, dense in ((SimpleNamespace(dz=full), False), (SimpleNamespace(dz=dz), True),
                          (SimpleNamespace(dz=full), True)):
        c = cycle_counts(cfg, result, dense=dense)
        assert (c.mac_phase, c.issued, c.mac_busy, c.hazard) == (want, 4 * H * B, 4 * H * B * C, 0)
        assert c.total == frame(cfg, B, want)


@pytest.mark.parametrize("B", [1, 4, 5])
def test_one_nonzero_at_the_last_index(B):
    cfg, dz = setup(B)
    H, C = cfg.hidden_size, cfg.cols_per_lane
    dz[0, B - 1, 4 * H - 1] = 7  # row o_{H-1}: the last row the encoder visits; the last batch entry
    c = cycle_counts(cfg, SimpleNamespace(dz=dz))
    visit = (H - 1) * B + 3 if B >= 4 else 4 * H - 1
    want = visit + C + ARCH.mac_latency
    assert (c.mac_phase, c.issued, c.nonzeros, c.zeros_skipped) == (want, 1, 1, dz.size - 1)
    assert c.total == frame(cfg, B, want)


@pytest.mark.parametrize("B", [1, 2, 3])
def test_read_modify_write_hazards_when_columns_per_lane_are_few(B):
    cfg, dz = setup(B, H=2, I=2, lanes=4)  # N = 4, P = 4: C = 1 < rmw_depth
    H, C, D = cfg.hidden_size, cfg.cols_per_lane, ARCH.rmw_depth
    assert C < D
    c = cycle_counts(cfg, SimpleNamespace(dz=dz), dense=True)
    # same row (b, b+1): D apart; the next row starts C later unless it shares b (B = 1: D later)
    per_row = (B - 1) * D + (C if B > 1 else D)
    span = 4 * H * per_row - per_row + (B - 1) * D + C  # from the first entry's start to the last one's end
    assert c.mac_phase == span + ARCH.mac_latency
    assert c.hazard == (4 * H * (B - 1) * (D - C) if B > 1 else (4 * H - 1) * (D - C))


def test_two_steps_chain_through_the_load_and_the_previous_step():
    cfg, dz = setup(2, T=2)
    one, _ = setup(2, T=1)
    c1 = cycle_counts(one, SimpleNamespace(dz=dz[:1]))
    c2 = cycle_counts(cfg, SimpleNamespace(dz=dz))
    # step 2 starts when step 1 is done (its inputs were loaded meanwhile): it adds the step without the load
    load = 2 * (cfg.hidden_size + cfg.cols_per_lane)
    assert c2.total == 2 * c1.total - load
    assert c2.mac_phase == 2 * c1.mac_phase


def test_skip_never_slower_than_dense_and_counts_add_up():
    rng = np.random.default_rng(0)
    cfg, dz = setup(4, H=16, I=12, lanes=4, T=3)
    for density in (0.05, 0.2, 0.5, 0.9):
        d = (rng.random(dz.shape) < density).astype(np.int64)
        s, f = cycle_counts(cfg, SimpleNamespace(dz=d)), cycle_counts(cfg, SimpleNamespace(dz=d), dense=True)
        assert s.total <= f.total and s.issued == s.nonzeros == d.sum() and f.issued == d.size
        assert s.mac_phase >= s.mac_busy and s.zeros_skipped + s.nonzeros == d.size

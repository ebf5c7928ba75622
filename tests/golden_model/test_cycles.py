"""The cycle model against closed forms for the edge cases: no nonzero, all nonzero, one nonzero at the
last index, consecutive entries of one row or batch when C = 1 (forwarded, never waiting), several steps. The model against
the simulated hardware, cycle for cycle, is in tests/hw/test_engine.py."""

from types import SimpleNamespace

import numpy as np
import pytest

from golden_model.cycles import MicroArch, counter_width, cycle_counts, max_cycles
from golden_model.engine_config import EngineConfig

#: The timing of an engine with the pipelined gate-gradient unit, written out so that the closed forms
#: below can be checked by hand (tests/hw/test_engine.py holds hw.timing.micro_arch to the hardware).
ARCH = MicroArch(load_latency=1, feed_latency=1, feed_interval=1, ggu_latency=11, return_latency=1,
                 buffer_latency=2, read_latency=3, mac_drain=8, readout_latency=1,
                 round_latency=1)
L, DRAIN, BUF, RL = ARCH.dz_latency, ARCH.mac_drain, ARCH.buffer_latency, ARCH.read_latency
RR = ARCH.rec_latency                        # from a da request to its rounded word, sent
OUT = ARCH.feed_latency + ARCH.ggu_latency   # from an element's walk to its dz leaving the unit


def counts(cfg, result):
    return cycle_counts(cfg, result, ARCH)


def fake(dz, dense=False):
    """A stand-in for run_engine's result: the dz pattern and the mode."""
    return SimpleNamespace(dz=dz, dense=dense)


def setup(B, H=5, I=7, lanes=4, T=1):
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=lanes, max_batch=max(B, 1), max_seq=max(T, 1))
    return cfg, np.zeros((T, B, 4 * H), np.int64)


def outputs(cfg, B):
    """Cycles after the last step: dh0/dc0, dW, db, the last word's read latency."""
    return B * cfg.hidden_size + cfg.n_rows * cfg.cols_per_lane + cfg.n_rows + RL


def first_feed(cfg, B):
    return B * cfg.cols_per_lane + 2   # a_t of the first step loaded, then one cycle in WAIT


@pytest.mark.parametrize("B", [1, 3])
def test_no_nonzero(B):
    cfg, dz = setup(B)
    c = counts(cfg, fake(dz))
    BC, BH = B * cfg.cols_per_lane, B * cfg.hidden_size
    # no element enters the dz buffer: the step is done when the unit's last element is out
    assert c.steps == first_feed(cfg, B) + BH + OUT + 1 + BC + RR - 1
    assert c.cycles == c.steps + outputs(cfg, B)
    assert (c.issued, c.mac_busy, c.hazard, c.nonzeros, c.zeros_skipped) == (0, 0, 0, 0, dz.size)


@pytest.mark.parametrize("B, lanes", [(1, 4), (2, 4), (3, 2)])
def test_all_nonzero_runs_the_lanes_back_to_back(B, lanes):
    cfg, dz = setup(B, lanes=lanes)
    C = cfg.cols_per_lane
    dz[...] = 5
    for dense in (False, True):
        c = counts(cfg, fake(dz, dense))
        n = dz.size
        # the first entry goes one cycle after the encoder took the first element, then one every C cycles
        assert c.steps == first_feed(cfg, B) + L + 1 + (n - 1) * C + C + DRAIN + 1 + B * C + RR - 1
        assert (c.issued, c.mac_busy, c.hazard, c.nonzeros) == (n, n * C, 0, n)
        assert c.zeros_skipped == 0


@pytest.mark.parametrize("B", [1, 2])
def test_one_nonzero_at_the_last_index(B):
    cfg, dz = setup(B)
    dz[0, B - 1, 4 * cfg.hidden_size - 1] = -3   # gate o of unit H-1, last batch: the last entry issued
    c = counts(cfg, fake(dz))
    none = counts(cfg, fake(np.zeros_like(dz)))
    assert c.steps == none.steps + BUF + cfg.cols_per_lane + DRAIN
    assert (c.issued, c.nonzeros, c.zeros_skipped) == (1, 1, dz.size - 1)


@pytest.mark.parametrize("dense", [False, True])
def test_consecutive_entries_of_one_row_or_batch_never_wait(dense):
    """C = 1 (N = P): gate i alone is nonzero, so (k = j, b = 0) and (k = j, b = 1) follow each other
    (one row); dense, the four gates of an element share b (one batch). The lanes forward the sum, so
    the entries go back to back as if they shared nothing."""
    cfg, dz = setup(2, H=2, I=2, lanes=4)
    assert cfg.cols_per_lane == 1
    dz[0, :, :2] = 7
    c = counts(cfg, fake(dz, dense))
    other = dz.copy()
    other[0, :, :2], other[0, 0, :2], other[0, 1, 4:6] = 0, 7, 7    # as many entries, rows and batches apart
    assert c.hazard == 0 and c.cycles == counts(cfg, fake(other, dense)).cycles


def test_steps_follow_each_other_and_loads_overlap():
    B, T = 2, 3
    cfg, dz = setup(B, T=T)
    BC, BH = B * cfg.cols_per_lane, B * cfg.hidden_size
    c = counts(cfg, fake(dz))
    # later steps find their a_t loaded already and start while the step before is read out: RR - 1
    # cycles for its first word, one WAIT cycle, then the feed (the read-out, BC <= BH + OUT + 1 cycles,
    # is hidden)
    assert B * cfg.cols_per_lane <= BH + OUT + 1
    assert c.steps == first_feed(cfg, B) + BH + OUT + (T - 1) * (RR + 1 + BH + OUT) + 1 + BC + RR - 1


def test_a_long_read_out_holds_the_next_step_back():
    """BC > BH + OUT + 1: the next step's MAC work waits for the read-out before it (one da buffer each)."""
    B, T = 2, 3
    cfg, dz = setup(B, H=1, I=20, lanes=1, T=T)
    BC, BH = B * cfg.cols_per_lane, B * cfg.hidden_size
    assert BC > BH + OUT + 1
    c = counts(cfg, fake(dz))
    first_done = first_feed(cfg, B) + BH + OUT
    assert c.steps == first_done + (T - 1) * (1 + BC) + 1 + BC + RR - 1


def test_random_patterns_keep_the_invariants():
    rng = np.random.default_rng(0)
    for trial in range(30):
        B, T, lanes = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(2 ** rng.integers(0, 4))
        cfg, dz = setup(B, H=int(rng.integers(1, 6)), I=int(rng.integers(8, 12)), lanes=lanes, T=T)
        d = (rng.random(dz.shape) < rng.random()).astype(np.int64)
        s, f = counts(cfg, fake(d)), counts(cfg, fake(d, dense=True))
        assert s.cycles <= f.cycles and s.issued == s.nonzeros == d.sum() and f.issued == d.size
        assert s.zeros_skipped + s.nonzeros == d.size and f.zeros_skipped == 0
        assert f.cycles < max_cycles(cfg, ARCH) < 2 ** counter_width(cfg, ARCH)


def test_micro_architecture_is_validated():
    from dataclasses import replace
    with pytest.raises(ValueError, match="read_latency"):
        replace(ARCH, read_latency=0)
    with pytest.raises(ValueError, match="ggu_latency"):
        replace(ARCH, ggu_latency=True)

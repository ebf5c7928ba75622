# amaranth: UnusedElaboratable=no
"""The host driver (boards.host) against the simulated board top (boards.top.BoardCore) through a
simulated UART: bit-exact results on the committed trace, frames corrupted on the wire sent again
without changing them, and refused frames that leave the engine's state intact."""

from pathlib import Path

import numpy as np
import pytest

from boards.board_sim import BoardRunSpec, simulate_board
from boards.top import BoardCore
from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError, MissingDependencyError
from golden_model.trace import load_trace
from sim import cosim as cs

DATA = Path(__file__).parents[1] / "data"


def _verilator():
    try:
        cs.require_simulator("verilator")
        return True
    except MissingDependencyError:
        return False


pytestmark = pytest.mark.skipif(not _verilator(), reason=f"Verilator is not installed: {cs.SIMULATORS['verilator']}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("board-sim")


def assert_exact(results):
    for r in results:
        assert r.error is None, r.error
        assert r.mismatches == [] and r.flag_mismatches == {} and r.counter_mismatches == {}, r
        assert r.passed


def test_a_small_engine_in_both_modes_with_refusals_and_bit_errors(root, random_inputs):
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4)
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(0))
    # run 0: three frames the board must refuse first; run 1: bit errors in the START frame's command
    # byte and in a payload byte of the a_t frame after it (the board refuses both, the host sends them again)
    res = simulate_board(cfg, [(inputs, BoardRunSpec(dense=False, probe=True)),
                               (inputs, BoardRunSpec(dense=True, corrupt=[(7, 0x04), (65, 0x01)]))], root=root)
    assert_exact(res)
    refusals = res[0].refusals
    assert refusals == {"unknown command": "the board refused a 0x7e frame: UNKNOWN_COMMAND",
                        "elements while idle": "the board refused a ELEM frame: NOT_RUNNING",
                        "bad length": "the board refused a START frame: BAD_LENGTH",
                        "T beyond max_seq": "the board refused a START frame: OUT_OF_RANGE",
                        "payload beyond the board's buffer": "the board refused a WEIGHT frame: TOO_LONG"}
    assert res[0].retries == 2 and res[1].retries == 2     # (a too-long frame is sent three times)
    assert res[0].counters["zeros_skipped"] > 0 and res[1].counters["zeros_skipped"] == 0
    assert res[1].refusals is None and res[1].run.corrupt == ((7, 0x04), (65, 0x01))


@pytest.mark.parametrize("lean", [pytest.param(False, marks=pytest.mark.slow), True], ids=["input-fifos", "lean"])
def test_answers_and_outputs_competing_for_the_line(root, lean, random_inputs):
    """B = 4 with two element frames per step: ACKs become ready while output frames are being sent.
    (The arbiter once switched sources between a frame's header bytes and garbled the frame.) The lean
    board (the iCEBreaker's: the engine takes its inputs without FIFOs) with a serial unit too; the board
    with input FIFOs (the ULX3S's, which the test above runs) with -m slow."""
    # (three steps: the contention is within each step, between its ACKs and its output frames)
    cfg = EngineConfig(input_size=9, hidden_size=8, lanes=2, max_batch=4, max_seq=3, ggu_cycles=10 if lean else 1)
    inputs = random_inputs(cfg, 3, 4, np.random.default_rng(1))
    assert_exact(simulate_board(cfg, [(inputs, BoardRunSpec(dense=False)), (inputs, BoardRunSpec(dense=True))],
                                root=root, lean=lean, name=f"job-{lean}"))


@pytest.mark.slow
def test_the_committed_trace_bit_exact_through_the_uart(root, trace_slice):
    """Four steps x batch 2 of the committed Jane Austen trace (all of its W and dW cross the link),
    with a bit error in a weight frame: sent again, and the results are still exact. (-m slow: 160 s on
    two cores; the default suite's small engine crosses the link with bit errors too.)"""
    cfg, inputs = trace_slice(steps=4, batch=2, lanes=4)       # (the trace's own lanes; Verilator is faster)
    res = simulate_board(cfg, [(inputs, BoardRunSpec(dense=False, corrupt=[(300, 0x80)]))], root=root)
    assert_exact(res)
    assert res[0].retries == 1
    assert res[0].counters["nonzeros"] == res[0].nonzeros < res[0].entries


@pytest.mark.slow
def test_a_whole_pass_of_the_committed_trace_in_both_modes(root):
    t = load_trace(DATA / "austen_lstm_h32.npz")
    cfg = t.config
    res = simulate_board(cfg, [(t.passes[0], BoardRunSpec(dense=False)), (t.passes[0], BoardRunSpec(dense=True))],
                         root=root)
    assert_exact(res)


def test_the_host_link_in_a_clock_domain_of_its_own(root, random_inputs):
    """As on the ECP5 boards (boards.top.BoardCore, ``link_domain``): the host link on a clock of its own, 2.3
    times the engine's period, every stream, the start pulse and the status crossing between the two; refused
    frames, bit errors and both modes stay bit-exact, as with one clock."""
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4)
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(1))
    res = simulate_board(cfg, [(inputs, BoardRunSpec(dense=False, probe=True)),
                               (inputs, BoardRunSpec(dense=True, corrupt=[(7, 0x04), (65, 0x01)]))],
                         root=root, link_ns=23.0, name="job-link")
    assert_exact(res)
    assert res[0].refusals["elements while idle"] == "the board refused a ELEM frame: NOT_RUNNING"
    assert res[0].counters["zeros_skipped"] > 0 and res[1].counters["zeros_skipped"] == 0
    assert res[0].retries == 2 and res[1].retries == 2


@pytest.mark.parametrize("link_ns", [0, -5.0, float("nan")])
def test_a_link_clock_that_is_no_period_is_refused(root, link_ns):
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4)
    with pytest.raises(ConfigError, match="link_ns must be a positive clock period in ns"):
        simulate_board(cfg, [], root=root, link_ns=link_ns)


def test_a_link_of_its_own_without_the_engine_input_fifos_is_refused():
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4)
    with pytest.raises(ConfigError, match="needs the engine's input FIFOs"):
        BoardCore(cfg, 4, input_fifos=False, link_domain="link")

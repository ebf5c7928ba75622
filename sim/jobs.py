"""What a co-simulation job hands the cocotb testbench (sim.tb_engine) and what the testbench hands back, as
typed records (golden_model.records); the simulation clock; sequences saved for the testbench.

No cocotb here: sim.cosim, boards.report and the testbenches all import this module.

- :class:`RunSpec`: one run of a sequence (mode, seed, handshake probabilities, a reset in the middle, other
  thresholds, deliberately wrong expectations);
- :class:`RunResult`: its outcome, with the first transfer that differs (:class:`Mismatch`) and the
  counters and flags that differ (:class:`Difference`);
- :class:`EngineJob` and :class:`EngineResults`: the job file and the results file;
- :func:`save_inputs` and :func:`load_inputs`: an EngineInputs as .npz.
"""

from dataclasses import dataclass, field

import numpy as np

from golden_model.checks import check_range, check_size
from golden_model.cycles import max_cycles
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import EngineInputs
from golden_model.errors import ConfigError
from golden_model.records import Record, RecordError
from hw.timing import micro_arch

__all__ = ["PERIOD_NS", "ENGINE_JOB_ENV", "MAX_HANDSHAKE", "cycle_budget", "check_handshake", "RunSpec", "Difference", "Mismatch",
           "Comparison", "RunResult", "EngineJob", "EngineResults", "save_inputs", "load_inputs"]

#: The simulation clock's period (ns) in every cocotb testbench.
PERIOD_NS = 10

#: The environment variable that names the job file of sim.tb_engine.
ENGINE_JOB_ENV = "ZSKIP_COSIM_JOB"

#: The largest gap or stall probability: at 1 no transfer would ever happen.
MAX_HANDSHAKE = 0.95

#: The output streams, as Scoreboard and RunSpec.corrupt name them.
STREAMS = ("dx", "state", "dw", "db")


def cycle_budget(config, T, B, gap=0.0, stall=0.0, runs=1):
    """A bound on the cycles ``runs`` sequences (T steps, batch B) take with the host's handshakes, so that a
    hang fails a simulation instead of running forever: every sequence fits in golden_model.cycles.max_cycles
    core cycles plus one per transfer (W both ways, the elements, a_t and dx), the gaps and stalls stretch
    each by at most 1 / (1 - p), and a factor 4 leaves room."""
    C, R = config.cols_per_lane, config.n_rows
    transfers = 2 * R * C + T * B * (config.hidden_size + 2 * C)
    return int(4 * runs * (max_cycles(config, micro_arch(config)) + transfers) / (1 - max(gap, stall)))


def check_handshake(name, value):
    """``value`` as a float if it is a probability in [0, MAX_HANDSHAKE] (``name``: "gap" or "stall"), else
    ConfigError."""
    return check_range(name, value, 0, MAX_HANDSHAKE, what="a probability")


@dataclass(frozen=True)
class RunSpec(Record):
    """One run of a sequence on the exported engine.

    Parameters
    ----------
    dense : bool
        Dense mode (every dz issued) instead of skipping zeros.
    seed : int
        Seed of the handshakes' random choices.
    gap, stall : float
        Per-cycle probability that a driver idles before a transfer, that a monitor refuses one
        (in [0, MAX_HANDSHAKE]).
    reset_after : int or None
        Reset the engine this many cycles after the start and abandon the run.
    model_tau, hw_tau : int or None
        The threshold of the golden model, of the hardware (default: the sequence's own).
    corrupt : tuple of (stream, index)
        Expected transfers made wrong on purpose (the scoreboard must see them).
    """

    dense: bool = False
    seed: int = 0
    gap: float = 0.0
    stall: float = 0.0
    reset_after: int | None = None
    model_tau: int | None = None
    hw_tau: int | None = None
    corrupt: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "gap", check_handshake("gap", self.gap))
        object.__setattr__(self, "stall", check_handshake("stall", self.stall))
        if self.reset_after is not None:
            check_size("reset_after (cycles)", self.reset_after, minimum=0)
        corrupt = tuple(tuple(c) for c in self.corrupt)
        for c in corrupt:
            if len(c) != 2 or c[0] not in STREAMS or not isinstance(c[1], int) or c[1] < 0:
                raise ConfigError(f"corrupt must hold (stream, index) pairs with a stream of {', '.join(STREAMS)}, "
                                  f"not {c!r}")
        object.__setattr__(self, "corrupt", corrupt)


@dataclass(frozen=True)
class Difference(Record):
    """A value that differs from the golden model's."""

    expected: object
    actual: object

    @classmethod
    def between(cls, expected, actual):
        """{name: Difference} of the values of ``actual`` (a dict: counters, flags) that differ from
        ``expected``'s."""
        return {k: cls(expected=expected[k], actual=v) for k, v in actual.items() if v != expected[k]}


@dataclass(frozen=True)
class Mismatch(Record):
    """The first output transfer that differs: its stream, its number on the stream, what it holds in human
    words (``where``: "count" when the stream carried too few or too many), expected and actual payload."""

    stream: str
    index: int
    where: str
    expected: object
    actual: object


@dataclass
class Comparison(Record):
    """What a run compared with the golden model reports, in co-simulation or through the board's link:
    ``passed`` (outputs, counters and flags all equal the model's), the counters and flags that differ, the
    hardware's counters, the cycles it waited for the host (``stall``), ``nonzeros`` of ``entries`` dz, and
    the run's wall time."""

    passed: bool
    counter_mismatches: dict[str, Difference]
    flag_mismatches: dict[str, Difference]
    counters: dict[str, int]
    stall: int
    nonzeros: int
    entries: int
    wall_s: float


@dataclass
class RunResult(Comparison):
    """The outcome of one run (a RunSpec) against the golden model (see Comparison).

    ``reset``: the run was abandoned by a reset (``RunSpec.reset_after``) and compared nothing.
    ``mismatch``: its first differing output transfer. ``model_cycles``: golden_model.cycles' counts;
    ``flags``: the hardware's. ``sim_cycles``: the run's simulated cycles; ``t_start_ns``: its start in
    the simulation (and in its waveform). ``waveform`` and ``sequence`` are filled in by sim.cosim.
    """

    run: RunSpec
    reset: bool
    mismatch: Mismatch | None
    model_cycles: dict[str, int]
    flags: dict[str, bool]
    sim_cycles: int
    t_start_ns: float
    waveform: str | None = None
    sequence: int | None = None

    @classmethod
    def abandoned(cls, run):
        """The result of a run ended by a reset: nothing measured, nothing compared."""
        return cls(run=run, passed=False, reset=True, mismatch=None, counter_mismatches={}, flag_mismatches={},
                   counters={}, model_cycles={}, flags={}, stall=0, sim_cycles=0, wall_s=0.0, t_start_ns=0.0,
                   nonzeros=0, entries=0)

    @property
    def failed(self):
        """The run was compared and something differs."""
        return not self.passed and not self.reset

    @property
    def differences(self):
        """What differs, in words: the first transfer, else the counters, else the flags."""
        return self.mismatch or self.counter_mismatches or self.flag_mismatches


@dataclass
class EngineJob(Record):
    """The job file of sim.tb_engine: the engine configuration (EngineConfig.to_dict(); ``config`` makes it
    again), the sequence's .npz, where the results go, and the runs."""

    SCHEMA = "zskip.engine-job/2"

    engine: dict
    inputs: str
    results: str
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def config(self):
        return EngineConfig.from_dict(self.engine)


@dataclass
class EngineResults(Record):
    """The results file of sim.tb_engine: one RunResult per run of the job, in order."""

    SCHEMA = "zskip.engine-results/1"

    runs: list[RunResult] = field(default_factory=list)


#: The arrays of an EngineInputs, as save_inputs writes them.
_ARRAYS = ("gates", "tanh_c", "c_prev", "a", "dh", "W")


def save_inputs(path, inputs):
    """Save an EngineInputs to ``path`` (.npz) for a testbench."""
    np.savez(path, **{k: getattr(inputs, k) for k in _ARRAYS}, tau=np.int64(inputs.tau))


def load_inputs(path):
    """The EngineInputs that :func:`save_inputs` wrote to ``path``."""
    try:
        with np.load(path) as z:
            return EngineInputs(**{k: z[k] for k in _ARRAYS}, tau=int(z["tau"]))
    except (OSError, ValueError, KeyError) as e:
        raise RecordError(f"{path} is not a sequence saved by sim.jobs.save_inputs ({type(e).__name__}: {e})") from None

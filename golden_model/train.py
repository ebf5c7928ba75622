"""Training a recurrent layer and head with (sparsified) SGD, seeded and deterministic.

One training step: forward through the layer, the head's loss and dL/dh, the
layer's sparsified backward with the threshold rule's current tau, the rule
observes the step's dz, global-norm gradient clipping, the optimiser step.
For text the state is carried from chunk to chunk (truncated BPTT) and reset
at each epoch; evaluation carries it the same way.

``train(config)`` returns a JSON-ready dict: the config, the dataset, per
epoch the training loss, validation loss and metric, dz sparsity per gate,
MAC accounting, and at the end the test metric, the whole run's statistics
and its |dz| histogram.
"""

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .checks import check_dtype, check_known, check_size
from .datasets import load_dataset
from .engine_model import fixed_backward
from .errors import ConfigError, ZskipError
from .gru import GRU
from .heads import Head
from .lstm import LSTM
from .optim import clip_grad_norm, make_optimizer
from .sparsify import parse_threshold
from .stats import BackwardStats

__all__ = ["CELLS", "TrainConfig", "TrainingDiverged", "train", "build_model", "evaluate"]

CELLS = {"lstm": LSTM, "gru": GRU}
#: Metrics for which lower is better.
LOWER_IS_BETTER = {"bpc", "mse"}


class TrainingDiverged(ZskipError):
    """The loss or the gradients became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the seed, the run is reproducible)."""

    dataset: str = "fashion-mnist"
    cell: str = "lstm"
    hidden: int = 128
    threshold: str = "dense"
    epochs: int = 1
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = None
    momentum: float = 0.9
    clip: float = 5.0
    seed: int = 0
    seq_len: int = 100
    limit: int = None
    eval_limit: int = None
    features: int = None
    dtype: str = "float64"
    backward: str = "float"
    engine: dict = None

    #: ``backward`` is "float" (the float golden model) or "fixed" (the engine model's
    #: fixed-point arithmetic, LSTM only; float master weights and optimiser). ``engine``
    #: overrides EngineConfig fields (formats, accumulator widths, rounding) for "fixed".

    def validate(self):
        """Raise ConfigError naming the first invalid field; return self."""
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}; use one of {', '.join(CELLS)}")
        for name in ("hidden", "epochs", "batch_size", "seq_len", "limit", "eval_limit", "features"):
            if name in ("hidden", "epochs", "batch_size", "seq_len") or getattr(self, name) is not None:
                check_size(name, getattr(self, name))
        check_size("seed", self.seed, minimum=0)
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip >= 0):
            raise ConfigError(f"clip must be a finite number >= 0 (0 disables clipping), not {self.clip!r}")
        make_optimizer(self.optimizer, self.lr, self.momentum)
        parse_threshold(self.threshold)
        check_dtype(self.dtype)
        if self.backward not in ("float", "fixed"):
            raise ConfigError(f"backward must be 'float' or 'fixed', not {self.backward!r}")
        if self.backward == "fixed":
            if self.cell != "lstm":
                raise ConfigError(f"the fixed-point backward pass models the LSTM engine; cell {self.cell!r} "
                                  "has no engine (use --backward float)")
            lanes = (self.engine or {}).get("lanes", 1)
            self.engine_config(input_size=lanes if isinstance(lanes, int) and lanes > 0 else 1,
                               seq_len=1)  # validates the overrides; the sizes are checked again at the start
        elif self.engine:
            raise ConfigError("engine options only apply with backward = 'fixed'")
        return self

    def engine_config(self, input_size, seq_len):
        """The EngineConfig of a fixed-point backward pass for this run."""
        from .engine_config import EngineConfig
        overrides = dict(self.engine or {})
        for key in ("input_size", "hidden_size", "max_batch", "max_seq"):
            if key in overrides:
                raise ConfigError(f"engine option {key} follows from the training run; do not set it")
        return EngineConfig.from_dict({"input_size": input_size, "hidden_size": self.hidden, "lanes": 1,
                                       "max_batch": self.batch_size, "max_seq": seq_len, **overrides})

    @classmethod
    def from_dict(cls, d):
        return cls(**check_known("training option", d, cls))


def build_model(config, dataset):
    """The layer and head for ``config`` on ``dataset``, seeded by ``config.seed``."""
    dtype = check_dtype(config.dtype)
    layer = CELLS[config.cell](dataset.input_size, config.hidden, seed=config.seed, dtype=dtype)
    head = Head(config.hidden, dataset.n_outputs, dataset.kind, dataset.per_step, seed=config.seed, dtype=dtype)
    return layer, head


def _run_layer(layer, x, state):
    """Forward through ``layer`` from ``state`` (dict of h0/c0 or empty); return h, cache, next state."""
    h, cache = layer.forward(x, **state)
    nxt = {"h0": h[-1].copy()}
    if isinstance(layer, LSTM):
        nxt["c0"] = cache.c_last.copy()
    return h, cache, nxt


def _fit_state(state, B):
    """Drop the carried state when the batch size changes (last, shorter chunk)."""
    return state if state and next(iter(state.values())).shape[0] == B else {}


def evaluate(layer, head, dataset, split, batch_size=256):
    """Mean loss and metric of ``split``; text carries the state across chunks."""
    loss_sum = correct = count = 0
    state = {}
    for x, y in dataset.batches(split, _eval_batch(dataset, split, batch_size)):
        state = _fit_state(state, x.shape[1]) if dataset.stateful else {}
        h, _, state = _run_layer(layer, x, state)
        ls, c, n = head.evaluate(h, y)
        loss_sum, correct, count = loss_sum + ls, correct + c, count + n
    loss = loss_sum / count
    return loss, _metric(dataset.metric, loss, correct, count)


def _eval_batch(dataset, split, batch_size):
    """Text is evaluated with at most ``batch_size`` streams of at least two characters each."""
    if dataset.stateful:
        return max(1, min(batch_size, (dataset.n_samples(split) - 1) // 2))
    return batch_size


def _metric(name, loss, correct, count):
    if name == "accuracy":
        return correct / count
    if name == "bpc":
        return loss / math.log(2)
    return loss  # mse


class _FixedLog:
    """What the fixed-point backward passes of a run did: scales, clipped inputs, overflow flags."""

    def __init__(self):
        self.passes = 0
        self.scales = []
        self.clipped = {}
        self.overflow = {}

    def add(self, info):
        self.passes += 1
        self.scales.append(info["scale"])
        for k, v in info["clipped"].items():
            self.clipped[k] = self.clipped.get(k, 0) + int(v)
        for k, v in info["result"].flags.items():
            self.overflow[k] = self.overflow.get(k, 0) + int(v)

    def summary(self, engine):
        return {"engine": engine.to_dict(), "passes": self.passes,
                "gradient_scale_log2": {"min": min(self.scales), "max": max(self.scales)} if self.scales else None,
                "passes_with_clipped_inputs": self.clipped, "passes_with_overflow": self.overflow}


def train(config, progress=None, dataset=None, keep_model=False):
    """Train per ``config``; return the JSON-ready result dict (see the module docstring).

    With ``keep_model`` the dict also holds ``"model"``: ``{"layer": .., "head": ..}``
    (not JSON; ``write_run`` saves it as model.npz).

    ``progress(event)`` is called with ``{"kind": "start", "steps": n}`` once per
    epoch, ``{"kind": "step", "loss": .., "tau": .., "sparsity": ..}`` after every
    step and ``{"kind": "epoch", ...}`` with the epoch record.
    """
    config.validate()
    if dataset is None:
        dataset = load_dataset(config.dataset, seq_len=config.seq_len, limit=config.limit,
                               eval_limit=config.eval_limit, seed=config.seed, features=config.features)
    progress = progress or (lambda event: None)
    for split in ("train", "val", "test"):  # a split too small for the batch fails now, not after an epoch
        dataset.n_batches(split, config.batch_size if split == "train" else _eval_batch(dataset, split,
                                                                                           config.batch_size))
    layer, head = build_model(config, dataset)
    rule = parse_threshold(config.threshold)
    opt = make_optimizer(config.optimizer, config.lr, config.momentum)
    rng = np.random.default_rng([config.seed, 2])
    engine = config.engine_config(dataset.input_size, dataset.seq_len) if config.backward == "fixed" else None
    params = {f"layer.{k}": v for k, v in layer.params.items()} | {f"head.{k}": v for k, v in head.params.items()}
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported below
        result = _train_loop(config, dataset, layer, head, rule, opt, rng, params, progress, engine)
    if keep_model:
        result["model"] = {"layer": layer, "head": head}
    return result


def _train_loop(config, dataset, layer, head, rule, opt, rng, params, progress, engine):
    run_stats = BackwardStats(layer.GATES, layer.n_inputs)
    run_head_macs = 0
    epochs, history = [], []
    fixed_log = _FixedLog()
    step = 0
    t_start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        ep_stats = BackwardStats(layer.GATES, layer.n_inputs)
        ep_head_macs = 0
        loss_sum = count = 0
        state = {}
        t0 = time.perf_counter()
        progress({"kind": "start", "epoch": epoch, "steps": dataset.n_batches("train", config.batch_size)})
        for x, y in dataset.batches("train", config.batch_size, None if dataset.stateful else rng):
            state = _fit_state(state, x.shape[1]) if dataset.stateful else {}
            h, cache, state = _run_layer(layer, x, state)
            loss, head_grads, dh, (ls, _, n) = head.loss_and_grad(h, y)
            if engine is None:
                grads, st = layer.backward(dh, cache, threshold=rule.tau, record=rule.needs_dz)
            else:
                grads, st, info = fixed_backward(engine, layer, cache, dh, rule.tau, record=rule.needs_dz)
                fixed_log.add(info)
            rule.observe(st)
            st.dz_raw = st.dz = None
            all_grads = {f"layer.{k}": grads[k] for k in layer.params} | {f"head.{k}": v for k, v in head_grads.items()}
            norm = clip_grad_norm(all_grads, config.clip)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                raise TrainingDiverged(f"training diverged at epoch {epoch}, step {step + 1}: loss {loss}, "
                                       f"gradient norm {norm}; lower --lr or set --clip")
            opt.step(params, all_grads)
            step += 1
            ep_stats = ep_stats + st
            ep_head_macs += head.macs(h.shape)
            loss_sum, count = loss_sum + ls, count + n
            history.append({"step": step, "loss": loss, "tau": float(st.tau_mean), "sparsity": st.dz_sparsity})
            progress({"kind": "step", "epoch": epoch, "step": step, "loss": loss, "tau": st.tau_mean,
                      "sparsity": st.dz_sparsity})
        val_loss, val_metric = evaluate(layer, head, dataset, "val", config.batch_size)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / count,
            "val_loss": val_loss,
            "val_metric": val_metric,
            "seconds": time.perf_counter() - t0,
        } | ep_stats.to_dict(ep_head_macs)
        epochs.append(record)
        progress({"kind": "epoch"} | record)
        run_stats = run_stats + ep_stats
        run_head_macs += ep_head_macs
    test_loss, test_metric = evaluate(layer, head, dataset, "test", config.batch_size)
    return {
        "config": asdict(config),
        "threshold_rule": rule.spec,
        "dataset": dataset.describe(),
        "metric": dataset.metric,
        "metric_higher_is_better": dataset.metric not in LOWER_IS_BETTER,
        "gates": list(layer.GATES),
        "epochs": epochs,
        "final": {
            "test_loss": test_loss,
            "test_metric": test_metric,
            "val_metric": epochs[-1]["val_metric"],
            "seconds": time.perf_counter() - t_start,
        } | run_stats.to_dict(run_head_macs),
        "histogram": run_stats.histogram_dict(),
        "history": history,
    } | ({"fixed_point": fixed_log.summary(engine)} if engine is not None else {})

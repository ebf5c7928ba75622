"""Gradient traces: real, quantised engine inputs captured from a trained model, for co-simulation.

A trace is a ``.npz`` file (format version 1) holding:

- ``kind`` = "zskip-trace" and ``format_version`` = 1;
- ``config``: the EngineConfig as JSON (sizes, lanes, formats, widths, rounding);
- ``meta``: provenance as JSON (run directory, dataset, threshold rule, the
  float tau and the power-of-two gradient scale of every pass);
- ``W`` (4H, N): the weights in the weight format;
- per captured backward pass p (K passes, each a whole sequence of T steps
  and B sequences): ``gates`` (K, T, B, 4H), ``tanh_c``, ``c_prev``, ``dh``
  (K, T, B, H), ``a`` (K, T, B, N), and ``tau`` (K,) in the grad format.

The engine model computes the expected outputs from these inputs, so a trace
carries no outputs. :func:`load_trace` checks everything before anything runs.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_file, check_size
from .engine_config import EngineConfig
from .engine_model import EngineInputs, gradient_scale, quantize_inputs
from .errors import ConfigError, DataError, ZskipError

__all__ = ["TRACE_VERSION", "Trace", "TraceError", "capture_trace", "save_trace", "load_trace"]

TRACE_VERSION = 1
_PER_PASS = ("gates", "tanh_c", "c_prev", "a", "dh")


class TraceError(DataError):
    """A trace file that is missing, corrupt, truncated, of another version, or inconsistent."""


@dataclass
class Trace:
    config: EngineConfig
    passes: list          # of EngineInputs
    meta: dict


def _storage_dtype(fmt):
    return np.int16 if fmt.width <= 16 else np.int32 if fmt.width <= 32 else np.int64


def save_trace(trace, path):
    """Write ``trace`` to ``path`` (compressed .npz)."""
    c = trace.config
    if not trace.passes:
        raise TraceError("a trace needs at least one backward pass")
    for k, p in enumerate(trace.passes):
        p.check(c)  # values in their formats, so the narrow storage types below cannot wrap
        if not np.array_equal(p.W, trace.passes[0].W):
            raise TraceError(f"pass {k} has other weights than pass 0; a trace holds one W")
    fmts = c.input_formats
    arrays = {name: np.stack([getattr(p, name) for p in trace.passes]).astype(_storage_dtype(fmts[name]))
              for name in _PER_PASS}
    arrays["tau"] = np.array([int(p.tau) for p in trace.passes], np.int64)
    arrays["W"] = trace.passes[0].W.astype(_storage_dtype(c.weight))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez_compressed(f, kind=np.array("zskip-trace"), format_version=np.array(TRACE_VERSION),
                            config=np.array(json.dumps(c.to_dict())), meta=np.array(json.dumps(trace.meta)),
                            **arrays)
    return path


def load_trace(path, config=None):
    """Read and validate a trace; with ``config`` also check that it matches that EngineConfig."""
    p = check_file(path, "trace", TraceError)
    try:
        with np.load(p, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise TraceError(f"trace {p} is not a readable .npz file (corrupt or truncated?): {e}") from None
    if str(data.get("kind", "")) != "zskip-trace":
        raise TraceError(f"{p} is not a zskip trace (no kind = 'zskip-trace')")
    version = int(data.get("format_version", -1))
    if version != TRACE_VERSION:
        raise TraceError(f"trace {p} has format version {version}; this zskip reads version {TRACE_VERSION}")
    missing = [k for k in ("config", "meta", "W", "tau", *_PER_PASS) if k not in data]
    if missing:
        raise TraceError(f"trace {p} lacks {', '.join(missing)}")
    try:
        cfg = EngineConfig.from_dict(json.loads(str(data["config"])))
        meta = json.loads(str(data["meta"]))
    except (json.JSONDecodeError, ZskipError) as e:
        raise TraceError(f"trace {p} holds an invalid configuration: {e}") from None
    if config is not None and config != cfg:
        diff = {k: (v, getattr(config, k)) for k, v in cfg.to_dict().items() if config.to_dict()[k] != v}
        raise TraceError(f"trace {p} was made for another engine configuration; differing fields "
                         + ", ".join(f"{k}: trace {a!r} vs {b!r}" for k, (a, b) in diff.items()))
    for name, nd in (("tau", 1), ("W", 2)) + tuple((n, 4) for n in _PER_PASS):
        if data[name].ndim != nd:
            raise TraceError(f"trace {p}: {name} must have {nd} dimensions, has {data[name].ndim}")
    K = len(data["tau"])
    if K == 0:
        raise TraceError(f"trace {p} holds no backward pass")
    for name in _PER_PASS:
        if data[name].shape[0] != K:
            raise TraceError(f"trace {p}: {name} holds {data[name].shape[0]} passes, tau {K}")
    for name in ("W", "tau", *_PER_PASS):
        if data[name].dtype.kind not in "iu":
            raise TraceError(f"trace {p}: {name} must hold integers, not dtype {data[name].dtype}")
    for name in ("tau", "gradient_scale_log2"):
        if name in meta and len(meta[name]) != K:
            raise TraceError(f"trace {p}: meta {name} has {len(meta[name])} entries for {K} passes")
    passes = []
    for k in range(K):
        inputs = EngineInputs(**{name: data[name][k].astype(np.int64) for name in _PER_PASS},
                              W=data["W"].astype(np.int64), tau=int(data["tau"][k]))
        try:
            inputs.check(cfg)
        except ZskipError as e:
            raise TraceError(f"trace {p}, pass {k}: {e}") from None
        passes.append(inputs)
    return Trace(cfg, passes, meta)


def capture_trace(run_dir, *, passes=3, batch=4, lanes=4, threshold=None, engine=None, split="train",
                  progress=None):
    """Capture ``passes`` backward passes of real data through the model trained in ``run_dir``.

    Each pass is one batch of ``batch`` sequences from ``split``; dh comes from
    the run's head and loss. The threshold rule defaults to the run's;
    adaptive rules are calibrated on one float backward pass first. Only LSTM
    runs have an engine. ``passes``, ``batch`` and ``lanes`` are checked
    (integers >= 1) before the run is read.
    """
    from .datasets import load_dataset
    from .sparsify import StaticThreshold, parse_threshold
    from .train import TrainConfig, build_model

    passes, batch, lanes = check_size("passes", passes), check_size("batch", batch), check_size("lanes", lanes)
    run = Path(run_dir)
    try:
        metrics = json.loads((run / "metrics.json").read_text())
        with np.load(run / "model.npz") as f:
            saved = {k: f[k] for k in f.files}
    except FileNotFoundError as e:
        raise ConfigError(f"{run} is not a training run directory with metrics.json and model.npz "
                          f"(missing {Path(e.filename).name}); make one with 'zskip train --out {run}'") from None
    except (json.JSONDecodeError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(f"cannot read the run in {run}: {e}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("config"), dict):
        raise ConfigError(f"{run}/metrics.json has no training configuration ('config'); "
                          "was it written by 'zskip train'?")
    cfg = TrainConfig.from_dict(metrics["config"]).validate()
    if cfg.cell != "lstm":
        raise ConfigError(f"the run in {run} trained a {cfg.cell.upper()}; the engine is an LSTM engine")
    ds = load_dataset(cfg.dataset, seq_len=cfg.seq_len, seed=cfg.seed, features=cfg.features)
    layer, head = build_model(cfg, ds)
    for name, arr in saved.items():
        part, attr = name.split(".", 1)
        target = getattr(layer if part == "layer" else head, attr, None)
        if target is None or target.shape != arr.shape:
            raise ConfigError(f"{run}/model.npz: {name} {arr.shape} does not fit the run's model")
        target[...] = arr
    if engine is None:
        engine = cfg.engine or {}  # a fixed-point run's own formats
    engine_cfg = EngineConfig.from_dict({"input_size": ds.input_size, "hidden_size": cfg.hidden, "lanes": lanes,
                                         "max_batch": batch, "max_seq": ds.seq_len, **engine})
    rule = parse_threshold(threshold if threshold is not None else metrics.get("threshold_rule", cfg.threshold))
    batches = ds.batches(split, batch, np.random.default_rng([cfg.seed, 3]) if not ds.stateful else None)

    def next_batch():
        try:
            x, y = next(batches)
        except StopIteration:
            x = None
        if x is None or x.shape[1] < batch:
            raise ConfigError(f"the {split} split has too few full batches of {batch} for {passes} passes")
        h, cache = layer.forward(x)
        return cache, head.loss_and_grad(h, y)[2]

    if not isinstance(rule, StaticThreshold):  # calibrate an adaptive rule on one float pass
        cache, dh = next_batch()
        rule.observe(layer.backward(dh, cache, 0.0, record=True)[1])
    captured, taus, scales, clipped = [], [], [], []
    for _ in range(passes):
        cache, dh = next_batch()
        s = gradient_scale(engine_cfg, dh)
        k = np.ldexp(1.0, s)
        inputs, clip = quantize_inputs(engine_cfg, layer, cache, dh * k, rule.tau * k)
        clipped.append(sorted(name for name, v in clip.items() if v))
        captured.append(inputs)
        taus.append(rule.tau)
        scales.append(s)
        rule.observe(layer.backward(dh, cache, rule.tau, record=rule.needs_dz)[1])
        if progress:
            progress(len(captured), passes)
    meta = {"run": str(run), "dataset": cfg.dataset, "threshold_rule": rule.spec, "split": split,
            "tau": taus, "gradient_scale_log2": scales, "clipped_inputs": clipped,
            "note": "dh and tau are multiplied by 2**gradient_scale_log2 before quantisation"}
    return Trace(engine_cfg, captured, meta)

"""Traces: capture from a real run, round trip, and a clear error for every kind of bad file."""

import json
import zipfile

import numpy as np
import pytest

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import run_engine
from golden_model.runs import write_run
from golden_model.trace import TraceError, capture_trace, load_trace, save_trace
from golden_model.train import TrainConfig, train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, make_tiny_npz):
    tmp = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(dataset=make_tiny_npz(tmp), hidden=6, epochs=2, batch_size=16, optimizer="adam", lr=0.02,
                      threshold="sparsity:0.6")
    return write_run(train(cfg, keep_model=True), tmp / "run")


@pytest.fixture(scope="module")
def trace_file(run_dir, tmp_path_factory):
    return save_trace(capture_trace(run_dir, passes=3, batch=4, lanes=2), tmp_path_factory.mktemp("t") / "t.npz")


def test_capture_and_round_trip(run_dir, tmp_path):
    captured = capture_trace(run_dir, passes=3, batch=4, lanes=2)
    t = load_trace(save_trace(captured, tmp_path / "rt.npz"))
    for a, b in zip(captured.passes, t.passes):
        for name in ("gates", "tanh_c", "c_prev", "a", "dh", "W"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.tau == b.tau
    assert t.meta == captured.meta
    assert len(t.passes) == 3 and t.config.max_batch == 4 and t.config.hidden_size == 6 and t.config.lanes == 2
    assert t.meta["threshold_rule"] == "sparsity:0.6" and len(t.meta["tau"]) == 3
    for p in t.passes:
        assert p.dh.shape == (6, 4, 6) and p.tau > 0
        r = run_engine(t.config, p)
        assert 0.3 < 1 - r.nonzeros / r.dz.size < 0.9  # the calibrated rule bites on real gradients
    assert load_trace(tmp_path / "rt.npz", config=t.config).config == t.config


def test_mismatched_configuration_is_named(trace_file):
    t = load_trace(trace_file)
    other = EngineConfig.from_dict({**t.config.to_dict(), "lanes": 1})
    with pytest.raises(TraceError, match="another engine configuration; differing fields lanes: trace 2 vs 1"):
        load_trace(trace_file, config=other)


def test_truncated_and_corrupt_files(trace_file, tmp_path):
    raw = trace_file.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(TraceError, match="not a readable .npz file"):
        load_trace(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 100)
    with pytest.raises(TraceError, match="not a readable .npz file"):
        load_trace(tmp_path / "junk.npz")
    with pytest.raises(TraceError, match="does not exist"):
        load_trace(tmp_path / "none.npz")


def rewrite(src, dst, **changes):
    with np.load(src) as f:
        data = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            del data[k]
        else:
            data[k] = v
    np.savez(dst, **data)
    return dst


@pytest.mark.parametrize("changes, words", [
    (dict(kind=np.array("other")), "is not a zskip trace"),
    (dict(format_version=np.array(2)), "format version 2; this zskip reads version 1"),
    (dict(dh=None), "lacks dh"),
    (dict(config=np.array("{not json")), "invalid configuration"),
    (dict(config=np.array(json.dumps({"lanes": 3}))), "invalid configuration: lanes must be a positive power of two"),
    (dict(tau=np.array([1, 2])), "gates holds 3 passes, tau 2"),
    (dict(tau=np.array([1, 2, 3, 4])), "gates holds 3 passes, tau 4"),
    (dict(tau=np.array([], np.int64)), "holds no backward pass"),
    (dict(tau=np.array(3)), "tau must have 1 dimensions, has 0"),
])
def test_bad_contents(trace_file, tmp_path, changes, words):
    with pytest.raises(TraceError, match=words):
        load_trace(rewrite(trace_file, tmp_path / "bad.npz", **changes))


def test_values_outside_their_format(trace_file, tmp_path):
    with np.load(trace_file) as f:
        gates = f["gates"].astype(np.int64)
    gates[1, 0, 0, 0] = 1 << 20
    with pytest.raises(TraceError, match="pass 1: engine input gates holds values outside its format Q2.14"):
        load_trace(rewrite(trace_file, tmp_path / "bad.npz", gates=gates))
    with np.load(trace_file) as f:
        a = f["a"][:, :, :, :-1]
    with pytest.raises(TraceError, match=r"pass 0: engine input a must have shape"):
        load_trace(rewrite(trace_file, tmp_path / "bad.npz", a=a))


def test_capture_errors(tmp_path, run_dir):
    from golden_model import ConfigError
    with pytest.raises(ConfigError, match="not a training run directory"):
        capture_trace(tmp_path)
    with pytest.raises(ConfigError, match="too few full batches"):
        capture_trace(run_dir, passes=1000, batch=4)
    (tmp_path / "metrics.json").write_text('{"epochs": []}')
    (tmp_path / "model.npz").write_bytes((run_dir / "model.npz").read_bytes())
    with pytest.raises(ConfigError, match="metrics.json has no training configuration"):
        capture_trace(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="metrics.json has no training configuration"):
        capture_trace(tmp_path)


DATA = __import__("pathlib").Path(__file__).parents[1] / "data"


@pytest.mark.parametrize("name, dataset, T, I, H, raw_zeros", [
    ("austen_lstm_h32.npz", "jane-austen", 32, 81, 32, (0.0, 0.2)),
    ("fashion_lstm_h32.npz", "fashion-mnist", 28, 28, 32, (0.4, 0.7)),  # the underflow case: see tests/data
    ("fashion_lstm_h64.npz", "fashion-mnist", 28, 28, 64, (0.2, 0.45)),  # the ULX3S's H = 64, 16 lanes
])
def test_committed_traces_run_in_skip_and_dense_mode(name, dataset, T, I, H, raw_zeros):
    from golden_model.cycles import cycle_counts
    from hw.timing import micro_arch
    t = load_trace(DATA / name)
    assert (t.config.hidden_size, t.config.input_size, t.config.max_batch, t.config.max_seq) == (H, I, 4, T)
    assert t.meta["dataset"] == dataset and len(t.passes) == 3
    for p in t.passes:
        s, d = run_engine(t.config, p), run_engine(t.config, p, dense=True)
        np.testing.assert_array_equal(s.dW, d.dW)
        assert not any(s.flags.values())
        assert raw_zeros[0] <= (s.dz_raw == 0).mean() <= raw_zeros[1]
        sparsity = 1 - s.nonzeros / s.dz.size
        assert 0.75 < sparsity < 0.99
        arch = micro_arch(t.config)
        cs, cd = cycle_counts(t.config, s, arch), cycle_counts(t.config, d, arch)
        assert cs.mac_busy == s.nonzeros * t.config.cols_per_lane
        assert cd.mac_busy == s.dz.size * t.config.cols_per_lane
        efficiency = cd.steps / cs.steps * (1 - sparsity)  # speedup / ideal speedup, of the backward steps
        assert 0.6 < efficiency <= 1.0
    if dataset == "jane-austen":
        assert min(p.tau for p in t.passes) >= 16  # the threshold sits well above the format's resolution

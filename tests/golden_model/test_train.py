"""Heads, optimisers and the training loop: gradients, determinism, learning, statistics."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from golden_model.heads import Head
from golden_model.optim import SGD, Adam, clip_grad_norm
from golden_model import ConfigError
from golden_model.runs import compare, write_run
from golden_model.datasets import load_dataset
from golden_model.train import TrainConfig, TrainingDiverged, build_model, evaluate, train


@pytest.mark.parametrize("kind, per_step", [("classify", False), ("classify", True),
                                            ("regress", False), ("regress", True)])
def test_head_gradients(kind, per_step, numeric_grad, rel_error):
    T, B, H, C = 4, 3, 5, 6
    rng = np.random.default_rng(0)
    head = Head(H, C, kind, per_step, seed=1)
    h = rng.normal(size=(T, B, H))
    shape = (T, B) if per_step else (B,)
    y = rng.integers(0, C, shape) if kind == "classify" else rng.normal(size=shape + (C,))

    def loss():
        return head.loss_and_grad(h, y)[0]

    _, grads, dh, _ = head.loss_and_grad(h, y)
    assert rel_error(numeric_grad(loss, h), dh) < 1e-7
    for name, p in head.params.items():
        assert rel_error(numeric_grad(loss, p), grads[name]) < 1e-7
    if not per_step:
        assert not dh[:-1].any()  # only the last step is read


def test_classification_metrics():
    head = Head(2, 3, "classify", False)
    head.V[...] = [[1, 0], [0, 1], [0, 0]]
    head.c[...] = 0
    h = np.array([[[5.0, 0], [0, 5], [0, 0]]])  # (T=1, B=3, H=2)
    loss_sum, correct, count = head.evaluate(h, np.array([0, 1, 1]))
    assert (correct, count) == (2, 3)
    # logits (5, 0, 0), (0, 5, 0), (0, 0, 0): two confident hits and one uniform guess
    hit = -math.log(math.exp(5) / (math.exp(5) + 2))
    assert math.isclose(loss_sum, 2 * hit + math.log(3), rel_tol=1e-12)


def test_optimisers_and_clipping():
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([3.0, 4.0])}
    assert clip_grad_norm(g, 1.0) == 5.0
    np.testing.assert_allclose(g["w"], [0.6, 0.8])
    assert clip_grad_norm(g, 0) == pytest.approx(1.0)
    SGD(0.5).step(p, g)
    np.testing.assert_allclose(p["w"], [0.7, -2.4])
    m = SGD(1.0, momentum=0.5)
    p = {"w": np.zeros(1)}
    for _ in range(2):
        m.step(p, {"w": np.ones(1)})
    np.testing.assert_allclose(p["w"], [-(1 + 1.5)])
    p = {"w": np.zeros(2)}
    adam = Adam(0.1)
    adam.step(p, {"w": np.array([1e-3, -5.0])})
    np.testing.assert_allclose(p["w"], [-0.1, 0.1], rtol=1e-4)  # Adam's first step is lr * sign(g)
    adam.step(p, {"w": np.array([3e-3, 5.0])})
    # by hand: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, step lr * (m / 0.19) / (sqrt(v / 0.001999) + eps)
    m1 = 0.9 * 0.1 * 1e-3 + 0.1 * 3e-3
    v1 = 0.999 * 0.001 * 1e-6 + 0.001 * 9e-6
    w0 = -0.1 / (1 + 1e-8 / 1e-3) - 0.1 * (m1 / 0.19) / (np.sqrt(v1 / (1 - 0.999 ** 2)) + 1e-8)
    m2 = 0.9 * 0.1 * -5.0 + 0.1 * 5.0
    w1 = 0.1 / (1 + 1e-8 / 5.0) - 0.1 * (m2 / 0.19) / (np.sqrt((0.999 * 0.001 * 25 + 0.001 * 25) / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(p["w"], [w0, w1], rtol=1e-9)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_learns_and_is_deterministic(tiny_npz, cell):
    cfg = TrainConfig(dataset=tiny_npz, cell=cell, hidden=8, epochs=6, batch_size=16,
                      optimizer="adam", lr=0.02, threshold="sparsity:0.5", seed=3)
    r1 = train(cfg)
    r2 = train(cfg)
    assert r1["history"] == r2["history"]  # bit-identical reruns, step by step
    assert len(r1["epochs"]) == len(r2["epochs"]) == 6
    for a, b in zip(r1["epochs"], r2["epochs"]):
        for key in ("train_loss", "val_loss", "val_metric", "dz_sparsity", "tau_mean"):
            assert a[key] == b[key]
    assert train(replace(cfg, seed=4))["history"] != r1["history"]  # and the seed matters
    assert r1["epochs"][-1]["train_loss"] < 0.6 * r1["epochs"][0]["train_loss"]
    assert r1["final"]["test_metric"] > 0.8
    # the target-sparsity rule reaches its target (after the dense first step)
    sp = [h["sparsity"] for h in r1["history"][5:]]
    assert abs(np.mean(sp) - 0.5) < 0.1
    assert r1["history"][0]["tau"] == 0.0


def test_run_statistics_add_up(tiny_npz):
    cfg = TrainConfig(dataset=tiny_npz, hidden=4, epochs=2, batch_size=32, threshold="static:1e-3",
                      optimizer="sgd", lr=0.5)
    r = train(cfg)
    e1, e2 = r["epochs"]
    f = r["final"]
    assert f["passes"] == e1["passes"] + e2["passes"] == len(r["history"])
    assert f["macs"]["forward"] == e1["macs"]["forward"] + e2["macs"]["forward"]
    n_train = r["dataset"]["samples"]["train"]
    N = 3 + 4
    assert f["macs"]["forward"] == 2 * n_train * 6 * 4 * 4 * N  # epochs * sequences * T * G * H * N
    assert f["macs"]["other"] == 2 * n_train * 3 * 4 * 3        # head: 3 passes * H * C, last step only
    red = f["macs"]["redundant_data"] + f["macs"]["redundant_weight"]
    total = 3 * f["macs"]["forward"] + f["macs"]["other"]
    assert f["macs"]["redundant_fraction_all"] == pytest.approx(red / total, rel=1e-12)
    n_dz = 2 * n_train * 6 * 4  # epochs * sequences * T * H, per gate
    assert sum(sum(c) for c in r["histogram"]["counts"].values()) + sum(r["histogram"]["zeros"].values()) \
        == 4 * n_dz


def test_text_training_carries_state(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("abcabcabcabd" * 400)
    r = train(TrainConfig(dataset=str(p), hidden=16, epochs=3, batch_size=4, seq_len=12, optimizer="adam",
                          lr=0.02, threshold="rms:0.5"))
    assert r["metric"] == "bpc" and not r["metric_higher_is_better"]
    assert r["final"]["test_metric"] < 0.5  # 'abcabcabcabd' is nearly deterministic: well under 1 bit
    assert r["dataset"]["input_size"] == 4


def test_evaluation_carries_state_across_chunks(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("".join(np.random.default_rng(0).choice(list("abcd"), 3000)))
    ds = load_dataset(str(p), seq_len=5)
    layer, head = build_model(TrainConfig(dataset=str(p), hidden=6), ds)
    loss, _ = evaluate(layer, head, ds, "val", batch_size=3)
    carried = reset = 0.0
    state, count = {}, 0
    for x, y in ds.batches("val", 3):
        h, cache = layer.forward(x, **state)
        state = {"h0": h[-1], "c0": cache.c_last}
        carried += head.evaluate(h, y)[0]
        reset += head.evaluate(layer.forward(x)[0], y)[0]
        count += y.size
    assert loss == pytest.approx(carried / count, rel=1e-12)
    assert abs(loss - reset / count) > 1e-6


def test_divergence_is_reported(tmp_path):
    p = tmp_path / "huge.npz"
    np.savez(p, x=np.zeros((40, 3, 2)), y=np.full((40, 1), 1e200))  # squared error overflows
    cfg = TrainConfig(dataset=str(p), hidden=4, epochs=1, batch_size=16)
    with pytest.raises(TrainingDiverged, match="training diverged at epoch 1, step"):
        train(cfg)


def test_write_run_and_compare(tmp_path, tiny_npz):
    cfg = TrainConfig(dataset=tiny_npz, hidden=6, epochs=2, batch_size=16, optimizer="adam", lr=0.02)
    result = train(cfg, keep_model=True)
    out = write_run(result, tmp_path / "run")
    assert {p.name for p in out.iterdir()} == {"metrics.json", "learning_curves.png", "dz_histogram.png", "model.npz"}
    with np.load(out / "model.npz") as saved:
        np.testing.assert_array_equal(saved["layer.W"], result["model"]["layer"].W)
        assert set(saved.files) == {"layer.W", "layer.b", "head.V", "head.c"}
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["seed"] == 0 and len(m["epochs"]) == 2
    assert set(m["epochs"][0]["sparsity_after"]) == {"i", "f", "g", "o"}
    s = compare(cfg, ["static:1e9", "sparsity:0.5"], tmp_path / "cmp")
    assert [r["label"] for r in s["rows"]] == ["dense", "static:1000000000.0", "sparsity:0.5"]
    assert s["rows"][1]["dz_sparsity"] == 1.0
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| dense |" in md and "sparsity:0.5" in md
    assert (tmp_path / "cmp" / "sparsity_vs_metric.png").stat().st_size > 1000
    dense = train(cfg)
    assert s["rows"][0]["test_metric"] == dense["final"]["test_metric"]  # same seed, same data


WIDE_ENGINE = {"act": "Q2.50", "state": "Q6.50", "inp": "Q6.50", "weight": "Q6.50", "grad": "Q4.58"}


def test_fixed_point_backward_with_float_equivalent_formats_follows_float_training(tiny_npz):
    base = TrainConfig(dataset=tiny_npz, hidden=6, epochs=1, batch_size=24, optimizer="adam", lr=0.01,
                       threshold="static:1e-4")
    f = train(base)
    x = train(replace(base, backward="fixed", engine=WIDE_ENGINE))
    fl, xl = [h["loss"] for h in f["history"]], [h["loss"] for h in x["history"]]
    np.testing.assert_allclose(xl, fl, rtol=1e-9)
    assert x["fixed_point"]["passes"] == len(xl)
    assert not any(x["fixed_point"]["passes_with_overflow"].values())


def test_fixed_point_backward_with_default_formats_trains(tiny_npz):
    cfg = TrainConfig(dataset=tiny_npz, hidden=8, epochs=6, batch_size=16, optimizer="adam", lr=0.02,
                      threshold="sparsity:0.5", backward="fixed", seed=3)
    r = train(cfg)
    assert r["final"]["test_metric"] > 0.8
    assert r["fixed_point"]["engine"]["grad"] == "Q-8.24"


def test_fixed_point_backward_configuration_errors(tmp_path):
    with pytest.raises(ConfigError, match="models the LSTM engine"):
        TrainConfig(cell="gru", backward="fixed").validate()
    with pytest.raises(ConfigError, match="only apply with backward = 'fixed'"):
        TrainConfig(engine={"grad": "Q-8.24"}).validate()
    with pytest.raises(ConfigError, match="engine option hidden_size follows from the training run"):
        TrainConfig(backward="fixed", engine={"hidden_size": 3}).validate()
    with pytest.raises(ConfigError, match="format act .* must hold -1 and 1"):
        TrainConfig(backward="fixed", engine={"act": "Q1.15"}).validate()


def test_compare_with_the_fixed_point_column(tmp_path, tiny_npz):
    cfg = TrainConfig(dataset=tiny_npz, hidden=6, epochs=1, batch_size=32, optimizer="adam", lr=0.02)
    s = compare(cfg, ["sparsity:0.5"], tmp_path / "cmp", fixed=True)
    assert [r["kind"] for r in s["rows"]] == ["dense", "sparse", "fixed"]
    assert s["rows"][2]["label"] == "fixed sparsity:0.5" and s["best"]["kind"] == "sparse"
    assert (tmp_path / "cmp" / "fixed-sparsity-0.5" / "metrics.json").exists()
    assert "fixed sparsity:0.5" in (tmp_path / "cmp" / "compare.md").read_text()

"""Dataset loaders: the real corpora, user files, and every kind of bad file."""

import gzip
import os

import numpy as np
import pytest

from golden_model import ConfigError, DataError, MissingDependencyError
from golden_model import datasets
from golden_model.datasets import load_dataset


@pytest.mark.needs_dataset("fashion-mnist")
def test_fashion_mnist_rowwise():
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (55000, 28, 28) and ds.x_val.shape == (5000, 28, 28)
    assert ds.x_test.shape == (10000, 28, 28)
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1
    assert set(np.unique(ds.y_test)) == set(range(10))
    x, y = next(ds.batches("train", 16))
    assert x.shape == (28, 16, 28) and x.dtype == np.float64 and y.shape == (16,)
    np.testing.assert_array_equal(x[:, 3, :], ds.x_train[3])  # time-major rows of image 3
    small = load_dataset("fashion-mnist", limit=100, eval_limit=20)
    assert small.n_samples("train") == 100 and small.n_samples("test") == 20


@pytest.mark.needs_dataset("jane-austen")
def test_jane_austen_corpus():
    ds = load_dataset("jane-austen", seq_len=50)
    total = sum(ds.n_samples(s) for s in ("train", "val", "test"))
    assert 3_900_000 < total < 4_100_000
    text = "".join(ds.vocab[i] for i in ds.train[:2000])
    assert "SENSE AND SENSIBILITY" in text and "Dashwood" in text
    x, y = next(ds.batches("train", 8))
    assert x.shape == (50, 8, len(ds.vocab)) and y.shape == (50, 8)
    np.testing.assert_array_equal(x.argmax(-1)[1:], y[:-1])  # targets are the next characters
    x2, _ = list(ds.batches("train", 8))[1]
    np.testing.assert_array_equal(x2.argmax(-1)[0], y[-1])   # chunks continue each stream


def test_missing_debian_package_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "_debian_roots", lambda: [tmp_path])
    with pytest.raises(MissingDependencyError) as e:
        load_dataset("fashion-mnist")
    assert "dataset-fashion-mnist" in str(e.value) and "apt-get install dataset-fashion-mnist" in str(e.value)
    with pytest.raises(MissingDependencyError, match="r-cran-janeaustenr"):
        load_dataset("jane-austen")


def test_corrupt_idx_file(monkeypatch, tmp_path):
    d = tmp_path / "usr/share/datasets/fashion-mnist"
    d.mkdir(parents=True)
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (d / f"{name}-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x05" * 3 + b"12"))
    monkeypatch.setattr(datasets, "_debian_roots", lambda: [tmp_path])
    with pytest.raises(DataError, match="truncated"):
        load_dataset("fashion-mnist")
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        load_dataset("fashion-mnist")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'mnist'; use one of fashion-mnist, jane-austen"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("/no/such/file.npz")


def save(tmp_path, **arrays):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return str(p)


def test_npz_classification_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7, 3))
    ds = load_dataset(save(tmp_path, x=x, y=rng.integers(0, 4, 50)))
    assert (ds.kind, ds.per_step, ds.n_outputs, ds.metric) == ("classify", False, 4, "accuracy")
    assert ds.n_samples("train") + ds.n_samples("val") + ds.n_samples("test") == 50
    ds = load_dataset(save(tmp_path, x=x, y=rng.integers(0, 3, (50, 7))))
    assert (ds.kind, ds.per_step) == ("classify", True)
    xb, yb = next(ds.batches("train", 5))
    assert xb.shape == (7, 5, 3) and yb.shape == (7, 5)
    ds = load_dataset(save(tmp_path, x=x, y=rng.normal(size=(50, 2))))
    assert (ds.kind, ds.per_step, ds.n_outputs, ds.metric) == ("regress", False, 2, "mse")
    ds = load_dataset(save(tmp_path, x=x, y=rng.normal(size=(50, 7, 1)),
                           x_test=x[:5], y_test=rng.normal(size=(5, 7, 1))))
    assert ds.per_step and ds.n_samples("test") == 5


@pytest.mark.parametrize("arrays, words", [
    (dict(x=np.zeros((5, 3, 2))), "has no array 'y'"),
    (dict(x=np.zeros((5, 3)), y=np.zeros(5, int)), r"x must have shape \(N, T, I\), got \(5, 3\)"),
    (dict(x=np.zeros((5, 3, 2)), y=np.zeros(4, int)), "N = 5"),
    (dict(x=np.zeros((5, 3, 2)), y=-np.ones(5, int)), "class labels in y must be >= 0"),
    (dict(x=np.zeros((5, 3, 2)), y=np.zeros(5)), "float targets y must have shape"),
    (dict(x=np.zeros((5, 3, 2)), y=np.zeros((5, 4), int)), r"per-step labels y must have shape \(N, T\)"),
    (dict(x=np.full((5, 3, 2), np.nan), y=np.zeros(5, int)), r"x holds a non-finite value \(nan\) at index \(0, 0, 0\)"),
    (dict(x=np.zeros((5, 3, 2)), y=np.array([[0.0], [1], [np.inf], [0], [0]])), r"y holds a non-finite value"),
    (dict(x=np.array([["a"] * 2] * 3).reshape(1, 3, 2), y=np.zeros(1, int)), "x must be numeric"),
    (dict(x=np.zeros((2, 3, 2)), y=np.zeros(2, int)), "need at least 3"),
    (dict(x=np.zeros((5, 3, 2)), y=np.zeros(5, int), x_test=np.zeros((2, 3, 2))), "both x_test and y_test"),
    (dict(x=np.zeros((5, 3, 2)), y=np.zeros(5, int), x_test=np.zeros((2, 4, 2)), y_test=np.zeros(2, int)),
     "do not match"),
])
def test_npz_malformed(tmp_path, arrays, words):
    with pytest.raises(DataError, match=words):
        load_dataset(save(tmp_path, **arrays))


def test_npz_not_an_npz(tmp_path):
    p = tmp_path / "broken.npz"
    p.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="cannot read .*broken.npz as a .npz file"):
        load_dataset(str(p))


def test_text_file(tmp_path):
    p = tmp_path / "book.txt"
    p.write_text("the quick brown fox jumps over the lazy dog. " * 100)
    ds = load_dataset(str(p), seq_len=20)
    assert ds.vocab == " .abcdefghijklmnopqrstuvwxyz"
    assert ds.n_samples("train") == int(4500 * 0.9)
    x, y = next(ds.batches("val", 2))
    assert x.shape == (20, 2, len(ds.vocab))
    with pytest.raises(DataError, match=r"too few for 500 stream\(s\) of at least 2"):
        next(ds.batches("val", 500))


def test_text_file_errors(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    with pytest.raises(DataError, match="not UTF-8 text"):
        load_dataset(str(p))
    p = tmp_path / "short.txt"
    p.write_text("tiny")
    with pytest.raises(DataError, match="has 4 characters; a language model needs at least 100"):
        load_dataset(str(p))
    (tmp_path / "long.txt").write_text("ab" * 100)
    with pytest.raises(ConfigError, match="seq_len must be an integer >= 1"):
        load_dataset(str(tmp_path / "long.txt"), seq_len=0)


def test_limits_are_validated(tmp_path):
    p = save(tmp_path, x=np.zeros((10, 2, 2)), y=np.zeros(10, int))
    with pytest.raises(ConfigError, match="limit must be an integer >= 1"):
        load_dataset(p, limit=0)
    assert load_dataset(p, limit=3).n_samples("train") == 3


def test_debian_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZSKIP_DEBIAN_ROOT", str(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    assert datasets.find_debian_file("a/f", "p", "q") == tmp_path / "a" / "f"
    assert os.fspath(datasets._debian_roots()[0]) == str(tmp_path)


def test_features_are_area_averaged_onto_fewer_bins(tmp_path):
    """28 features onto 8 bins of 3.5: bin 0 = (x0 + x1 + x2 + x3 / 2) / 3.5; n = I is the identity; the
    mean of every step is kept."""
    x = np.arange(28.0)[None, None, :]
    out = datasets.resample_features(x, 8)
    assert out.shape == (1, 1, 8)
    assert out[0, 0, 0] == pytest.approx((0 + 1 + 2 + 1.5) / 3.5)
    assert out[0, 0, 7] == pytest.approx((24 / 2 + 25 + 26 + 27) / 3.5)       # half of pixel 24
    assert out.mean() == pytest.approx(x.mean())
    np.testing.assert_array_equal(datasets.resample_features(x, 28), x)
    rng = np.random.default_rng(1)
    p = save(tmp_path, x=rng.normal(size=(20, 5, 6)), y=rng.integers(0, 2, 20))
    ds = load_dataset(p, features=3)
    assert ds.input_size == 3 and ds.x_train.shape[1:] == (5, 3) and "(3 features)" in ds.name


def test_bad_features_are_refused(tmp_path):
    p = save(tmp_path, x=np.zeros((10, 2, 4)), y=np.zeros(10, int))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="features must be an integer >= 1"):
            load_dataset(p, features=bad)
    with pytest.raises(DataError, match=r"features \(5\) must not exceed the dataset's 4 features per step"):
        load_dataset(p, features=5)
    t = tmp_path / "book.txt"
    t.write_text("the quick brown fox. " * 20)
    with pytest.raises(DataError, match="features applies to sequence datasets; book.txt is text"):
        load_dataset(str(t), features=4)

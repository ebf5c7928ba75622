"""Datasets: row-wise Fashion-MNIST, the Jane Austen character corpus, and user files.

Names a user can give (``load_dataset``):

``fashion-mnist``
    Debian ``dataset-fashion-mnist``. Each 28x28 image is a sequence of 28 rows
    of 28 pixels (scaled to [0, 1]); 10 classes; metric accuracy. Splits: the
    first 55,000 training images train, the last 5,000 validate, the 10,000
    test images test.
``jane-austen``
    Debian ``r-cran-janeaustenr`` (the six novels, ~4.0 M characters), read
    from R's lazy-load database without R: the .rdx index and each .rdb record
    are zlib streams of R-serialised objects, decoded with the ``rdata``
    package. Character-level language model; metric bits per character.
    Splits: the first 90 % of the text trains, the next 5 % validates, the
    last 5 % tests.
a path to a ``.npz`` file
    Arrays ``x`` (N, T, I) and ``y``; optional ``x_test``/``y_test``. ``y``
    decides the task: (N,) integers -> classify the sequence; (N, T) integers
    -> classify every step; (N, D) or (N, T, D) floats -> regression (last step
    or every step). 10 % of the training data (seeded) validates, and another
    10 % tests when there is no ``x_test``.
a path to any other file
    UTF-8 text for a character-level language model, split like jane-austen.

Debian packages are found under ``/`` or, when unpacked without root by
``make deps``, under ``<checkout>/.deps/debian``; ``ZSKIP_DEBIAN_ROOT`` adds
another root.
"""

import gzip
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import check_file, check_size
from .errors import DataError, MissingDependencyError, require_module

__all__ = ["DATASETS", "SequenceDataset", "TextDataset", "load_dataset", "find_debian_file"]

#: The named datasets and what they need.
DATASETS = {
    "fashion-mnist": "row-wise Fashion-MNIST (Debian dataset-fashion-mnist): 28 steps x 28 pixels, 10 classes",
    "jane-austen": "Jane Austen's six novels (Debian r-cran-janeaustenr): character language model",
}

_CHECKOUT = Path(__file__).resolve().parents[1]


def _debian_roots():
    roots = []
    if os.environ.get("ZSKIP_DEBIAN_ROOT"):
        roots.append(Path(os.environ["ZSKIP_DEBIAN_ROOT"]))
    roots += [Path("/"), _CHECKOUT / ".deps" / "debian"]
    return roots


def find_debian_file(relpath, package, purpose):
    """Find ``relpath`` (as installed by Debian ``package``) or raise MissingDependencyError."""
    for root in _debian_roots():
        p = root / relpath
        if p.is_file():
            return p
    raise MissingDependencyError(f"the Debian package {package}", f"make deps (or: sudo apt-get install {package})",
                                 purpose)


# -- batches -------------------------------------------------------------------

@dataclass
class SequenceDataset:
    """Fixed-length sequences with a label per sequence or per step.

    ``x_*`` (N, T, I) float; ``y_*`` per ``head``: int (N,) or (N, T), float (N, D) or (N, T, D).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    kind: str               # "classify" or "regress"
    per_step: bool
    n_outputs: int
    metric: str             # "accuracy" or "mse"
    stateful = False

    @property
    def input_size(self):
        return self.x_train.shape[2]

    @property
    def seq_len(self):
        return self.x_train.shape[1]

    def n_samples(self, split):
        return len(getattr(self, f"x_{split}"))

    def batches(self, split, batch_size, rng=None):
        """Yield (x (T, B, I) float64, y) batches; shuffled when ``rng`` is given."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
        for s in range(0, len(x), batch_size):
            idx = order[s:s + batch_size]
            yb = y[idx]
            if self.per_step:
                yb = np.swapaxes(yb, 0, 1)
            yield np.ascontiguousarray(np.swapaxes(x[idx], 0, 1), dtype=np.float64), yb

    def n_batches(self, split, batch_size):
        return math.ceil(self.n_samples(split) / batch_size)

    def describe(self):
        return {"name": self.name, "task": f"{self.kind}{' per step' if self.per_step else ''}",
                "metric": self.metric, "seq_len": self.seq_len, "input_size": self.input_size,
                "outputs": self.n_outputs,
                "samples": {s: self.n_samples(s) for s in ("train", "val", "test")}}


@dataclass
class TextDataset:
    """A character stream for a language model, read as B parallel streams (truncated BPTT).

    The hidden state is carried from one chunk of ``seq_len`` characters to the
    next within an epoch (``stateful``); inputs are one-hot (T, B, V).
    """

    name: str
    vocab: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seq_len: int = 100
    kind = "classify"
    per_step = True
    metric = "bpc"
    stateful = True
    _eye: np.ndarray = field(default=None, repr=False)

    @property
    def input_size(self):
        return len(self.vocab)

    @property
    def n_outputs(self):
        return len(self.vocab)

    def n_samples(self, split):
        return len(getattr(self, split))

    def _streams(self, split, batch_size):
        ids = getattr(self, split)
        per = (len(ids) - 1) // batch_size
        if per < 2:
            hint = "use a smaller batch size or more text" if batch_size > 1 else "use more text"
            raise DataError(f"{self.name}: the {split} split has {len(ids)} characters, too few for "
                            f"{batch_size} stream(s) of at least 2; {hint}")
        return ids, per

    def n_batches(self, split, batch_size):
        _, per = self._streams(split, batch_size)
        return math.ceil(per / self.seq_len)

    def batches(self, split, batch_size, rng=None):
        """Yield consecutive (x (T, B, V) one-hot, y (T, B) next-character) chunks."""
        ids, per = self._streams(split, batch_size)
        if self._eye is None:
            self._eye = np.eye(len(self.vocab))
        streams = ids[:per * batch_size + 1]
        starts = np.arange(batch_size) * per
        for s in range(0, per, self.seq_len):
            T = min(self.seq_len, per - s)
            pos = starts[None, :] + s + np.arange(T)[:, None]      # (T, B)
            yield self._eye[streams[pos]], streams[pos + 1]

    def describe(self):
        return {"name": self.name, "task": "next-character language model", "metric": self.metric,
                "seq_len": self.seq_len, "input_size": self.input_size, "outputs": self.n_outputs,
                "characters": {s: self.n_samples(s) for s in ("train", "val", "test")}}


# -- loaders -------------------------------------------------------------------

def load_dataset(name, *, seq_len=100, limit=None, eval_limit=None, seed=0, features=None):
    """Load a dataset by name or path (see the module docstring).

    ``limit`` caps the training split (sequences, or characters for text) and
    ``eval_limit`` the validation and test splits; ``seq_len`` is the chunk
    length of language models. ``features`` resamples each step's feature
    vector of a sequence dataset to that many features (:func:`resample_features`),
    so that a small engine (the iCEBreaker's I = 8) can train on real data.
    """
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise DataError(f"dataset must be a name ({', '.join(DATASETS)}) or a file path, not {name!r}")
    name = str(name)
    if name == "fashion-mnist":
        ds = _fashion_mnist()
    elif name == "jane-austen":
        ds = _text_dataset("jane-austen", _jane_austen_text(), seq_len)
    elif os.path.sep in name or name.endswith((".npz", ".txt")) or Path(name).exists():
        p = check_file(name, "dataset file", DataError)
        if p.suffix == ".npz":
            ds = _npz_dataset(p, seed)
        else:
            ds = _text_dataset(p.name, _read_text(p), seq_len)
    else:
        raise DataError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}, "
                        "or the path of a .npz file (x, y) or of a text file")
    if features is not None:
        features = check_size("features", features)
        if isinstance(ds, TextDataset):
            raise DataError(f"features applies to sequence datasets; {ds.name} is text (one input per character)")
        if features > ds.input_size:
            raise DataError(f"features ({features}) must not exceed the dataset's {ds.input_size} features per step")
        for split in ("train", "val", "test"):
            setattr(ds, f"x_{split}", resample_features(getattr(ds, f"x_{split}"), features))
        ds.name = f"{ds.name} ({features} features)"
    return _limit(ds, limit, eval_limit)


def resample_features(x, n):
    """Area-average the last axis of ``x`` (..., I) onto ``n`` <= I equal bins: output bin k is the mean of
    input features over [k I/n, (k+1) I/n), a feature split between two bins counting in each by its share
    (Fashion-MNIST rows of 28 pixels onto 8: bins of 3.5 pixels)."""
    width = x.shape[-1]
    edges = np.arange(n + 1) * width / n
    lo, hi = edges[:-1, None], edges[1:, None]
    pixel = np.arange(width)[None, :]
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0, None)   # (n, I)
    return (x @ (overlap / overlap.sum(axis=1, keepdims=True)).T).astype(x.dtype, copy=False)


def _limit(ds, limit, eval_limit):
    for value, what in ((limit, "limit"), (eval_limit, "eval_limit")):
        if value is not None:
            check_size(what, value)
    if isinstance(ds, TextDataset):
        if limit:
            ds.train = ds.train[:limit]
        if eval_limit:
            ds.val, ds.test = ds.val[:eval_limit], ds.test[:eval_limit]
        return ds
    if limit:
        ds.x_train, ds.y_train = ds.x_train[:limit], ds.y_train[:limit]
    if eval_limit:
        ds.x_val, ds.y_val = ds.x_val[:eval_limit], ds.y_val[:eval_limit]
        ds.x_test, ds.y_test = ds.x_test[:eval_limit], ds.y_test[:eval_limit]
    return ds


def _read_idx(path, ndim):
    """Read an IDX file (the MNIST format: big-endian magic 0x0000 08 ndim, dims, uint8 data)."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a readable gzip file: {e}") from None
    if len(raw) < 4 + 4 * ndim or raw[:4] != bytes([0, 0, 8, ndim]):
        raise DataError(f"{path} is not an IDX file of {ndim}-dimensional uint8 data")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path} is truncated: header says {dims}, file holds {data.size} values")
    return data.reshape(dims)


def _fashion_mnist():
    files = {}
    for split in ("train", "t10k"):
        for part, nd in (("images-idx3", 3), ("labels-idx1", 1)):
            rel = f"usr/share/datasets/fashion-mnist/{split}-{part}-ubyte.gz"
            files[split, part] = _read_idx(find_debian_file(rel, "dataset-fashion-mnist",
                                                            "the dataset 'fashion-mnist'"), nd)
    x = files["train", "images-idx3"].astype(np.float32) / 255
    y = files["train", "labels-idx1"].astype(np.int64)
    xt = files["t10k", "images-idx3"].astype(np.float32) / 255
    yt = files["t10k", "labels-idx1"].astype(np.int64)
    if len(x) != len(y) or len(xt) != len(yt) or x.shape[1:] != (28, 28):
        raise DataError("the Fashion-MNIST files do not match each other (images vs labels)")
    return SequenceDataset("fashion-mnist", x[:55000], y[:55000], x[55000:], y[55000:], xt, yt,
                           kind="classify", per_step=False, n_outputs=10, metric="accuracy")


_AUSTEN_BOOKS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma",
                 "northangerabbey", "persuasion")


def _jane_austen_text():
    rel = "usr/lib/R/site-library/janeaustenr/data/Rdata"
    rdb = find_debian_file(rel + ".rdb", "r-cran-janeaustenr", "the dataset 'jane-austen'")
    rdx = rdb.with_suffix(".rdx")
    rdata = require_module("rdata", "the Python package rdata", ".venv/bin/pip install rdata==1.1.0",
                           "the dataset 'jane-austen'")

    def unserialize(blob):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that a bare serialisation has no file header
            return rdata.conversion.convert(rdata.parser.parse_data(blob))

    try:
        index = unserialize(gzip.decompress(rdx.read_bytes()))["variables"]
        blob = rdb.read_bytes()
        books = []
        for book in _AUSTEN_BOOKS:
            off, length = (int(v) for v in index[book])
            record = blob[off:off + length]
            (size,) = struct.unpack(">I", record[:4])   # lazy-load record: length, then a zlib stream
            raw = zlib.decompress(record[4:])
            if len(raw) != size:
                raise ValueError(f"book {book} decompresses to {len(raw)} bytes, its record says {size}")
            lines = unserialize(raw)
            if len(lines) == 0:
                raise ValueError(f"book {book} is empty")
            books.append("\n".join(str(s) for s in lines))
    except MissingDependencyError:
        raise
    except Exception as e:  # any corruption of the R database
        raise DataError(f"cannot read the Jane Austen corpus from {rdb}: {e}") from None
    return "\n\n".join(books)


def _read_text(path):
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); a language-model dataset must be "
                        "a UTF-8 text file, or use a .npz file") from None


def _text_dataset(name, text, seq_len):
    check_size("seq_len", seq_len)
    if len(text) < 100:
        raise DataError(f"{name} has {len(text)} characters; a language model needs at least 100")
    vocab = "".join(sorted(set(text)))
    lut = {c: k for k, c in enumerate(vocab)}
    ids = np.fromiter((lut[c] for c in text), np.int64, len(text))
    n = len(ids)
    a, b = int(n * 0.9), int(n * 0.95)
    return TextDataset(name, vocab, ids[:a], ids[a:b], ids[b:], seq_len=seq_len)


def _npz_dataset(path, seed):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise DataError(f"cannot read {path} as a .npz file: {e}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{path} has no array {key!r} (it has: {', '.join(arrays) or 'none'}); "
                            "a sequence dataset needs x (N, T, I) and y")
    x, y = arrays["x"], arrays["y"]
    x, y = _check_xy(path, "x", "y", x, y)
    kind, per_step, n_out = _task_of(path, x, y)
    if "x_test" in arrays or "y_test" in arrays:
        if not ("x_test" in arrays and "y_test" in arrays):
            raise DataError(f"{path} must have both x_test and y_test, or neither")
        xt, yt = _check_xy(path, "x_test", "y_test", arrays["x_test"], arrays["y_test"])
        if xt.shape[1:] != x.shape[1:] or yt.shape[1:] != y.shape[1:] or (yt.dtype.kind == "f") != (y.dtype.kind == "f"):
            raise DataError(f"{path}: x_test/y_test shapes {xt.shape}/{yt.shape} do not match x/y {x.shape}/{y.shape}")
        if kind == "classify":
            n_out = max(n_out, _n_classes(path, yt, "y_test"))
    else:
        xt = yt = None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, len(x) // 10)
    val, rest = order[:n_val], order[n_val:]
    if xt is None:
        test, rest = rest[:n_val], rest[n_val:]
        xt, yt = x[test], y[test]
    if len(rest) < 1:
        raise DataError(f"{path} has {len(x)} sequences; need at least 3 to split train/validation/test")
    metric = "accuracy" if kind == "classify" else "mse"
    return SequenceDataset(path.name, x[rest], y[rest], x[val], y[val], xt, yt,
                           kind=kind, per_step=per_step, n_outputs=n_out, metric=metric)


def _check_xy(path, xname, yname, x, y):
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path}: {xname} must be numeric, not dtype {x.dtype}")
    if x.ndim != 3 or min(x.shape) < 1:
        raise DataError(f"{path}: {xname} must have shape (N, T, I), got {x.shape}")
    if y.ndim not in (1, 2, 3) or y.shape[0] != x.shape[0]:
        raise DataError(f"{path}: {yname} must have shape (N,), (N, T), (N, D) or (N, T, D) with "
                        f"N = {x.shape[0]} as in {xname}, got {y.shape}")
    if y.dtype.kind not in "fiub":
        raise DataError(f"{path}: {yname} must be numeric, not dtype {y.dtype}")
    if y.dtype.kind in "biu":  # labels; booleans are classes 0 and 1
        y = y.astype(np.int64)
    for name, a in ((xname, x), (yname, y)):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise DataError(f"{path}: {name} holds a non-finite value ({a[where]}) at index {where}")
    return x.astype(np.float64), y


#: More classes than this is taken for a mistake (e.g. regression targets stored as integers).
MAX_CLASSES = 100_000


def _n_classes(path, y, name):
    if y.min() < 0:
        raise DataError(f"{path}: class labels in {name} must be >= 0, found {int(y.min())}")
    if y.max() >= MAX_CLASSES:
        raise DataError(f"{path}: class label {int(y.max())} in {name} means more than {MAX_CLASSES} classes; "
                        "regression targets must be floats")
    return int(y.max()) + 1


def _task_of(path, x, y):
    T = x.shape[1]
    if y.dtype.kind in "iub":
        if y.ndim == 3:
            raise DataError(f"{path}: integer labels y must have shape (N,) or (N, T), got {y.shape}")
        if y.ndim == 2 and y.shape[1] != T:
            raise DataError(f"{path}: per-step labels y must have shape (N, T) = (N, {T}), got {y.shape}")
        return "classify", y.ndim == 2, _n_classes(path, y, "y")
    if y.ndim == 1:
        raise DataError(f"{path}: float targets y must have shape (N, D) or (N, T, D), got {y.shape}; "
                        "class labels must be integers")
    if y.ndim == 3 and y.shape[1] != T:
        raise DataError(f"{path}: per-step targets y must have shape (N, {T}, D), got {y.shape}")
    return "regress", y.ndim == 3, y.shape[-1]

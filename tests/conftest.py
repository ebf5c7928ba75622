"""What tests in more than one directory share: the dataset marker and fixtures that build inputs.

- ``@pytest.mark.needs_dataset("fashion-mnist")`` / ``("jane-austen")``: skip the test when the Debian
  package that holds the corpus is not installed (or unpacked under .deps/debian);
- ``tiny_npz``: the path (str) of a small learnable .npz dataset in ``tmp_path``; ``make_tiny_npz`` the
  function behind it, ``make_tiny_npz(directory, n=240, T=6, I=3, seed=0)``, for fixtures of wider scope;
- ``random_inputs``: the function ``random_inputs(cfg, T, B, rng, tau=100, dh_scale=4000)`` -> EngineInputs;
- ``trace_slice``: the function ``trace_slice(steps=4, batch=2, lanes=16)`` -> (EngineConfig, EngineInputs);
- ``Extended``: a subclass of EngineConfig with one more field, ``taps``.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from golden_model import MissingDependencyError
from golden_model import datasets
from golden_model.engine_config import EngineConfig, option
from golden_model.engine_model import EngineInputs
from golden_model.trace import load_trace

DATA = Path(__file__).parent / "data"


# -- @pytest.mark.needs_dataset(name) ------------------------------------------------------------------

# dataset -> (a file its Debian package installs, the reason a test that needs it is skipped)
DATASETS = {
    "fashion-mnist": ("usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                      "Debian dataset-fashion-mnist is not installed (make deps)"),
    "jane-austen": ("usr/lib/R/site-library/janeaustenr/data/Rdata.rdb",
                    "Debian r-cran-janeaustenr is not unpacked (make deps)"),
}


def _have(rel):
    try:
        datasets.find_debian_file(rel, "x", "y")
        return True
    except MissingDependencyError:
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_dataset(name): skip unless the Debian package of dataset name "
                                       f"({', '.join(DATASETS)}) is installed")


def pytest_collection_modifyitems(config, items):
    have = {}
    for item in items:
        for mark in item.iter_markers("needs_dataset"):
            if len(mark.args) != 1 or mark.kwargs or mark.args[0] not in DATASETS:
                raise pytest.UsageError(f"{item.nodeid}: needs_dataset takes one dataset name of "
                                        f"{', '.join(DATASETS)}, not {mark.args} {mark.kwargs}")
            rel, reason = DATASETS[mark.args[0]]
            if rel not in have:
                have[rel] = _have(rel)
            if not have[rel]:
                item.add_marker(pytest.mark.skip(reason=reason))


# -- fixtures --------------------------------------------------------------------------------------------

def _tiny_npz(directory, n=240, T=6, I=3, seed=0):
    """A learnable task: the class is which third of the sequence holds the largest input."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, I)) * 0.3
    y = rng.integers(0, 3, n)
    for k in range(n):
        x[k, 2 * y[k]:2 * y[k] + 2, 0] += 2.0
    path = Path(directory) / "tiny.npz"
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.fixture(scope="session")
def make_tiny_npz():
    """The function that writes tiny.npz into a directory and returns its path (for wider-scoped fixtures)."""
    return _tiny_npz


@pytest.fixture
def tiny_npz(tmp_path, make_tiny_npz):
    """The path (str) of tmp_path / "tiny.npz", a small learnable classification task."""
    return make_tiny_npz(tmp_path)


def _random_inputs(cfg, T, B, rng, tau=100, dh_scale=4000):
    H, N = cfg.hidden_size, cfg.n_inputs
    one = 1 << cfg.act.frac
    gates = np.concatenate([rng.integers(0, one + 1, (T, B, 2 * H)), rng.integers(-one, one + 1, (T, B, H)),
                            rng.integers(0, one + 1, (T, B, H))], axis=2)
    return EngineInputs(gates=gates, tanh_c=rng.integers(-one, one + 1, (T, B, H)),
                        c_prev=rng.integers(-4 << cfg.state.frac, 4 << cfg.state.frac, (T, B, H)),
                        a=rng.integers(-one, one + 1, (T, B, N)), dh=rng.integers(-dh_scale, dh_scale, (T, B, H)),
                        W=rng.integers(-1 << 13, 1 << 13, (4 * H, N)), tau=tau)


@pytest.fixture(scope="session")
def random_inputs():
    """The function random_inputs(cfg, T, B, rng, tau=100, dh_scale=4000): random valid engine inputs."""
    return _random_inputs


def _trace_slice(steps=4, batch=2, lanes=16):
    """The last ``steps`` steps of batch 0..batch-1 of the committed Jane Austen trace's first pass."""
    t = load_trace(DATA / "austen_lstm_h32.npz")
    cfg = replace(t.config, lanes=lanes, max_batch=batch, max_seq=steps, dw_acc_width=None, da_acc_width=None,
                  db_acc_width=None)
    p, s, b = t.passes[0], slice(-steps, None), slice(0, batch)
    inputs = EngineInputs(gates=p.gates[s, b], tanh_c=p.tanh_c[s, b], c_prev=p.c_prev[s, b], a=p.a[s, b],
                          dh=p.dh[s, b], W=p.W, tau=p.tau)
    return cfg, inputs


@pytest.fixture(scope="session")
def trace_slice():
    """The function trace_slice(steps=4, batch=2, lanes=16) -> (config, inputs) of the committed trace."""
    return _trace_slice


@dataclass(frozen=True)
class Extended(EngineConfig):
    """EngineConfig with one more field, added as a new feature would add it (nothing else edited)."""

    taps: int = option(2, "taps of the extra filter", metavar="N")


@pytest.fixture(scope="session", name="Extended")
def extended_config_class():
    """The class Extended: EngineConfig with one more field, taps (default 2)."""
    return Extended

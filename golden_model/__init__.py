"""NumPy golden model of zskip: LSTM and GRU with BPTT and sparsified SGD.

Public API (docs/DESIGN.md)::

    from golden_model import LSTM, GRU
    m = LSTM(input_size, hidden_size, seed=0)
    h, cache = m.forward(x, h0=None, c0=None)          # x: (T, B, I)
    grads, stats = m.backward(dh, cache, threshold=0.0)
"""

from .errors import ConfigError, DataError, MissingDependencyError, ShapeError, ZskipError
from .gru import GRU
from .lstm import LSTM
from .sparsify import parse_threshold, sparsify
from .stats import BackwardStats

__all__ = ["LSTM", "GRU", "BackwardStats", "sparsify", "parse_threshold",
           "ZskipError", "ConfigError", "ShapeError", "DataError", "MissingDependencyError"]

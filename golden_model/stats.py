"""Statistics of sparsified backward passes: dz sparsity, |dz| histogram, MAC accounting.

All statistics are integer counts, so that the statistics of many backward
passes (a training epoch, a whole run) are exact sums; fractions are derived.

MAC accounting for one recurrent layer with G gates, hidden size H, input
size I and N = I + H, over T steps and batch B:

- forward: ``T*B*G*H*N`` (the gate pre-activations ``z = W a + b``);
- backward-data: ``T*B*G*H*N`` (``da = W^T dz``; this includes dx, the I input
  columns, which a single-layer model does not need but a stacked one does);
- backward-weight: ``T*B*G*H*N`` (``dW += dz a^T``).

Every backward MAC has a factor dz, so each zero dz entry makes N
backward-data and N backward-weight MACs redundant; the forward pass has no
dz factor and is never redundant. The fraction of *all* training MACs made
redundant is ``2*N*zeros / (3*T*B*G*H*N + other)`` where ``other`` counts the
MACs outside the recurrent layer (the output head), if the caller gives them.
"""

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["HIST_EDGES", "BackwardStats", "abs_histogram"]

#: Log-spaced |dz| histogram edges: 1e-12 .. 1e2, four bins per decade. The
#: histogram has two more bins: (0, 1e-12) first and [1e2, inf) last; exact
#: zeros are counted separately (``zeros_before``).
HIST_EDGES = 10.0 ** (np.arange(-12 * 4, 2 * 4 + 1) / 4)


def abs_histogram(abs_values):
    """Histogram of positive values over HIST_EDGES, with under- and overflow bins.

    ``abs_values`` has shape (..., G); zeros are ignored. Returns int64 (G, len(HIST_EDGES) + 1).
    """
    G = abs_values.shape[-1]
    v = abs_values.reshape(-1, G)
    nbins = len(HIST_EDGES) + 1
    out = np.zeros((G, nbins), np.int64)
    for g in range(G):
        col = v[:, g]
        col = col[col > 0]
        idx = np.searchsorted(HIST_EDGES, col, side="right")  # 0: below first edge
        out[g] = np.bincount(idx, minlength=nbins)[:nbins]
    return out


@dataclass
class BackwardStats:
    """Counts from one or more sparsified backward passes of one layer.

    Attributes
    ----------
    gates : tuple of str
        Gate names in row order of W (LSTM: i, f, g, o; GRU: r, z, n).
    n_inputs : int
        N = I + H, the MACs per dz entry in each backward product.
    entries : int
        dz entries per gate (T*B*H summed over passes).
    zeros_before, zeros_after : ndarray of int64, shape (G,)
        dz entries per gate that are exactly zero before and after thresholding.
    hist : ndarray of int64, shape (G, len(HIST_EDGES) + 1)
        Histogram of nonzero |dz| before thresholding (see HIST_EDGES).
    sum_sq : float
        Sum of dz**2 before thresholding.
    tau_sum : float
        Sum over passes of the threshold used (``tau_mean`` = tau_sum / passes).
    passes : int
        Number of backward passes merged.
    dz_raw, dz : ndarray or None
        With ``record=True`` (single pass only): dz before and after thresholding, (T, B, G*H).
    """

    gates: tuple
    n_inputs: int
    entries: int = 0
    zeros_before: np.ndarray = None
    zeros_after: np.ndarray = None
    hist: np.ndarray = None
    sum_sq: float = 0.0
    tau_sum: float = 0.0
    passes: int = 0
    dz_raw: np.ndarray = field(default=None, repr=False)
    dz: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        G = len(self.gates)
        if self.zeros_before is None:
            self.zeros_before = np.zeros(G, np.int64)
        if self.zeros_after is None:
            self.zeros_after = np.zeros(G, np.int64)
        if self.hist is None:
            self.hist = np.zeros((G, len(HIST_EDGES) + 1), np.int64)

    @classmethod
    def from_pass(cls, gates, n_inputs, dz_raw, dz, tau, *, record=False):
        """Statistics of one backward pass from its dz before and after thresholding."""
        G = len(gates)
        T, B, GH = dz_raw.shape
        H = GH // G
        raw = dz_raw.reshape(T * B, G, H)
        after = dz.reshape(T * B, G, H)
        abs_raw = np.abs(raw).transpose(0, 2, 1)  # (TB, H, G)
        return cls(
            gates=tuple(gates),
            n_inputs=int(n_inputs),
            entries=T * B * H,
            zeros_before=np.count_nonzero(raw == 0, axis=(0, 2)).astype(np.int64),
            zeros_after=np.count_nonzero(after == 0, axis=(0, 2)).astype(np.int64),
            hist=abs_histogram(abs_raw),
            sum_sq=float(np.einsum("ijk,ijk->", raw, raw, dtype=np.float64)),
            tau_sum=float(tau),
            passes=1,
            dz_raw=dz_raw if record else None,
            dz=dz if record else None,
        )

    def __add__(self, other):
        if not isinstance(other, BackwardStats):
            return NotImplemented
        if self.passes == 0:
            return other._without_records()
        if other.passes == 0:
            return self._without_records()
        if self.gates != other.gates or self.n_inputs != other.n_inputs:
            raise ValueError("cannot merge statistics of different layers")
        return BackwardStats(
            gates=self.gates,
            n_inputs=self.n_inputs,
            entries=self.entries + other.entries,
            zeros_before=self.zeros_before + other.zeros_before,
            zeros_after=self.zeros_after + other.zeros_after,
            hist=self.hist + other.hist,
            sum_sq=self.sum_sq + other.sum_sq,
            tau_sum=self.tau_sum + other.tau_sum,
            passes=self.passes + other.passes,
        )

    def _without_records(self):
        return replace(self, zeros_before=self.zeros_before.copy(), zeros_after=self.zeros_after.copy(),
                       hist=self.hist.copy(), dz_raw=None, dz=None)

    # -- derived figures ---------------------------------------------------

    @property
    def total_entries(self):
        """All dz entries (every gate)."""
        return self.entries * len(self.gates)

    @property
    def sparsity_before(self):
        """Per gate, the fraction of dz entries that are zero before thresholding."""
        return {g: _frac(z, self.entries) for g, z in zip(self.gates, self.zeros_before)}

    @property
    def sparsity_after(self):
        """Per gate, the fraction of dz entries that are zero after thresholding."""
        return {g: _frac(z, self.entries) for g, z in zip(self.gates, self.zeros_after)}

    @property
    def dz_sparsity(self):
        """Fraction of all dz entries that are zero after thresholding."""
        return _frac(self.zeros_after.sum(), self.total_entries)

    @property
    def rms(self):
        """Root mean square of dz before thresholding."""
        return float(np.sqrt(self.sum_sq / self.total_entries)) if self.total_entries else 0.0

    @property
    def tau_mean(self):
        return self.tau_sum / self.passes if self.passes else 0.0

    @property
    def macs_forward(self):
        return self.total_entries * self.n_inputs

    @property
    def macs_backward_data(self):
        return self.total_entries * self.n_inputs

    @property
    def macs_backward_weight(self):
        return self.total_entries * self.n_inputs

    @property
    def macs_redundant(self):
        """Backward MACs (data and weight) whose dz factor is zero."""
        return 2 * int(self.zeros_after.sum()) * self.n_inputs

    @property
    def macs_total(self):
        return self.macs_forward + self.macs_backward_data + self.macs_backward_weight

    def redundant_fraction(self, other_macs=0):
        """Fraction of all training MACs (this layer plus ``other_macs``) made redundant."""
        return _frac(self.macs_redundant, self.macs_total + other_macs)

    def to_dict(self, other_macs=0):
        """A JSON-ready summary (no arrays of dz)."""
        return {
            "passes": self.passes,
            "tau_mean": self.tau_mean,
            "dz_rms": self.rms,
            "dz_sparsity": self.dz_sparsity,
            "sparsity_before": self.sparsity_before,
            "sparsity_after": self.sparsity_after,
            "macs": {
                "forward": self.macs_forward,
                "backward_data": self.macs_backward_data,
                "backward_weight": self.macs_backward_weight,
                "redundant_data": self.macs_redundant // 2,
                "redundant_weight": self.macs_redundant // 2,
                "other": int(other_macs),
                "redundant_fraction_layer": self.redundant_fraction(),
                "redundant_fraction_all": self.redundant_fraction(other_macs),
            },
        }

    def histogram_dict(self):
        """The |dz| histogram as JSON-ready lists."""
        return {
            "edges": HIST_EDGES.tolist(),
            "note": "bins: (0, edges[0]), [edges[k], edges[k+1]) ..., [edges[-1], inf); zeros separate",
            "counts": {g: self.hist[k].tolist() for k, g in enumerate(self.gates)},
            "zeros": {g: int(z) for g, z in zip(self.gates, self.zeros_before)},
        }


def _frac(num, den):
    return float(num) / float(den) if den else 0.0

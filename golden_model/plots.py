"""Matplotlib figures of training runs and comparisons (PNG, no display needed)."""

import numpy as np

__all__ = ["pyplot", "plot_learning_curves", "plot_dz_histogram", "plot_sparsity_vs_metric"]

METRIC_LABELS = {"accuracy": "accuracy", "bpc": "bits per character", "mse": "mean squared error"}


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_learning_curves(result, path):
    """Training loss and dz sparsity per step, validation metric per epoch."""
    plt = pyplot()
    hist = result["history"]
    steps = np.array([h["step"] for h in hist])
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    ax1.plot(steps, [h["loss"] for h in hist], lw=0.6)
    ax1.set(xlabel="step", ylabel="training loss", title="training loss")
    metric = result["metric"]
    ep = result["epochs"]
    ax2.plot([e["epoch"] for e in ep], [e["val_metric"] for e in ep], "o-")
    ax2.set(xlabel="epoch", ylabel=f"validation {METRIC_LABELS[metric]}", title="validation")
    ax3.plot(steps, [h["sparsity"] for h in hist], lw=0.6, label="dz sparsity")
    ax3.set(xlabel="step", ylabel="fraction of dz zero", ylim=(0, 1), title=f"threshold {result['threshold_rule']}")
    taus = np.array([h["tau"] for h in hist])
    if taus.max() > 0:
        ax4 = ax3.twinx()
        ax4.semilogy(steps[taus > 0], taus[taus > 0], color="C1", lw=0.6)
        ax4.set_ylabel("tau", color="C1")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_dz_histogram(result, path):
    """Per gate, the distribution of |dz| before thresholding, with the mean tau."""
    plt = pyplot()
    h = result["histogram"]
    edges = np.array(h["edges"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for gate, counts in h["counts"].items():
        counts = np.array(counts)
        total = counts.sum() + h["zeros"][gate]
        ax.stairs(counts[1:-1] / max(total, 1), edges, label=f"{gate} ({h['zeros'][gate] / max(total, 1):.1%} exact zeros)")
    tau = result["final"]["tau_mean"]
    if tau > 0:
        ax.axvline(tau, color="k", ls="--", lw=1, label=f"mean tau = {tau:.2g}")
    ax.set_xscale("log")
    under = sum(c[0] for c in h["counts"].values())
    over = sum(c[-1] for c in h["counts"].values())
    ax.set(xlabel=f"|dz| before thresholding (not drawn: {under} below {edges[0]:.0e}, {over} above {edges[-1]:.0e})",
           ylabel="fraction of entries",
           title=f"{result['config']['cell'].upper()} linear gate gradients, {result['dataset']['name']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sparsity_vs_metric(rows, metric, path, title=""):
    """Test metric against dz sparsity, one point per run; rows from ``compare``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, marker in (("dense", "s"), ("sparse", "o"), ("fixed", "^")):
        pts = [(r["dz_sparsity"], r["test_metric"], r["label"]) for r in rows if r["kind"] == kind]
        if not pts:
            continue
        xs, ys, labels = zip(*pts)
        ax.plot(xs, ys, marker, label={"dense": "float dense", "sparse": "float sparsified",
                                       "fixed": "fixed-point sparsified"}[kind], ms=7)
        for x, y, lab in pts:
            ax.annotate(lab, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    dense = [r for r in rows if r["kind"] == "dense"]
    if dense:
        ax.axhline(dense[0]["test_metric"], color="grey", ls=":", lw=1)
    ax.set(xlabel="dz sparsity (fraction of linear gate gradients zero)",
           ylabel=f"test {METRIC_LABELS.get(metric, metric)}", xlim=(-0.02, 1.02), title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Run directories: a training run's metrics.json and plots, and dense-vs-sparsified comparisons.

A run directory holds ``metrics.json`` (the dict ``train`` returns),
``learning_curves.png``, ``dz_histogram.png`` and ``model.npz`` (the trained
parameters). A comparison directory
holds one run directory per threshold rule plus ``compare.json``,
``compare.md`` and ``sparsity_vs_metric.png``.
"""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .plots import plot_dz_histogram, plot_learning_curves, plot_sparsity_vs_metric
from .sparsify import StaticThreshold, parse_threshold
from .train import LOWER_IS_BETTER, train

__all__ = ["write_run", "compare", "prepare_dir", "slug", "within_tolerance", "DEFAULT_TOLERANCE"]

#: Default tolerance of "as good as dense": absolute for accuracy (1 percentage
#: point), relative for bits per character and MSE (2 %).
DEFAULT_TOLERANCE = {"accuracy": 0.01, "bpc": 0.02, "mse": 0.02}


def prepare_dir(out_dir):
    """Create the output directory ``out_dir`` (before long work starts); ConfigError if impossible."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output directory {out}: {e.strerror}") from None
    return out


def write_run(result, out_dir):
    """Write ``metrics.json``, the plots and (if the result holds it) model.npz; return the directory.

    model.npz holds the trained parameters as ``layer.W``, ``layer.b``, ... and ``head.V``, ``head.c``.
    """
    out = prepare_dir(out_dir)
    result = dict(result)
    model = result.pop("model", None)
    if model is not None:
        np.savez(out / "model.npz", **{f"{part}.{k}": v for part, obj in model.items() for k, v in obj.params.items()})
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    plot_learning_curves(result, out / "learning_curves.png")
    plot_dz_histogram(result, out / "dz_histogram.png")
    return out


def within_tolerance(metric, value, dense, tolerance=None):
    """Whether ``value`` is as good as ``dense`` within the tolerance of ``metric``."""
    tol = DEFAULT_TOLERANCE[metric] if tolerance is None else tolerance
    if metric in LOWER_IS_BETTER:
        return value <= dense * (1 + tol)
    return value >= dense - tol


def slug(text):
    """A file-name-safe form of a threshold spec or dataset name."""
    return str(text).replace(":", "-").replace(",", "_").replace("=", "").replace("/", "_")


def compare(config, thresholds, out_dir, progress=None, tolerance=None, dataset=None, fixed=False):
    """Train dense and with each threshold rule, same seed and data; write the comparison.

    With ``fixed`` each rule also runs with the fixed-point backward pass (the
    engine's arithmetic): float dense vs float sparsified vs fixed-point
    sparsified. Returns the comparison dict (also written to ``compare.json``).
    """
    if not thresholds:
        raise ConfigError("compare needs at least one threshold rule besides dense")
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                      and tolerance >= 0):
        raise ConfigError(f"tolerance must be a finite number >= 0, not {tolerance!r}")
    rules = [parse_threshold(t) for t in thresholds]
    dense = StaticThreshold(0.0)
    if any(r.spec == dense.spec for r in rules):
        raise ConfigError("the dense run is always made; do not list 'dense' or static:0 among the thresholds")
    out = prepare_dir(out_dir)
    runs = [("dense", dense.spec)] + [("sparse", r.spec) for r in rules]
    if fixed:
        runs += [("fixed", r.spec) for r in rules]
    base = replace(config, backward="float", engine=None)
    rows = []
    for k, (kind, spec) in enumerate(runs, 1):
        cfg = replace(config if kind == "fixed" else base, threshold=spec,
                      backward="fixed" if kind == "fixed" else "float")
        label = {"dense": "dense", "sparse": spec, "fixed": f"fixed {spec}"}[kind]
        if progress:
            progress({"kind": "run", "index": k, "runs": len(runs), "threshold": label})
        result = train(cfg, progress=progress, dataset=dataset, keep_model=True)
        run_dir = slug(spec) if kind != "fixed" else "fixed-" + slug(spec)
        write_run(result, out / run_dir)
        f = result["final"]
        rows.append({"label": label, "kind": kind, "threshold": spec,
                     "tau_mean": f["tau_mean"], "dz_sparsity": f["dz_sparsity"],
                     "test_metric": f["test_metric"], "val_metric": f["val_metric"],
                     "redundant_fraction_all": f["macs"]["redundant_fraction_all"],
                     "redundant_fraction_layer": f["macs"]["redundant_fraction_layer"],
                     "seconds": f["seconds"], "dir": run_dir})
    metric = result["metric"]
    dense = rows[0]["test_metric"]
    for r in rows:
        r["delta"] = r["test_metric"] - dense
        r["within_tolerance"] = within_tolerance(metric, r["test_metric"], dense, tolerance)
    ok = [r for r in rows[1:] if r["within_tolerance"] and r["kind"] == "sparse"]
    best = max(ok, key=lambda r: r["dz_sparsity"]) if ok else None
    summary = {
        "config": {k: v for k, v in vars(config).items() if k not in ("threshold", "backward")},
        "fixed": fixed,
        "dataset": result["dataset"],
        "metric": metric,
        "tolerance": DEFAULT_TOLERANCE[metric] if tolerance is None else tolerance,
        "tolerance_kind": "relative" if metric in LOWER_IS_BETTER else "absolute",
        "rows": rows,
        "best": best,
    }
    (out / "compare.json").write_text(json.dumps(summary, indent=1))
    (out / "compare.md").write_text(markdown_table(summary))
    title = f"{config.cell.upper()} H={config.hidden}, {result['dataset']['name']}"
    plot_sparsity_vs_metric(rows, metric, out / "sparsity_vs_metric.png", title)
    return summary


def markdown_table(summary):
    """The comparison as a Markdown table with the best within-tolerance setting."""
    metric = summary["metric"]
    tol = summary["tolerance"]
    tol_text = f"{tol:.0%} relative" if summary["tolerance_kind"] == "relative" else f"{tol * 100:g} percentage point(s)"
    c = summary["config"]
    lines = [
        f"# Dense vs sparsified: {c['cell'].upper()} H={c['hidden']} on {summary['dataset']['name']}",
        "",
        f"Same seed ({c['seed']}) and data for every row; {c['epochs']} epoch(s), optimizer {c['optimizer']}, "
        f"batch {c['batch_size']}. Test {metric}; tolerance {tol_text} of dense.",
        "",
        f"| threshold | mean tau | dz sparsity | test {metric} | vs dense | within tolerance "
        "| training MACs redundant | time (s) |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for r in summary["rows"]:
        fmt = (lambda v: f"{v:.2%}") if metric == "accuracy" else (lambda v: f"{v:.4f}")
        delta = f"{r['delta'] * 100:+.2f} pp" if metric == "accuracy" else \
            f"{(r['delta'] / summary['rows'][0]['test_metric']):+.2%}"
        lines.append(f"| {r['label']} | {r['tau_mean']:.3g} | {r['dz_sparsity']:.1%} | {fmt(r['test_metric'])} "
                     f"| {delta if r['kind'] != 'dense' else '—'} | {'yes' if r['within_tolerance'] else 'no'} "
                     f"| {r['redundant_fraction_all']:.1%} | {r['seconds']:.0f} |")
    b = summary["best"]
    lines.append("")
    if summary.get("fixed"):
        lines.append("'fixed' rows use the engine's fixed-point backward pass (float master weights and "
                     "optimiser); the others the float golden model.")
    if b:
        lines.append(f"Highest dz sparsity within tolerance: **{b['dz_sparsity']:.1%}** ({b['label']}), "
                     f"which makes **{b['redundant_fraction_all']:.1%}** of all training MACs redundant "
                     f"({b['redundant_fraction_layer']:.1%} of the recurrent layer's).")
    else:
        lines.append("No sparsified setting stayed within tolerance of dense.")
    return "\n".join(lines) + "\n"

"""The command line end to end: outputs, help with defaults, and clear errors without tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pytest

from zskip.cli import main

from ..golden_model.test_datasets import needs_fashion
from ..golden_model.test_train import tiny_npz


def run_cli(*args, cwd=None):
    """Run ``zskip`` in a subprocess (as a user would); return (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "zskip", *map(str, args)], capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def test_train_writes_metrics_and_plots(tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--hidden", 6, "--epochs", 2,
                           "--batch-size", 16, "--threshold", "sparsity:0.7", "--optimizer", "adam", "--out", out)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["threshold"] == "sparsity:0.7" and m["config"]["seed"] == 0
    e = m["epochs"][-1]
    for key in ("train_loss", "val_loss", "val_metric", "sparsity_before", "sparsity_after", "macs", "dz_sparsity"):
        assert key in e
    assert set(e["macs"]) >= {"forward", "backward_data", "backward_weight", "redundant_fraction_all"}
    assert (out / "learning_curves.png").exists() and (out / "dz_histogram.png").exists()
    assert "test accuracy" in err


@needs_fashion
def test_train_on_fashion_mnist(tmp_path):
    code, _, err = run_cli("train", "--dataset", "fashion-mnist", "--limit", 256, "--eval-limit", 64,
                           "--hidden", 8, "--threshold", "static:1e-4", "--out", tmp_path / "fm")
    assert code == 0, err
    m = json.loads((tmp_path / "fm" / "metrics.json").read_text())
    assert m["dataset"]["seq_len"] == 28 and m["epochs"][0]["passes"] == 2


def test_compare_writes_table_and_plot(tmp_path):
    out = tmp_path / "cmp"
    code, _, err = run_cli("compare", "--dataset", tiny_npz(tmp_path), "--hidden", 6, "--epochs", 1,
                           "--batch-size", 32, "--thresholds", "static:1e-3", "rms:1", "--out", out)
    assert code == 0, err
    assert {"compare.md", "compare.json", "sparsity_vs_metric.png", "static-0.0", "static-0.001"} <= \
        {p.name for p in out.iterdir()}
    s = json.loads((out / "compare.json").read_text())
    assert [r["threshold"] for r in s["rows"]] == ["static:0.0", "static:0.001", "rms:1.0,decay=0.9"]
    assert "| threshold | mean tau | dz sparsity |" in (out / "compare.md").read_text()


def test_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "(default: fashion-mnist)" in text and "(default: 128)" in text and "(default: dense)" in text
    assert "sparsity:S" in text and "(default: None)" not in text


@pytest.mark.parametrize("args, words", [
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["train", "--dataset", "tiny", "--hidden", "0"], "hidden must be an integer >= 1, not 0"),
    (["train", "--dataset", "tiny", "--threshold", "static:-1"], "static threshold TAU must be >= 0"),
    (["train", "--dataset", "tiny", "--threshold", "bogus:3"], "unknown threshold rule 'bogus'"),
    (["train", "--dataset", "tiny", "--lr", "nan"], "learning rate must be a positive number"),
    (["train", "--dataset", "tiny", "--epochs", "-2"], "epochs must be an integer >= 1, not -2"),
    (["train", "--dataset", "bad.npz"], "has no array 'y'"),
    (["train", "--dataset", "nan.npz"], "x holds a non-finite value (nan)"),
    (["train", "--dataset", "missing.npz"], "does not exist"),
    (["compare", "--dataset", "tiny", "--thresholds", "dense"], "the dense run is always made"),
    (["compare", "--dataset", "tiny", "--thresholds", "rms:1", "--tolerance", "nan"], "tolerance must be"),
    (["train", "--dataset", "negtest.npz"], "class labels in y_test must be >= 0"),
    (["train", "--dataset", "huge.npz"], "more than 100000 classes"),
])
def test_bad_input_gives_a_message_not_a_traceback(tmp_path, args, words):
    tiny = tiny_npz(tmp_path)
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 2, 2)))
    x = np.zeros((6, 2, 2))
    x[1, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(6, int))
    np.savez(tmp_path / "negtest.npz", x=np.zeros((6, 2, 2)), y=np.zeros(6, int), x_test=np.zeros((2, 2, 2)),
             y_test=np.array([0, -1]))
    np.savez(tmp_path / "huge.npz", x=np.zeros((6, 2, 2)), y=np.array([0, 1, 2, 3, 4, 2 ** 40]))
    args = [tiny if a == "tiny" else str(tmp_path / a) if a.endswith(".npz") else a for a in args]
    code, out, err = run_cli(*args, "--out", tmp_path / "o")
    assert code == 2
    assert words in err
    assert "Traceback" not in err


def test_missing_dataset_package_names_the_install_command(tmp_path):
    env_code = (
        "import sys, golden_model.datasets as d; d._debian_roots = lambda: []; "
        "from zskip.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    p = subprocess.run([sys.executable, "-c", env_code, "train", "--dataset", "jane-austen", "--out",
                        str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "needs the Debian package r-cran-janeaustenr" in p.stderr and "make deps" in p.stderr
    assert "Traceback" not in p.stderr


def test_unwritable_output_is_refused_before_training(tmp_path):
    (tmp_path / "afile").write_text("")
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--out", tmp_path / "afile" / "run")
    assert code == 2 and "cannot create the output directory" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--out", tmp_path / "afile")
    assert code == 2 and "exists and is not a directory" in err


def test_bool_labels_are_classes(tmp_path):
    np.savez(tmp_path / "b.npz", x=np.random.default_rng(0).normal(size=(30, 3, 2)), y=np.arange(30) % 2 == 0)
    code, _, err = run_cli("train", "--dataset", tmp_path / "b.npz", "--hidden", 3, "--out", tmp_path / "o")
    assert code == 0, err


def test_argparse_errors_are_usage_errors():
    code, _, err = run_cli("train", "--cell", "rnn")
    assert code == 2 and "invalid choice: 'rnn'" in err
    code, _, err = run_cli("frobnicate")
    assert code == 2 and "invalid choice" in err


def test_fixed_point_backward_from_the_command_line(tmp_path):
    toml = tmp_path / "engine.toml"
    toml.write_text('[engine]\ngrad = "Q-6.22"\nrounding = "half-up"\n')
    out = tmp_path / "fx"
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--hidden", 6, "--batch-size", 16,
                           "--backward", "fixed", "--engine-config", toml, "--threshold", "sparsity:0.5", "--out", out)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["fixed_point"]["engine"]["grad"] == "Q-6.22" and m["fixed_point"]["engine"]["rounding"] == "half-up"
    toml.write_text('grad = "16.22"\n')
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--backward", "fixed", "--engine-config", toml,
                           "--out", out)
    assert code == 2 and "must look like Q2.14" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--dataset", tiny_npz(tmp_path), "--cell", "gru", "--backward", "fixed",
                           "--out", out)
    assert code == 2 and "models the LSTM engine" in err

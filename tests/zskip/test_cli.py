"""The command line end to end: outputs, help with defaults, and clear errors without tracebacks."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from boards import build as bb
from boards.targets import get_target
from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError, ZskipError
from golden_model.trace import capture_trace, load_trace
from zskip.cli import build_parser, main, merge_engine_config

TRACE = Path(__file__).parents[1] / "data" / "fashion8_lstm_h8.npz"


def run_cli(*args, cwd=None):
    """Run ``zskip`` in a subprocess (as a user would); return (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "zskip", *map(str, args)], capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def test_train_writes_metrics_and_plots(tmp_path, tiny_npz):
    out = tmp_path / "run"
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--hidden", 6, "--epochs", 2,
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


@pytest.mark.needs_dataset("fashion-mnist")
def test_train_on_fashion_mnist(tmp_path):
    code, _, err = run_cli("train", "--dataset", "fashion-mnist", "--limit", 256, "--eval-limit", 64,
                           "--hidden", 8, "--threshold", "static:1e-4", "--out", tmp_path / "fm")
    assert code == 0, err
    m = json.loads((tmp_path / "fm" / "metrics.json").read_text())
    assert m["dataset"]["seq_len"] == 28 and m["epochs"][0]["passes"] == 2


def test_compare_writes_table_and_plot(tmp_path, tiny_npz):
    out = tmp_path / "cmp"
    code, _, err = run_cli("compare", "--dataset", tiny_npz, "--hidden", 6, "--epochs", 1,
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
def test_bad_input_gives_a_message_not_a_traceback(tmp_path, args, words, tiny_npz):
    tiny = tiny_npz
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


def test_unwritable_output_is_refused_before_training(tmp_path, tiny_npz):
    (tmp_path / "afile").write_text("")
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--out", tmp_path / "afile" / "run")
    assert code == 2 and "cannot create the output directory" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--out", tmp_path / "afile")
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


def test_fixed_point_backward_from_the_command_line(tmp_path, tiny_npz):
    toml = tmp_path / "engine.toml"
    toml.write_text('[engine]\ngrad = "Q-6.22"\nrounding = "half-up"\n')
    out = tmp_path / "fx"
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--hidden", 6, "--batch-size", 16,
                           "--backward", "fixed", "--engine-config", toml, "--threshold", "sparsity:0.5", "--out", out)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["fixed_point"]["engine"]["grad"] == "Q-6.22" and m["fixed_point"]["engine"]["rounding"] == "half-up"
    toml.write_text('grad = "16.22"\n')
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--backward", "fixed", "--engine-config", toml,
                           "--out", out)
    assert code == 2 and "must look like Q2.14" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--dataset", tiny_npz, "--cell", "gru", "--backward", "fixed",
                           "--out", out)
    assert code == 2 and "models the LSTM engine" in err


def test_a_new_engine_field_is_a_flag_of_every_engine_verb(tmp_path, capsys, monkeypatch, Extended):
    """A subclass's field with metadata (the fixture Extended, tests/conftest.py) needs no edit of the CLI."""
    monkeypatch.setenv("COLUMNS", "200")
    parser = build_parser(Extended)
    for verb in ("verilog", "build"):
        with pytest.raises(SystemExit):
            parser.parse_args([verb, "--help"])
        text = capsys.readouterr().out
        default = "2" if verb == "verilog" else "the board's, else 2"
        assert "--taps N" in text and f"taps of the extra filter (default: {default})" in text, verb
    assert merge_engine_config(parser.parse_args(["verilog", "--taps", "7"])) == Extended(taps=7)
    toml = tmp_path / "e.toml"
    toml.write_text("taps = 5\n")
    args = parser.parse_args(["build", "--board", "icebreaker", "--config", str(toml)])
    config = merge_engine_config(args, get_target("icebreaker").engine)
    assert type(config) is Extended and config.taps == 5


def _stop_at(monkeypatch, name):
    """Replace the function ``name`` ("module.function") by one that records its call and stops the verb."""
    seen = {}

    def stop(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        raise ZskipError("stopped here by the test")

    monkeypatch.setattr(name, stop)
    return seen


def test_build_takes_the_board_default_then_toml_then_flags(tmp_path, monkeypatch, capsys):
    seen = _stop_at(monkeypatch, "boards.build.build")
    assert main(["build", "--board", "icebreaker"]) == 2
    assert seen["args"][1] == get_target("icebreaker").default_config()
    toml = tmp_path / "e.toml"
    toml.write_text("[engine]\nhidden_size = 16\nlanes = 2\nmax_seq = 64\n")
    assert main(["build", "--board", "icebreaker", "--config", str(toml), "--lanes", "4"]) == 2
    c, board = seen["args"][1], get_target("icebreaker").engine
    assert (c.input_size, c.ggu_cycles) == (board["input_size"], board["ggu_cycles"])    # the board's
    assert (c.hidden_size, c.max_seq) == (16, 64)                                         # the file's
    assert c.lanes == 4                                                                   # the flag's
    assert c.dw_acc_width == c.exact_dw_width        # widths follow the merged sizes, not the board's


def test_cosim_and_report_take_engine_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sim.cosim.require_simulator", lambda sim: None)
    seen = _stop_at(monkeypatch, "sim.cosim.cosim")
    assert main(["cosim", "--trace", str(TRACE), "--max-batch", "8", "--rounding", "truncate"]) == 2
    own = load_trace(TRACE).config
    got = seen["args"][0]
    assert got == EngineConfig.from_dict({**own.options(), "max_batch": 8, "rounding": "truncate"})
    # the trace's exact accumulator widths are not kept for a larger engine: they would saturate its sums
    assert got.dw_acc_width == got.exact_dw_width > own.dw_acc_width and got.db_acc_width == got.exact_db_width
    assert main(["cosim", "--trace", str(TRACE), "--hidden-size", "16"]) == 2
    assert "hidden_size: trace 8 vs configuration 16" in capsys.readouterr().err
    seen = _stop_at(monkeypatch, "boards.report.report")
    assert main(["report", "--board", "icebreaker", "--trace", str(TRACE), "--out", str(tmp_path), "--lanes", "2"]) == 2
    assert seen["args"][1] == EngineConfig(**{**get_target("icebreaker").engine, "lanes": 2})
    assert main(["report", "--board", "icebreaker", "--trace", str(TRACE), "--out", str(tmp_path), "--lanes", "3"]) == 2
    assert "lanes must be a positive power of two, not 3" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["passes", "batch", "lanes"])
def test_capture_trace_refuses_bad_sizes_by_name_before_reading_the_run(tmp_path, name):
    with pytest.raises(ConfigError, match=f"^{name} must be an integer >= 1, not 0$"):
        capture_trace(tmp_path / "no-run", **{name: 0})


@pytest.mark.parametrize("kwargs, message", [
    (dict(clock_mhz=0), "clock_mhz must be a number in [1, 400], not 0"),
    (dict(clock_mhz=401.0), "clock_mhz must be a number in [1, 400], not 401.0"),
    (dict(clock_mhz="fast"), "clock_mhz must be a number in [1, 400], not 'fast'"),
    (dict(baud=0), "baud must be an integer >= 1, not 0"),
    (dict(baud=9600.5), "baud must be an integer >= 1, not 9600.5"),
])
def test_build_refuses_bad_clock_and_baud_before_looking_for_tools(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.setattr(bb, "toolchain", lambda family: pytest.fail("build() looked for the tools first"))
    with pytest.raises(ConfigError, match=re.escape(message)):
        bb.build(get_target("icebreaker"), out=tmp_path / "b", **kwargs)
    assert not (tmp_path / "b").exists()


def test_bad_sizes_from_the_command_line_are_one_line_errors(tmp_path, capsys):
    assert main(["trace", "--run", str(tmp_path / "no-run"), "--steps", "0", "--out", str(tmp_path / "t.npz")]) == 2
    assert capsys.readouterr().err == "zskip trace: error: passes must be an integer >= 1, not 0\n"
    assert main(["build", "--board", "icebreaker", "--clock-mhz", "0"]) == 2
    assert capsys.readouterr().err == "zskip build: error: clock_mhz must be a number in [1, 400], not 0.0\n"


@pytest.mark.parametrize("board, command, package", [
    ("icebreaker", ["iceprog", "top.bin"], "fpga-icestorm"),
    ("ulx3s-85f", ["openFPGALoader", "-b", "ulx3s", "top.bin"], "openfpgaloader"),
])
def test_program_runs_the_board_s_own_programmer(tmp_path, monkeypatch, capsys, board, command, package):
    report = bb.BuildReport(board=board, device="d", fmax_mhz=50.0, constraint_mhz=40.0, goal_mhz=40.0,
                            timing_met=True, goal_met=True, utilization={}, config={}, clock={"engine_mhz": 40.0}, critical_path={},
                            tools={}, build_s=1.0, bitstream="top.bin")
    monkeypatch.setattr(bb, "build", lambda *args, **kwargs: report)
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert main(["build", "--board", board, "--out", str(tmp_path), "--program"]) == 2
    assert f"needs {command[0]}, which is not installed; install it with: sudo apt-get install {package}" in \
        capsys.readouterr().err
    ran = []
    monkeypatch.setattr(shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(subprocess, "run", lambda cmd: ran.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    assert main(["build", "--board", board, "--out", str(tmp_path), "--program"]) == 0
    assert ran == [command]

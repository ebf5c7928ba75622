"""zskip verilog: the default configuration, TOML and flags, RTLIL, a JSON summary; and every kind of
invalid configuration refused with a message that names it, before anything is elaborated."""

import json

import pytest

from zskip.cli import main


def run(capsys, *args):
    code = main(["verilog", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_configuration(tmp_path, capsys):
    code, out, err = run(capsys, "-o", tmp_path / "e.v", "--json", tmp_path / "e.json")
    assert code == 0, err
    text = (tmp_path / "e.v").read_text()
    assert "module zskip_engine(" in text
    summary = json.loads((tmp_path / "e.json").read_text())
    assert summary["config"]["hidden_size"] == 32 and summary["config"]["lanes"] == 4
    ports = {p["name"]: p for p in summary["ports"]}
    assert ports["i_elem__payload"] == {"name": "i_elem__payload", "direction": "in", "width": 112}
    assert ports["o_dx__payload"]["width"] == 4 * 16 and ports["start"]["direction"] == "in"
    assert "I=28 H=32 P=4" in err   # (the report goes to stderr, as zskip's progress does)


def test_toml_and_flags_and_rtlil(tmp_path, capsys):
    cfg = tmp_path / "engine.toml"
    cfg.write_text('[engine]\ninput_size = 5\nhidden_size = 3\nlanes = 2\nmax_batch = 2\nmax_seq = 4\n'
                   'weight = "Q4.12"\n')
    code, out, err = run(capsys, "--config", cfg, "--lanes", 4, "--format", "il", "-o", tmp_path / "e.il",
                         "--json", tmp_path / "e.json")
    assert code == 0, err
    assert (tmp_path / "e.il").read_text().lstrip().startswith(("attribute", "module", "autoidx"))
    c = json.loads((tmp_path / "e.json").read_text())["config"]
    assert (c["input_size"], c["hidden_size"], c["lanes"], c["weight"]) == (5, 3, 4, "Q4.12")   # the flag wins


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["verilog", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--lanes", "(default: 4)", "(default: Q2.14)", "(default: half-even)", "exact for 4H terms"):
        assert text in out


BAD = [
    (["--lanes", 0], "lanes must be an integer >= 1, not 0"),
    (["--lanes", 3], "lanes must be a positive power of two, not 3"),
    (["--lanes", 64], r"lanes \(64\) must not exceed the N = I \+ H = 60 columns"),
    (["--hidden-size", 0], "hidden_size must be an integer >= 1"),
    (["--max-batch", -1], "max_batch must be an integer >= 1"),
    (["--act", "Q1.15"], r"format act \(Q1.15\) must hold -1 and 1 exactly"),
    (["--weight", "UQ3.13"], "format weight must be signed"),
    (["--grad", "Q70.0"], "format grad is 70 bits wide; the datapath supports at most 62"),
    (["--act", "Q2.x"], "fixed-point format must look like Q2.14"),
    (["--hidden-size", 1024, "--input-size", 1024], "W needs 4H x N = 4096 x 2048 = 8388608 words, more than"),
    (["--max-seq", 100000], r"the per-sequence input memory \(max_batch x max_seq x N"),
    (["--dw-acc-width", 20], "dw_acc_width = 20 cannot hold even one term"),
    (["--da-acc-width", 70], "da_acc_width = 70 exceeds the datapath's 62 bits"),
    (["--grad", "Q40.0"], "dw_acc_width is 63 bits, more than the 62 the hardware builds"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(map(str, a)) for a, _ in BAD])
def test_invalid_configurations_are_refused(tmp_path, capsys, args, message):
    import re
    out_file = tmp_path / "e.v"
    code, _, err = run(capsys, *args, "-o", out_file)
    assert code == 2 and re.search(message, err), err
    assert err.startswith("zskip verilog: error: ") and "Traceback" not in err
    assert not out_file.exists()


@pytest.mark.parametrize("text, message", [
    ("foo = 1\n", "unknown engine option"),
    ("[[\n", "is not valid TOML"),
    ('lanes = "four"\n', "lanes must be an integer >= 1, not 'four'"),
    ('rounding = "stochastic"\n', "stochastic rounding is not supported"),
])
def test_invalid_configuration_files_are_refused(tmp_path, capsys, text, message):
    cfg = tmp_path / "engine.toml"
    cfg.write_text(text)
    code, _, err = run(capsys, "--config", cfg, "-o", tmp_path / "e.v")
    assert code == 2 and message in err, err


def test_missing_files_and_directories(tmp_path, capsys):
    code, _, err = run(capsys, "--config", tmp_path / "none.toml")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "-o", tmp_path / "no" / "e.v")
    assert code == 2 and "does not exist" in err

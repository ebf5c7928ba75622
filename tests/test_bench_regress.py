"""bench/regress.py (the random regression of the engine in Amaranth's simulator) keeps working: a short run
passes and writes its reports, and a run whose hardware differs from the golden model exits 1 and says where."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "regress.py"


def test_three_random_configurations_pass_and_are_reported(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--count", "3", "--jobs", "2", "--seed", "7",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "regress.json").read_text())
    assert report["schema"] == "zskip.regress/1" and report["seed"] == 7
    assert [c["index"] for c in report["results"]] == [0, 1, 2]
    for case in report["results"]:
        assert [r["mode"] for r in case["runs"]] == ["skip", "dense"]
        for r in case["runs"]:
            assert r["passed"] and r["mismatches"] == [] and r["error"] is None
            assert {"cycles", "steps", "issued", "hazard"} <= set(r["counters"]) and r["counters"]["hazard"] == 0
            assert set(r["flags"]) <= {"gate", "dw", "da", "db", "out"}
            assert {"gap", "stall", "seed", "runs"} <= set(r)
    s = report["summary"]
    assert s["configurations"] == 3 and s["runs"] == 6 and s["mismatches"] == 0 and s["failed"] == 0
    md = (tmp_path / "regress.md").read_text()
    assert "**Mismatches: 0**" in md and "bench/regress.py --count 3" in md
    assert "3 configurations, 6 runs: 6 passed" in done.stdout


def test_a_difference_fails_the_run(tmp_path, capsys):
    """The simulated dx made wrong by one: the script names it and exits 1."""
    main = runpy.run_path(str(SCRIPT))["main"]
    real = main.__globals__["simulate"]

    def wrong(*args, **kwargs):
        got = real(*args, **kwargs)
        got[0].outputs.dx[0, 0, 0] += 1
        return got

    main.__globals__["simulate"] = wrong
    assert main(["--count", "1", "--jobs", "1", "--out", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "regress.json").read_text())
    first = report["results"][0]["runs"][0]["mismatches"][0]
    assert first["what"] == "output" and first["name"] == "dx" and first["index"] == [0, 0, 0]
    assert first["actual"] == first["expected"] + 1
    assert report["summary"]["failed"] == 2 and "## Failed runs" in (tmp_path / "regress.md").read_text()
    assert "MISMATCH: configuration 0" in capsys.readouterr().out

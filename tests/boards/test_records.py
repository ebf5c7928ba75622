"""The JSON keys users rely on: report.json (zskip report), cosim.json (zskip cosim --json) and a build's
report.json (zskip build) keep every key they had before they were written through typed records (keys may be
added, never renamed); committed reports of the old, unversioned shape read as version 1 (the keys added since
read as null) and render the same report.md."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from boards.build import BuildReport
from boards.report import BoardReport, markdown
from golden_model.records import RecordError
from sim.cosim import CosimMismatch, CosimReport

RESULTS = Path(__file__).parents[2] / "bench" / "results"
COMMITTED = [RESULTS / "energy-icebreaker", RESULTS / "energy-ulx3s-85f"]   # written before the records

#: report.json's keys before the records, and those of its fixed-shape parts.
BOARD_REPORT = {
    "": {"board", "device", "estimate", "label", "model", "config", "trace", "sparsity", "ideal_speedup",
         "cycles_dense", "cycles_skip", "speedup", "cycles_dense_total", "cycles_skip_total", "steps", "fmax_mhz",
         "clock_mhz", "timing_met", "time_per_step_us", "dense_equivalent_macs_per_s", "energy_skip_nj",
         "energy_dense_nj", "energy_ratio", "energy_band", "energy_goal", "energy_goal_met",
         "energy_ratio_with_temporaries", "power_mw", "energy_breakdown_nj_per_step", "toggles_per_step",
         "operations_per_step", "sweep", "resources", "flip_flops", "critical_path", "accuracy",
         "coefficient_sources", "assumptions", "build"},
    "trace": {"path", "passes", "T", "B"},
    "time_per_step_us": {"skip_at_fmax", "dense_at_fmax", "skip_at_clock", "dense_at_clock"},
    "energy_band": {"ratio", "skip_nj", "dense_nj"},
    "power_mw": {"skip", "dense"},
    "energy_breakdown_nj_per_step": {"skip", "dense"},
    "toggles_per_step": {"skip", "dense"},
    "operations_per_step": {"skip", "dense"},
    "sweep[]": {"point", "tau", "sparsity", "cycles_per_step", "speedup", "ideal_speedup", "energy_per_step_nj",
                "energy_ratio", "energy_ratio_band", "goal"},
    "build": {"build_s", "bitstream", "tools", "clock"},
    "accuracy": {"source", "metric", "dataset", "rows"},
    "accuracy.rows[]": {"label", "kind", "dz_sparsity", "test_metric", "delta"},
}

#: report.json's keys added since (throughput, the energy ratio over whole sequences with their read-out): the
#: committed reports lack them and read them as null.
BOARD_REPORT_ADDED = {"macs_dense_per_step", "peak_gmacs", "dense_equiv_gmacs", "energy_ratio_sequence",
                      "energy_ratio_sequence_band", "energy_goal_met_sequence"}

#: cosim.json's keys before the records (CosimReport.to_dict() without "runs"), and its mismatch's.
COSIM = {"passed", "sim", "config", "sparsity", "cycles_dense", "cycles_skip", "cycles_dense_with_readout",
         "cycles_skip_with_readout", "ideal_speedup", "speedup", "efficiency", "efficiency_with_readout",
         "sim_cycles", "sim_cycles_per_s", "sequences", "mismatch", "waveform", "build_dir"}
COSIM_MISMATCH = {"sequence", "mode", "stream", "index", "where", "expected", "actual", "counters", "flags"}

#: A build's report.json keys before the records.
BUILD_REPORT = {"board", "device", "fmax_mhz", "constraint_mhz", "goal_mhz", "timing_met", "goal_met", "utilization",
                "config", "clock", "critical_path", "tools", "build_s", "bitstream", "cells"}


def _part(d, path):
    """The dictionaries at ``path`` ("a.b", "a[]": every item of the list a) of a report's dictionary."""
    parts = [d]
    for name in filter(None, path.split(".")):
        key = name.removesuffix("[]")
        parts = [p[key] for p in parts if p.get(key) is not None]
        if name.endswith("[]"):
            parts = [item for p in parts for item in p]
    return parts


@pytest.mark.parametrize("directory", COMMITTED, ids=lambda p: p.name)
def test_the_committed_reports_have_the_pinned_keys_and_read_back_whole(directory):
    on_disk = json.loads((directory / "report.json").read_text())
    r = BoardReport.read(directory / "report.json")          # (a report written before schemas: version 1)
    written = r.to_dict()
    assert written.pop("schema") == on_disk.pop("schema", "zskip.board-report/1") == "zskip.board-report/1"
    added = BOARD_REPORT_ADDED & set(on_disk)
    assert added in (set(), BOARD_REPORT_ADDED)       # written before the added keys, or after, with all of them
    if not added:                                     # read back as null
        assert {k: written.pop(k) for k in BOARD_REPORT_ADDED} == dict.fromkeys(BOARD_REPORT_ADDED)
    assert written == on_disk
    for path, keys in {**BOARD_REPORT, "": BOARD_REPORT[""] | added}.items():
        for part in _part(on_disk, path):
            assert set(part) == keys, path
    # report.md rendered from the record is the committed one (the reports have no accuracy table)
    assert markdown(r) == (directory / "report.md").read_text()


def test_every_pinned_key_is_still_written():
    r = BoardReport.read(COMMITTED[0] / "report.json")
    written = r.to_dict()
    for path, keys in {**BOARD_REPORT, "": BOARD_REPORT[""] | BOARD_REPORT_ADDED}.items():
        for part in _part(written, path):
            assert keys <= set(part), (path, keys - set(part))
    assert set(written) == BOARD_REPORT[""] | BOARD_REPORT_ADDED | {"schema"}
    assert COSIM <= {f.name for f in fields(CosimReport)} and COSIM_MISMATCH <= {f.name for f in fields(CosimMismatch)}
    assert BUILD_REPORT <= {f.name for f in fields(BuildReport)}


def _cosim_report(**kw):
    return CosimReport(passed=True, sim="verilator", config={"lanes": 4}, sparsity=0.8, cycles_dense=100,
                       cycles_skip=30, cycles_dense_with_readout=120, cycles_skip_with_readout=50, ideal_speedup=5.0,
                       speedup=3.3, efficiency=0.66, efficiency_with_readout=0.48, sim_cycles=400,
                       sim_cycles_per_s=1000.0, sequences=1, **kw)


def test_cosim_json_keeps_its_keys():
    d = _cosim_report(mismatch=CosimMismatch(sequence=0, mode="skip")).to_dict()
    d.pop("runs")                        # as zskip cosim writes it
    assert set(d) == COSIM | {"schema"} and set(d["mismatch"]) == COSIM_MISMATCH
    assert CosimReport.from_dict(d) == _cosim_report(mismatch=CosimMismatch(sequence=0, mode="skip"))


def test_an_old_build_report_reads_as_version_1(tmp_path):
    old = {"board": "icebreaker", "device": "iCE40UP5K-SG48", "fmax_mhz": 18.9, "constraint_mhz": 12,
           "goal_mhz": 48, "timing_met": True, "goal_met": False, "utilization": {}, "config": {}, "clock": {},
           "critical_path": {}, "tools": {}, "build_s": 1.0, "bitstream": "top.bin", "cells": {"SB_DFF": 3}}
    assert set(old) == BUILD_REPORT
    (tmp_path / "report.json").write_text(json.dumps(old))
    r = BuildReport.read(tmp_path / "report.json")
    # (a report written before builds recorded their design's digest reads with an empty one)
    assert r.cells == {"SB_DFF": 3} and r.to_dict() == {"schema": "zskip.build-report/1", **old, "design": ""}
    (tmp_path / "report.json").write_text(json.dumps({**old, "schema": "zskip.build-report/7"}))
    with pytest.raises(RecordError, match=r"report.json: is a \"zskip.build-report/7\" document"):
        BuildReport.read(tmp_path / "report.json")
    del old["fmax_mhz"]
    (tmp_path / "report.json").write_text(json.dumps(old))
    with pytest.raises(RecordError, match=r"report.json: field 'fmax_mhz' is missing"):
        BuildReport.read(tmp_path / "report.json")


def test_a_malformed_board_report_names_the_field(tmp_path):
    d = json.loads((COMMITTED[0] / "report.json").read_text())
    d["sweep"][1]["energy_ratio_band"] = [0.1, "high"]
    (tmp_path / "report.json").write_text(json.dumps(d))
    with pytest.raises(RecordError, match=r"report.json: field 'sweep\[1\].energy_ratio_band\[1\]' must be a number"):
        BoardReport.read(tmp_path / "report.json")

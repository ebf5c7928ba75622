"""The co-simulation's typed records (sim.jobs) and the schema mechanism under them (golden_model.records):
round trips, the checks of a run's specification, and the messages of documents that cannot be read."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import run_engine
from golden_model.errors import ConfigError, ZskipError
from golden_model.records import Record, RecordError, from_dict, to_dict
from hw.transfers import expected_transfers, output_counts
from sim import cosim as cs
from sim.jobs import (Difference, EngineJob, EngineResults, Mismatch, RunResult, RunSpec, load_inputs,
                      save_inputs)


@dataclass
class Inner(Record):
    x: float
    pair: tuple[int, int] = (0, 0)


@dataclass
class Doc(Record):
    SCHEMA = "zskip.test-doc/1"

    name: str
    inner: Inner
    items: list[Inner] = field(default_factory=list)
    table: dict[str, int] = field(default_factory=dict)
    maybe: Inner | None = None


@dataclass
class DocV2(Record):
    SCHEMA = "zskip.test-doc/2"

    name: str


def _result(**kw):
    base = dict(run=RunSpec(corrupt=[("dx", 3)]), passed=False, reset=False,
                mismatch=Mismatch(stream="dx", index=3, where="step t = 1", expected=[1, 2], actual=[1, 3]),
                counter_mismatches={"steps": Difference(expected=40, actual=41)}, flag_mismatches={},
                counters={"steps": 41, "cycles": np.int64(90)}, model_cycles={"steps": 40, "cycles": 90},
                flags={"gate": False}, stall=3, sim_cycles=200, wall_s=0.5, t_start_ns=120.0, nonzeros=7, entries=32)
    return RunResult(**{**base, **kw})


def test_records_round_trip_with_their_schema():
    doc = Doc(name="a", inner=Inner(1.5, (2, 3)), items=[Inner(2)], table={"k": 4}, maybe=None)
    d = to_dict(doc)
    assert d == {"schema": "zskip.test-doc/1", "name": "a", "inner": {"x": 1.5, "pair": [2, 3]},
                 "items": [{"x": 2, "pair": [0, 0]}], "table": {"k": 4}, "maybe": None}
    assert Doc.from_dict(d) == doc and isinstance(Doc.from_dict(d).inner.pair, tuple)
    results = EngineResults(runs=[_result(), RunResult.abandoned(RunSpec(reset_after=60))])
    back = EngineResults.from_dict(results.to_dict())
    assert back == results and back.runs[0].run.corrupt == (("dx", 3),) and back.runs[1].reset
    assert back.runs[0].counters["cycles"] == 90 and type(back.runs[0].counters["cycles"]) is int


def test_an_unversioned_document_is_version_1_and_unknown_keys_are_skipped():
    assert Doc.from_dict({"name": "a", "inner": {"x": 1}, "later": True}).inner.x == 1
    with pytest.raises(RecordError, match=r"has no \"schema\" key .* this zskip reads zskip.test-doc/2"):
        DocV2.from_dict({"name": "a"})


@pytest.mark.parametrize("data, message", [
    ({"schema": "zskip.test-doc/2", "name": "a", "inner": {"x": 1}},
     r"doc.json: is a \"zskip.test-doc/2\" document; this zskip reads zskip.test-doc/1"),
    ({"name": "a"}, r"doc.json: field 'inner' is missing"),
    ({"name": "a", "inner": {}}, r"doc.json: field 'inner.x' is missing"),
    ({"name": "a", "inner": {"x": "1"}}, r"doc.json: field 'inner.x' must be a number, not \"1\""),
    ({"name": "a", "inner": {"x": 1}, "items": [{"x": 1}, {"x": True}]},
     r"field 'items\[1\].x' must be a number, not true"),
    ({"name": "a", "inner": {"x": 1, "pair": [1]}}, r"field 'inner.pair' must be a list, not \[1\]"),
    ({"name": "a", "inner": {"x": 1}, "table": {"k": 1.5}}, r"field 'table.k' must be an integer, not 1.5"),
    ({"name": "a", "inner": {"x": 1}, "maybe": {"x": None}}, r"field 'maybe.x' must be a number, not null"),
    ([1, 2], r"doc.json: expected a JSON object, not \[1, 2\]"),
])
def test_a_malformed_document_names_the_file_and_the_field(data, message):
    with pytest.raises(RecordError, match=message) as e:
        Doc.from_dict(data, source="runs/x/doc.json")
    assert isinstance(e.value, ZskipError)


def test_a_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / "doc.json").write_text("{not json")
    with pytest.raises(RecordError, match=r"doc.json is not valid JSON"):
        Doc.read(tmp_path / "doc.json")
    with pytest.raises(RecordError, match=r"cannot read .*none.json"):
        Doc.read(tmp_path / "none.json")
    EngineJob(engine={"lanes": 1}, inputs="i.npz", results="r.json", runs=[RunSpec(gap=0.5)]).write(tmp_path / "j.json")
    assert EngineJob.read(tmp_path / "j.json").runs == [RunSpec(gap=0.5)]


def test_a_run_specification_checks_its_values():
    spec = RunSpec(gap=0, stall=0.95)
    assert spec.stall == 0.95 and spec.gap == 0.0 and isinstance(spec.gap, float)
    with pytest.raises(ConfigError, match=r"gap must be a probability in \[0, 0.95\], not 1.2"):
        RunSpec(gap=1.2)
    with pytest.raises(ConfigError, match=r"stall must be a probability in \[0, 0.95\], not -0.1"):
        RunSpec(stall=-0.1)
    with pytest.raises(ConfigError, match="corrupt must hold"):
        RunSpec(corrupt=[("dh", 1)])
    with pytest.raises(ConfigError, match=r"reset_after \(cycles\) must be an integer >= 0, not -1"):
        RunSpec(reset_after=-1)
    with pytest.raises(RecordError, match=r"job.json: runs\[0\]: gap must be a probability"):
        EngineJob.from_dict({"schema": EngineJob.SCHEMA, "engine": {}, "inputs": "", "results": "", "runs": [{"gap": 2}]},
                            source="job.json")


def test_cosim_refuses_a_handshake_probability_before_building(monkeypatch, random_inputs):
    monkeypatch.setattr(cs, "build", lambda *a, **k: pytest.fail("built before checking gap and stall"))
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=2)
    inputs = random_inputs(cfg, 2, 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"gap must be a probability in \[0, 0.95\], not 1.2"):
        cs.cosim(cfg, [inputs], gap=1.2)
    with pytest.raises(ConfigError, match=r"stall must be a probability in \[0, 0.95\], not 0.99"):
        cs.cosim(cfg, [inputs], stall=0.99)
    with pytest.raises(TypeError, match="runs must be sim.jobs.RunSpec objects, not dict"):
        cs.run_job(cfg, inputs, [{"dense": True}], built=None)


def test_inputs_saved_and_loaded(tmp_path, random_inputs):
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=3)
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(1))
    save_inputs(tmp_path / "i.npz", inputs)
    back = load_inputs(tmp_path / "i.npz")
    assert back.tau == inputs.tau and all(np.array_equal(getattr(back, k), getattr(inputs, k))
                                          for k in ("gates", "tanh_c", "c_prev", "a", "dh", "W"))
    np.savez(tmp_path / "bad.npz", gates=inputs.gates)
    with pytest.raises(RecordError, match=r"bad.npz is not a sequence saved by sim.jobs.save_inputs \(KeyError"):
        load_inputs(tmp_path / "bad.npz")


def test_output_counts_are_what_the_streams_carry(random_inputs):
    cfg = EngineConfig(input_size=5, hidden_size=3, lanes=2, max_batch=2, max_seq=3)
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(2))
    expected = expected_transfers(cfg, run_engine(cfg, inputs))
    assert output_counts(cfg, 3, 2) == {name: len(v) for name, v in expected.items()}


def test_a_cosim_mismatch_of_a_run():
    m = cs.CosimMismatch.of(_result(sequence=2))
    assert (m.sequence, m.mode, m.stream, m.index) == (2, "skip", "dx", 3)
    assert m.counters == {"steps": Difference(40, 41)} and m.flags == {}
    only_counters = cs.CosimMismatch.of(_result(sequence=0, mismatch=None, run=RunSpec(dense=True)))
    assert only_counters.mode == "dense" and only_counters.stream is None and only_counters.where is None
    assert from_dict(cs.CosimMismatch, to_dict(m)) == m

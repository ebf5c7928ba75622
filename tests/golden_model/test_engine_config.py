"""EngineConfig: derived sizes, serialisation, and a clear error for every kind of invalid configuration."""

from dataclasses import fields

import pytest

from golden_model import ConfigError
from golden_model.engine_config import EngineConfig
from golden_model.fixedpoint import Overflow, QFormat, Rounding, accumulator_width


def test_defaults_and_derived_sizes():
    c = EngineConfig()
    assert c.n_inputs == 60 and c.n_rows == 128 and c.cols_per_lane == 15
    assert c.dw_acc_width == accumulator_width(c.grad, c.inp, c.max_batch * c.max_seq)
    assert c.dw_acc.frac == c.grad.frac + c.inp.frac
    assert EngineConfig(input_size=3, hidden_size=2, lanes=4).cols_per_lane == 2


def test_round_trip(tmp_path):
    c = EngineConfig(input_size=5, hidden_size=7, lanes=8, grad=QFormat(16, 20), dw_acc_width=40)
    assert EngineConfig.from_dict(c.to_dict()) == c
    p = tmp_path / "e.toml"
    p.write_text("[engine]\ninput_size = 5\nhidden_size = 7\nlanes = 8\ngrad = 'Q-4.20'\ndw_acc_width = 40\n")
    assert EngineConfig.from_toml(p) == c


@pytest.mark.parametrize("kwargs, words", [
    (dict(lanes=0), "lanes must be an integer >= 1, not 0"),
    (dict(lanes=6), "lanes must be a positive power of two, not 6"),
    (dict(input_size=1, hidden_size=2, lanes=4), "lanes (4) must not exceed the N = I + H = 3 columns"),
    (dict(hidden_size=-1), "hidden_size must be an integer >= 1"),
    (dict(max_batch=0), "max_batch must be"),
    (dict(max_seq=2.5), "max_seq must be"),
    (dict(act=QFormat(16, 15)), "format act (Q1.15) must hold -1 and 1 exactly"),
    (dict(grad=QFormat(16, 20, signed=False)), "format grad must be signed"),
    (dict(weight=QFormat(80, 40)), "format weight is 80 bits wide"),
    (dict(act=QFormat(8, -1)), "format act (Q9.-1) must hold -1 and 1 exactly"),
    (dict(inp="16.14"), "must look like Q2.14"),
    (dict(dw_acc_width=20), "dw_acc_width = 20 cannot hold even one term"),
    (dict(da_acc_width=100), "da_acc_width = 100 exceeds the datapath's 62 bits"),
    (dict(rounding="nearest"), "rounding must be one of"),
    (dict(rounding="stochastic"), "stochastic rounding is not supported"),
    (dict(overflow="clamp"), "overflow must be one of wrap, saturate"),
    (dict(input_size=1000, hidden_size=1000), "more than the 1048576 the design allows"),
    (dict(max_batch=512, max_seq=512), "per-sequence input memory"),
])
def test_invalid(kwargs, words):
    with pytest.raises(ConfigError) as e:
        EngineConfig(**kwargs)
    assert words in str(e.value)


def test_wide_exact_accumulators_are_modelled_but_not_built():
    c = EngineConfig(grad=QFormat(40, 50), inp=QFormat(40, 38), max_batch=64, max_seq=256)
    assert c.dw_acc_width > 62
    with pytest.raises(ConfigError, match="dw_acc_width is .* bits, more than the 62 the hardware builds"):
        c.check_buildable()
    assert EngineConfig().check_buildable() == EngineConfig()


def test_db_accumulator_is_tight():
    c = EngineConfig(max_batch=2, max_seq=2)  # 4 terms of a 16-bit value: 18 bits
    assert c.exact_db_width == 18


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        EngineConfig.from_toml(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("lanes = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        EngineConfig.from_toml(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text("lane = 4")
    with pytest.raises(ConfigError, match="unknown engine option.*lane"):
        EngineConfig.from_toml(tmp_path / "typo.toml")


@pytest.mark.parametrize("k, message", [(0, "ggu_cycles must be an integer >= 1"), (19, "ggu_cycles must be at most 18"),
                                        (True, "ggu_cycles must be an integer >= 1")])
def test_ggu_cycles_out_of_range_is_named(k, message):
    with pytest.raises(ConfigError, match=message):
        EngineConfig(ggu_cycles=k)


def test_the_slowest_unit_worth_building_is_the_limit():
    from golden_model.ggu import ggu_schedule
    from golden_model.engine_config import MAX_GGU_CYCLES
    plan = ggu_schedule(MAX_GGU_CYCLES)
    assert (plan.form, plan.multipliers, plan.latency) == ("serial", 1, MAX_GGU_CYCLES)


def test_every_field_carries_its_help_and_the_rule_choices_come_from_the_enums():
    meta = {f.name: f.metadata for f in fields(EngineConfig)}
    assert all(m.get("help") for m in meta.values())
    assert set(meta["rounding"]["choices"]) == {r.value for r in Rounding} - {"stochastic"}
    assert set(meta["overflow"]["choices"]) == {o.value for o in Overflow}
    for rule in meta["rounding"]["choices"]:
        assert EngineConfig(rounding=rule).rounding == rule      # every choice offered is accepted


def test_a_subclass_field_is_read_from_toml(tmp_path, Extended):
    p = tmp_path / "e.toml"
    p.write_text("[engine]\ntaps = 5\nlanes = 2\n")
    c = Extended.from_toml(p)
    assert (c.taps, c.lanes) == (5, 2) and Extended.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown engine option.*: taps;"):
        EngineConfig.from_toml(p)


def test_options_leave_out_the_exact_widths_and_keep_chosen_ones():
    c = EngineConfig(input_size=4, hidden_size=2, lanes=2, max_batch=2, max_seq=4, da_acc_width=40)
    options = c.options()
    assert "dw_acc_width" not in options and "db_acc_width" not in options and options["da_acc_width"] == 40
    bigger = EngineConfig.from_dict({**options, "max_seq": 64})
    assert bigger.dw_acc_width == bigger.exact_dw_width > c.dw_acc_width and bigger.da_acc_width == 40
    assert EngineConfig.from_dict(options) == c

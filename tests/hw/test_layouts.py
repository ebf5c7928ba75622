"""Payload layouts: sizes follow the configuration, and values pack and unpack unchanged."""

from golden_model.engine_config import EngineConfig
from hw.layouts import chunk_layout, element_layout, nonzero_layout, state_layout


def test_sizes_follow_the_configuration():
    c = EngineConfig(input_size=28, hidden_size=32, lanes=4, max_batch=4)
    assert element_layout(c).size == 5 * 16 + 16 + 16
    assert chunk_layout(c, c.inp).size == 4 * 16
    assert nonzero_layout(c).size == 7 + 2 + 16   # k < 128, b < 4
    assert nonzero_layout(EngineConfig(max_batch=1)).size == 7 + 1 + 16
    assert state_layout(c).size == 32


def test_round_trip_of_signed_extremes():
    c = EngineConfig()
    lay = element_layout(c)
    values = {"i": c.act.min_int, "f": c.act.max_int, "g": -1, "o": 1, "tanh_c": 0,
              "c_prev": c.state.min_int, "dh": c.grad.max_int}
    view = lay.from_bits(lay.const(values).as_bits())
    assert {k: view[k] for k in values} == values
    nz = nonzero_layout(c)
    back = nz.from_bits(nz.const({"k": 127, "b": 3, "v": -5}).as_bits())
    assert (back.k, back.b, back.v) == (127, 3, -5)

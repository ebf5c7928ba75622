"""Stream payload layouts of the engine, defined once for the hardware and every testbench.

Each function takes the EngineConfig and returns an ``amaranth.lib.data``
layout; testbenches pack with ``layout.const({...}).as_value()`` and unpack
with ``layout.from_bits(raw)``, so bit positions have one source of truth.

- :func:`element_layout` -- per-step input of one element (b, j): the cached
  i, f, g, o, tanh(c_t) (act format), c_{t-1} (state) and dh_out (grad);
- :func:`chunk_layout` -- P values of one format: a_t columns, weights, dx,
  dW read-out, moving P lanes' worth per transfer;
- :func:`dz_layout` -- what the gate-gradient unit hands the encoder: the
  four thresholded dz (i, f, g, o) of one element and its unit j and batch b;
- :func:`nonzero_layout` -- what the zero-skip encoder issues to the lanes:
  row k, batch index b and the value v of one dz entry;
- :func:`state_layout` -- dh0 and dc0 of one element, after step 0.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data

from .fixed import shape_of

__all__ = ["element_layout", "chunk_layout", "dz_layout", "nonzero_layout", "state_layout", "index_shape",
           "field_values"]


def index_shape(n):
    """Shape of an index in range(n)."""
    return unsigned(max(1, (n - 1).bit_length()))


def element_layout(config):
    act = shape_of(config.act)
    return data.StructLayout({
        "i": act, "f": act, "g": act, "o": act, "tanh_c": act,
        "c_prev": shape_of(config.state),
        "dh": shape_of(config.grad),
    })


def chunk_layout(config, fmt):
    """P values of ``fmt`` (one per lane; lane p holds column p of the chunk)."""
    return data.ArrayLayout(shape_of(fmt), config.lanes)


def dz_layout(config):
    return data.StructLayout({
        "dz": data.ArrayLayout(shape_of(config.grad), 4),
        "j": index_shape(config.hidden_size),
        "b": index_shape(config.max_batch),
    })


def nonzero_layout(config):
    return data.StructLayout({
        "k": index_shape(config.n_rows),
        "b": index_shape(config.max_batch),
        "v": shape_of(config.grad),
    })


def state_layout(config):
    g = shape_of(config.grad)
    return data.StructLayout({"dh0": g, "dc0": g})


def field_values(view):
    """The fields of a struct-layout value as ``{name: int}``.

    Parameters
    ----------
    view : amaranth.lib.data.View or amaranth.lib.data.Const
        A value of a StructLayout: ``layout.from_bits(word)``, a simulator's ``ctx.get(signal)``, or a
        field of one whose shape is itself a layout.

    Returns
    -------
    dict
        Each field's value as an int, in the layout's order.
    """
    return {name: int(view[name]) for name, _ in view.shape()}

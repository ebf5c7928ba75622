"""EngineConfig: the one description of an engine instance, shared by the model and the hardware.

Build-time parameters (validated here, before any elaboration):

- ``input_size`` I, ``hidden_size`` H (N = I + H columns of W, 4H rows);
- ``lanes`` P: MAC lanes, a power of two no larger than N; lane p owns the
  columns j = p, p + P, ... (``cols_per_lane`` = ceil(N / P));
- ``max_batch`` and ``max_seq``: the largest B and T the memories hold;
- fixed-point formats of the engine's operands (see golden_model.fixedpoint):
  ``act`` (cached gate activations i, f, g, o and tanh(c); must hold -1 and
  1 exactly, since the unit computes 1 - x and 1 - x**2), ``state`` (c_{t-1}),
  ``inp`` (a_t = [x_t ; h_{t-1}]), ``weight`` (W) and ``grad`` (dh, dc, dz
  and every intermediate gradient; a ``frac`` beyond ``width`` is a
  power-of-two gradient scale);
- accumulator widths of dW, da and db: by default the width that holds the
  worst-case sum exactly (``accumulator_width``); a smaller width saturates
  and raises the sticky overflow flag;
- the rounding rule of every product that loses bits, and the overflow rule;
- ``ggu_cycles`` k: cycles the gate-gradient unit spends on each element. 1
  (the default) pipelines it fully on 16 multipliers; 2 .. 9 fold the pipeline
  onto ceil(16 / (k - 1)) shared multipliers; 10 .. 18 compute one element at
  a time on 3, 2 or 1 (the fewest registers); see hw.gate_grad. The feed then
  offers one element every k cycles (golden_model.cycles).
- ``lane_pipeline``: the MAC lanes' register stages. ``registered`` (the default)
  puts a register at every fan-out, block-RAM output and multiplier input, middle
  and output, for the clock; ``compact`` keeps only the memories' own registers
  and one product register, for parts whose logic cells run out first (hw.mac_lanes).

Run-time registers (tau, skip/dense, T <= max_seq, B <= max_batch) are not
part of the configuration.

Default formats, from measurements (``bench/measure_ranges.py`` on trained
H = 128 LSTMs: one epoch of row-wise Fashion-MNIST, 1.5 M characters of the
Jane Austen corpus; histograms in bench/results/formats/). All operands are
16 bits, the width of the iCE40 and ECP5 multipliers:

- ``act`` Q2.14: i, f, g, o and tanh(c) lie in (-1, 1) but reach 0.9999, and
  the unit forms 1 - i and 1 - g**2, so 1.0 itself must be representable;
- ``state`` Q5.11: |c| reached 13.0 on Fashion-MNIST and 4.8 on the corpus;
  Q4.12 saturated (-0.7 bits of headroom), Q5.11 keeps 1.3 bits;
- ``inp`` Q2.14: x is in [0, 1] on both datasets (pixels, one-hot), h in (-1, 1);
- ``weight`` Q3.13: |W| reached 2.06 on the corpus (0.48 on Fashion-MNIST):
  one bit of headroom, one more fraction bit than Q4.12;
- ``grad`` Q-8.24 with the host's power-of-two gradient scale 2**s that puts
  max |dh_out| three bits below the top of the format
  (``engine_model.gradient_scale``): the largest intermediate gradient (dc
  on Fashion-MNIST, dh + dh_rec on the corpus) then used 1.4 to 2.5 of those
  3 bits, and the dz values that survive a 90 % threshold keep about 9
  significant bits. The format's own scale is arbitrary under dynamic
  scaling; its 16 bits are what matter.

Measured on more data or longer training the ranges may grow; fixed-point
runs report every saturation (``fixed_point`` in metrics.json), so a format
that is too small shows itself.
"""

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checks import check_known, check_size
from .errors import ConfigError
from .fixedpoint import Overflow, QFormat, Rounding, parse_enum, accumulator_width

__all__ = ["EngineConfig", "check_config", "DEFAULT_FORMATS", "MAX_MEMORY_WORDS", "LANE_PIPELINES", "option", "read_toml"]

#: Default formats (16-bit operands), chosen from measured ranges (module docstring).
#: The gradient format's frac > width is a 2**-8 scale: |grad| < 2**-9, steps of 2**-24.
DEFAULT_FORMATS = {
    "act": QFormat(16, 14),
    "state": QFormat(16, 11),
    "inp": QFormat(16, 14),
    "weight": QFormat(16, 13),
    "grad": QFormat(16, 24),
}

#: Largest W (and dW) memory, in words, a configuration may ask for: 2**20
#: words of 16 bits is 2 MiB, beyond every board zskip targets.
MAX_MEMORY_WORDS = 1 << 20
#: Slowest gate-gradient unit worth building: the serial one on a single multiplier needs 18 cycles
#: per element (golden_model.ggu.ggu_schedule); a larger k would save nothing.
MAX_GGU_CYCLES = 18
#: Widest operand the model's int64 paths support, and widest accumulator the hardware builds.
MAX_WIDTH = 62


def _fmt(name, value):
    if isinstance(value, QFormat):
        return value
    if isinstance(value, str):
        try:
            return QFormat.parse(value)
        except ConfigError as e:
            raise ConfigError(f"format {name}: {e}") from None
    if isinstance(value, dict):
        try:
            return QFormat(**value)
        except TypeError:
            raise ConfigError(f"format {name} must have keys width, frac and signed, got {sorted(value)}") from None
    raise ConfigError(f"format {name} must be a QFormat or text like 'Q2.14', not {value!r}")


def option(default, help, *, metavar=None, choices=None, shown=None):
    """A field of EngineConfig that carries what the command line needs to offer it as a flag.

    ``zskip`` makes one ``--name`` flag per field from this metadata, so a new field (also in a
    subclass) needs nothing else to be settable from the command line and from TOML.

    Parameters
    ----------
    default : object
        The field's default.
    help : str
        What the field means, for ``--help``.
    metavar : str, optional
        The value's name in ``--help`` (default: the field's name in capitals).
    choices : sequence of str, optional
        The values a text field accepts.
    shown : str, optional
        The default as ``--help`` states it, where it is computed (the exact accumulator widths).

    Returns
    -------
    dataclasses.Field
    """
    return field(default=default, metadata={"help": help, "metavar": metavar, "choices": choices, "shown": shown})


#: The rounding and overflow rules the engine builds (stochastic rounding is not modelled yet).
_ROUNDINGS = tuple(r.value for r in Rounding if r is not Rounding.STOCHASTIC)
_OVERFLOWS = tuple(o.value for o in Overflow)
#: The MAC lanes' register stages (hw.mac_lanes.lane_timing).
LANE_PIPELINES = ("registered", "compact")


@dataclass(frozen=True)
class EngineConfig:
    """Build-time parameters of one engine (see the module docstring)."""

    input_size: int = option(28, "I, inputs of the layer", metavar="I")
    hidden_size: int = option(32, "H, hidden units", metavar="H")
    lanes: int = option(4, "P, MAC lanes (a power of two, at most N = I + H)", metavar="P")
    max_batch: int = option(4, "largest batch B", metavar="B")
    max_seq: int = option(32, "largest sequence length T", metavar="T")
    act: QFormat = option(DEFAULT_FORMATS["act"], "format of i, f, g, o and tanh(c)", metavar="Q")
    state: QFormat = option(DEFAULT_FORMATS["state"], "format of c", metavar="Q")
    inp: QFormat = option(DEFAULT_FORMATS["inp"], "format of a = [x; h]", metavar="Q")
    weight: QFormat = option(DEFAULT_FORMATS["weight"], "format of W", metavar="Q")
    grad: QFormat = option(DEFAULT_FORMATS["grad"], "format of dh, dc, dz (frac > width: a power-of-two scale)",
                           metavar="Q")
    dw_acc_width: int = option(None, "dW accumulator bits", metavar="BITS", shown="exact for max_batch x max_seq terms")
    da_acc_width: int = option(None, "da accumulator bits", metavar="BITS", shown="exact for 4H terms")
    db_acc_width: int = option(None, "db accumulator bits", metavar="BITS", shown="exact for max_batch x max_seq terms")
    rounding: str = option("half-even", "rounding of every product that loses bits", choices=_ROUNDINGS)
    overflow: str = option("saturate", "what a value beyond its format does", choices=_OVERFLOWS)
    ggu_cycles: int = option(1, "cycles per element of the gate-gradient unit (k > 1 shares ceil(16/(k-1)) "
                             "multipliers)", metavar="K")
    lane_pipeline: str = option("registered", "register stages of the MAC lanes: registered (for the clock) or "
                                "compact (fewer logic cells)", choices=LANE_PIPELINES)

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("input_size", "hidden_size", "lanes", "max_batch", "max_seq", "ggu_cycles"):
            set_(self, name, check_size(name, getattr(self, name)))
        if self.ggu_cycles > MAX_GGU_CYCLES:
            raise ConfigError(f"ggu_cycles must be at most {MAX_GGU_CYCLES} (the gate-gradient unit on one "
                              f"multiplier takes {MAX_GGU_CYCLES} cycles per element), not {self.ggu_cycles}")
        if self.lanes & (self.lanes - 1):
            raise ConfigError(f"lanes must be a positive power of two, not {self.lanes!r}")
        if self.lanes > self.n_inputs:
            raise ConfigError(f"lanes ({self.lanes}) must not exceed the N = I + H = {self.n_inputs} columns "
                              "they split: the extra lanes would never work")
        for name in ("act", "state", "inp", "weight", "grad"):
            f = _fmt(name, getattr(self, name))
            if not f.signed:
                raise ConfigError(f"format {name} must be signed (gradients and weights change sign), not {f}")
            if f.width > MAX_WIDTH:
                raise ConfigError(f"format {name} is {f.width} bits wide; the datapath supports at most {MAX_WIDTH}")
            set_(self, name, f)
        if self.act.frac < 0 or not (self.act.min <= -1.0 and self.act.max >= 1.0):
            raise ConfigError(f"format act ({self.act}) must hold -1 and 1 exactly (the unit computes 1 - i and "
                              f"1 - g**2); it holds [{self.act.min}, {self.act.max}]")
        if self.rounding in (Rounding.STOCHASTIC, Rounding.STOCHASTIC.value):
            raise ConfigError("stochastic rounding is not supported by the engine model yet; use "
                              f"{', '.join(_ROUNDINGS)}")
        set_(self, "rounding", parse_enum(Rounding, self.rounding, "rounding", choices=_ROUNDINGS).value)
        set_(self, "overflow", parse_enum(Overflow, self.overflow, "overflow").value)
        if self.lane_pipeline not in LANE_PIPELINES:
            raise ConfigError(f"lane_pipeline must be one of {', '.join(LANE_PIPELINES)}, not {self.lane_pipeline!r}")
        for name, need in (("dw_acc_width", self.exact_dw_width), ("da_acc_width", self.exact_da_width),
                           ("db_acc_width", self.exact_db_width)):
            v = getattr(self, name)
            if v is None:
                set_(self, name, need)  # may exceed MAX_WIDTH: fine for the model, refused by check_buildable
                continue
            v = check_size(name, v, minimum=2)
            set_(self, name, v)
            minimum = {"dw_acc_width": self.grad.width + self.inp.width,
                       "da_acc_width": self.grad.width + self.weight.width,
                       "db_acc_width": self.grad.width}[name]
            if v < minimum:
                raise ConfigError(f"{name} = {v} cannot hold even one term ({minimum} bits)")
            if v > MAX_WIDTH:
                raise ConfigError(f"{name} = {v} exceeds the datapath's {MAX_WIDTH} bits (exact needs {need})")
        if self.weight_words > MAX_MEMORY_WORDS:
            raise ConfigError(f"W needs 4H x N = {4 * self.hidden_size} x {self.n_inputs} = {self.weight_words} words, "
                              f"more than the {MAX_MEMORY_WORDS} the design allows; use a smaller H or I")
        if self.max_batch * self.max_seq * self.n_inputs > MAX_MEMORY_WORDS:
            raise ConfigError(f"the per-sequence input memory (max_batch x max_seq x N = {self.max_batch} x "
                              f"{self.max_seq} x {self.n_inputs}) exceeds {MAX_MEMORY_WORDS} words")

    def check_buildable(self):
        """Raise ConfigError unless the hardware can be built: every accumulator at most MAX_WIDTH bits.

        The model itself computes exactly at any accumulator width (Python ints), which the
        float-equivalence checks use; hardware cannot.
        """
        for name in ("dw_acc_width", "da_acc_width", "db_acc_width"):
            v = getattr(self, name)
            if v > MAX_WIDTH:
                raise ConfigError(f"{name} is {v} bits, more than the {MAX_WIDTH} the hardware builds; use narrower "
                                  f"formats or a smaller max_batch/max_seq, or set {name} (it then saturates)")
        return self

    # -- derived -------------------------------------------------------------

    @property
    def n_inputs(self):
        """N = I + H."""
        return self.input_size + self.hidden_size

    @property
    def n_rows(self):
        """4H rows of W (gates i, f, g, o)."""
        return 4 * self.hidden_size

    @property
    def cols_per_lane(self):
        """ceil(N / P): the cycles one nonzero dz keeps the lanes busy."""
        return -(-self.n_inputs // self.lanes)

    @property
    def weight_words(self):
        return self.n_rows * self.n_inputs

    @property
    def exact_dw_width(self):
        return accumulator_width(self.grad, self.inp, self.max_batch * self.max_seq)

    @property
    def exact_da_width(self):
        return accumulator_width(self.grad, self.weight, self.n_rows)

    @property
    def exact_db_width(self):
        n = self.max_batch * self.max_seq
        return accumulator_width(self.grad, QFormat(1, 0, signed=False), n)  # n terms of the grad format

    @property
    def input_formats(self):
        """The format of each per-step engine input (and of W)."""
        return {"gates": self.act, "tanh_c": self.act, "c_prev": self.state, "a": self.inp, "dh": self.grad,
                "W": self.weight}

    @property
    def dw_acc(self):
        """Format of the dW accumulators (exact products: grad.frac + inp.frac fractional bits)."""
        return QFormat(self.dw_acc_width, self.grad.frac + self.inp.frac)

    @property
    def da_acc(self):
        return QFormat(self.da_acc_width, self.grad.frac + self.weight.frac)

    @property
    def db_acc(self):
        return QFormat(self.db_acc_width, self.grad.frac)

    # -- (de)serialisation ---------------------------------------------------

    def to_dict(self):
        """Plain values (formats as 'Q2.14' text), loadable by ``from_dict``."""
        d = asdict(self)
        for name in ("act", "state", "inp", "weight", "grad"):
            d[name] = str(getattr(self, name))
        return d

    def options(self):
        """``to_dict`` without the accumulator widths that are the exact ones: the options to build on. A
        configuration made from them with other sizes computes its own exact widths instead of keeping
        these (which would saturate a larger engine's sums)."""
        exact = {"dw_acc_width": self.exact_dw_width, "da_acc_width": self.exact_da_width,
                 "db_acc_width": self.exact_db_width}
        return {k: v for k, v in self.to_dict().items() if not (k in exact and v == exact[k])}

    @classmethod
    def from_dict(cls, d):
        """The configuration of the options in ``d`` (keys as ``to_dict``); an unknown key is refused by name."""
        return cls(**check_known("engine option", d, cls))

    @classmethod
    def from_toml(cls, path):
        """Read a configuration from a TOML file (keys as ``to_dict``, optionally under [engine])."""
        return cls.from_dict(read_toml(path))


def read_toml(path):
    """The engine options of a TOML file (the [engine] table, or the top level) as a dict."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"engine configuration {p} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"engine configuration {p} is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"engine configuration {p} is not valid TOML: {e}") from None
    data = data.get("engine", data)
    if not isinstance(data, dict):
        raise ConfigError(f"engine configuration {p}: [engine] must be a table")
    return data


def check_config(config):
    """``config`` if it is an EngineConfig (the one check every component and function that takes a
    configuration makes), else TypeError."""
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
    return config

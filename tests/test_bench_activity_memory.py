"""bench/activity_memory.py (time and memory of reading a waveform's switching activity): a small waveform is
read and its figures printed; a missing or malformed waveform and an unknown board end in one line, exit 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "activity_memory.py"

VCD = """$timescale 1ns $end
$scope module zskip_engine $end
$var wire 4 ! counters $end
$var wire 2 " x $end
$upscope $end
$enddefinitions $end
#0
b0000 !
b00 "
#10
b0001 !
b11 "
#20
b0011 !
b01 "
"""


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_a_small_waveform_is_read_and_its_figures_printed(tmp_path):
    (tmp_path / "w.vcd").write_text(VCD)
    done = run(tmp_path / "w.vcd")
    assert done.returncode == 0, done.stderr
    # x: 2 + 1 bit flips, counters: 1 + 1 (counted too: a signal of the top)
    assert "read: 3 cycles, 5 toggles" in done.stdout and "peak anonymous memory" in done.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    done = run(tmp_path / "none.vcd")
    assert done.returncode == 2 and "waveform" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "bad.vcd").write_text("$timescale garbage\n\x00\x01")
    done = run(tmp_path / "bad.vcd")
    assert done.returncode == 2 and "cannot read" in done.stderr and "Traceback" not in done.stderr
    done = run("--cosim", "nosuch", "--root", tmp_path)
    assert done.returncode == 2 and "unknown board 'nosuch'" in done.stderr and "Traceback" not in done.stderr

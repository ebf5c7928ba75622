"""Activity-based energy estimate of a design on an iCE40 UltraPlus or ECP5 (docs/power.md).

    e = estimate("ice40", Workload(cycles=9201, f_mhz=12, flip_flops=2143, net_toggles=..., ...))
    e.total_nj, e.band_nj, e.terms_nj         # the estimate, its band, and each term

Neither Yosys nor nextpnr estimates power and Lattice does not publish its
calculators' coefficients, so this is an **estimate, not vendor analysis, not
measured**. The model (per-resource "pin toggle" style):

    E = P_static * t + cycles * (E_clock + N_ff * E_ff) + toggles * E_net
        + reads * E_rd + writes * E_wr + dsp_ops * E_dsp + lut_mul_ops * E_lut_mul + io_toggles * E_io

with t = cycles / f. Every coefficient is in :data:`COEFFICIENTS`, one table per
family, each with its value at the family's nominal core voltage, its
uncertainty band (a factor below and above) and its source. Dynamic terms
scale with (V / V_nom)^2; the static term is the data-sheet current times V
(the current held at its nominal-voltage value). The band of a total is the sum of every term at its low and at
its high factor; the band of a ratio between two workloads on the same build
(skip vs dense) is the range over every corner of the coefficient factors,
which share their errors between the two runs (so the ratio's band is far
narrower than either total's: lead with the ratio).

Model version :data:`MODEL_VERSION`; the calibration against the public UP5K
bench measurements is :data:`CALIBRATION` (tests/boards/test_power.py).
"""

import itertools
import math
from dataclasses import asdict, dataclass

from golden_model.checks import check_finite_scalar, check_range
from golden_model.errors import ConfigError

__all__ = ["MODEL_VERSION", "Coefficient", "COEFFICIENTS", "TERMS", "Workload", "Estimate", "estimate", "ratio_band",
           "CALIBRATION", "LABEL", "coefficient_sources", "current_ua", "ENERGY_GOAL_FACTOR"]

MODEL_VERSION = "zskip-power 1 (2026-12)"

#: What every figure of this model is, wherever it is shown.
LABEL = "estimate, not vendor analysis, not measured"

#: The energy goal's factor. The design's performance target (docs/DESIGN.md, "Goals and where we stand"):
#: estimated energy per backward step, skip vs dense on the same build, at most
#: ``ENERGY_GOAL_FACTOR * (1 - sparsity)``, with the run's dz sparsity.
ENERGY_GOAL_FACTOR = 1.15


@dataclass(frozen=True)
class Coefficient:
    value: float
    unit: str
    band: tuple          # (low factor, high factor) on the value
    source: str


_TINYVISION = ("tinyvision-ai ice40_power bench measurements of a UP5K (Joulescope), as listed in docs/power.md")
_UP5K_COUNTER = ("24-bit counter at 6/12/24/48 MHz: 388/645/1162/2184 uA, about 43 uA/MHz at 1.2 V = 51.6 pJ per cycle "
                 "for clock, counter and base; " + _TINYVISION)

#: Coefficients by family, at the family's nominal core voltage ``v_core`` (25 C, typical silicon).
COEFFICIENTS = {
    "ice40": {
        "v_core": Coefficient(1.2, "V", (1, 1), "iCE40 UltraPlus data sheet FPGA-DS-02008: VCC 1.2 V nominal"),
        "static": Coefficient(75.0, "uA", (0.5, 1.5),
                              "iCE40 UltraPlus data sheet FPGA-DS-02008: core static current 75 uA typical "
                              "(the bench measured a blank UP5K at 85.6 uA: " + _TINYVISION + ")"),
        "clock": Coefficient(50.0, "pJ per cycle", (0.5, 1.5),
                             "global clock network and base per cycle: the counter's 51.6 pJ per cycle less its 24 "
                             "flip-flops (E_ff) and its 2 toggles per cycle (E_net); " + _UP5K_COUNTER),
        "ff": Coefficient(0.05, "pJ per flip-flop per cycle", (1 / 3, 3),
                          "one flip-flop's clock pin and its share of the logic block's local clock wire (about "
                          "35 fF at 1.2 V): an assumption, no public figure. The counter's 51.6 pJ per cycle with "
                          "24 flip-flops says the global clock tree dominates; a near-full UP5K at 850-880 pJ per "
                          "cycle (MARLANN power test, docs/power.md) leaves room for no more than a few tenths of a "
                          "pJ per flip-flop; 3x band"),
        "net": Coefficient(0.2, "pJ per net toggle", (0.5, 1.5), "per net toggle at most ~0.2 pJ (0.1-0.3 pJ band); "
                           + _TINYVISION),
        "dsp": Coefficient(24.0, "pJ per 8x8 multiply", (1 / 3, 3),
                           "8x8 multiply at 12 MHz in one SB_MAC16: 882 uA, about 24 pJ per operation above the "
                           "base; " + _TINYVISION + ". Wider products scale with the operand width (16x16: x2), "
                           "an assumption"),
        "lut_mul": Coefficient(36.0, "pJ per 8x8 multiply", (0.5, 1.5),
                               "8x8 multiply at 12 MHz in LUTs: 996 uA, about 36 pJ per operation above the base; "
                               + _TINYVISION),
        "bram_read": Coefficient(10.0, "pJ per 16-bit word read", (1 / 3, 3),
                                 "SB_RAM40_4K access: no public figure; an assumption of about 50 net toggles' "
                                 "worth per 16-bit word (3x band, as docs/power.md asks for block RAM)"),
        "bram_write": Coefficient(12.0, "pJ per 16-bit word written", (1 / 3, 3),
                                  "SB_RAM40_4K access: no public figure; an assumption (a write drives the bit "
                                  "lines: a little above a read), 3x band"),
        "io": Coefficient(54.0, "pJ per output pin toggle", (1 / 3, 3),
                          "C V^2 / 2 for 10 pF of pin and board trace at 3.3 V (VCCIO): an assumption, 3x band"),
    },
}

#: ECP5: the core static current from the data sheet by device; dynamic terms only by scaling the iCE40
#: figures (both are 40 nm parts; ECP5 core at 1.1 V), with the 3x band docs/power.md asks for.
_ECP5_DYNAMIC = ("scaled from the iCE40 UltraPlus figure by (1.1 V / 1.2 V)^2 (both 40 nm); no ECP5 figure is "
                 "public; 3x band")
COEFFICIENTS["ecp5"] = {
    "v_core": Coefficient(1.1, "V", (1, 1), "ECP5 and ECP5-5G family data sheet (DS1044): VCC 1.1 V nominal"),
    "static": Coefficient(40.0, "mA", (0.5, 3),
                          "ECP5 family data sheet (DS1044), core standby current (ICC) of an LFE5U-85F, typical: "
                          "the figure could not be checked offline here and is given with a wide band (0.5x-3x)"),
    "clock": Coefficient(round(COEFFICIENTS["ice40"]["clock"].value * (1.1 / 1.2) ** 2 * math.sqrt(83640 / 5280), 1),
                         "pJ per cycle", (1 / 3, 3),
                         "the iCE40 figure scaled by (1.1/1.2)^2 and by the square root of the ratio of the "
                         "devices' LUTs (83640 / 5280: a longer clock spine), an assumption; 3x band"),
    **{k: Coefficient(round(COEFFICIENTS["ice40"][k].value * (1.1 / 1.2) ** 2, 3), COEFFICIENTS["ice40"][k].unit,
                      (1 / 3, 3), _ECP5_DYNAMIC + " (iCE40: " + COEFFICIENTS["ice40"][k].source + ")")
       for k in ("ff", "net", "dsp", "lut_mul", "bram_read", "bram_write")},
    "io": COEFFICIENTS["ice40"]["io"],
}

#: The terms of the model, in the order reports show them, with the coefficient each one uses.
TERMS = {"static": "static", "clock tree": "clock", "flip-flops": "ff", "nets": "net", "block RAM": None,
         "DSP": "dsp", "LUT multipliers": "lut_mul", "IO": "io"}


@dataclass
class Workload:
    """What a design does in a window of time: counts from the build and from the simulation."""

    cycles: int                  # clock cycles in the window
    f_mhz: float                 # the clock
    flip_flops: int = 0          # from the build (Yosys' cell counts)
    net_toggles: int = 0         # bit toggles of the design's nets (sim.activity)
    bram_reads: float = 0        # 16-bit words
    bram_writes: float = 0
    dsp_ops: float = 0           # 8x8-equivalent multiplies in DSP blocks (a 16x16 one counts 2)
    lut_mul_ops: float = 0       # 8x8-equivalent multiplies in LUTs
    io_toggles: int = 0          # output pin toggles

    def check(self):
        for name, value in asdict(self).items():
            check_finite_scalar(f"workload {name}", value, minimum=0)
        if self.f_mhz <= 0:
            raise ConfigError(f"workload f_mhz must be > 0, not {self.f_mhz!r}")
        return self


@dataclass
class Estimate:
    family: str
    v_core: float
    workload: dict
    terms_nj: dict               # term -> energy (nJ)
    terms_band_nj: dict          # term -> (low, high)
    total_nj: float
    band_nj: tuple
    power_mw: float              # total / time
    time_us: float
    label: str = LABEL
    model: str = MODEL_VERSION

    def to_dict(self):
        return asdict(self)


def _factors(family, v_core):
    if family not in COEFFICIENTS:
        raise ConfigError(f"no power coefficients for family {family!r}; have {', '.join(COEFFICIENTS)}")
    table = COEFFICIENTS[family]
    v_nom = table["v_core"].value
    v = v_nom if v_core is None else check_range("v_core", v_core, 0.5 * v_nom, 1.5 * v_nom,
                                                  what=f"a voltage near the {family} nominal {v_nom} V")
    return table, v, (v / v_nom) ** 2


def _terms(family, w, v_core, corner=None):
    """Energy per term (pJ) of workload ``w``; ``corner`` maps a coefficient name to a band factor."""
    table, v, dyn = _factors(family, v_core)

    def c(name):
        k = table[name]
        return k.value * (corner.get(name, 1) if corner else 1)

    static_w = c("static") * (1e-3 if table["static"].unit == "mA" else 1e-6) * v   # the data-sheet current x V
    t_s = w.cycles / (w.f_mhz * 1e6)
    return {
        "static": static_w * t_s * 1e12,
        "clock tree": w.cycles * c("clock") * dyn,
        "flip-flops": w.cycles * w.flip_flops * c("ff") * dyn,
        "nets": w.net_toggles * c("net") * dyn,
        "block RAM": (w.bram_reads * c("bram_read") + w.bram_writes * c("bram_write")) * dyn,
        "DSP": w.dsp_ops * c("dsp") * dyn,
        "LUT multipliers": w.lut_mul_ops * c("lut_mul") * dyn,
        "IO": w.io_toggles * c("io"),      # VCCIO, not the core supply
    }


def _coefficients_of(term):
    return ("bram_read", "bram_write") if term == "block RAM" else (TERMS[term],)


def estimate(family, workload, *, v_core=None):
    """The energy of ``workload`` on ``family`` ("ice40" or "ecp5") at ``v_core`` (default: nominal)."""
    w = workload.check()
    table, v, _ = _factors(family, v_core)
    mid = _terms(family, w, v_core)
    band = {}
    for term in mid:
        names = _coefficients_of(term)
        lo = _terms(family, w, v_core, {n: table[n].band[0] for n in names})[term]
        hi = _terms(family, w, v_core, {n: table[n].band[1] for n in names})[term]
        band[term] = (lo / 1e3, hi / 1e3)
    total = sum(mid.values()) / 1e3
    t_us = w.cycles / w.f_mhz
    return Estimate(family=family, v_core=v, workload=asdict(w), terms_nj={k: x / 1e3 for k, x in mid.items()},
                    terms_band_nj=band, total_nj=total,
                    band_nj=(sum(b[0] for b in band.values()), sum(b[1] for b in band.values())),
                    power_mw=total / t_us if t_us else 0.0, time_us=t_us)


def ratio_band(family, numerator, denominator, *, v_core=None):
    """(ratio, low, high) of the energy of two workloads on one build: the coefficients' errors are shared,
    so the band is the range of the ratio over every corner of their factors (low or high each)."""
    table, _, _ = _factors(family, v_core)
    names = [n for n in table if n != "v_core" and table[n].band != (1, 1)]

    def total(w, corner):
        return sum(_terms(family, w.check(), v_core, corner).values())

    if total(denominator, None) <= 0:
        raise ConfigError("the ratio's denominator workload has no energy (no cycles, no activity)")
    mid = total(numerator, None) / total(denominator, None)
    ratios = [total(numerator, dict(zip(names, f))) / total(denominator, dict(zip(names, f)))
              for f in itertools.product(*[table[n].band for n in names])]
    return mid, min(ratios), max(ratios)


def coefficient_sources(family):
    """{coefficient: "value unit (band): source"} for a report."""
    return {k: f"{c.value:g} {c.unit} (x{c.band[0]:.2g}-x{c.band[1]:.2g}): {c.source}"
            for k, c in COEFFICIENTS[family].items()}


#: The public UP5K bench points (docs/power.md) the model must reproduce within its band, with the designs as
#: the model sees them: (name, measured current in uA at 1.2 V, workload of one cycle). The counter: 24
#: flip-flops, two bits toggling per cycle on average (2N - popcount(N) in N cycles; its carry chain is not an RTL
#: signal and is left to the band). The
#: multiplier: two 8-bit operand registers stepping by one each cycle (two toggles each), the 16-bit
#: product register (about 8 toggles) and one 8x8 multiply per cycle, in LUTs or in one SB_MAC16.
def _one_cycle(f, ff, toggles, **ops):
    return Workload(cycles=1, f_mhz=f, flip_flops=ff, net_toggles=toggles, **ops)


CALIBRATION = [
    *[(f"24-bit counter at {f} MHz", ua, _one_cycle(f, 24, 2)) for f, ua in ((6, 388), (12, 645), (24, 1162),
                                                                              (48, 2184))],
    ("8x8 multiply in LUTs at 12 MHz", 996, _one_cycle(12, 32, 12, lut_mul_ops=1)),
    ("8x8 multiply in one SB_MAC16 at 12 MHz", 882, _one_cycle(12, 32, 12, dsp_ops=1)),
]


def current_ua(family, workload, *, v_core=None):
    """(mid, low, high) core current (uA) of a workload that repeats: its energy over its time, over V."""
    e = estimate(family, workload, v_core=v_core)
    scale = 1 / (e.time_us * e.v_core)          # nJ / us = mW; / V = mA; x 1000 = uA
    return tuple(x * scale * 1e3 for x in (e.total_nj, *e.band_nj))

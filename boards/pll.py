"""PLLs that make the engine's clock from a board's oscillator: parameters searched exactly as
icepll and ecppll do, and the primitive instantiated.

:func:`ice40_pll` and :func:`ecp5_pll` return the closest achievable output frequency and the
parameters; :func:`pll_instance` turns them into an Amaranth ``Instance``. Limits come from the data
sheets (iCE40 sysCLOCK PLL: VCO 533-1066 MHz, PFD 10-133 MHz; ECP5 EHXPLLL: VCO 400-800 MHz,
PFD 3.125-400 MHz, output 3.125-400 MHz).
"""

from dataclasses import dataclass

from amaranth.hdl import Instance

from golden_model.errors import ConfigError

__all__ = ["PllPlan", "ice40_pll", "ecp5_pll", "pll_instance"]


@dataclass(frozen=True)
class PllPlan:
    family: str
    f_in_mhz: float
    f_out_mhz: float
    params: dict


def ice40_pll(f_in_mhz, f_out_mhz):
    """SB_PLL40 settings (DIVR, DIVF, DIVQ, FILTER_RANGE) whose output is closest to ``f_out_mhz``."""
    best = None
    for divr in range(16):
        f_pfd = f_in_mhz / (divr + 1)
        if not 10 <= f_pfd <= 133:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533 <= f_vco <= 1066:
                continue
            for divq in range(1, 7):
                f = f_vco / (1 << divq)
                if best is None or abs(f - f_out_mhz) < abs(best[0] - f_out_mhz):
                    best = (f, divr, divf, divq, f_pfd)
    if best is None or not 16 <= best[0] <= 275:
        raise ConfigError(f"no iCE40 PLL setting makes {f_out_mhz} MHz from {f_in_mhz} MHz")
    f, divr, divf, divq, f_pfd = best
    filt = next(n for n, top in enumerate((17, 26, 44, 66, 101, 1e9), start=1) if f_pfd < top)
    return PllPlan("ice40", f_in_mhz, f, {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filt})


def ecp5_pll(f_in_mhz, f_out_mhz):
    """EHXPLLL settings (CLKI_DIV, CLKFB_DIV, CLKOP_DIV) with feedback from CLKOP, closest to ``f_out_mhz``."""
    best = None
    for clki_div in range(1, 129):
        f_pfd = f_in_mhz / clki_div
        if not 3.125 <= f_pfd <= 400:
            continue
        for clkfb_div in range(1, 81):
            f = f_pfd * clkfb_div
            if not 3.125 <= f <= 400:
                continue
            for clkop_div in range(1, 129):
                if 400 <= f * clkop_div <= 800:
                    if best is None or abs(f - f_out_mhz) < abs(best[0] - f_out_mhz):
                        best = (f, clki_div, clkfb_div, clkop_div)
                    break
    if best is None:
        raise ConfigError(f"no ECP5 PLL setting makes {f_out_mhz} MHz from {f_in_mhz} MHz")
    f, clki_div, clkfb_div, clkop_div = best
    return PllPlan("ecp5", f_in_mhz, f, {"CLKI_DIV": clki_div, "CLKFB_DIV": clkfb_div, "CLKOP_DIV": clkop_div})


def pll_instance(plan, clk_in, clk_out, locked):
    """The PLL primitive for ``plan``: ``clk_in`` is the oscillator (for iCE40, the raw pad of a
    PLL-capable pin), ``clk_out`` and ``locked`` its outputs."""
    p = plan.params
    if plan.family == "ice40":
        return Instance("SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                        p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                        io_PACKAGEPIN=clk_in.io if hasattr(clk_in, "io") else clk_in, i_RESETB=1, i_BYPASS=0,
                        o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)
    a = {"FREQUENCY_PIN_CLKI": f"{plan.f_in_mhz:g}", "FREQUENCY_PIN_CLKOP": f"{plan.f_out_mhz:g}",
         "ICP_CURRENT": "12", "LPF_RESISTOR": "8", "MFG_ENABLE_FILTEROPAMP": "1", "MFG_GMCREF_SEL": "2"}
    return Instance("EHXPLLL", **{f"a_{k}": v for k, v in a.items()},
                    p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                    p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKI_DIV=p["CLKI_DIV"],
                    p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=(p["CLKOP_DIV"] - 1) // 2,
                    p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
                    i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out, i_PHASESEL0=0,
                    i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                    o_LOCK=locked)

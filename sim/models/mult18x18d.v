// Simulation model of the ECP5 MULT18X18D (18 x 18 multiplier) for the options zskip's netlists use.
//
// Yosys ships MULT18X18D as a black box only (share/ecp5/cells_bb.v). This model covers what the
// synthesised engine instantiates, and stops the simulation on anything else:
//
// - each of REG_INPUTA, REG_INPUTB, REG_PIPELINE and REG_OUTPUT either unregistered ("NONE") or
//   registered on CLK0, clock-enabled by CE0 and reset by RST0 (REG_*_CE = "CE0", REG_*_RST = "RST0"):
//   hw.primitives' 3-stage product registers all four; Yosys' own mapping of a multiplication
//   (share/lattice/dsp_map_18x18.v) registers none;
// - SIGNEDA / SIGNEDB either way (A and B as signed or unsigned 18-bit numbers); SOURCEA = SOURCEB = 0
//   (the A and B inputs, not the shift chain); RST0 low (RESETMODE is then irrelevant) or, with
//   RESETMODE "SYNC", a synchronous reset of the registers to 0 that wins over CE0;
// - P[35:0] = A * B (the 36-bit product), SIGNEDP = SIGNEDA | SIGNEDB.
//
// The registers start at 0 (the value the device's global set/reset gives them at configuration). A
// CE0 left unconnected counts as high. The cascade and register outputs (SROA, SROB, ROA, ROB, ROC) and
// the C input are not modelled (ROx and SROx are driven X). tests/sim/test_netlist.py checks this model
// against hw.primitives' generic twin.

`timescale 1ns / 1ps

module MULT18X18D(
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    input SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8, SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0,
    input SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8, SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0,
    output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0,
    output SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0,
    output ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0,
    output ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0,
    output ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0,
    output SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE"; parameter REG_INPUTA_CE = "CE0"; parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE"; parameter REG_INPUTB_CE = "CE0"; parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE"; parameter REG_INPUTC_CE = "CE0"; parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE"; parameter REG_PIPELINE_CE = "CE0"; parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE"; parameter REG_OUTPUT_CE = "CE0"; parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED"; parameter CLK1_DIV = "ENABLED"; parameter CLK2_DIV = "ENABLED"; parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE"; parameter GSR = "ENABLED"; parameter CAS_MATCH_REG = "FALSE"; parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED"; parameter RESETMODE = "SYNC";

    wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};

    // -- what this model covers ---------------------------------------------------------------------
    function supported_reg(input [8*8-1:0] clk, input [8*8-1:0] ce, input [8*8-1:0] rst);
        supported_reg = (clk == "NONE" || clk == "CLK0") && ce == "CE0" && rst == "RST0";
    endfunction

    initial begin
        #0;
        if (!supported_reg(REG_INPUTA_CLK, REG_INPUTA_CE, REG_INPUTA_RST)
                || !supported_reg(REG_INPUTB_CLK, REG_INPUTB_CE, REG_INPUTB_RST)
                || !supported_reg(REG_PIPELINE_CLK, REG_PIPELINE_CE, REG_PIPELINE_RST)
                || !supported_reg(REG_OUTPUT_CLK, REG_OUTPUT_CE, REG_OUTPUT_RST)
                || RESETMODE != "SYNC" || MULT_BYPASS != "DISABLED") begin
            $display("ERROR: MULT18X18D %m: options beyond sim/models/mult18x18d.v (registers: CLK0/CE0/RST0 or none; RESETMODE SYNC; no bypass)");
            $finish;
        end
    end

    always @(SOURCEA or SOURCEB) begin
        if (SOURCEA === 1'b1 || SOURCEB === 1'b1) begin
            $display("ERROR: MULT18X18D %m: SOURCEA/SOURCEB (the shift chain) are not modelled");
            $finish;
        end
    end

    // -- the clock enable and the reset of the registers on CLK0 ----------------------------------
    wire enabled = CE0 === 1'bz || CE0 === 1'b1;
    wire unknown = !(enabled || CE0 === 1'b0) || (RST0 !== 1'b0 && RST0 !== 1'b1 && RST0 !== 1'bz);
    wire reset = RST0 === 1'b1;

    // -- input registers (A with SIGNEDA, B with SIGNEDB) -------------------------------------------
    reg [17:0] a_reg = 18'd0, b_reg = 18'd0;
    reg sa_reg = 1'b0, sb_reg = 1'b0;
    always @(posedge CLK0) begin
        if (unknown) begin
            a_reg <= 18'bx; sa_reg <= 1'bx; b_reg <= 18'bx; sb_reg <= 1'bx;
        end else if (reset) begin
            a_reg <= 18'd0; sa_reg <= 1'b0; b_reg <= 18'd0; sb_reg <= 1'b0;
        end else if (enabled) begin
            a_reg <= a_in; sa_reg <= SIGNEDA; b_reg <= b_in; sb_reg <= SIGNEDB;
        end
    end
    wire [17:0] a = REG_INPUTA_CLK == "NONE" ? a_in : a_reg;
    wire sa = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_reg;
    wire [17:0] b = REG_INPUTB_CLK == "NONE" ? b_in : b_reg;
    wire sb = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_reg;

    // -- the product, the pipeline register, the output register -----------------------------------
    wire [35:0] a_ext = {{18{sa & a[17]}}, a};
    wire [35:0] b_ext = {{18{sb & b[17]}}, b};
    wire [35:0] product = a_ext * b_ext;           // (the low 36 bits: exact for 18 x 18 bits)
    wire signed_product = sa | sb;

    reg [35:0] pipe_reg = 36'd0, out_reg = 36'd0;
    reg sp_pipe = 1'b0, sp_out = 1'b0;
    wire [35:0] piped = REG_PIPELINE_CLK == "NONE" ? product : pipe_reg;
    wire sp_piped = REG_PIPELINE_CLK == "NONE" ? signed_product : sp_pipe;
    always @(posedge CLK0) begin
        if (unknown) begin
            pipe_reg <= 36'bx; sp_pipe <= 1'bx; out_reg <= 36'bx; sp_out <= 1'bx;
        end else if (reset) begin
            pipe_reg <= 36'd0; sp_pipe <= 1'b0; out_reg <= 36'd0; sp_out <= 1'b0;
        end else if (enabled) begin
            pipe_reg <= product; sp_pipe <= signed_product; out_reg <= piped; sp_out <= sp_piped;
        end
    end
    wire [35:0] p = REG_OUTPUT_CLK == "NONE" ? piped : out_reg;

    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
    assign SIGNEDP = REG_OUTPUT_CLK == "NONE" ? sp_piped : sp_out;
    assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0} = 18'bx;
    assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0} = 18'bx;
    assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0} = 18'bx;
    assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0} = 18'bx;
    assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0} = 18'bx;
endmodule

// Simulation model of the ECP5 DP16KD (16-Kbit block RAM) for the configurations zskip's netlists use.
//
// Yosys ships DP16KD as an empty black box (share/ecp5/cells_sim.v; sim/netlist.py leaves its declaration
// out for this one). This model covers what hw.primitives.block_ram instantiates, and stops the simulation
// on anything else:
//
// - one write port and one read port of the same width: port A writes (WEA), port B reads (WEB low);
//   DATA_WIDTH_A = DATA_WIDTH_B of 1, 2, 4, 9, 18 or 36 bits (36: the pseudo-dual-port mode, PDPW16KD: DIA
//   the low 18 bits and DIB the high 18 of a written word, DOA and DOB those of a read one);
// - addresses as Lattice's and Yosys' map have them: the word address in AD[13:s], s = 0, 1, 2, 3, 4, 5 for
//   1, 2, 4, 9, 18, 36 bits; in the 18- and 36-bit modes ADA[1:0] and ADA[3:0] are a write's byte enables
//   (9 bits each), in the others the low address bits below the word address are ignored;
// - clocked writes and reads: a write when CEA and WEA are high at CLKA's rising edge; the read register
//   takes the addressed word when CEB is high at CLKB's; with REGMODE_B = "OUTREG" the output register
//   then takes the read register's word when OCEB is high (REGMODE_B = "NOREG": DO is the read register);
//   in the 36-bit mode REGMODE_A must equal REGMODE_B (the two halves of the word);
// - a read of a word in the edge it is written returns the complement of the word it held: the block
//   RAM does not define such a read across its ports, and zskip's memories promise never to use one
//   (hw.primitives.read), so a broken promise shows in the results instead of passing unseen;
// - RSTA, RSTB, CSA*, CSB* low with CSDECODE_A/B = "0b000"; GSR and WRITEMODE_A/B have no effect here.
//
// The memory and the registers start at 0 (no INITVAL: the device's configuration clears them).
// tests/sim/test_netlist.py checks this model against hw.primitives' generic twin.

`timescale 1ns / 1ps

module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,

  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter GSR = "ENABLED";

    localparam W = DATA_WIDTH_B;
    localparam S = W == 36 ? 5 : W == 18 ? 4 : W == 9 ? 3 : W == 4 ? 2 : W == 2 ? 1 : 0;

    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [35:0] written = {dib, dia};
    wire [13:0] w_word = ada >> S, r_word = adb >> S;
    // the bits a write changes: every bit of the width, less the 9-bit bytes whose enable is low
    wire [35:0] w_mask = W == 36 ? {{9{ada[3]}}, {9{ada[2]}}, {9{ada[1]}}, {9{ada[0]}}}
                       : W == 18 ? {18'b0, {9{ada[1]}}, {9{ada[0]}}}
                       : (36'b1 << W) - 1;

    reg [35:0] mem [0:16383];
    reg [35:0] rd = 0, out = 0;
    integer i;
    initial for (i = 0; i < 16384; i = i + 1) mem[i] = 0;

    // -- what this model covers --------------------------------------------------------------------------
    function supported_regmode(input [8*8-1:0] mode);
        supported_regmode = mode == "NOREG" || mode == "OUTREG";
    endfunction

    initial begin
        #0;
        if (DATA_WIDTH_A != DATA_WIDTH_B
                || !(W == 1 || W == 2 || W == 4 || W == 9 || W == 18 || W == 36)
                || !supported_regmode(REGMODE_B) || (W == 36 && REGMODE_A != REGMODE_B)
                || CSDECODE_A != "0b000" || CSDECODE_B != "0b000" || RESETMODE != "SYNC") begin
            $display("ERROR: DP16KD model (sim/models/dp16kd.v): unsupported configuration DATA_WIDTH_A=%0d DATA_WIDTH_B=%0d REGMODE_A=%0s REGMODE_B=%0s CSDECODE_A=%0s CSDECODE_B=%0s RESETMODE=%0s",
                     DATA_WIDTH_A, DATA_WIDTH_B, REGMODE_A, REGMODE_B, CSDECODE_A, CSDECODE_B, RESETMODE);
            $finish;
        end
    end

    always @(posedge CLKA or posedge CLKB) begin
        if (WEB === 1'b1 || RSTA === 1'b1 || RSTB === 1'b1
                || {CSA2, CSA1, CSA0, CSB2, CSB1, CSB0} !== 6'b0) begin
            $display("ERROR: DP16KD model (sim/models/dp16kd.v): port B written, a reset or a chip select high at %0t", $time);
            $finish;
        end
    end

    // -- the memory --------------------------------------------------------------------------------------
    always @(posedge CLKA)
        if (CEA && WEA)
            mem[w_word] <= (mem[w_word] & ~w_mask) | (written & w_mask);

    always @(posedge CLKB) begin
        if (CEB)
            rd <= (CEA && WEA && w_word == r_word) ? ~mem[r_word] : mem[r_word];
        if (OCEB)
            out <= rd;
    end

    wire [35:0] data = REGMODE_B == "OUTREG" ? out : rd;
    wire [17:0] doa = W == 36 ? data[17:0] : 18'b0;
    wire [17:0] dob = W == 36 ? data[35:18] : data[17:0];
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;
endmodule

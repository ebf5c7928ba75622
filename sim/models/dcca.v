// The ECP5's clock/global buffer DCCA, for simulating synthesised netlists (Yosys' cells_sim.v has only a
// black box of it): the output follows the input while CE is high (hw.primitives.broadcast ties CE high).
module DCCA(input CLKI, input CE, output CLKO);
    assign CLKO = CLKI & CE;
endmodule

// lg_delay.v - lstmgen delay line (hand-written, copied verbatim by the generator).
//
// q = d delayed by N clock cycles (N = 0: a wire). Carries the side data of a pipeline (valid
// bits, indices, operands) alongside a multiplier or table lookup of the same latency. rst
// (synchronous, active high) clears every stage: tie it low for data, use it for valid bits.
`default_nettype none

module lg_delay #(
    parameter integer W = 1,
    parameter integer N = 1
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] d,
    output wire [W-1:0] q
);
    generate
        if (N == 0) begin : g_wire
            assign q = d;
            wire unused_clk = clk ^ rst;
        end else if (N == 1) begin : g_one
            reg [W-1:0] r;
            always @(posedge clk) r <= rst ? {W{1'b0}} : d;
            assign q = r;
        end else begin : g_line
            reg [W*N-1:0] r;
            always @(posedge clk) r <= rst ? {(W*N){1'b0}} : {r[W*(N-1)-1:0], d};
            assign q = r[W*N-1 -: W];
        end
    endgenerate
endmodule

`default_nettype wire

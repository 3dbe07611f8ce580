// lg_rescale.v - lstmgen fixed-point rescale (hand-written, copied verbatim by the generator).
//
// The Verilog counterpart of lstmgen.fixedpoint.rescale: y = saturate(shift_round(x, SHIFT), OUT_W).
// SHIFT > 0 shifts right rounding half up, (x + 2^(SHIFT-1)) >>> SHIFT; SHIFT <= 0 shifts left
// exactly; then the result saturates to the signed OUT_W-bit range. Combinational.
//
// Requires: every value x takes fits RW bits, and so does x + 2^(SHIFT-1) (or x << -SHIFT):
// RW is the plan's Rescale.round_bits. The input bus may be wider than RW (a shared
// accumulator): its extra top bits are then copies of the sign and are dropped. SAT = 0 when
// the plan proves saturation never clamps (Rescale.saturates is false).
`default_nettype none

module lg_rescale #(
    parameter integer IN_W = 32,
    parameter integer SHIFT = 0,
    parameter integer OUT_W = 16,
    parameter integer RW = 33,
    parameter integer SAT = 1
) (
    input  wire [IN_W-1:0]  x,
    output wire [OUT_W-1:0] y
);
    // x at the rounding width
    wire [RW-1:0] xr;
    generate
        if (IN_W >= RW) begin : g_narrow
            assign xr = x[RW-1:0];
            if (IN_W > RW) begin : g_unused
                wire unused_top = ^x[IN_W-1:RW];
            end
        end else begin : g_widen
            assign xr = {{(RW - IN_W){x[IN_W-1]}}, x};
        end
    endgenerate

    // shift_round at the rounding width
    wire [RW-1:0] s;
    generate
        if (SHIFT > 0) begin : g_right
            localparam [RW-1:0] HALF = {{(RW - 1){1'b0}}, 1'b1} << (SHIFT - 1);
            wire [RW-1:0] t = xr + HALF;
            assign s = $unsigned($signed(t) >>> SHIFT);
        end else if (SHIFT < 0) begin : g_left
            assign s = xr << (-SHIFT);
        end else begin : g_none
            assign s = xr;
        end
    endgenerate

    // saturate to OUT_W bits: the value fits when bits [RW-1:OUT_W-1] are all equal
    generate
        if (RW <= OUT_W) begin : g_fits
            assign y = {{(OUT_W - RW + 1){s[RW-1]}}, s[RW-2:0]};
        end else if (SAT == 0) begin : g_nosat
            assign y = s[OUT_W-1:0];
            wire unused_top = ^s[RW-1:OUT_W];
        end else begin : g_sat
            wire [RW-OUT_W:0] top = s[RW-1:OUT_W-1];
            wire fits = (top == {(RW - OUT_W + 1){1'b0}}) || (top == {(RW - OUT_W + 1){1'b1}});
            assign y = fits ? s[OUT_W-1:0]
                     : (s[RW-1] ? {1'b1, {(OUT_W - 1){1'b0}}} : {1'b0, {(OUT_W - 1){1'b1}}});
        end
    endgenerate
endmodule

`default_nettype wire

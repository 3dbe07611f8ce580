// lg_table.v - lstmgen activation table lookup (hand-written, copied verbatim by the generator).
//
// The Verilog counterpart of lstmgen.golden.table_lookup for one ActTable: entry k belongs to
// input code LO + k * 2^SHIFT. For an input code x: d = x - LO; d < 0 gives entry 0;
// idx = d >>> SHIFT; idx >= N-1 gives entry N-1; otherwise entry idx, or with INTERP (and
// SHIFT > 0) t[idx] + shift_round((t[idx+1] - t[idx]) * (d mod 2^SHIFT), SHIFT).
//
// FILE holds one word per entry: {t[k+1], t[k]} (OUT_W bits each, t[N] := t[N-1]) with
// interpolation, t[k] without. The interpolation product runs on a fabric lg_mul whose latency
// is set by R_W >= SHIFT (so tables of different SHIFT can share one latency); IP_W is the
// plan's Lookup.interp_bits (product plus rounding addend). TAG_W bits of side data travel with
// each lookup; rst (synchronous, active high) clears the tags in flight (the valid bits they
// carry). Latency: (R_W + 2) / 2 + 6 cycles, one lookup per cycle.
`default_nettype none

module lg_table #(
    parameter integer IN_W = 16,
    parameter integer OUT_W = 16,
    parameter integer N = 16,
    parameter integer AW = 4,
    parameter integer LO = 0,
    parameter integer SHIFT = 0,
    parameter integer INTERP = 0,
    parameter integer R_W = 1,
    parameter integer IP_W = 2,
    parameter integer TAG_W = 1,
    parameter FILE = ""
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [IN_W-1:0]  x,
    input  wire [TAG_W-1:0] tag_i,
    output reg  [OUT_W-1:0] y,
    output wire [TAG_W-1:0] tag_o
);
    localparam integer USE_INTERP = ((INTERP != 0) && (SHIFT > 0)) ? 1 : 0;
    localparam integer WORD_W = (USE_INTERP != 0) ? 2 * OUT_W : OUT_W;
    localparam integer MUL_LAT = (R_W + 2) / 2 + 2; // lg_mul FABRIC, b = {0, r}: R_W + 1 bits
    localparam [IN_W:0] LO_C = LO[IN_W:0];           // LO sign-extended to IN_W + 1 bits
    localparam [31:0] LAST = N - 1;

    // stage 1: position in the table, registered
    wire [IN_W:0] d = {x[IN_W-1], x} - LO_C;
    wire [IN_W:0] idx = $unsigned($signed(d) >>> SHIFT);
    wire below = d[IN_W];
    wire [31:0] idx32 = {{(31 - IN_W){1'b0}}, idx};   // read only when d >= 0
    wire above = !below && (idx32 >= LAST);
    reg  [AW-1:0] s1_addr;
    reg  [R_W-1:0] s1_r;
    reg  s1_inner;
    reg  [TAG_W-1:0] s1_tag;
    always @(posedge clk) begin
        s1_addr <= below ? {AW{1'b0}} : (above ? LAST[AW-1:0] : idx32[AW-1:0]);
        s1_r <= frac(d);
        s1_inner <= !below && !above;
        s1_tag <= rst ? {TAG_W{1'b0}} : tag_i;
    end

    // d mod 2^SHIFT at R_W bits
    function [R_W-1:0] frac;
        input [IN_W:0] dd;
        integer i;
        begin
            frac = {R_W{1'b0}};
            for (i = 0; i < SHIFT && i < R_W; i = i + 1) frac[i] = dd[i];
        end
    endfunction

    // stages 2-3: the table read (lg_rom, latency 2)
    wire [WORD_W-1:0] word;
    lg_rom #(.W(WORD_W), .DEPTH(N), .AW(AW), .FILE(FILE)) u_rom (
        .clk(clk), .en(1'b1), .addr(s1_addr), .q(word)
    );
    wire s2_inner;
    wire [R_W-1:0] s2_r;
    wire [TAG_W-1:0] s2_tag;
    lg_delay #(.W(1 + R_W), .N(2)) u_s2 (.clk(clk), .rst(1'b0), .d({s1_inner, s1_r}), .q({s2_inner, s2_r}));
    lg_delay #(.W(TAG_W), .N(2)) u_s2t (.clk(clk), .rst(rst), .d(s1_tag), .q(s2_tag));

    // stages 4..: the interpolation product (MUL_LAT cycles), then the sum, registered
    wire [OUT_W-1:0] t0 = word[OUT_W-1:0];
    wire [OUT_W-1:0] t0_d;
    wire inner_d;
    lg_delay #(.W(OUT_W + 1), .N(MUL_LAT)) u_side (
        .clk(clk), .rst(1'b0), .d({t0, s2_inner}), .q({t0_d, inner_d})
    );
    lg_delay #(.W(TAG_W), .N(MUL_LAT + 1)) u_tag (
        .clk(clk), .rst(rst), .d(s2_tag), .q(tag_o)
    );
    generate
        if (USE_INTERP != 0) begin : g_interp
            localparam integer PRW = OUT_W + R_W + 2;
            localparam integer EW = (IP_W > OUT_W + 1) ? IP_W : OUT_W + 1;
            localparam [EW-1:0] HALF = {{(EW - 1){1'b0}}, 1'b1} << (SHIFT - 1);
            wire [OUT_W-1:0] t1 = word[WORD_W-1:OUT_W];
            wire [OUT_W:0] diff = {t1[OUT_W-1], t1} - {t0[OUT_W-1], t0};
            wire [PRW-1:0] prod;
            lg_mul #(.AW(OUT_W + 1), .BW(R_W + 1), .FABRIC(1)) u_mul (
                .clk(clk), .a(diff), .b({1'b0, s2_r}), .p(prod)
            );
            // the product fits IP_W bits (the plan's bound): sign-extend from there
            wire [EW-1:0] prod_e;
            if (IP_W >= EW) begin : g_same
                assign prod_e = prod[EW-1:0];
            end else begin : g_ext
                assign prod_e = {{(EW - IP_W){prod[IP_W-1]}}, prod[IP_W-1:0]};
            end
            if (PRW > IP_W) begin : g_top
                wire unused_top = ^prod[PRW-1:IP_W];
            end
            wire [EW-1:0] rounded = prod_e + HALF;
            wire [EW-1:0] step = $unsigned($signed(rounded) >>> SHIFT);
            always @(posedge clk) y <= inner_d ? t0_d + step[OUT_W-1:0] : t0_d;
            wire unused_step = ^step[EW-1:OUT_W];
        end else begin : g_plain
            always @(posedge clk) y <= t0_d;
            wire unused_plain = ^{inner_d, s2_r};
        end
    endgenerate
endmodule

`default_nettype wire

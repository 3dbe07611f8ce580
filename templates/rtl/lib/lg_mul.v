// lg_mul.v - lstmgen pipelined signed multiplier (hand-written, copied verbatim by the generator).
//
// p = a * b, both operands signed two's complement, the full AW+BW-bit product, exact.
// FABRIC = 0: registered operands, one multiply, registered product (latency 2); synthesis maps
// the multiply to one DSP block (MULT18X18D, DSP48E1, SB_MAC16) when AW, BW <= 18, and keeps
// each instance's operand registers (instances fed the same operand are not merged).
// FABRIC = 1: radix-4 Booth recoding in LUTs and carry chains, one adder per two bits of b, so
// that the element-wise multiplies of the engine take no DSP block and the DSP count equals
// the MAC lanes. Digit k of b (bits 2k+1, 2k, 2k-1; b[-1] = 0; b sign-extended to an even
// width) is d = -2*b[2k+1] + b[2k] + b[2k-1] in {-2..2}; stage k adds d*a*4^k as
// (neg ? ~m : m) * 4^k with m = |d|*a, and the +4^k that completes each negation is collected
// in one word added by a last stage. Put the narrower operand on b.
// Latency (cycles from a/b to p): FABRIC ? (BW+1)/2 + 2 : 2; one product per cycle, no stalls.
`default_nettype none

module lg_mul #(
    parameter integer AW = 16,
    parameter integer BW = 16,
    parameter integer FABRIC = 0
) (
    input  wire              clk,
    input  wire [AW-1:0]     a,
    input  wire [BW-1:0]     b,
    output wire [AW+BW-1:0]  p
);
    localparam integer PW = AW + BW;
    generate
        if (FABRIC == 0) begin : g_dsp
            reg signed [AW-1:0] ar;
            reg signed [BW-1:0] br;
            reg signed [PW-1:0] pr;
            // keep: every instance keeps its own operand registers next to its DSP block
            // (merged, one register would drive every lane's multiplier from afar)
            (* keep *) always @(posedge clk) begin
                ar <= a;
                br <= b;
            end
            always @(posedge clk) pr <= ar * br;
            assign p = pr;
        end else begin : g_fabric
            localparam integer ND = (BW + 1) / 2;          // Booth digits
            localparam integer BE = 2 * ND + 1;            // b, sign-extended, with b[-1] = 0
            // stage k holds a, b, the sum of digits 0..k-1 and their negation flags
            reg [AW*(ND+1)-1:0] a_st;
            reg [BE*(ND+1)-1:0] b_st;
            reg [PW*(ND+1)-1:0] s_st;
            reg [ND*(ND+1)-1:0] n_st;
            always @(posedge clk) begin
                a_st[AW-1:0] <= a;
                b_st[BE-1:0] <= {{(BE - BW){b[BW-1]}}, b} << 1;
                s_st[PW-1:0] <= {PW{1'b0}};
                n_st[ND-1:0] <= {ND{1'b0}};
            end
            genvar k;
            for (k = 0; k < ND; k = k + 1) begin : g_stage
                wire [AW-1:0] ak = a_st[k*AW +: AW];
                wire [BE-1:0] bk = b_st[k*BE +: BE];
                wire [PW-1:0] sk = s_st[k*PW +: PW];
                wire [ND-1:0] nk = n_st[k*ND +: ND];
                wire [2:0] bits = bk[2*k +: 3];             // b[2k+1], b[2k], b[2k-1]
                wire one = bits[1] ^ bits[0];
                wire two = (bits == 3'b100) || (bits == 3'b011);
                wire neg = bits[2] && !(bits[1] && bits[0]);
                wire [PW-1:0] ae = {{BW{ak[AW-1]}}, ak};
                wire [PW-1:0] m = two ? (ae << 1) : (one ? ae : {PW{1'b0}});
                wire [PW-1:0] term = (neg ? ~m : m) << (2 * k);
                wire [ND-1:0] nn;                             // nk with bit k := neg
                genvar i;
                for (i = 0; i < ND; i = i + 1) begin : g_flag
                    if (i == k) begin : g_set
                        assign nn[i] = neg;
                        wire unused_nk = nk[i];                 // still 0 here
                    end else begin : g_keep
                        assign nn[i] = nk[i];
                    end
                end
                always @(posedge clk) begin
                    a_st[(k+1)*AW +: AW] <= ak;
                    b_st[(k+1)*BE +: BE] <= bk;
                    s_st[(k+1)*PW +: PW] <= sk + term;
                    n_st[(k+1)*ND +: ND] <= nn;
                end
            end
            // the +4^k of every negated digit k, in one word
            wire [ND-1:0] nf = n_st[ND*ND +: ND];
            wire [PW-1:0] corr;
            genvar j;
            for (j = 0; j < PW; j = j + 1) begin : g_corr
                if (j % 2 == 0 && j / 2 < ND) begin : g_flag
                    assign corr[j] = nf[j / 2];
                end else begin : g_zero
                    assign corr[j] = 1'b0;
                end
            end
            reg [PW-1:0] pr;
            always @(posedge clk) pr <= s_st[ND*PW +: PW] + corr;
            assign p = pr;
            wire unused_ab = ^{a_st[ND*AW +: AW], b_st[ND*BE +: BE]};
        end
    endgenerate
endmodule

`default_nettype wire

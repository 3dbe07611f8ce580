// lg_rom.v - lstmgen read-only memory (hand-written, copied verbatim by the generator).
//
// DEPTH words of W bits initialised by $readmemh from FILE (a path the simulator or the
// synthesis tool resolves against its working directory unless absolute; "" leaves the
// memory uninitialised, so that tools elaborating the bare module need no file).
//
// Read latency 2: the word is read synchronously when en is high (the block RAM's own
// register), then registered once more with no logic in between, because block RAM outputs
// without their optional output register are slow (5.8 ns on ECP5). q holds rom[addr] two
// clock edges after addr is presented with en high and keeps it while en is low. Keep DEPTH
// within one block RAM's depth (1024 words on ECP5 and 7-series) for the best timing: the
// generator splits deeper memories into banks.
`default_nettype none

module lg_rom #(
    parameter integer W = 16,
    parameter integer DEPTH = 16,
    parameter integer AW = 4,
    parameter FILE = ""
) (
    input  wire          clk,
    input  wire          en,
    input  wire [AW-1:0] addr,
    output reg  [W-1:0]  q
);
    reg [W-1:0] rom [0:DEPTH-1];
    generate
        if (FILE != "") begin : g_init
            initial $readmemh(FILE, rom);
        end
    endgenerate
    reg [W-1:0] r;
    always @(posedge clk) begin
        if (en) r <= rom[addr];
        q <= r;
    end
endmodule

`default_nettype wire

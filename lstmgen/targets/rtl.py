"""The RTL back end: an IR becomes a synthesizable Verilog-2005 LSTM engine with AXI4-Stream ports.

``render(model, Options(lanes=P))`` returns ``{file name: text}`` (pure and deterministic):

* ``<p>.v`` - the engine, generated from ``templates/rtl/engine.v.j2``: control, P MAC lanes,
  the activation and cell pipelines, the AXI4-Stream ports; its header comment documents the
  interface, the beat format, the schedule and every signal width;
* ``<p>_weights.mem``, ``<p>_bias.mem``, ``<p>_sigmoid.mem``, ``<p>_tanh.mem`` (and an LM's
  ``<p>_embedding.mem``) - ROM contents for ``$readmemh`` (hex words, one per line);
* ``lg_*.v`` - the hand-written library from ``templates/rtl/lib`` (rescale, table lookup,
  multiplier, delay line, ROM), copied verbatim.

Every width is read from the model's arithmetic plan (:mod:`lstmgen.plan`); the RTL computes
nothing numerical of its own. The engine (see the generated header for the full description):

* **Schedule.** One layer after another, then the head. A layer's 4H gate rows are cut into
  groups of P rows of one gate (lane p computes unit q*P + p), ordered (q, i), (q, f), (q, g),
  (q, o) for q = 0, 1, ...; a group takes one issue slot per operand: every entry of x (the
  input, or for upper layers the *nonzero* entries of the layer below's h), then the nonzero
  entries of the layer's own h (zero-skipping: the cost of the h products is proportional to
  nnz(h); the result is unchanged). Slots are issued back to back, so a dense step takes about
  sum_l 4*ceil(H_l/P)*(X_l + H_l) cycles plus a fixed pipeline drain per layer.
* **Lanes.** Lane p multiplies its weight (one ROM word holds the P weights of an operand) by
  the broadcast operand in a DSP block, shifts the product to the accumulator fraction and
  accumulates from the bias; the finished group goes to a shift register that feeds the
  element-wise pipelines one value per cycle: pre-activation rescale, sigmoid/tanh table
  (with interpolation), then per unit the cell update, tanh(c) and h = o * tanh(c), with their
  multiplies in LUT fabric (``lg_mul`` FABRIC=1) so that the design uses exactly P DSP blocks.
* **Memories.** Weights, biases, tables and the embedding are ROMs read synchronously
  (block RAM) with an output register; the deep ones are split into banks of
  :data:`BANK_WORDS` words (one block RAM deep, files ``<stem>_<k>.mem``) with a registered
  bank multiplexer, which keeps the slow block-RAM outputs off the critical path. h is kept as a
  list of its nonzero entries (index, value) per layer, double buffered by step; c in a small
  RAM. The pipelines carry valid bits, so their latencies are free parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..ir import GATES, ActTable, Model, sha256
from ..plan import Rescale
from . import _jinja
from .registry import option

__all__ = ["DEVICES", "Options", "engine_facts", "render"]

#: ``--device`` values: the FPGA family ``lstmgen report --target rtl`` synthesises for.
DEVICES = ("xc7", "ecp5", "ice40")
_RESERVED_PREFIX = "lg_"
_LIBRARY = ("lg_delay.v", "lg_mul.v", "lg_rescale.v", "lg_rom.v", "lg_table.v")
_MAX_LANES = 256
#: Words per ROM bank: one block RAM deep (DP16KD and RAMB18E1 at 18 bits).
BANK_WORDS = 1024
_GATE_LABEL = {"i": "input", "f": "forget", "g": "cell candidate", "o": "output"}


@dataclass(frozen=True)
class Options:
    """Options of the RTL back end.

    ``lanes``: P, the multiply-accumulate lanes (DSP blocks), 1..256. ``device``: the FPGA family
    ``report`` synthesises for (``xc7``, ``ecp5``, ``ice40``; it does not change the Verilog).
    ``prefix``: the top module name and file stem (default: the model name); a lower-case
    identifier that does not start with ``lg_``. Invalid values raise
    :class:`~lstmgen.errors.UsageError`.
    """

    lanes: int = option(1, "MAC lanes P: multiply-accumulates (DSP blocks) per clock cycle",
                        metavar="P")
    device: str = option("ecp5", "FPGA family that `report` synthesises for (Yosys; nextpnr "
                         "place-and-route for ecp5)", choices=DEVICES)
    prefix: str | None = option(None, "top module name and file stem (default: the model name)",
                                metavar="NAME")

    def __post_init__(self) -> None:
        if isinstance(self.lanes, bool) or not isinstance(self.lanes, int) \
                or not 1 <= self.lanes <= _MAX_LANES:
            raise UsageError(f"--lanes {self.lanes!r}: an integer from 1 to {_MAX_LANES}")
        if self.device not in DEVICES:
            raise UsageError(f"--device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.prefix is not None:
            _check_prefix(self.prefix, "--prefix")

    def prefix_for(self, model: Model) -> str:
        """The top module name used for ``model``."""
        if self.prefix is not None:
            return self.prefix
        _check_prefix(model.name, f"model name {model.name!r} as module name (pass --prefix)")
        return model.name


#: Verilog-2005 and SystemVerilog-2012 keywords (Icarus parses in -g2012 mode): not module names.
_KEYWORDS = frozenset(str.split("""
alias always always_comb always_ff always_latch and assert assign assume automatic before begin
bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class
clocking cmos config const constraint context continue cover covergroup coverpoint cross deassign
default defparam design disable dist do edge else end endcase endchecker endclass endclocking
endconfig endfunction endgenerate endgroup endinterface endmodule endpackage endprimitive
endprogram endproperty endsequence endspecify endtable endtask enum event eventually expect
export extends extern final first_match for force foreach forever fork forkjoin function generate
genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import
incdir include initial inout input inside instance int integer interconnect interface intersect
join join_any join_none large let liblist library local localparam logic longint macromodule
matches medium modport module nand negedge nettype new nexttime nmos nor noshowcancelled not
notif0 notif1 null or output package packed parameter pmos posedge primitive priority program
property protected pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand
randc randcase randsequence rcmos real realtime ref reg reject_on release repeat restrict return
rnmos rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared
sequence shortint shortreal showcancelled signed small soft solve specify specparam static string
strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on table tagged
task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior
trireg type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored
virtual void wait wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
"""))


def _check_prefix(prefix: str, what: str) -> None:
    import re

    if not isinstance(prefix, str) or not re.match(r"^[a-z][a-z0-9_]{0,31}$", prefix):
        raise UsageError(f"{what}: {prefix!r} must match [a-z][a-z0-9_]{{0,31}}")
    if prefix.startswith(_RESERVED_PREFIX) or prefix == "lstmgen_tb":
        raise UsageError(f"{what}: {prefix!r} would clash with the lg_* library modules or the "
                         "simulation top lstmgen_tb")
    if prefix in _KEYWORDS:
        raise UsageError(f"{what}: {prefix!r} is a Verilog keyword")


# --------------------------------------------------------------------------------------------
# Facts about the engine (shared with the runner and the report)


def _clog2(n: int) -> int:
    """Bits of an index into ``n`` things (at least 1)."""
    return max(1, (max(n, 1) - 1).bit_length())


def _ubits(n: int) -> int:
    """Bits of an unsigned counter that reaches ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


def _groups(n: int, lanes: int) -> int:
    return -(-n // lanes)


def engine_facts(model: Model, lanes: int) -> dict[str, Any]:
    """Sizes of the engine for ``model`` at ``lanes`` MAC lanes: beat widths (``in_beat_bits``,
    ``out_beat_bits``, ``in_field_bits``, ``out_field_bits``), issue slots of a dense step
    (``dense_slots``: every group takes X + H slots) and ``macs_per_step``."""
    P = lanes
    slots = 0
    for la in model.layers:
        slots += 4 * _groups(la.n_hidden, P) * max(la.n_in + la.n_hidden, 1)
    head_slots = _groups(model.n_out, P) * max(model.layers[-1].n_hidden, 1)
    in_bits = model.input_fmt.bits
    tok_bits = _clog2(model.vocab) if model.is_lm else 0
    in_beat = (-(-tok_bits // 8) * 8) if model.is_lm else model.n_in * in_bits
    out_bits = model.head.out_fmt.bits
    return {
        "lanes": P,
        "in_field_bits": tok_bits if model.is_lm else in_bits,
        "in_beat_bits": in_beat,
        "out_field_bits": out_bits,
        "out_beat_bits": model.n_out * out_bits,
        "dense_slots": slots,
        "head_slots": head_slots,
        "macs_per_step": model.macs_per_step(),
        "head_macs": model.n_out * model.layers[-1].n_hidden,
    }


# --------------------------------------------------------------------------------------------
# Wiring helpers: width conversions whose exactness the plan guarantees


class _Wiring:
    """Collects the text of width conversions while the template renders.

    ``fit(dst, dw, src, sw)`` declares ``wire [dw-1:0] dst`` holding the signed value of
    ``src`` (``sw`` bits): sign-extended, or truncated where the plan bounds the value to ``dw``
    bits (the dropped bits are copies of the sign; they are listed in ``unused`` for lint).
    """

    def __init__(self) -> None:
        self.unused: list[str] = []

    def fit(self, dst: str, dw: int, src: str, sw: int) -> str:
        return f"wire [{dw - 1}:0] {dst} = {self.expr(src, sw, dw)};"

    def expr(self, src: str, sw: int, dw: int) -> str:
        """``src`` (``sw`` bits, signed) as a ``dw``-bit expression."""
        if dw == sw:
            return src
        if dw > sw:
            return f"{{{{{dw - sw}{{{src}[{sw - 1}]}}}}, {src}}}"
        self.unused.append(f"{src}[{sw - 1}:{dw}]")
        return f"{src}[{dw - 1}:0]"

    def uext(self, src: str, sw: int, dw: int) -> str:
        """``src`` (``sw`` bits, unsigned: an index or a count) as a ``dw``-bit expression;
        truncated only where the value provably fits."""
        if dw == sw:
            return src
        if dw > sw:
            return f"{{{dw - sw}'d0, {src}}}"
        self.unused.append(f"{src}[{sw - 1}:{dw}]")
        return f"{src}[{dw - 1}:0]"

    def drop(self, bits: str) -> str:
        """Mark ``bits`` as intentionally unused (collected into one lint sink)."""
        self.unused.append(bits)
        return f"// not read: {bits}"


# --------------------------------------------------------------------------------------------
# ROM images


def _hex_words(rows: list[list[int]], field: int) -> str:
    """One hex word per row: the row's values as ``field``-bit two's complement fields, element
    0 in the least significant bits."""
    width = field * (len(rows[0]) if rows else 1)
    digits = max(1, -(-width // 4))
    mask = (1 << field) - 1
    out = []
    for row in rows:
        word = 0
        for k, v in enumerate(row):
            word |= (int(v) & mask) << (k * field)
        out.append(f"{word:0{digits}x}")
    return "\n".join(out) + "\n"


def _hex_matrix(arr: np.ndarray, field: int) -> str:
    """:func:`_hex_words` for an integer array (rows, lanes) when ``field`` is a multiple of 4:
    vectorised (weight ROMs can have millions of entries)."""
    if field % 4 or arr.size == 0:
        return _hex_words(arr.tolist(), field)
    digits = field // 4
    mask = np.int64((1 << field) - 1)
    codes = np.asarray(arr, np.int64) & mask
    cols = [np.char.zfill(np.char.mod("%x", codes[:, k]), digits) for k in range(codes.shape[1])]
    words = cols[-1]
    for c in reversed(cols[:-1]):
        words = np.char.add(words, c)
    return "\n".join(words.tolist()) + "\n"


def _weight_rows(model: Model, P: int) -> np.ndarray:
    """The weight ROM image, (depth, P): the groups in processing order, one word per operand."""
    blocks = []
    for la in model.layers:
        H, X = la.n_hidden, la.n_in
        nq = _groups(H, P)
        for q in range(nq):
            for _, g in la.gates():
                w = np.zeros((P, X + H), np.int64)
                units = slice(q * P, min(H, q * P + P))
                n = units.stop - units.start
                w[:n, :X] = g.w_ih.values[units]
                w[:n, X:] = g.w_hh.values[units]
                blocks.append(w.T)
    hd = model.head
    for q in range(_groups(hd.n_out, P)):
        w = np.zeros((P, hd.n_in), np.int64)
        rows = slice(q * P, min(hd.n_out, q * P + P))
        w[: rows.stop - rows.start] = hd.weight.values[rows]
        blocks.append(w.T)
    return np.concatenate(blocks, axis=0)


def _bias_rows(model: Model, P: int) -> list[list[int]]:
    """The bias ROM image: one word of P biases per group, in processing order."""
    rows = []
    for la in model.layers:
        H = la.n_hidden
        for q in range(_groups(H, P)):
            for _, g in la.gates():
                b = [int(v) for v in g.bias.values[q * P: q * P + P]]
                rows.append(b + [0] * (P - len(b)))
    hd = model.head
    for q in range(_groups(hd.n_out, P)):
        b = [int(v) for v in hd.bias.values[q * P: q * P + P]]
        rows.append(b + [0] * (P - len(b)))
    return rows


def _uses_interp(t: ActTable) -> bool:
    return bool(t.interp) and t.shift > 0


def _table_rows(t: ActTable) -> list[list[int]]:
    """Table ROM words: ``[t[k], t[k+1]]`` (the pair an interpolation reads; the last entry
    repeats) or ``[t[k]]``."""
    v = [int(x) for x in t.values.values]
    if _uses_interp(t):
        return [[v[k], v[min(k + 1, len(v) - 1)]] for k in range(len(v))]
    return [[x] for x in v]


# --------------------------------------------------------------------------------------------
# The view


def _rescale_view(site: Rescale, in_w: int) -> dict[str, Any]:
    return {
        "in_w": in_w,
        "shift": site.shift,
        "out_w": site.out_bits,
        "rw": max(site.round_bits, 2),
        "sat": int(site.saturates),
        "name": site.name,
    }


def _table_view(t: ActTable, file: str, plan_lookup) -> dict[str, Any]:
    return {
        "func": str(t.func),
        "file": file,
        "n": t.n,
        "aw": _clog2(t.n),
        "lo": t.lo,
        "shift": t.shift,
        "interp": int(_uses_interp(t)),
        "in_w": t.in_fmt.bits,
        "out_w": t.out_fmt.bits,
        "ip_w": max(plan_lookup.interp_bits, 2),
        "in_fmt": str(t.in_fmt),
        "out_fmt": str(t.out_fmt),
    }


def _banks(name: str, file_stem: str, width: int, depth: int) -> dict[str, Any]:
    """A ROM of ``depth`` words split into banks of :data:`BANK_WORDS` (files
    ``<stem>.mem``, or ``<stem>_<k>.mem`` when there are several)."""
    aw = _clog2(depth)
    baw = min(aw, _clog2(BANK_WORDS))
    n = -(-depth // BANK_WORDS)
    banks = []
    for k in range(n):
        d = min(BANK_WORDS, depth - k * BANK_WORDS)
        banks.append({"file": f"{file_stem}.mem" if n == 1 else f"{file_stem}_{k}.mem",
                      "depth": d, "aw": _clog2(d)})
    return {"name": name, "w": width, "depth": depth, "aw": aw, "baw": baw, "banks": banks}


def _split(text: str, rom: dict[str, Any]) -> dict[str, str]:
    """The ROM image ``text`` (one word per line) cut into the files of ``rom``'s banks."""
    lines = text.splitlines(keepends=True)
    out, at = {}, 0
    for b in rom["banks"]:
        out[b["file"]] = "".join(lines[at: at + b["depth"]])
        at += b["depth"]
    assert at == len(lines), (rom["name"], at, len(lines))
    return out


def _view(model: Model, opts: Options) -> dict[str, Any]:
    p = opts.prefix_for(model)
    P = opts.lanes
    plan = model.plan
    L = len(model.layers)
    hd, hp = model.head, plan.head
    facts = engine_facts(model, P)

    # widths, all from the plan (maxima over the sites that share a signal)
    mvs = [s for lp in plan.layers for g in lp.gates.values() for s in (g.mv_x, g.mv_h)] + [hp.mv]
    wb = max(m.weight_bits for m in mvs)
    vw = max(m.in_bits for m in mvs)
    acc_w = max([lp.acc_bits for lp in plan.layers] + [hp.acc.bits])
    sig, tanh = model.sigmoid, model.tanh
    sig_out, tanh_out = sig.out_fmt.bits, tanh.out_fmt.bits
    sig_in, tanh_in = sig.in_fmt.bits, tanh.in_fmt.bits
    c_w = max(la.c_fmt.bits for la in model.layers)
    hv_w = max(la.h_fmt.bits for la in model.layers)
    fc_w = max(lp.cell.fc_bits for lp in plan.layers)
    ig_w = max(lp.cell.ig_bits for lp in plan.layers)
    sum_w = max(lp.cell.sum_bits for lp in plan.layers)
    hp_w = max(lp.h.in_bits for lp in plan.layers)
    pre_w = max(sig_in, tanh_in)
    gv_w = max(sig_out, tanh_out)
    out_w = hd.out_fmt.bits

    hmax = max(model.hidden)
    x_max = max(la.n_in for la in model.layers)
    k_max = max(max(la.n_in + la.n_hidden for la in model.layers), hd.n_in, hd.n_out, P, 1)
    shifts = [s for lp in plan.layers for g in lp.gates.values()
              for s in (g.acc.shift_x, g.acc.shift_h)]

    layers = []
    wbase = gbase = nzbase = cbase = 0
    for li, (la, lp) in enumerate(zip(model.layers, plan.layers)):
        H, X = la.n_hidden, la.n_in
        nq = _groups(H, P)
        gates = []
        for gi, name in enumerate(GATES):
            site = lp.gates[name]
            gates.append({
                "index": gi, "name": name, "label": _GATE_LABEL[name],
                "table": "tanh" if name == "g" else "sigmoid",
                "sx": site.acc.shift_x, "sh": site.acc.shift_h,
                "pre": _rescale_view(site.pre, acc_w),
                "acc_bits": site.acc.bits,
                "w_fmt": f"W_ih {getattr(la, name).w_ih.fmt}, W_hh {getattr(la, name).w_hh.fmt}",
            })
        cell = lp.cell
        layers.append({
            "index": li, "n_in": X, "n_hidden": H, "nq": nq, "v_last": H - (nq - 1) * P,
            "stride": X + H, "wbase": wbase, "gbase": gbase,
            "nz_base": (nzbase, nzbase + H), "c_base": cbase,
            "gates": gates,
            "s_fc": cell.s_fc, "s_ig": cell.s_ig,
            "c": _rescale_view(cell.rescale, sum_w),
            "tanh_in": _rescale_view(lp.tanh_in, c_w),
            "h": _rescale_view(lp.h, hp_w),
            "thr": lp.o_threshold,
            "c_bits": la.c_fmt.bits, "h_bits": la.h_fmt.bits,
            "in_fmt": str(la.in_fmt), "c_fmt": str(la.c_fmt), "h_fmt": str(la.h_fmt),
            "acc_bits": lp.acc_bits, "sum_bits": cell.sum_bits,
        })
        wbase += 4 * nq * (X + H)
        gbase += 4 * nq
        nzbase += 2 * H
        cbase += H
    nq_head = _groups(hd.n_out, P)
    head = {
        "nq": nq_head, "v_last": hd.n_out - (nq_head - 1) * P, "stride": hd.n_in,
        "wbase": wbase, "gbase": gbase,
        "out": _rescale_view(hp.out, acc_w), "acc_bits": hp.acc.bits,
        "w_fmt": str(hd.weight.fmt), "out_fmt": str(hd.out_fmt),
    }
    wdepth = wbase + nq_head * hd.n_in
    gdepth = gbase + nq_head

    files = {"sigmoid": f"{p}_sigmoid.mem", "tanh": f"{p}_tanh.mem"}
    roms = {
        "weights": _banks("weights", f"{p}_weights", P * wb, wdepth),
        "bias": _banks("bias", f"{p}_bias", P * acc_w, gdepth),
    }
    if model.is_lm:
        roms["embedding"] = _banks("embedding", f"{p}_embedding", model.n_in * model.input_fmt.bits,
                                   model.vocab)
    nq_max = max([la["nq"] for la in layers] + [nq_head])
    j_max = max(hmax, hd.n_out)
    wiring = _Wiring()
    return {
        "p": p,
        "model": model.name,
        "sha": sha256(model),
        "version": __version__,
        "formats": model.formats_summary(),
        "kind": str(model.kind),
        "lm": model.is_lm,
        "P": P,
        "L": L,
        "n_in": model.n_in,
        "n_out": hd.n_out,
        "vocab": model.vocab,
        "macs": model.macs_per_step(),
        "facts": facts,
        "in_w": model.input_fmt.bits,
        "in_fmt": str(model.input_fmt),
        "tok_aw": _clog2(model.vocab) if model.is_lm else 1,
        "in_beat_w": facts["in_beat_bits"],
        "out_w": out_w,
        "out_beat_w": facts["out_beat_bits"],
        # widths
        "wb": wb, "vw": vw, "acc_w": acc_w, "prod_w": wb + vw,
        "shw": _ubits(max(shifts + [1])),
        "sig_in": sig_in, "sig_out": sig_out, "tanh_in": tanh_in, "tanh_out": tanh_out,
        "pre_w": pre_w, "gv_w": gv_w, "c_w": c_w, "hv_w": hv_w, "fc_w": fc_w, "ig_w": ig_w,
        "sum_w": sum_w, "hp_w": hp_w,
        "fc_full": c_w + sig_out, "ig_full": tanh_out + sig_out, "hp_full": tanh_out + sig_out,
        "cell_lat": (sig_out + 1) // 2 + 2,  # lg_mul FABRIC latency with b = a sigmoid value
        "r_gate": max(sig.shift if _uses_interp(sig) else 0,
                      tanh.shift if _uses_interp(tanh) else 0, 1),
        "r_cell": max(tanh.shift if _uses_interp(tanh) else 0, 1),
        # counters and addresses
        "lw": _ubits(L), "jw": _clog2(j_max), "qw": _clog2(nq_max), "sw": _ubits(k_max),
        "vcw": _ubits(P), "hmax": hmax, "x_max": x_max, "j_max": j_max,
        "waw": _clog2(wdepth), "wdepth": wdepth, "gaw": _clog2(gdepth), "gdepth": gdepth,
        "nz_aw": _clog2(2 * sum(model.hidden)), "nz_depth": 2 * sum(model.hidden),
        "c_aw": _clog2(sum(model.hidden)), "c_depth": sum(model.hidden),
        "hmax_aw": _clog2(hmax),
        "layers": layers,
        "head": head,
        "sigmoid": _table_view(sig, files["sigmoid"], plan.layers[0].gates["i"].lookup),
        "tanh": _table_view(tanh, files["tanh"], plan.layers[0].gates["g"].lookup),
        "files": files,
        "roms": roms,
        "fit": wiring.fit,
        "ext": wiring.expr,
        "uext": wiring.uext,
        "drop": wiring.drop,
        "unused": wiring.unused,
    }


def render(model: Model, opts: Options | None = None) -> dict[str, str]:
    """Every generated file as ``{name: text}``; the same inputs always give the same bytes."""
    opts = Options() if opts is None else opts
    v = _view(model, opts)
    p, P = v["p"], opts.lanes
    files = {f"{p}.v": _jinja.render("rtl/engine.v.j2", **v)}
    roms = v["roms"]
    files.update(_split(_hex_matrix(_weight_rows(model, P), v["wb"]), roms["weights"]))
    files.update(_split(_hex_words(_bias_rows(model, P), v["acc_w"]), roms["bias"]))
    files[v["files"]["sigmoid"]] = _hex_words(_table_rows(model.sigmoid), v["sig_out"])
    files[v["files"]["tanh"]] = _hex_words(_table_rows(model.tanh), v["tanh_out"])
    if model.is_lm:
        assert model.embedding is not None
        files.update(_split(_hex_matrix(model.embedding.values, v["in_w"]), roms["embedding"]))
    for lib in _LIBRARY:
        files[lib] = (f"// {lib} - copied by lstmgen {__version__} for model \"{model.name}\" "
                      f"(ir sha256 {sha256(model)})\n" + _jinja.read_static(f"rtl/lib/{lib}"))
    return dict(sorted(files.items()))

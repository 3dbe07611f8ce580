"""Validation of a whole :class:`~lstmgen.ir.Model`: every shape first, then the arithmetic plan,
then the widths of its sites. Every problem raises :class:`~lstmgen.errors.IRError` (or its
subclass :class:`~lstmgen.errors.FormatError`) naming the layer, gate and field."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import FormatError, IRError
from .types import ACT_BITS, MAX_INTERMEDIATE_BITS, WEIGHT_BITS, Func, Kind, int_field

if TYPE_CHECKING:
    from ..plan import Plan
    from .types import Model

__all__ = ["NAME_MAX", "NAME_RE", "validate"]

#: Longest model name: it becomes a C identifier prefix and file stem.
NAME_MAX = 32
NAME_RE = re.compile(rf"^[a-z][a-z0-9_]{{0,{NAME_MAX - 1}}}$")


def _fail(where: str, msg: str) -> None:
    raise IRError(f"{where}: {msg}")


def _check_site(where: str, operand_bits: int, shift: int) -> None:
    """A rescale site: a left shift of an ``operand_bits``-wide value must stay within 62 bits."""
    if operand_bits + max(0, -shift) > MAX_INTERMEDIATE_BITS or shift > MAX_INTERMEDIATE_BITS:
        raise FormatError(
            f"{where}: rescale by {shift} of a {operand_bits}-bit value exceeds "
            f"{MAX_INTERMEDIATE_BITS} bits"
        )


def check_name(name: object) -> str:
    """``name`` if it is a valid model name, else IRError saying what a name must be."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        why = (f"is {len(name)} characters long (at most {NAME_MAX})"
               if isinstance(name, str) and len(name) > NAME_MAX else "is not a C identifier")
        _fail("model", f"name {name!r} {why}: lower-case letter, then up to {NAME_MAX - 1} "
                       "lower-case letters, digits or _")
    return name  # type: ignore[return-value]


def _structure(m: Model) -> None:
    """Everything but the widths: names, kinds, formats, shapes."""
    check_name(m.name)
    if not m.layers:
        _fail("model", "needs at least one LSTM layer")
    if m.sigmoid.func is not Func.SIGMOID or m.tanh.func is not Func.TANH:
        _fail("model", "tables must be (sigmoid, tanh)")
    for t in (m.sigmoid, m.tanh):
        if t.out_fmt.bits != 16 or t.in_fmt.bits != 16:
            raise FormatError(f"table {t.func}: input and output must be 16-bit")
    for li, la in enumerate(m.layers):
        w = f"layer {li}"
        if li > 0 and la.in_fmt != m.layers[li - 1].h_fmt:
            _fail(w, f"input format {la.in_fmt} differs from layer {li - 1}'s h format")
        for fmt_name in ("in_fmt", "h_fmt"):
            if getattr(la, fmt_name).bits not in ACT_BITS:
                raise FormatError(f"{w}: {fmt_name} width must be one of {ACT_BITS}")
        if not 2 <= la.c_fmt.bits <= 32:
            raise FormatError(f"{w}: cell width {la.c_fmt.bits} out of range 2..32")
        if la.i.w_ih.values.ndim != 2:
            _fail(f"{w} gate i", f"w_ih must be 2-D, got shape {la.i.w_ih.shape}")
        H, X = la.n_hidden, la.n_in
        if H < 1 or X < 1:
            _fail(w, f"sizes must be >= 1, got hidden {H}, inputs {X}")
        for gname, g in la.gates():  # every shape before any bound is computed from them
            gw = f"{w} gate {gname}"
            if g.w_ih.shape != (H, X):
                _fail(gw, f"w_ih shape {g.w_ih.shape} != {(H, X)}")
            if g.w_hh.shape != (H, H):
                _fail(gw, f"w_hh shape {g.w_hh.shape} != {(H, H)}")
            if g.bias.shape != (H,):
                _fail(gw, f"bias shape {g.bias.shape} != {(H,)}")
            for t in (g.w_ih, g.w_hh):
                if t.fmt.bits not in WEIGHT_BITS:
                    raise FormatError(f"{gw}: weight width {t.fmt.bits} not in {WEIGHT_BITS}")
            for what, shift in (("x", la.shift_x(gname)), ("h", la.shift_h(gname))):
                if shift > MAX_INTERMEDIATE_BITS:
                    raise FormatError(f"{gw}: aligning W·{what} needs a left shift of {shift} (> 62)")
            if g.bias.fmt.frac != la.acc_frac(gname):
                raise FormatError(
                    f"{gw}: bias fraction {g.bias.fmt.frac} != accumulator fraction {la.acc_frac(gname)}"
                )
        if la.o_threshold is not None:
            s = m.sigmoid.out_fmt
            int_field(la.o_threshold, f"{w}.o_threshold", s.min_code, s.max_code)
    top = m.layers[-1]
    hd = m.head
    if hd.weight.values.ndim != 2:
        _fail("head", f"weight must be 2-D, got shape {hd.weight.shape}")
    if hd.in_fmt != top.h_fmt:
        _fail("head", f"input format {hd.in_fmt} differs from the top layer's h format")
    if hd.n_in != top.n_hidden:
        _fail("head", f"weight has {hd.n_in} inputs, top layer has {top.n_hidden} units")
    if hd.n_out < 1:
        _fail("head", "needs at least one output")
    if hd.bias.shape != (hd.n_out,):
        _fail("head", f"bias shape {hd.bias.shape} != {(hd.n_out,)}")
    if hd.weight.fmt.bits not in WEIGHT_BITS:
        raise FormatError(f"head: weight width {hd.weight.fmt.bits} not in {WEIGHT_BITS}")
    if hd.bias.fmt.frac != hd.acc_frac:
        raise FormatError("head: bias fraction must equal the accumulator fraction")
    if hd.out_fmt.bits not in ACT_BITS:
        raise FormatError(f"head: output width must be one of {ACT_BITS}")
    if m.kind is Kind.LM:
        if m.embedding is None:
            _fail("model", "an lm needs an embedding")
        assert m.embedding is not None
        if m.embedding.values.ndim != 2 or m.embedding.fmt != m.input_fmt \
                or m.embedding.shape[1:] != (m.n_in,):
            _fail("embedding", f"must be (vocab, {m.n_in}) in {m.input_fmt}")
        if m.embedding.shape[0] < 1:
            _fail("embedding", "vocabulary is empty")
    elif m.embedding is not None:
        _fail("model", "a classifier has no embedding")


def _widths(m: Model, plan: Plan) -> None:
    """No site of the plan may need more than 62 bits (the golden model computes in int64)."""
    for la, lp in zip(m.layers, plan.layers):
        w = f"layer {lp.index}"
        if lp.acc_bits > MAX_INTERMEDIATE_BITS:
            raise FormatError(f"{w}: accumulator bound needs {lp.acc_bits} bits (> 62)")
        for gname, site in lp.gates.items():
            _check_site(f"{w} gate {gname}", lp.acc_bits, site.pre.shift)
        _check_site(f"{w} cell", lp.cell.sum_bits, lp.cell.rescale.shift)
        _check_site(f"{w} tanh(c)", la.c_fmt.bits, lp.tanh_in.shift)
        _check_site(f"{w} h", 32, lp.h.shift)
    if plan.head.acc.bits > MAX_INTERMEDIATE_BITS:
        raise FormatError(f"head: accumulator bound needs {plan.head.acc.bits} bits (> 62)")
    _check_site("head", plan.head.acc.bits, plan.head.out.shift)


def validate(m: Model) -> Plan:
    """Check ``m`` completely and return its arithmetic plan."""
    from ..plan import derive

    _structure(m)
    plan = derive(m)
    _widths(m, plan)
    return plan

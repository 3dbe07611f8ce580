"""The golden model of a tensorized LSTM (tLSTM) IR: numpy integer arithmetic, THE SPEC every
tLSTM target must equal bit for bit.

The integer contract of ``../shared/docs/ARCHITECTURE.md`` §3 holds unchanged (power-of-two
formats, accumulators wide enough that overflow is impossible, one rescale rule: right shift
rounding half up, then saturation; sigmoid/tanh from the IR's tables), and only the primitives
of :mod:`lstmgen.fixedpoint` and :func:`lstmgen.golden.table_lookup` are used. The float
equations and choices are :mod:`lstmgen.nn.tlstm`'s; their integer definitions:

**Row 0** (the input projection [5]). A classifier: ``top = rescale(W^x·x + b^x,
top_acc_frac - top.frac, 16)``. A language model: ``top = embedding[token]``, the quantized row 0
of every token (``x_t W^x + b^x`` with one-hot ``x_t``, computed in float and rounded once).

**Cross-layer convolution** [10]. Location ``p = 1..P`` of gate ``G`` (g, i, f, o, q) reads
rows ``p + k`` of ``[top; H_{t-1}]`` for the kernel offsets ``k`` with ``0 <= p + k <= P``
(zero padding is never multiplied). Row 0 and rows ``1..P`` have different formats, so their
products are summed apart and aligned like an LSTM layer's ``W_ih·x`` and ``W_hh·h``::

    acc_G(p) = (W_G[k0]·top << shift_top) + (Σ_{k: 1<=p+k<=P} W_G[k]·H(p+k) << shift_h) + b_G
    pre_G(p) = rescale(acc_G(p), acc_frac_G - table.in.frac, table.in.bits)

(the first term only at a location that reads row 0, offset ``k0 = -p``). ``G = tanh(pre_g)``,
``I, F, O = sigmoid(pre_i, pre_f, pre_o)`` from the IR's tables [11]; ``q = pre_q`` are the
memory kernel's K logits, in the exp table's input format.

**The softmax kernel** [12] (:func:`softmax_weights`), per location, on 16-bit logits ``q``::

    m    = max_k q_k
    e_k  = exp_table(saturate(q_k - m, 16))      # a table like sigmoid/tanh, sampled over [-R, 0]
    S    = Σ_k e_k                               # S >= e0 > 0: the largest logit gives e0 = exp(0)
    r    = (2^30 + (S >> 1)) / S                 # integer division: round-half-up of 2^30 / S
    w_k  = shift_round(e_k · r, 15)              # Q.15 weights, w_k ≈ 2^15·e_k / S

The IR requires the exp table's entries to be ``>= 0``, with the one at input 0, ``e0``, the
largest and ``>= 2^14``; then ``e0 <= S <= K·e0``, ``r <= 2^16 + 1`` and ``e_k·r < 2^31``: every
step fits int32, and the one division per location is exact integer arithmetic (both operands
positive, so C's truncating ``/`` is this floor). The weights sum to ``2^15`` up to the
rounding of ``r`` and of each ``w_k`` (at most ``K`` codes apart); they are what the model
computes, not an approximation of it.

**Memory-cell convolution and update** [13]::

    Cconv(p) = rescale(Σ_{k: 1<=p+k<=P} w_k(p) · C_{t-1}(p+k), 15, c.bits)   (without it: C_{t-1}(p))
    C_t(p)   = rescale((F·Cconv << s_fc) + (I·G << s_ig), cell_frac - c.frac, c.bits)
    H_t(p)   = rescale(O · tanh(rescale(C_t(p), c.frac - tanh.in.frac, 16)), h_shift, h.bits)  [14]

exactly an LSTM layer's cell (:func:`lstmgen.golden.layer_step`) with ``Cconv`` in place of
``c``. Every location updates from the previous step's ``H`` and ``C``.

**Channel normalization** needs a per-location square root and division of a variance; lstmgen
gives it no integer definition and refuses to quantize a CN model (one line, naming the option).

**Output** [15]. The head (:func:`lstmgen.golden.head`) on ``H^P``: a classifier runs its ``T``
input steps, then ``L - 1`` steps on a zero input vector, then the head; a language model
returns the head at every step, and its output at step ``t`` belongs to the token read at step
``t - (L - 1)`` (feed ``L - 1`` padding tokens after a sequence to get its last outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixedpoint import rescale, saturate, shift_round
from .golden import RunResult, check_inputs, head, table_lookup
from .ir.tlstm import RECIP_SHIFT, W_FRAC, ExpTable, TlstmModel

__all__ = [
    "TlstmState",
    "check_inputs",
    "initial_state",
    "row0",
    "run",
    "softmax_weights",
    "step",
]


@dataclass
class TlstmState:
    """``h`` and ``c`` codes of every location, shape (batch, P, M), int64."""

    h: np.ndarray
    c: np.ndarray


def initial_state(model: TlstmModel, batch: int = 1) -> TlstmState:
    """All-zero state (what ``<name>_reset`` sets in every target)."""
    z = np.zeros((batch, model.P, model.M), np.int64)
    return TlstmState(z, z.copy())


def softmax_weights(exp: ExpTable, q, trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The memory kernel's Q.15 weights ``w`` (..., K) of 16-bit logits ``q`` (..., K) (module
    docstring); ``trace`` records ``diff``, ``exp``, ``sum``, ``recip``, ``er`` (``e·r``)."""
    q = np.asarray(q, dtype=np.int64)
    m = q.max(axis=-1, keepdims=True)
    d = saturate(q - m, 16)
    e = table_lookup(exp, d)  # type: ignore[arg-type]
    s = e.sum(axis=-1, keepdims=True)
    r = ((np.int64(1) << RECIP_SHIFT) + (s >> 1)) // s
    er = e * r
    if trace is not None:
        trace.update({"diff": q - m, "exp": e, "sum": s, "recip": r, "er": er})
    return shift_round(er, RECIP_SHIFT - W_FRAC)


def row0(model: TlstmModel, x: np.ndarray, trace: dict[str, np.ndarray] | None = None
         ) -> np.ndarray:
    """Row 0 of a step: a classifier's projection of codes ``x`` (B, R), or an LM's embedding
    rows of token ids ``x`` (B,); (B, M)."""
    if model.is_lm:
        assert model.embedding is not None
        return model.embedding.values[np.asarray(x, np.int64)]
    assert model.w_x is not None and model.b_x is not None
    mv = np.asarray(x, np.int64) @ model.w_x.values.T
    acc = mv + model.b_x.values
    if trace is not None:
        trace["top/mv"], trace["top/acc"] = mv, acc
    return rescale(acc, model.top_acc_frac - model.top_fmt.frac, model.top_fmt.bits)


def _shifted_rows(v: np.ndarray, P: int, off: int) -> np.ndarray:
    """``out[:, p-1] = v[:, p + off]`` for p = 1..P (``v`` holds rows 0..P), zero where
    ``p + off`` is outside 0..P."""
    out = np.zeros((v.shape[0], P, v.shape[2]), np.int64)
    lo, hi = max(1, -off), min(P, P - off)  # p with 0 <= p + off <= P
    if lo <= hi:
        out[:, lo - 1:hi] = v[:, lo + off:hi + off + 1]
    return out


def step(model: TlstmModel, state: TlstmState, top: np.ndarray, *,
         trace: dict[str, np.ndarray] | None = None) -> TlstmState:
    """One time step from row 0 ``top`` (B, M) (see :func:`row0`); returns the new state.

    With ``trace`` given, every intermediate is stored under its :mod:`lstmgen.plan` site name
    (``mv_top/<G>``, ``mv_h/<G>``, ``acc/<G>`` (B, P, rows), ``softmax/...``, ``cconv_sum``,
    ``cell``, ``tanh_in``, ``h``) and the gate codes under ``gate/<G>``.
    """
    P = model.P
    B = top.shape[0]
    rows = np.concatenate([np.zeros((B, 1, model.M), np.int64), state.h], axis=1)  # rows 0..P
    tops = np.zeros_like(rows)
    tops[:, 0] = top
    gate: dict[str, np.ndarray] = {}
    for name, g in model.gates():
        w = g.weight.values
        mv_top = np.zeros((B, P, w.shape[1]), np.int64)
        mv_h = np.zeros_like(mv_top)
        for ki, off in enumerate(model.offsets):
            mv_top += _shifted_rows(tops, P, off) @ w[ki].T
            mv_h += _shifted_rows(rows, P, off) @ w[ki].T
        acc = (shift_round(mv_top, -model.shift_top(name)) + shift_round(mv_h, -model.shift_h(name))
               + g.bias.values)
        table = model.table_for(name)
        pre = rescale(acc, model.acc_frac(name) - table.in_fmt.frac, table.in_fmt.bits)
        gate[name] = pre if name == "q" else table_lookup(table, pre)  # type: ignore[arg-type]
        if trace is not None:
            trace[f"mv_top/{name}"], trace[f"mv_h/{name}"], trace[f"acc/{name}"] = mv_top, mv_h, acc
            trace[f"gate/{name}"] = gate[name]
    if model.exp is not None:
        sm: dict[str, np.ndarray] | None = {} if trace is not None else None
        wk = softmax_weights(model.exp, gate["q"], sm)  # (B, P, K)
        cpad = np.concatenate([np.zeros((B, 1, model.M), np.int64), state.c], axis=1)
        csum = np.zeros_like(state.c)
        for ki, off in enumerate(model.offsets):  # row 0 of cpad is zero: no cell there
            csum += wk[:, :, ki:ki + 1] * _shifted_rows(cpad, P, off)
        cconv = rescale(csum, W_FRAC, model.c_fmt.bits)
        if trace is not None:
            assert sm is not None
            trace.update({f"softmax/{k}": v for k, v in sm.items()})
            trace["softmax/w"], trace["cconv_sum"] = wk, csum
    else:
        cconv = state.c
    s_fc, s_ig, cell_frac = model.cell_shifts()
    cell = shift_round(gate["f"] * cconv, -s_fc) + shift_round(gate["i"] * gate["g"], -s_ig)
    c = rescale(cell, cell_frac - model.c_fmt.frac, model.c_fmt.bits)
    tc = table_lookup(model.tanh, rescale(c, model.c_fmt.frac - model.tanh.in_fmt.frac,
                                          model.tanh.in_fmt.bits))
    h_prod = gate["o"] * tc
    h = rescale(h_prod, model.h_shift(), model.h_fmt.bits)
    if trace is not None:
        trace["cell"], trace["tanh_in"], trace["h"] = cell, c, h_prod
    return TlstmState(h, c)


def run(model: TlstmModel, inputs, *, dump: bool = False) -> RunResult:
    """Run whole sequences from the reset state (classifier: ``T`` steps, ``L - 1`` steps on a
    zero input, the head; LM: the head at every step). With ``dump``, ``layers`` holds one dict
    per location (layer index ``p - 1``) with ``h`` and ``c`` (B, T, M) after every input step."""
    arr = check_inputs(model, inputs)  # type: ignore[arg-type]
    B, T = arr.shape[:2]
    state = initial_state(model, B)
    hs, cs, outs = [], [], []
    for t in range(T):
        state = step(model, state, row0(model, arr[:, t]))
        if dump:
            hs.append(state.h)
            cs.append(state.c)
        if model.is_lm:
            outs.append(head(model.head, state.h[:, -1]))
    if model.is_lm:
        outputs = np.stack(outs, axis=1)
    else:
        zero = np.zeros((B, model.n_in), np.int64)
        for _ in range(model.depth - 1):
            state = step(model, state, row0(model, zero))
        outputs = head(model.head, state.h[:, -1])
    layers = []
    if dump:
        h_all, c_all = np.stack(hs, axis=1), np.stack(cs, axis=1)  # (B, T, P, M)
        layers = [{"h": h_all[:, :, p], "c": c_all[:, :, p]} for p in range(model.P)]
    return RunResult(outputs=outputs, layers=layers)

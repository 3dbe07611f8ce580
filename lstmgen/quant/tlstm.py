"""Quantize a tensorized LSTM (tLSTM): a float64 numpy reference of :mod:`lstmgen.nn.tlstm`'s
equations (for calibration and for the float side of every figure), the exp table of the
softmax kernel, the quantizer (float checkpoint + calibration data → :class:`TlstmModel`), and
random valid tLSTM IRs for tests and benchmarks. No torch here: verify imports this module.

Quantizer choices (stored in the IR, so every target inherits them), as the LSTM's
(:mod:`lstmgen.quant.quantize`) where they have a counterpart:

* weights: per gate (g, i, f, o, q; all K kernel offsets share one format), ``W^x`` and the
  head each their own, int8 or int16 with the smallest integer part that holds the largest
  magnitude;
* inputs (classifier): int16 from the calibration range; row 0: int16 from the calibration
  range of ``x W^x + b^x`` with 2× headroom (a classifier) or from the largest entry of the
  embedding table (an LM: its rows are all there is); H: Q1.15; C: int16 (or int32) from the
  calibration range with 2× headroom; head outputs: from the calibration range with 2×
  headroom;
* gate pre-activations: Q4.12, the input format of the sigmoid and tanh tables, as the LSTM's;
* memory-kernel logits: Q6.10 (±32), the input of the exp table, which samples ``exp`` over
  ``[-16, 0]`` (below, ``exp`` is under ``1.2e-7``, 0 in Q.15) with the activation tables'
  entry count and interpolation; its output is Q1.15 saturated, so ``exp(0)`` is 32767;
* biases at each accumulator's fraction, so they add exactly;
* only 16-bit activations (``--acts 8`` is refused), and no channel normalization (refused:
  :mod:`lstmgen.golden_tlstm` gives it no integer definition).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import FormatError, UsageError
from ..fixedpoint import bits_for_bound
from ..fixedpoint import quantize as quantize_codes
from ..ir import IntTensor, Kind, Linear, QFormat
from ..ir.tlstm import TLSTM_GATES, ConvGate, ExpTable, TlstmModel, kernel_offsets
from .quantize import PRE_FMT, UNIT_FMT, QuantOptions, format_for, weight_format
from .tables import make_table

__all__ = [
    "EXP_IN_FMT",
    "EXP_RANGE",
    "TlstmFloat",
    "TlstmStats",
    "evaluate_tlstm",
    "float_outputs",
    "format_table",
    "forward",
    "make_exp_table",
    "net_from_ir",
    "net_from_state_dict",
    "pad_ids",
    "quantize_tlstm",
    "random_tlstm",
]

#: Input format of the exp table (the memory-kernel logits) and the range it samples.
EXP_IN_FMT = QFormat(16, 10)
EXP_RANGE = 16.0


def make_exp_table(in_fmt: QFormat = EXP_IN_FMT, out_fmt: QFormat = UNIT_FMT, *,
                   log2_entries: int = 8, in_range: float = EXP_RANGE,
                   interp: bool = True) -> ExpTable:
    """``exp`` sampled over ``[-in_range, 0]`` (a power of two) into ``2**log2_entries`` steps,
    like :func:`lstmgen.quant.tables.make_table` (interpolated tables sample the step ends, the
    last at 0; plain tables the bucket centres), output saturated to ``out_fmt``."""
    span_log2 = np.log2(in_range)
    if in_range <= 0 or span_log2 != int(span_log2):
        raise FormatError(f"exp table range {in_range} must be a positive power of two")
    lo = -round(in_range * 2.0**in_fmt.frac)
    if lo < in_fmt.min_code:
        raise FormatError(f"exp table range -{in_range} does not fit input format {in_fmt}")
    shift = int(span_log2) + in_fmt.frac - log2_entries
    if shift < 0:
        raise FormatError(f"{2**log2_entries} entries over [-{in_range}, 0] are finer than the "
                          f"input format {in_fmt}")
    step = 1 << shift
    if interp:
        points = lo + step * np.arange((1 << log2_entries) + 1, dtype=np.int64)
    else:
        points = lo + step * np.arange(1 << log2_entries, dtype=np.int64) + step / 2.0
    codes = quantize_codes(np.exp(in_fmt.to_float(points)), out_fmt.bits, out_fmt.frac)
    return ExpTable(in_fmt=in_fmt, lo=lo, shift=shift,
                    values=IntTensor(codes, out_fmt, name="table exp"), interp=interp)


# --------------------------------------------------------------------------------------------
# Float reference


@dataclass(frozen=True)
class TlstmFloat:
    """A tLSTM in float64 numpy: ``w_h`` (K, M, 4M + n_q), ``b_h``; a classifier's ``w_x``
    (R, M), ``b_x``; an LM's ``embedding`` (vocab, M) (row 0 of every token); the head
    ``head_w`` (n_out, M), ``head_b``. ``offsets`` and ``depth`` as in the IR."""

    kind: str
    P: int
    K: int
    offsets: tuple[int, ...]
    depth: int
    memory_conv: bool
    w_h: np.ndarray
    b_h: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray
    w_x: np.ndarray | None = None
    b_x: np.ndarray | None = None
    embedding: np.ndarray | None = None

    @property
    def M(self) -> int:
        return int(self.w_h.shape[1])


@dataclass
class TlstmStats:
    """Largest magnitudes seen by :func:`forward` (calibration)."""

    x: float = 0.0
    top: float = 0.0
    pre: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("g", "i", "f", "o", "q"), 0.0))
    c: float = 0.0
    h: float = 0.0
    out: float = 0.0


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def _rows(v: np.ndarray, P: int, off: int) -> np.ndarray:
    """``out[:, p-1] = v[:, p + off]`` (``v`` rows 0..P), zero outside."""
    out = np.zeros((v.shape[0], P, v.shape[2]))
    lo, hi = max(1, -off), min(P, P - off)
    if lo <= hi:
        out[:, lo - 1:hi] = v[:, lo + off:hi + off + 1]
    return out


def _step(net: TlstmFloat, h: np.ndarray, c: np.ndarray, top: np.ndarray,
          stats: TlstmStats | None) -> tuple[np.ndarray, np.ndarray]:
    B, P, M = h.shape
    rows = np.concatenate([top[:, None, :], h], axis=1)
    a = sum(_rows(rows, P, off) @ net.w_h[ki] for ki, off in enumerate(net.offsets)) + net.b_h
    ag, ai, af, ao = (a[..., k * M:(k + 1) * M] for k in range(4))
    g, i, f, o = np.tanh(ag), _sigmoid(ai), _sigmoid(af), _sigmoid(ao)
    if net.memory_conv:
        q = a[..., 4 * M:]
        e = np.exp(q - q.max(axis=-1, keepdims=True))
        wk = e / e.sum(axis=-1, keepdims=True)
        cpad = np.concatenate([np.zeros((B, 1, M)), c], axis=1)
        cconv = sum(wk[..., ki:ki + 1] * _rows(cpad, P, off) for ki, off in enumerate(net.offsets))
    else:
        cconv = c
    c = g * i + cconv * f
    h = np.tanh(c) * o
    if stats is not None:
        for name, v in zip(("g", "i", "f", "o"), (ag, ai, af, ao)):
            stats.pre[name] = max(stats.pre[name], float(np.abs(v).max(initial=0.0)))
        if net.memory_conv:
            stats.pre["q"] = max(stats.pre["q"], float(np.abs(a[..., 4 * M:]).max(initial=0.0)))
        stats.c = max(stats.c, float(np.abs(c).max(initial=0.0)))
        stats.h = max(stats.h, float(np.abs(h).max(initial=0.0)))
    return h, c


def forward(net: TlstmFloat, inputs: np.ndarray, stats: TlstmStats | None = None) -> np.ndarray:
    """Run sequences from a zero state: float features (B, T, R) → logits (B, n_out) after
    ``T + L - 1`` steps (the last ``L - 1`` on a zero input), or token ids (B, T) → logits
    (B, T, vocab) at every step, undelayed (as the integer model: step ``t`` belongs to the
    token of step ``t - (L - 1)``)."""
    lm = net.kind == "lm"
    if lm:
        assert net.embedding is not None
        tops = net.embedding[np.asarray(inputs, np.int64)]
    else:
        assert net.w_x is not None and net.b_x is not None
        x = np.asarray(inputs, np.float64)
        tops = x @ net.w_x + net.b_x
        if stats is not None:
            stats.x = max(stats.x, float(np.abs(x).max(initial=0.0)))
    if stats is not None:
        stats.top = max(stats.top, float(np.abs(tops).max(initial=0.0)))
    B, T = tops.shape[:2]
    h = np.zeros((B, net.P, net.M))
    c = np.zeros_like(h)
    outs = []
    for t in range(T):
        h, c = _step(net, h, c, tops[:, t], stats)
        if lm:
            outs.append(h[:, -1] @ net.head_w.T + net.head_b)
    if lm:
        y = np.stack(outs, axis=1)
    else:
        pad = np.broadcast_to(net.b_x, (B, net.M))
        for _ in range(net.depth - 1):
            h, c = _step(net, h, c, pad, stats)
        y = h[:, -1] @ net.head_w.T + net.head_b
    if stats is not None:
        stats.out = max(stats.out, float(np.abs(y).max(initial=0.0)))
    return y


def net_from_state_dict(kind: str, spec, sd: dict[str, np.ndarray]) -> TlstmFloat:
    """The float tLSTM of a checkpoint's state dict (numpy arrays; keys of
    :func:`lstmgen.nn.tlstm.tlstm_shapes`) with its :class:`~lstmgen.nn.tlstm.TlstmSpec`."""
    if spec.channel_norm:
        raise UsageError("a tLSTM with channel normalization cannot be quantized: CN needs a "
                         "square root and a division per location, which lstmgen's integer "
                         "contract does not define; train it without --channel-norm to deploy")
    f = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    common = {"P": spec.P, "K": spec.K, "offsets": spec.offsets, "depth": spec.depth,
              "memory_conv": spec.memory_conv, "w_h": f["core.w_h"], "b_h": f["core.b_h"]}
    if kind == "lm":
        return TlstmFloat("lm", head_w=f["decoder.weight"], head_b=f["decoder.bias"],
                          embedding=f["embedding.weight"], **common)
    return TlstmFloat("classifier", head_w=f["head.weight"], head_b=f["head.bias"],
                      w_x=f["core.w_x"], b_x=f["core.b_x"], **common)


def net_from_ir(m: TlstmModel) -> TlstmFloat:
    """Dequantize an IR's weights into a float network (the same equations)."""
    M = m.M
    w_h = np.concatenate([np.transpose(g.weight.to_float(), (0, 2, 1)) for _, g in m.gates()],
                         axis=2)
    b_h = np.concatenate([g.bias.to_float() for _, g in m.gates()])
    assert w_h.shape[1] == M
    return TlstmFloat(
        m.kind.value, m.P, m.K, m.offsets, m.depth, m.memory_conv, w_h, b_h,
        m.head.weight.to_float(), m.head.bias.to_float(),
        w_x=None if m.w_x is None else m.w_x.to_float().T,
        b_x=None if m.b_x is None else m.b_x.to_float(),
        embedding=None if m.embedding is None else m.embedding.to_float(),
    )


def float_outputs(m: TlstmModel, inputs: np.ndarray) -> np.ndarray:
    """Float outputs of the IR's dequantized weights on ``inputs``: integer codes (dequantized
    with the input format), float features or token ids; shaped as the golden model's."""
    arr = np.asarray(inputs)
    x = arr if m.is_lm or arr.dtype.kind == "f" else m.in_fmt.to_float(arr)
    return forward(net_from_ir(m), x)


# --------------------------------------------------------------------------------------------
# Quantizer


def _tensor(values: np.ndarray, fmt: QFormat, name: str) -> IntTensor:
    return IntTensor(quantize_codes(values, fmt.bits, fmt.frac), fmt, name=name)


def _bias(values: np.ndarray, frac: int, name: str) -> IntTensor:
    codes = quantize_codes(values, 62, frac)
    return IntTensor(codes, QFormat(max(16, bits_for_bound(int(np.abs(codes).max(initial=0)))),
                                    frac), name=name)


def _fmt(what: str, max_abs: float, bits: int, **kw) -> QFormat:
    try:
        return format_for(max_abs, bits, **kw)
    except FormatError as exc:
        raise FormatError(f"{what}: no {bits}-bit format holds its range (max |value| "
                          f"{max_abs:.3g}): {exc}") from None


def _weights(w: np.ndarray, bits: int, name: str) -> IntTensor:
    return _tensor(w, weight_format(float(np.abs(w).max(initial=0.0)), bits, name), name)


def quantize_tlstm(net: TlstmFloat, calib: np.ndarray, opts: QuantOptions | None = None, *,
                   name: str = "model", meta: dict | None = None) -> TlstmModel:
    """Quantize ``net`` using the ranges it shows on ``calib`` (float features or token ids);
    the choices are the module docstring's (``opts`` None: :class:`QuantOptions` defaults)."""
    opts = QuantOptions() if opts is None else opts
    if not re.match(r"^[a-z][a-z0-9_]{0,31}$", name):
        raise UsageError(f"model name {name!r} must be a C identifier of at most 32 characters "
                         "([a-z][a-z0-9_]*)")
    if opts.act_bits != 16:
        raise UsageError("a tLSTM is quantized with 16-bit activations only (--acts 16)")
    if getattr(opts, "acc_bits", None) is not None:
        raise UsageError("--acc is not supported for a tLSTM (its accumulators are sized from "
                         "the weights)")
    arrays = [net.w_h, net.b_h, net.head_w, net.head_b] + [
        a for a in (net.w_x, net.b_x, net.embedding) if a is not None]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise FormatError("NaN or Inf weights cannot be quantized")
    stats = TlstmStats()
    forward(net, calib, stats)
    M, K, lm = net.M, net.K, net.kind == "lm"
    h_fmt = UNIT_FMT
    c_fmt = _fmt("cell state", stats.c, opts.cell_bits, headroom=2.0, min_int_bits=2)
    sigmoid = make_table("sigmoid", PRE_FMT, UNIT_FMT, log2_entries=opts.table_log2_entries,
                         in_range=opts.sigmoid_range, interp=opts.interp)
    tanh = make_table("tanh", PRE_FMT, UNIT_FMT, log2_entries=opts.table_log2_entries,
                      in_range=opts.tanh_range, interp=opts.interp)
    exp = None
    if net.memory_conv:
        exp = make_exp_table(log2_entries=opts.table_log2_entries, interp=opts.interp)
    w_x = b_x = embedding = None
    if lm:
        assert net.embedding is not None
        top_fmt = _fmt("row 0 (embedding)", float(np.abs(net.embedding).max(initial=0.0)), 16)
        in_fmt = top_fmt
        embedding = _tensor(net.embedding, top_fmt, "embedding")
    else:
        assert net.w_x is not None and net.b_x is not None
        in_fmt = _fmt("input (calibration data)", stats.x, 16)
        top_fmt = _fmt("row 0 (x W^x + b^x)", stats.top, 16, headroom=2.0)
        w_x = _weights(net.w_x.T, opts.weight_bits, "w_x")
        b_x = _bias(net.b_x, w_x.fmt.frac + in_fmt.frac, "b_x")
    gates = {}
    names = TLSTM_GATES + (("q",) if net.memory_conv else ())
    for gi, gname in enumerate(names):
        seg = slice(gi * M, gi * M + (K if gname == "q" else M))
        w = np.transpose(net.w_h[:, :, seg], (0, 2, 1))  # (K, rows, M)
        wt = _weights(w, opts.weight_bits, f"gate {gname} weight")
        frac = wt.fmt.frac + max(top_fmt.frac, h_fmt.frac)
        gates[gname] = ConvGate(wt, _bias(net.b_h[seg], frac, f"gate {gname} bias"))
    head_w = _weights(net.head_w, opts.weight_bits, "head weight")
    head = Linear(weight=head_w, bias=_bias(net.head_b, head_w.fmt.frac + h_fmt.frac, "head bias"),
                  in_fmt=h_fmt, out_fmt=_fmt("head output", stats.out, 16, headroom=2.0))
    info = dict(meta or {})
    info["calibration"] = {"sequences": int(np.asarray(calib).shape[0]), "max_abs_input": stats.x,
                           "max_abs_row0": stats.top, "max_abs_c": stats.c,
                           "max_abs_out": stats.out}
    return TlstmModel(
        name=name, kind=Kind.LM if lm else Kind.CLASSIFIER, P=net.P, K=K, offsets=net.offsets,
        depth=net.depth, in_fmt=in_fmt, top_fmt=top_fmt, h_fmt=h_fmt, c_fmt=c_fmt,
        sigmoid=sigmoid, tanh=tanh, exp=exp, head=head, w_x=w_x, b_x=b_x, embedding=embedding,
        meta=info, q=gates.get("q"), **{g: gates[g] for g in TLSTM_GATES},
    )


# --------------------------------------------------------------------------------------------
# Random valid IRs


def random_tlstm(seed: int, *, kind: str = "classifier", P: int = 3, M: int = 5, K: int = 3,
                 n_in: int = 4, n_out: int = 3, vocab: int = 12, memory_conv: bool = True,
                 feedback: bool = True, depth: int | None = None, weight_bits: int = 16,
                 c_bits: int | None = None, interp: bool | None = None,
                 name: str = "tnet") -> TlstmModel:
    """A random, valid tLSTM IR (weights, formats, tables drawn from ``seed``; sizes as given),
    for property tests and benchmarks: a float network with random weights, quantized on random
    calibration data and then given random (valid) codes where the quantizer's would be mild."""
    rng = np.random.default_rng(seed)
    off = kernel_offsets(K, feedback)
    from ..ir.tlstm import max_depth

    top_depth = max_depth(P, K, feedback)
    L = int(rng.integers(1, top_depth + 1)) if depth is None else depth
    nq = K if memory_conv else 0
    scale = float(rng.uniform(0.5, 2.5))
    lm = kind == "lm"
    net = TlstmFloat(
        kind, P, K, off, L, memory_conv,
        w_h=rng.normal(0, scale / np.sqrt(M * K), (K, M, 4 * M + nq)),
        b_h=rng.normal(0, 0.5, 4 * M + nq),
        head_w=rng.normal(0, 1.0, (vocab if lm else n_out, M)),
        head_b=rng.normal(0, 0.3, vocab if lm else n_out),
        w_x=None if lm else rng.normal(0, 1.0, (n_in, M)),
        b_x=None if lm else rng.normal(0, 0.3, M),
        embedding=rng.normal(0, 1.0, (vocab, M)) if lm else None,
    )
    calib = (rng.integers(0, vocab, (4, 6)) if lm else rng.normal(0, 1.0, (4, 6, n_in)))
    opts = QuantOptions(
        weight_bits=weight_bits,
        cell_bits=int(rng.choice([16, 32])) if c_bits is None else c_bits,
        table_log2_entries=int(rng.integers(4, 10)),
        interp=bool(rng.integers(0, 2)) if interp is None else interp,
    )
    m = quantize_tlstm(net, calib, opts, name=name,
                       meta={"source": f"lstmgen.quant.tlstm.random_tlstm(seed={seed})"})
    # wider random formats than calibration gives: cell and row-0 fractions, extreme weights
    c_frac = m.c_fmt.frac + int(rng.integers(-2, 3))
    changes: dict = {"c_fmt": QFormat(m.c_fmt.bits, c_frac)}
    if rng.random() < 0.3:  # a few extreme weight codes in one gate
        gname = str(rng.choice(["g", "i", "f", "o"]))
        g = getattr(m, gname)
        v = g.weight.values.copy()
        idx = tuple(rng.integers(0, d) for d in v.shape)
        v[idx] = g.weight.fmt.min_code
        changes[gname] = replace(g, weight=IntTensor(v, g.weight.fmt, name=f"gate {gname} weight"))
    return m.replace(**changes)


# --------------------------------------------------------------------------------------------
# Float vs golden figures


def pad_ids(ids: np.ndarray, depth: int, pad: int = 0) -> np.ndarray:
    """``ids`` (N, T) followed by ``depth - 1`` padding tokens: a tLSTM LM's output at step t
    belongs to the token of step ``t - (depth - 1)``, so its outputs ``[:, depth - 1:]`` are
    aligned with ``ids``."""
    ids = np.asarray(ids, np.int64)
    return np.concatenate([ids, np.full((ids.shape[0], depth - 1), pad, np.int64)], axis=1)


def _ppl(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(np.exp(-np.take_along_axis(logp, targets[..., None], axis=-1).mean()))


def evaluate_tlstm(net: TlstmFloat, m: TlstmModel, *, x: np.ndarray | None = None,
                   y: np.ndarray | None = None, stream: np.ndarray | None = None,
                   algo=None, streams: int = 10) -> dict:
    """Float vs golden figures of a quantized tLSTM on one kind of evaluation data: a
    classifier's float features ``x`` (N, T, R) with labels ``y`` (accuracy); an LM's token
    ``stream`` (perplexity over ``streams`` rows, each from a zero state); or an algorithmic
    task's :class:`~lstmgen.data.algorithmic.AlgoBatch` ``algo`` (sequence accuracy, as
    ``float_accuracy``/``golden_accuracy``, and per answer position)."""
    from .. import golden_tlstm
    from .quantize import quantize_inputs

    if x is not None:
        assert y is not None
        fp = forward(net, x).argmax(axis=1)
        gp = golden_tlstm.run(m, quantize_inputs(m, x)).outputs.argmax(axis=1)  # type: ignore[arg-type]
        return {"float_accuracy": float(np.mean(fp == y)), "golden_accuracy": float(np.mean(gp == y)),
                "agreement": float(np.mean(fp == gp)), "vectors": len(y)}
    L = m.depth
    if stream is not None:
        ids = np.asarray(stream, np.int64)
        T = (len(ids) - 1) // streams
        if T < 1:
            raise ValueError("too few tokens to evaluate")
        xs = np.stack([ids[r * T:(r + 1) * T] for r in range(streams)])
        tgt = np.stack([ids[r * T + 1:(r + 1) * T + 1] for r in range(streams)])
        fl = forward(net, pad_ids(xs, L))[:, L - 1:]
        gl = m.head.out_fmt.to_float(golden_tlstm.run(m, pad_ids(xs, L)).outputs[:, L - 1:])
        return {"float_ppl": _ppl(fl, tgt), "golden_ppl": _ppl(gl, tgt), "tokens": int(tgt.size)}
    if algo is not None:
        from ..data.algorithmic import score

        fp = forward(net, pad_ids(algo.inputs, L))[:, L - 1:].argmax(-1)
        gp = golden_tlstm.run(m, pad_ids(algo.inputs, L)).outputs[:, L - 1:].argmax(-1)
        sf, sg = score(fp, algo), score(gp, algo)
        same = ((fp == gp) | ~algo.mask).all(axis=1)
        return {"float_accuracy": sf["seq_acc"], "golden_accuracy": sg["seq_acc"],
                "float_token_accuracy": sf["token_acc"], "golden_token_accuracy": sg["token_acc"],
                "agreement": float(same.mean()), "vectors": len(algo.inputs)}
    return {}


def format_table(m: TlstmModel) -> str:
    """One line per tensor of a tLSTM IR: name, format, range (as ``lstmgen quantize`` prints
    an LSTM's), then the accumulator widths."""
    rows = [("input", m.in_fmt)] if not m.is_lm else [("embedding (row 0)", m.top_fmt)]
    if m.w_x is not None and m.b_x is not None:
        rows += [("w_x", m.w_x.fmt), ("b_x", m.b_x.fmt), ("row 0", m.top_fmt)]
    for n, g in m.gates():
        rows += [(f"gate {n} weight", g.weight.fmt), (f"gate {n} bias", g.bias.fmt)]
    rows += [("c", m.c_fmt), ("h", m.h_fmt), ("head.weight", m.head.weight.fmt),
             ("head.bias", m.head.bias.fmt), ("head.out", m.head.out_fmt),
             ("sigmoid/tanh in", m.sigmoid.in_fmt), ("sigmoid/tanh out", m.sigmoid.out_fmt)]
    if m.exp is not None:
        rows += [("exp in (kernel logits)", m.exp.in_fmt)]
    width = max(len(r[0]) for r in rows)
    lines = [(f"tLSTM P={m.P} x M={m.M}, K={m.K} (offsets {list(m.offsets)}), delay L={m.depth}, "
              f"{'memory-cell convolution' if m.memory_conv else 'no memory-cell convolution'}; "
              f"{m.n_params()} parameters, {m.macs_per_step()} MACs per step (head excluded)"),
             f"{'tensor':<{width}}  {'format':>8}  {'int':>4}  range"]
    for n, f in rows:
        lines.append(f"{n:<{width}}  {f!s:>8}  int{f.bits:<2} [{f.to_float(f.min_code):.4g}, "
                     f"{f.to_float(f.max_code):.4g}]")
    lines.append(f"accumulators: gates {m.plan.acc_bits} bits, head {m.plan.head.acc.bits} bits"
                 + (f", row 0 {m.plan.top.acc.bits} bits" if m.plan.top is not None else ""))
    return "\n".join(lines)

"""Quantization-aware training (QAT): a forward pass that computes exactly what the golden
model computes for the IR the quantizer makes of the current weights.

:func:`enable_qat` puts an :class:`~lstmgen.nn.LSTMClassifier` or
:class:`~lstmgen.nn.LSTMLanguageModel` into QAT mode: its ``forward`` then runs
:class:`FakeQuant`, in float64 on values that are exactly ``code · 2^-frac``:

* formats come from the quantizer's own functions (:func:`~lstmgen.quant.quantize.weight_format`
  per gate and matrix from the current weights, :func:`~lstmgen.quant.quantize.input_format` for
  an LM's embedding, :func:`~lstmgen.quant.quantize.h_format`), the calibration-derived ones
  (classifier input, cell, head output) are fixed when QAT starts (:class:`QatSpec`) and stored
  in the checkpoint, so ``lstmgen quantize`` builds the IR this forward computes;
* every rescale rounds half up and saturates (:func:`fake_quant`); sums are exact because every
  operand is a multiple of its format's step and every partial sum stays below 2^53 (checked
  in evaluation; float32 would lose exactness, hence float64);
* sigmoid and tanh are the IR's tables, with the same interpolation (:func:`table_lookup`);
* the SHS threshold is the integer one: ``o`` is kept where its code exceeds the threshold;
* gradients are straight-through: a rounding passes the gradient unchanged (zero where it
  saturates), a table lookup passes the derivative of the exact function at its input, the
  threshold passes gradient through kept entries only.

Layers run one after another over all steps (the same numbers as golden's step-by-step order:
no layer reads a later one). :meth:`FakeQuant.from_ir` builds a float64 module whose QAT
forward reproduces any given IR (the test that it equals golden on random models).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import CheckpointError, FormatError, UsageError
from ..fixedpoint import quantize as quantize_codes
from ..ir import ActTable, Model, QFormat
from ..quant.quantize import (
    PRE_FMT,
    UNIT_FMT,
    ActFormats,
    QuantOptions,
    h_format,
    input_format,
    weight_format,
)
from ..quant.tables import make_table

__all__ = [
    "EXACT_BITS",
    "FakeQuant",
    "Formats",
    "LayerFormats",
    "QatSpec",
    "disable_qat",
    "enable_qat",
    "fake_quant",
    "table_lookup",
]

#: Integers up to 2^53 are exact in float64: the widest sum the QAT forward may form.
EXACT_BITS = 53
#: Bias codes are at most this wide (the quantizer's limit).
BIAS_BITS = 62


# ---------------------------------------------------------------------------------------------
# the specification stored with a QAT run and checkpoint


def _fmt_json(f: QFormat | None) -> list[int] | None:
    return None if f is None else [f.bits, f.frac]


def _fmt_from(obj: Any, where: str) -> QFormat:
    if not (isinstance(obj, list) and len(obj) == 2 and all(type(v) is int for v in obj)):
        raise CheckpointError(f"{where}: a format must be [bits, frac], got {obj!r}")
    try:
        return QFormat(obj[0], obj[1])
    except FormatError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class QatSpec:
    """What QAT fixes for a run: the quantizer options and the calibration-derived formats."""

    options: QuantOptions
    act: ActFormats

    _KEYS = ("weight_bits", "act_bits", "cell_bits", "table_log2_entries", "interp",
             "sigmoid_range", "tanh_range")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (stored in the train config and in checkpoints as ``meta.qat``)."""
        d: dict[str, Any] = {k: getattr(self.options, k) for k in self._KEYS}
        d["input_fmt"] = _fmt_json(self.act.input_fmt)
        d["c_fmts"] = [_fmt_json(f) for f in self.act.c_fmts]
        d["out_fmt"] = _fmt_json(self.act.out_fmt)
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "qat spec") -> QatSpec:
        """Inverse of :meth:`to_json`; CheckpointError naming ``where`` and the field."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: must be an object, got {type(d).__name__}")
        want = set(cls._KEYS) | {"input_fmt", "c_fmts", "out_fmt"}
        if set(d) != want:
            raise CheckpointError(f"{where}: keys must be {', '.join(sorted(want))}")
        try:
            opts = QuantOptions(**{k: d[k] for k in cls._KEYS})
        except (TypeError, UsageError) as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        if not isinstance(d["c_fmts"], list) or not d["c_fmts"]:
            raise CheckpointError(f"{where}: c_fmts must be a non-empty list")
        act = ActFormats(
            input_fmt=None if d["input_fmt"] is None else _fmt_from(d["input_fmt"], f"{where}.input_fmt"),
            c_fmts=tuple(_fmt_from(f, f"{where}.c_fmts") for f in d["c_fmts"]),
            out_fmt=_fmt_from(d["out_fmt"], f"{where}.out_fmt"),
        )
        return cls(opts, act)

    @classmethod
    def from_model(cls, model: Model, options: QuantOptions) -> QatSpec:
        """The spec of an IR the quantizer made with ``options`` (its calibration formats)."""
        return cls(options, ActFormats(
            input_fmt=None if model.is_lm else model.input_fmt,
            c_fmts=tuple(la.c_fmt for la in model.layers),
            out_fmt=model.head.out_fmt,
        ))


# ---------------------------------------------------------------------------------------------
# formats of one forward


@dataclass(frozen=True)
class LayerFormats:
    """One layer's formats: input, h, cell, per gate (i, f, g, o) the two weight formats and the
    bias (accumulator) fraction, and the SHS threshold code (None: none)."""

    in_fmt: QFormat
    h_fmt: QFormat
    c_fmt: QFormat
    w_ih: tuple[QFormat, ...]
    w_hh: tuple[QFormat, ...]
    bias_frac: tuple[int, ...]
    bias_bits: tuple[int, ...]
    threshold: int | None


@dataclass(frozen=True)
class Formats:
    """Every format a forward uses."""

    x_fmt: QFormat
    layers: tuple[LayerFormats, ...]
    head_w: QFormat
    head_bias_frac: int
    head_bias_bits: int
    out_fmt: QFormat
    sigmoid: ActTable
    tanh: ActTable


def _acc_frac(w_ih: QFormat, w_hh: QFormat, x: QFormat, h: QFormat) -> int:
    return max(w_ih.frac + x.frac, w_hh.frac + h.frac)  # LstmLayer.acc_frac


# ---------------------------------------------------------------------------------------------
# the arithmetic


def fake_quant(x: torch.Tensor, fmt: QFormat) -> torch.Tensor:
    """``x`` rounded half up to ``fmt``'s step and saturated to its range (values, not codes);
    straight-through gradient inside the range, zero where it saturates."""
    scale = math.ldexp(1.0, fmt.frac)
    scaled = torch.floor(x * scale + 0.5)
    q = scaled.clamp(fmt.min_code, fmt.max_code) * math.ldexp(1.0, -fmt.frac)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return q
    inside = (scaled >= fmt.min_code) & (scaled <= fmt.max_code)
    return q.detach() + (x - x.detach()) * inside


class _Table:
    """An IR table on a device: entries and their differences, as float64 codes."""

    def __init__(self, table: ActTable, device: torch.device) -> None:
        vals = torch.tensor(table.values.values, dtype=torch.float64, device=device)
        diff = torch.zeros_like(vals)
        diff[:-1] = vals[1:] - vals[:-1]
        self.tab = torch.stack([vals, diff], dim=1)  # (n, 2)
        self.table = table
        self.func = torch.sigmoid if str(table.func) == "sigmoid" else torch.tanh


def table_lookup(pre: torch.Tensor, t: _Table) -> torch.Tensor:
    """``golden.table_lookup`` on values ``pre`` (exact multiples of the table's input step):
    returns the output values; the gradient is the exact function's derivative at ``pre``."""
    tb = t.table
    n, s = tb.n, tb.shift
    d = pre * math.ldexp(1.0, tb.in_fmt.frac) - float(tb.lo)
    if tb.interp and s > 0:
        # clamping d to [0, (n-1)·2^s] gives the end entries with a zero remainder, and the
        # same entry and remainder as golden inside
        d = d.detach().clamp(0.0, float((n - 1) << s))
        idx = torch.floor(d * math.ldexp(1.0, -s))
        r = d - idx * float(1 << s)
        e = t.tab[idx.long()]
        y = e[..., 0] + torch.floor((e[..., 1] * r + float(1 << (s - 1))) * math.ldexp(1.0, -s))
    else:
        idx = torch.floor(d.detach() * math.ldexp(1.0, -s)).clamp(0.0, float(n - 1))
        y = t.tab[idx.long(), 0]
    out = y * math.ldexp(1.0, -tb.out_fmt.frac)
    if not (torch.is_grad_enabled() and pre.requires_grad):
        return out
    exact = t.func(pre)
    return out + (exact - exact.detach())  # exactly ``out``; the function's gradient


def _cell_update(c_fmt: QFormat, sig_out: QFormat, tanh_out: QFormat):
    """``c' = rescale((f·c << s_fc) + (i·g << s_ig), ...)`` on values: in float64 when the
    aligned sum provably stays below 2^52 (then it and its rounding are exact), else in int64
    codes (a 32-bit cell with few fraction bits), with a straight-through gradient."""
    fc_frac = sig_out.frac + c_fmt.frac
    ig_frac = sig_out.frac + tanh_out.frac
    cell_frac = max(fc_frac, ig_frac)
    s_fc, s_ig = cell_frac - fc_frac, cell_frac - ig_frac
    bound = (sig_out.max_abs_code * c_fmt.max_abs_code << s_fc) + \
        (sig_out.max_abs_code * tanh_out.max_abs_code << s_ig)
    if bound < 1 << (EXACT_BITS - 1):
        return lambda f, c, i, g: fake_quant(f * c + i * g, c_fmt)
    shift = cell_frac - c_fmt.frac

    def codes(v: torch.Tensor, frac: int) -> torch.Tensor:
        return (v.detach() * 2.0**frac).round().long()

    def update(f: torch.Tensor, c: torch.Tensor, i: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        acc = ((codes(f, sig_out.frac) * codes(c, c_fmt.frac)) << s_fc) \
            + ((codes(i, sig_out.frac) * codes(g, tanh_out.frac)) << s_ig)
        if shift > 0:
            acc = (acc + (1 << (shift - 1))) >> shift
        else:
            acc = acc << -shift
        exact = acc.clamp(c_fmt.min_code, c_fmt.max_code).double() * 2.0**-c_fmt.frac
        approx = fake_quant(f * c + i * g, c_fmt)
        return exact + (approx - approx.detach())  # exactly ``exact``; approx's gradient

    return update


class FakeQuant:
    """The QAT forward of one model (see the module docstring); not an ``nn.Module``: it holds
    no parameters, only the spec (or fixed formats) and the tables per device.

    ``spec`` (auto formats from the current weights) or ``fixed`` (formats given, as from an
    IR) must be given.
    """

    def __init__(self, spec: QatSpec | None = None, *, fixed: Formats | None = None) -> None:
        if (spec is None) == (fixed is None):
            raise ValueError("FakeQuant needs exactly one of spec and fixed")
        self.spec = spec
        self.fixed = fixed
        if spec is not None:
            o = spec.options
            self._sigmoid = make_table("sigmoid", PRE_FMT, UNIT_FMT, log2_entries=o.table_log2_entries,
                                       in_range=o.sigmoid_range, interp=o.interp)
            self._tanh = make_table("tanh", PRE_FMT, UNIT_FMT, log2_entries=o.table_log2_entries,
                                    in_range=o.tanh_range, interp=o.interp)
        self._tables: dict[tuple[str, str], _Table] = {}

    # -- formats -------------------------------------------------------------------------------

    def formats(self, model: nn.Module) -> Formats:
        """The formats of a forward with ``model``'s current weights."""
        if self.fixed is not None:
            return self.fixed
        spec = self.spec
        assert spec is not None
        opts = spec.options
        lstm = model.lstm
        lm = hasattr(model, "decoder")
        head = model.decoder if lm else model.head
        maxes = []
        for k, H in enumerate(lstm.hidden):
            w_ih, w_hh = lstm.layer_params(k)[:2]
            for w in (w_ih, w_hh):
                maxes.append(w.detach().view(4, H, -1).abs().amax(dim=(1, 2)))
        maxes.append(head.weight.detach().abs().amax().reshape(1))
        if lm:
            maxes.append(model.embedding.weight.detach().abs().amax().reshape(1))
        vals = torch.cat(maxes).double().tolist()
        if lm:
            x_fmt = input_format(vals[-1], opts.act_bits, "embedding")
        else:
            assert spec.act.input_fmt is not None
            x_fmt = spec.act.input_fmt
        h_fmt = h_format(opts.act_bits)
        theta = lstm.shs_threshold  # as quantize_net turns it into a code
        thr = None if theta is None else int(quantize_codes(theta, UNIT_FMT.bits, UNIT_FMT.frac))
        layers = []
        in_fmt = x_fmt
        pos = 0
        gnames = ("i", "f", "g", "o")
        if len(spec.act.c_fmts) != len(lstm.hidden):
            raise CheckpointError(f"the QAT spec has {len(spec.act.c_fmts)} cell formats for "
                                  f"{len(lstm.hidden)} layers")
        for k in range(len(lstm.hidden)):
            ih = tuple(weight_format(vals[pos + j], opts.weight_bits,
                                     f"layer {k} gate {gnames[j]} w_ih") for j in range(4))
            hh = tuple(weight_format(vals[pos + 4 + j], opts.weight_bits,
                                     f"layer {k} gate {gnames[j]} w_hh") for j in range(4))
            pos += 8
            fr = tuple(_acc_frac(a, b, in_fmt, h_fmt) for a, b in zip(ih, hh))
            layers.append(LayerFormats(in_fmt, h_fmt, spec.act.c_fmts[k], ih, hh, fr,
                                       (BIAS_BITS,) * 4, thr))
            in_fmt = h_fmt
        head_w = weight_format(vals[pos], opts.weight_bits, "head weight")
        return Formats(x_fmt, tuple(layers), head_w, head_w.frac + in_fmt.frac, BIAS_BITS,
                       spec.act.out_fmt, self._sigmoid, self._tanh)

    def _table(self, table: ActTable, device: torch.device) -> _Table:
        key = (str(table.func), str(device))
        t = self._tables.get(key)
        if t is None or t.table is not table:
            t = _Table(table, device)
            self._tables[key] = t
        return t

    # -- the forward ---------------------------------------------------------------------------

    @staticmethod
    def _weights(w: torch.Tensor, fmts: tuple[QFormat, ...]) -> torch.Tensor:
        H = w.shape[0] // 4
        w = w.double()
        return torch.cat([fake_quant(w[j * H:(j + 1) * H], fmts[j]) for j in range(4)])

    @staticmethod
    def _bias(b: torch.Tensor, fracs: tuple[int, ...], bits: tuple[int, ...]) -> torch.Tensor:
        H = b.shape[0] // 4
        return torch.cat([fake_quant(b[j * H:(j + 1) * H], QFormat(bits[j], fracs[j]))
                          for j in range(4)])

    def run_stack(self, model: nn.Module, fm: Formats, x: torch.Tensor,
                  state: list[tuple[torch.Tensor, torch.Tensor]] | None,
                  trace: list[dict[str, torch.Tensor]] | None = None,
                  ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """All layers over quantized inputs ``x`` (B, T, X) (values); returns the top layer's
        ``h`` (B, T, H) and the final state (per layer ``(h, c)``, each (B, H))."""
        lstm = model.lstm
        sig = self._table(fm.sigmoid, x.device)
        tnh = self._table(fm.tanh, x.device)
        B, T = x.shape[:2]
        new_state = []
        o_sums = []
        out = x
        for k, lf in enumerate(fm.layers):
            H = lstm.hidden[k]
            if k > 0 and lstm.dropout > 0.0 and model.training:
                out = F.dropout(out, lstm.dropout, True)
            w_ih, w_hh, b_ih, b_hh = lstm.layer_params(k)
            wi = self._weights(w_ih, lf.w_ih)
            wh = self._weights(w_hh, lf.w_hh)
            b = self._bias(b_ih.double() + b_hh.double(), lf.bias_frac, lf.bias_bits)
            if not model.training:
                self._check_exact(k, lf, wi, wh, b)
            xw = F.linear(out, wi, b)  # (B, T, 4H): W_ih·x + b of every step at once
            if state is None:
                h = x.new_zeros(B, H)
                c = x.new_zeros(B, H)
            else:
                h, c = state[k]
            thr = None if lf.threshold is None else lf.threshold * 2.0**-fm.sigmoid.out_fmt.frac
            cell = _cell_update(lf.c_fmt, fm.sigmoid.out_fmt, fm.tanh.out_fmt)
            hs, o_list = [], []
            tr: dict[str, list[torch.Tensor]] = {"h": [], "c": [], "o": []}
            wh_t = wh.t()
            for t in range(T):
                acc = (xw[:, t] + h @ wh_t).view(B, 4, H)
                ifo = acc[:, (0, 1, 3)]
                gs = table_lookup(fake_quant(ifo, fm.sigmoid.in_fmt), sig)
                g = table_lookup(fake_quant(acc[:, 2], fm.tanh.in_fmt), tnh)
                i, f, o = gs[:, 0], gs[:, 1], gs[:, 2]
                o_list.append(o)
                if thr is not None:
                    o = torch.where(o > thr, o, 0.0)
                c = cell(f, c, i, g)
                tc = table_lookup(fake_quant(c, fm.tanh.in_fmt), tnh)
                h = fake_quant(o * tc, lf.h_fmt)
                hs.append(h)
                if trace is not None:
                    tr["h"].append(h.detach())
                    tr["c"].append(c.detach())
                    tr["o"].append(o.detach())
            out = torch.stack(hs, dim=1)
            if lstm.h_counter is not None:
                lstm.h_counter.add(k, out.detach())
            o_sums.append(torch.stack(o_list).sum())
            new_state.append((h, c))
            if trace is not None:
                trace.append({
                    "h": torch.stack(tr["h"], 1) * 2.0**lf.h_fmt.frac,
                    "c": torch.stack(tr["c"], 1) * 2.0**lf.c_fmt.frac,
                    "o": torch.stack(tr["o"], 1) * 2.0**fm.sigmoid.out_fmt.frac,
                })
        lstm.o_sums = o_sums if lstm.shs_threshold is not None else []
        return out, new_state

    @staticmethod
    def _check_exact(k: int, lf: LayerFormats, wi: torch.Tensor, wh: torch.Tensor,
                     b: torch.Tensor) -> None:
        """FormatError when a gate sum of layer ``k`` could reach 2^52 (float64 would round)."""
        x_max = math.ldexp(float(lf.in_fmt.max_abs_code), -lf.in_fmt.frac)
        h_max = math.ldexp(float(lf.h_fmt.max_abs_code), -lf.h_fmt.frac)
        wi, wh, b = wi.detach(), wh.detach(), b.detach()
        bound = (wi.abs().sum(1) * x_max + wh.abs().sum(1) * h_max + b.abs()).view(4, -1).amax(1)
        fracs = torch.tensor(lf.bias_frac, dtype=torch.float64, device=bound.device)
        worst = float((bound * torch.pow(2.0, fracs)).max())
        if worst >= 2.0 ** (EXACT_BITS - 1):
            raise FormatError(
                f"layer {k}: a gate sum may reach 2^{math.log2(worst):.1f}; QAT reproduces the "
                f"integer arithmetic exactly only below 2^{EXACT_BITS - 1}")

    def _head(self, model: nn.Module, fm: Formats, h: torch.Tensor) -> torch.Tensor:
        head = model.decoder if hasattr(model, "decoder") else model.head
        w = fake_quant(head.weight.double(), fm.head_w)
        b = fake_quant(head.bias.double(), QFormat(fm.head_bias_bits, fm.head_bias_frac))
        if not model.training:
            h_fmt = fm.layers[-1].h_fmt
            h_max = math.ldexp(float(h_fmt.max_abs_code), -h_fmt.frac)
            worst = float((w.detach().abs().sum(1) * h_max + b.detach().abs()).max()) \
                * 2.0**fm.head_bias_frac
            if worst >= 2.0 ** (EXACT_BITS - 1):
                raise FormatError(f"head: its sum may reach 2^{math.log2(worst):.1f}; QAT reproduces "
                                  f"the integer arithmetic exactly only below 2^{EXACT_BITS - 1}")
        return fake_quant(F.linear(h, w, b), fm.out_fmt)

    def classifier(self, model: nn.Module, x: torch.Tensor,
                   trace: list[dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
        """Logits (B, n_out) of a classifier on float features ``x`` (B, T, F)."""
        fm = self.formats(model)
        xq = fake_quant(x.double(), fm.x_fmt)
        out, _ = self.run_stack(model, fm, xq, None, trace)
        return self._head(model, fm, out[:, -1])

    def lm(self, model: nn.Module, ids: torch.Tensor, state=None,
           trace: list[dict[str, torch.Tensor]] | None = None):
        """Logits (B, T, V) and the final state of a language model on token ids (B, T)."""
        fm = self.formats(model)
        emb = fake_quant(F.embedding(ids, model.embedding.weight).double(), fm.x_fmt)
        if model.training and model.dropout > 0.0:
            emb = F.dropout(emb, model.dropout, True)
        out, new_state = self.run_stack(model, fm, emb, state, trace)
        if model.training and model.dropout > 0.0:
            out = F.dropout(out, model.dropout, True)
        return self._head(model, fm, out), new_state

    # -- an IR as a module ---------------------------------------------------------------------

    @classmethod
    def from_ir(cls, model: Model) -> nn.Module:
        """A float64 lstmgen module holding ``model``'s dequantized weights, in QAT mode with
        ``model``'s formats: its forward computes what :func:`lstmgen.golden.run` computes."""
        from .lstm import LSTMClassifier, LSTMLanguageModel

        hidden = model.hidden
        if model.is_lm:
            assert model.embedding is not None
            m: nn.Module = LSTMLanguageModel(model.vocab, model.n_in, hidden)
        else:
            m = LSTMClassifier(model.n_in, hidden, model.n_out)
        m = m.double()
        sd = {}
        layers = []
        for k, la in enumerate(model.layers):
            gates = [g for _, g in la.gates()]
            sd[f"lstm.weight_ih_l{k}"] = torch.cat([torch.from_numpy(g.w_ih.to_float()) for g in gates])
            sd[f"lstm.weight_hh_l{k}"] = torch.cat([torch.from_numpy(g.w_hh.to_float()) for g in gates])
            sd[f"lstm.bias_ih_l{k}"] = torch.cat([torch.from_numpy(g.bias.to_float()) for g in gates])
            sd[f"lstm.bias_hh_l{k}"] = torch.zeros(4 * la.n_hidden, dtype=torch.float64)
            layers.append(LayerFormats(
                la.in_fmt, la.h_fmt, la.c_fmt,
                tuple(g.w_ih.fmt for g in gates), tuple(g.w_hh.fmt for g in gates),
                tuple(g.bias.fmt.frac for g in gates), tuple(g.bias.fmt.bits for g in gates),
                la.o_threshold,
            ))
        prefix = "decoder" if model.is_lm else "head"
        sd[f"{prefix}.weight"] = torch.from_numpy(model.head.weight.to_float())
        sd[f"{prefix}.bias"] = torch.from_numpy(model.head.bias.to_float())
        if model.is_lm:
            assert model.embedding is not None
            sd["embedding.weight"] = torch.from_numpy(model.embedding.to_float())
        m.load_state_dict(sd)
        fixed = Formats(model.input_fmt, tuple(layers), model.head.weight.fmt,
                        model.head.bias.fmt.frac, model.head.bias.fmt.bits, model.head.out_fmt,
                        model.sigmoid, model.tanh)
        return enable_qat(m.eval(), fixed=fixed)


def enable_qat(model: nn.Module, spec: QatSpec | None = None, *,
               fixed: Formats | None = None) -> nn.Module:
    """Put ``model`` (an lstmgen classifier or LM) into QAT mode; return it."""
    if not hasattr(model, "fake_quant"):
        raise TypeError(f"QAT needs an lstmgen LSTMClassifier or LSTMLanguageModel, got "
                        f"{type(model).__name__}")
    if getattr(model, "tied", False):
        raise FormatError("QAT of a tied LM is not supported (the IR stores the embedding and "
                          "the head apart, each in its own format)")
    model.fake_quant = FakeQuant(spec, fixed=fixed)
    return model


def disable_qat(model: nn.Module) -> nn.Module:
    """Back to the float forward; return ``model``."""
    model.fake_quant = None
    return model

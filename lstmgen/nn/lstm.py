"""LSTM stack with per-layer hidden sizes, and the two model heads lstmgen supports.

Parameters use the names of a batch-first ``torch.nn.LSTM`` (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``; gate order i, f, g, o), so an
``nn.LSTM`` state dict loads unchanged when all layers have the same size. Each layer runs
through torch's fused LSTM kernel (``torch._VF.lstm``, the call ``nn.LSTM`` itself makes).

**Sparse hidden states (SHS**; Yu, Weber, Hu, ICANN 2019). With ``shs_threshold=θ`` the output
gate is hard-thresholded, ``o = σ(a_o) if σ(a_o) > θ else 0``, so ``h = o ⊙ tanh(c)`` has exact
zeros. The fused kernel cannot do that, so such a layer runs :class:`ShsLayerFunction`: the
input projection of all steps as one matrix product, then a per-step loop over the recurrence
(one ``addmm`` and a few element-wise ops on all gates at once per step), with a hand-written
backward whose weight gradient is again one matrix product over all steps. Gradients flow
through the kept entries of ``o``; a zeroed entry passes none (the threshold is a step).

Every forward with SHS stores per layer the sum of ``σ(a_o)`` over steps, sequences and units
(before the threshold, as the reference code with its default ``norm_thresh = 0``) in
:attr:`LSTMStack.o_sums`, for the L1 penalty (:func:`lstmgen.sparsity.shs.shs_penalty`). When
:attr:`LSTMStack.h_counter` is set, every forward hands it each layer's ``h`` of every step
(:class:`lstmgen.sparsity.shs.HZeroCounter` counts the exact zeros).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "LMState",
    "LSTMClassifier",
    "LSTMLanguageModel",
    "LSTMStack",
    "ShsLayerFunction",
    "StackState",
    "shs_layer",
]

#: Per-layer ``(h, c)`` pairs, each of shape ``(1, batch, hidden_l)``.
StackState = list[tuple[torch.Tensor, torch.Tensor]]
#: The recurrent state a language model carries from one batch to the next.
LMState = StackState


class HCounter(Protocol):
    """What :attr:`LSTMStack.h_counter` must offer."""

    def add(self, layer: int, h: torch.Tensor) -> None: ...


class ShsLayerFunction(torch.autograd.Function):
    """One SHS LSTM layer over a whole sequence, time-major.

    ``apply(xw, h0, c0, w_hh, theta)``: ``xw`` (T, B, 4H) is the input projection with both
    biases added, ``h0``/``c0`` (B, H), ``w_hh`` (4H, H). Returns ``out`` (T, B, H) (``h`` of
    every step), the final ``h_n``/``c_n`` (B, H) and ``o_sum``, the sum of ``σ(a_o)`` over all
    steps, sequences and units before the threshold. The backward is the exact derivative of
    this forward, with the threshold's derivative taken as 0 (tested against autograd of a
    plain loop).
    """

    @staticmethod
    def forward(ctx: Any, xw: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,  # type: ignore[override]
                w_hh: torch.Tensor, theta: float):
        T, B, G = xw.shape
        H = G // 4
        acts = torch.empty_like(xw)        # σ(a_i), σ(a_f), tanh(a_g), σ(a_o) of every step
        cs = xw.new_empty(T + 1, B, H)     # c before step 0 .. after step T-1
        tcs = xw.new_empty(T, B, H)        # tanh(c) after each step
        out = xw.new_empty(T, B, H)
        pre = xw.new_empty(B, G)
        zero = xw.new_zeros(())
        cs[0] = c0
        w_t = w_hh.t()
        h = h0
        for t in range(T):
            a = acts[t]
            torch.addmm(xw[t], h, w_t, out=pre)
            torch.sigmoid(pre, out=a)
            torch.tanh(pre[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
            c = cs[t + 1]
            torch.mul(a[:, H:2 * H], cs[t], out=c)
            c.addcmul_(a[:, :H], a[:, 2 * H:3 * H])
            torch.tanh(c, out=tcs[t])
            o = a[:, 3 * H:]
            h = out[t]
            torch.mul(torch.where(o > theta, o, zero), tcs[t], out=h)
        ctx.save_for_backward(xw, h0, w_hh, acts, cs, tcs, out)
        ctx.theta = theta
        h_n = out[T - 1].clone() if T else h0.clone()
        return out, h_n, cs[T].clone(), acts[:, :, 3 * H:].sum()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor | None, d_hn: torch.Tensor | None,  # type: ignore[override]
                 d_cn: torch.Tensor | None, d_osum: torch.Tensor | None):
        xw, h0, w_hh, acts, cs, tcs, out = ctx.saved_tensors
        theta = ctx.theta
        T, B, G = xw.shape
        H = G // 4
        # Everything that depends only on the forward, for all steps at once:
        # d a_G = (dc for i, f, g; do for o) * K_G
        i, f, g, o = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:3 * H], acts[..., 3 * H:]
        keep = o > theta
        o_eff = torch.where(keep, o, 0.0)
        K = torch.empty_like(acts)
        torch.mul(g, i * (1 - i), out=K[..., :H])
        torch.mul(cs[:-1], f * (1 - f), out=K[..., H:2 * H])
        torch.mul(i, 1 - g * g, out=K[..., 2 * H:3 * H])
        torch.mul(o, 1 - o, out=K[..., 3 * H:])
        A = o_eff * (1 - tcs * tcs)         # dc from dh
        Bm = torch.where(keep, tcs, 0.0)    # do from dh
        d_pre = torch.empty_like(xw)
        D = xw.new_empty(B, 4, H)
        dh = d_hn.clone() if d_hn is not None else xw.new_zeros(B, H)
        dc = d_cn.clone() if d_cn is not None else xw.new_zeros(B, H)
        if d_out is None:
            d_out = xw.new_zeros(T, B, H)
        os_grad = d_osum if d_osum is not None else None
        for t in range(T - 1, -1, -1):
            dh.add_(d_out[t])
            dc.addcmul_(dh, A[t])
            D[:, 0] = dc
            D[:, 1] = dc
            D[:, 2] = dc
            torch.mul(dh, Bm[t], out=D[:, 3])
            if os_grad is not None:
                D[:, 3].add_(os_grad)
            torch.mul(D.view(B, G), K[t], out=d_pre[t])
            torch.mm(d_pre[t], w_hh, out=dh)
            dc.mul_(f[t])
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0) if T else h0.unsqueeze(0)
        d_w_hh = d_pre.reshape(T * B, G).t() @ h_prev.reshape(T * B, H)
        return d_pre, dh, dc, d_w_hh, None


def shs_layer(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_ih: torch.Tensor,
              w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor,
              theta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one SHS layer on batch-first ``x`` (B, T, X) from ``h0``/``c0`` (B, H); return ``out``
    (B, T, H), ``h_n``, ``c_n`` (B, H) and the sum of ``σ(a_o)`` (see :class:`ShsLayerFunction`)."""
    xw = F.linear(x.transpose(0, 1), w_ih, b_ih + b_hh).contiguous()  # (T, B, 4H) in one product
    out, h_n, c_n, o_sum = ShsLayerFunction.apply(xw, h0, c0, w_hh, float(theta))
    return out.transpose(0, 1), h_n, c_n, o_sum


class LSTMStack(nn.Module):
    """A batch-first stack of LSTM layers; layer ``l`` has ``hidden[l]`` units.

    ``forward(x, state=None)`` takes ``x`` of shape ``(B, T, n_in)`` and returns the top
    layer's outputs ``(B, T, hidden[-1])`` and the final per-layer state. ``dropout`` is applied
    between layers (not after the top layer), as in ``nn.LSTM``. ``shs_threshold`` θ (None: off)
    hard-thresholds every layer's output gate (see the module docstring).
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float = 0.0,
                 shs_threshold: float | None = None) -> None:
        super().__init__()
        if n_in < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"LSTMStack needs n_in >= 1 and hidden sizes >= 1, got {n_in}, {hidden}")
        if shs_threshold is not None and not 0.0 <= shs_threshold < 1.0:
            raise ValueError(f"shs_threshold must be in [0, 1), got {shs_threshold}")
        self.n_in = int(n_in)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        self.shs_threshold = None if shs_threshold is None else float(shs_threshold)
        #: Per layer, the sum of σ(a_o) of the last forward (SHS only; empty otherwise).
        self.o_sums: list[torch.Tensor] = []
        #: When set, every forward passes each layer's h (B, T, H) to ``h_counter.add``.
        self.h_counter: HCounter | None = None
        x = self.n_in
        for k, h in enumerate(self.hidden):
            bound = 1.0 / math.sqrt(h)
            for name, shape in (
                (f"weight_ih_l{k}", (4 * h, x)),
                (f"weight_hh_l{k}", (4 * h, h)),
                (f"bias_ih_l{k}", (4 * h,)),
                (f"bias_hh_l{k}", (4 * h,)),
            ):
                self.register_parameter(name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))
            x = h

    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.hidden)

    def layer_params(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(weight_ih, weight_hh, bias_ih, bias_hh)`` of layer ``k``."""
        return (
            getattr(self, f"weight_ih_l{k}"),
            getattr(self, f"weight_hh_l{k}"),
            getattr(self, f"bias_ih_l{k}"),
            getattr(self, f"bias_hh_l{k}"),
        )

    def init_state(self, batch: int, device: torch.device | None = None) -> StackState:
        """Return an all-zero state for ``batch`` sequences."""
        dev = device if device is not None else self.weight_ih_l0.device
        dt = self.weight_ih_l0.dtype
        return [
            (torch.zeros(1, batch, h, device=dev, dtype=dt), torch.zeros(1, batch, h, device=dev, dtype=dt))
            for h in self.hidden
        ]

    def forward(
        self, x: torch.Tensor, state: StackState | None = None
    ) -> tuple[torch.Tensor, StackState]:
        """Run all layers over ``x`` (B, T, n_in); return top outputs and the final state."""
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        new_state: StackState = []
        o_sums: list[torch.Tensor] = []
        out = x
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0.0:
                out = F.dropout(out, self.dropout, self.training)
            if self.shs_threshold is None:
                out, h_n, c_n = torch._VF.lstm(  # the fused kernel nn.LSTM calls
                    out, state[k], list(self.layer_params(k)), True, 1, 0.0, self.training, False, True
                )
            else:
                w_ih, w_hh, b_ih, b_hh = self.layer_params(k)
                h0, c0 = state[k]
                out, h, c, o_sum = shs_layer(out, h0[0], c0[0], w_ih, w_hh, b_ih, b_hh,
                                             self.shs_threshold)
                h_n, c_n = h.unsqueeze(0), c.unsqueeze(0)
                o_sums.append(o_sum)
            if self.h_counter is not None:
                self.h_counter.add(k, out.detach())
            new_state.append((h_n, c_n))
        self.o_sums = o_sums
        return out, new_state


class LSTMClassifier(nn.Module):
    """Sequence classifier: ``(B, T, n_in)`` floats → LSTM stack → last step → ``head`` logits.

    ``model(x)`` returns logits of shape ``(B, n_out)``.
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float = 0.0,
                 shs_threshold: float | None = None) -> None:
        super().__init__()
        self.lstm = LSTMStack(n_in, hidden, dropout, shs_threshold)
        self.head = nn.Linear(self.lstm.hidden[-1], n_out)
        #: QAT mode (:func:`lstmgen.nn.qat.enable_qat`): the fake-quantized forward, or None.
        self.fake_quant: Any = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits ``(B, n_out)`` for ``x`` of shape ``(B, T, n_in)``."""
        if self.fake_quant is not None:
            return self.fake_quant.classifier(self, x)
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class LSTMLanguageModel(nn.Module):
    """Word-level LM: ids ``(B, T)`` → embedding → dropout → stack → dropout → ``decoder``.

    ``model(x)`` returns logits ``(B, T, vocab)`` starting from a zero state;
    ``model.forward_with_state(x, state)`` also returns the final state, for truncated BPTT
    across batches. With ``tied=True`` the decoder weight *is* the embedding weight (needs
    ``hidden[-1] == n_in``).
    """

    def __init__(
        self,
        vocab: int,
        n_in: int,
        hidden: tuple[int, ...],
        dropout: float = 0.0,
        tied: bool = False,
        shs_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, n_in)
        self.lstm = LSTMStack(n_in, hidden, dropout, shs_threshold)
        self.decoder = nn.Linear(self.lstm.hidden[-1], vocab)
        self.dropout = float(dropout)
        self.tied = bool(tied)
        if tied:
            if self.lstm.hidden[-1] != n_in:
                raise ValueError("tied weights need hidden[-1] == n_in")
            self.decoder.weight = self.embedding.weight
        #: QAT mode (:func:`lstmgen.nn.qat.enable_qat`): the fake-quantized forward, or None.
        self.fake_quant: Any = None

    def forward_with_state(
        self, x: torch.Tensor, state: LMState | None = None
    ) -> tuple[torch.Tensor, LMState]:
        """Return logits ``(B, T, vocab)`` and the final recurrent state (in QAT mode the state
        is the fake-quantized one, per layer ``(h, c)`` of shape (B, H))."""
        if self.fake_quant is not None:
            return self.fake_quant.lm(self, x, state)
        emb = F.dropout(self.embedding(x), self.dropout, self.training)
        out, new_state = self.lstm(emb, state)
        out = F.dropout(out, self.dropout, self.training)
        return self.decoder(out), new_state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, T, vocab)`` for ids ``x`` ``(B, T)`` from a zero state."""
        return self.forward_with_state(x)[0]

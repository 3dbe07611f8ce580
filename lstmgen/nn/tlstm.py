"""Tensorized LSTM (tLSTM; He, Gao, Xiao, Liu, He, Barber: "Wider and Deeper, Cheaper and Faster:
Tensorized LSTMs for Sequence Learning", NIPS 2017), written out equation by equation.

This docstring is the one place that states every equation and every choice of lstmgen's tLSTM
(the float model here; the integer model of the same equations is :mod:`lstmgen.golden_tlstm`).

Notation (row vectors, as in the paper): input ``x_t`` of size ``R``; the hidden state is a
tensor ``H_t`` of ``P`` rows ("locations", the tensor size) by ``M`` channels; the memory cell
``C_t`` has the same shape. Numbers in brackets are the paper's equation numbers.

* [5] input projection, concatenated as row 0::

      H^cat_{t-1} = [ x_t W^x + b^x ; H_{t-1} ]            (P+1) x M

* [10] cross-layer convolution along the P axis with a kernel ``W^h`` of size K x M x (4M + K)
  (shared by every location: the tensor widens without new parameters)::

      [A^g_t, A^i_t, A^f_t, A^o_t, A^q_t] = H^cat_{t-1} (*) {W^h, b^h}      P x (4M + K)

  Output row ``p = 1..P`` is ``Σ_k H^cat(p + k) W^h_k + b^h`` over the kernel offsets ``k``
  (below); rows of ``H^cat`` outside ``0..P`` are zero (zero padding).
* [11] gates: ``G = tanh(A^g)``, ``I = σ(A^i)``, ``F = σ(A^f)``, ``O = σ(A^o)``.
* [12] the memory-cell kernel is generated per location from ``A^q``:
  ``W^c_t(p) = softmax(A^q_t(p))`` (K weights that sum to 1).
* [13] memory-cell convolution and update, channel by channel::

      C^conv_{t-1}(p) = Σ_k W^c_t(p)_k · C_{t-1}(p + k)          (rows outside 1..P are zero)
      C_t = G_t ⊙ I_t + C^conv_{t-1} ⊙ F_t

* [14] ``H_t = tanh(C_t) ⊙ O_t``.
* [15] output from the last row, delayed by ``L - 1`` steps: ``y_t = head(H^P_{t+L-1})``.
* channel normalization [§3.4; ``CN(z) = (z - mean_c z) / sqrt(var_c z + ε) ⊙ γ + β`` over the
  M channels of each location, biased variance] on each of the four gate pre-activations
  ``A^g, A^i, A^f, A^o`` before [11], and on ``C_t`` inside ``tanh`` in [14] (the state keeps
  the unnormalised ``C_t``).

Choices the paper leaves open, made here:

* kernel alignment (:func:`kernel_offsets`): with feedback (the default) the kernel is centred,
  offsets ``-(K//2) .. (K-1)//2`` (K odd gives a symmetric kernel), so a location also sees
  the one above it at the previous step (top-down feedback); without feedback
  (``feedback=False``, the paper's ablation) offsets ``-(K-1) .. 0``: a location sees only
  itself and the ones below, the shape of a stacked LSTM whose layers share weights. The
  memory-cell kernel uses the same offsets. ``K >= 2``.
* the delay and causality: information climbs ``s = -min(offsets)`` rows per step (``K//2``
  with feedback, ``K-1`` without), so ``H^p_t`` depends on ``x_τ`` only for
  ``τ <= t - ceil(p/s) + 1``. Hence ``H^P_{t+L-1}`` depends on inputs up to ``t + L -
  ceil(P/s)`` only, and the output ``y_t`` is causal (inputs up to ``t``) exactly when ``L <=
  ceil(P/s)``; :func:`max_depth` is that bound and the default ``L`` (:func:`default_depth`), the
  smallest delay at which the last row sees ``x_t``. ``1 <= L <= max_depth`` is enforced: a
  longer delay would let ``y_t`` see later inputs. A smaller ``L`` is allowed (a shallower, still
  causal model whose ``y_t`` does not see the newest inputs).
* the steps after the end of a sequence (needed for the last ``L - 1`` outputs) read zero
  vectors (classifier) or the padding token (LM and algorithmic tasks; token 0 by default).
  By the causality above, what they read never changes an output: a language model trained
  with truncated BPTT therefore continues each window with ``L - 1`` padding steps from a copy
  of the state (:meth:`TLSTMLanguageModel.forward_with_state`), which gives the outputs of the
  uninterrupted stream (to float round-off; exactly in the integer model).
* a language model (token ids in) embeds each token directly into row 0:
  ``x_t W^x + b^x`` with one-hot ``x_t`` is a row of a (vocab x M) table, so
  :class:`TLSTMLanguageModel` holds ``embedding`` (vocab, M) and no ``W^x``/``b^x``
  (``TLSTM(n_in=None, ...)``). Dropout (``dropout`` > 0) applies to row 0 and to the head's
  input of a language model, as in lstmgen's LSTM LM; none inside the recurrence.
* the softmax kernel is computed from ``A^q`` without channel normalization, over all K
  offsets, also those that read zero padding at the first and last locations (their weight
  multiplies a zero cell, so those locations' kernels sum to less than 1); CN's ``γ`` starts
  at 1 and ``β`` at 0; its ``ε`` is 1e-5.
* initialisation: ``W^x`` uniform ``±1/sqrt(R)``, ``W^h`` uniform ``±1/sqrt(K·M)``, biases 0;
  an LM's embedding, the heads: torch's defaults.
* ``P = 1`` without memory-cell convolution and without CN is exactly a one-layer LSTM with
  ``W_ih = W^x W^h_{-1}``, ``b = b^x W^h_{-1} + b^h`` and ``W_hh = W^h_0``
  (:meth:`TLSTM.as_lstm_weights`; tested in float64). With the memory-cell convolution it is
  not: the kernel's weight on the only location is ``softmax(A^q)_0 < 1``.
* mult-adds per step (:func:`tlstm_macs`) count only the products with rows that exist (zero
  padding is never multiplied): the row-0 projection ``R·M`` (classifier), the convolution
  ``n·M·(4M + K)`` with ``n`` the (location, offset) pairs that read a row in ``0..P``, the
  memory-cell convolution ``n_c·M`` (pairs that read a row in ``1..P``), the head.

Gate channel order in ``W^h``'s output: g, i, f, o, then the K kernel channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..ir.tlstm import kernel_offsets, max_depth

__all__ = [
    "TLSTM",
    "TLSTMClassifier",
    "TLSTMLanguageModel",
    "TlstmSpec",
    "conv_pairs",
    "default_depth",
    "kernel_offsets",
    "max_depth",
    "tlstm_macs",
    "tlstm_shapes",
]

#: Gate order of ``W^h``'s output channels (then the K memory-kernel channels ``q``).
TLSTM_GATES = ("g", "i", "f", "o")


#: The default delay is the largest causal one.
default_depth = max_depth


def conv_pairs(P: int, offsets: tuple[int, ...], first_row: int) -> int:
    """How many (location ``p`` in 1..P, offset ``k``) pairs read an existing row ``p + k`` in
    ``first_row..P`` (0 for the cross-layer convolution, 1 for the memory-cell convolution).

    >>> conv_pairs(4, (-1, 0, 1), 0), conv_pairs(4, (-1, 0, 1), 1), conv_pairs(1, (-1, 0, 1), 0)
    (11, 10, 2)
    """
    return sum(1 for p in range(1, P + 1) for k in offsets if first_row <= p + k <= P)


@dataclass(frozen=True)
class TlstmSpec:
    """The shape of a tLSTM beyond its channel count ``M`` (stored in checkpoints): tensor size
    ``P``, kernel size ``K``, delay ``depth`` (``L``; None: the largest causal one), and the
    variants. Invalid values (of any type) raise :class:`ValueError`."""

    P: int
    K: int = 3
    depth: int | None = None
    memory_conv: bool = True
    feedback: bool = True
    channel_norm: bool = False

    def __post_init__(self) -> None:
        for name in ("P", "K"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"tLSTM {name} must be an integer, got {v!r}")  # noqa: TRY004
        if self.P < 1:
            raise ValueError(f"tensor size P must be >= 1, got {self.P}")
        kernel_offsets(self.K, self.feedback)
        for name in ("memory_conv", "feedback", "channel_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(  # noqa: TRY004 (one error type for every bad value)
                    f"tLSTM {name} must be true or false, got {getattr(self, name)!r}")
        top = max_depth(self.P, self.K, self.feedback)
        if self.depth is None:
            object.__setattr__(self, "depth", top)
        d = self.depth
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= top:
            raise ValueError(
                f"depth L must be an integer in 1..{top} for P={self.P}, K={self.K}"
                f"{'' if self.feedback else ' without feedback'} (a longer delay would let the "
                f"output at t see later inputs), got {d!r}")

    @property
    def offsets(self) -> tuple[int, ...]:
        return kernel_offsets(self.K, self.feedback)

    @property
    def n_q(self) -> int:
        """Channels of the memory-kernel logits ``A^q`` (0 without memory-cell convolution)."""
        return self.K if self.memory_conv else 0

    def to_dict(self) -> dict[str, Any]:
        return {"P": self.P, "K": self.K, "depth": self.depth, "memory_conv": self.memory_conv,
                "feedback": self.feedback, "channel_norm": self.channel_norm}

    @classmethod
    def from_dict(cls, d: Any) -> TlstmSpec:
        """Inverse of :meth:`to_dict`; ValueError on unknown or missing keys."""
        if not isinstance(d, dict):
            raise ValueError(f"tlstm must be an object, got {type(d).__name__}")  # noqa: TRY004
        known = {"P", "K", "depth", "memory_conv", "feedback", "channel_norm"}
        extra = sorted(str(k) for k in set(d) - known)
        if extra:
            raise ValueError(f"tlstm: unknown key(s) {', '.join(extra)}")
        if "P" not in d:
            raise ValueError("tlstm: missing key P")
        return cls(**d)


def tlstm_shapes(kind: str, n_in: int, M: int, n_out: int, vocab: int,
                 spec: TlstmSpec) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of a tLSTM classifier (``kind`` ``classifier``: ``n_in`` features)
    or language model (``lm``: ``vocab`` tokens embedded into row 0, ``n_in == M``), with its
    shape."""
    out = 4 * M + spec.n_q
    shapes: dict[str, tuple[int, ...]] = {}
    if kind == "lm":
        shapes["embedding.weight"] = (vocab, M)
    else:
        shapes["core.w_x"] = (n_in, M)
        shapes["core.b_x"] = (M,)
    shapes["core.w_h"] = (spec.K, M, out)
    shapes["core.b_h"] = (out,)
    if spec.channel_norm:
        for g in range(4):
            shapes[f"core.cn_gates.{g}.gamma"] = (M,)
            shapes[f"core.cn_gates.{g}.beta"] = (M,)
        shapes["core.cn_cell.gamma"] = (M,)
        shapes["core.cn_cell.beta"] = (M,)
    if kind == "lm":
        shapes["decoder.weight"] = (vocab, M)
        shapes["decoder.bias"] = (vocab,)
    else:
        shapes["head.weight"] = (n_out, M)
        shapes["head.bias"] = (n_out,)
    return shapes


def tlstm_macs(kind: str, n_in: int, M: int, n_out: int, spec: TlstmSpec) -> dict[str, int]:
    """Mult-adds per step (see the module docstring): ``tlstm`` (row-0 projection of a
    classifier, convolution, memory-cell convolution), ``head``, ``total``. Channel
    normalization's few operations per channel are not counted.

    >>> tlstm_macs("classifier", 8, 4, 10, TlstmSpec(P=2, K=3))  # 8*4 + 5*4*19 + 4*4, 10*4
    {'tlstm': 428, 'head': 40, 'total': 468}
    """
    off = spec.offsets
    top = n_in * M if kind == "classifier" else 0
    conv = conv_pairs(spec.P, off, 0) * M * (4 * M + spec.n_q)
    cell = conv_pairs(spec.P, off, 1) * M if spec.memory_conv else 0
    head = n_out * M
    return {"tlstm": top + conv + cell, "head": head, "total": top + conv + cell + head}


class _ChannelNorm(nn.Module):
    """Normalise each location over its channels, then scale and shift per channel."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mean = z.mean(dim=-1, keepdim=True)
        var = z.var(dim=-1, keepdim=True, unbiased=False)
        return (z - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta


#: The recurrent state of a tLSTM: ``(H, C)``, each (batch, P, M).
TlstmState = tuple[torch.Tensor, torch.Tensor]


class TLSTM(nn.Module):
    """The tLSTM recurrence on batches: ``forward(x)`` with ``x`` (B, T, R) returns the last row
    of the hidden tensor at every step, (B, T, M) (undelayed; the heads apply the delay).

    Options: ``P`` tensor size, ``M`` channels, ``K`` kernel size, ``memory_conv`` (the
    memory-cell convolution [12]-[13]; without it ``C^conv_{t-1} = C_{t-1}``), ``feedback``
    (centred kernel), ``channel_norm``. ``n_in=None``: no ``W^x``, ``b^x``; the caller gives
    row 0 itself (``x`` is then (B, T, M)).
    """

    def __init__(self, n_in: int | None, P: int, M: int, K: int = 3, *, memory_conv: bool = True,
                 feedback: bool = True, channel_norm: bool = False) -> None:
        super().__init__()
        if (n_in is not None and n_in < 1) or P < 1 or M < 1:
            raise ValueError(f"tLSTM needs n_in, P, M >= 1, got {n_in}, {P}, {M}")
        self.n_in = None if n_in is None else int(n_in)
        self.P, self.M, self.K = int(P), int(M), int(K)
        self.offsets = kernel_offsets(K, feedback)
        self.memory_conv, self.feedback, self.channel_norm = memory_conv, feedback, channel_norm
        self.n_q = K if memory_conv else 0
        out = 4 * M + self.n_q
        bound = 1.0 / math.sqrt(M * K)
        if n_in is not None:
            b = 1.0 / math.sqrt(n_in)
            self.w_x = nn.Parameter(torch.empty(n_in, M).uniform_(-b, b))
            self.b_x = nn.Parameter(torch.zeros(M))
        self.w_h = nn.Parameter(torch.empty(K, M, out).uniform_(-bound, bound))
        self.b_h = nn.Parameter(torch.zeros(out))
        if channel_norm:
            self.cn_gates = nn.ModuleList(_ChannelNorm(M) for _ in range(4))
            self.cn_cell = _ChannelNorm(M)

    def init_state(self, batch: int, device=None, dtype=None) -> TlstmState:
        dev = device if device is not None else self.w_h.device
        dt = dtype if dtype is not None else self.w_h.dtype
        z = torch.zeros(batch, self.P, self.M, device=dev, dtype=dt)
        return z, z.clone()

    def row0(self, x: torch.Tensor) -> torch.Tensor:
        """[5]: ``x W^x + b^x`` (or ``x`` itself when the core has no ``W^x``)."""
        return x if self.n_in is None else x @ self.w_x + self.b_x

    def _conv(self, rows: torch.Tensor) -> torch.Tensor:
        """[10]: ``Σ_k H^cat(p + k) W^h_k + b^h`` for p = 1..P; ``rows`` is H^cat (B, P+1, M)."""
        lo, hi = self.offsets[0], self.offsets[-1]
        # rows p + lo .. p + hi for p = 1..P, i.e. 1 + lo .. P + hi, zero outside 0..P
        z = F.pad(rows, (0, 0, max(0, -1 - lo), hi))
        start = 1 + lo + max(0, -1 - lo)
        win = z.unfold(1, self.K, 1)[:, start:start + self.P]  # (B, P, M, K)
        return torch.einsum("bpmk,kmo->bpo", win, self.w_h) + self.b_h

    def step(self, top: torch.Tensor, state: TlstmState) -> TlstmState:
        """One time step from row 0 ``top`` (B, M) (see :meth:`row0`); returns ``(H_t, C_t)``."""
        h, c = state
        a = self._conv(torch.cat([top.unsqueeze(1), h], dim=1))
        M = self.M
        ag, ai, af, ao = (a[..., k * M:(k + 1) * M] for k in range(4))
        if self.channel_norm:
            ag, ai, af, ao = (n(z) for n, z in zip(self.cn_gates, (ag, ai, af, ao)))
        g, i, f, o = torch.tanh(ag), torch.sigmoid(ai), torch.sigmoid(af), torch.sigmoid(ao)  # [11]
        if self.memory_conv:
            wc = torch.softmax(a[..., 4 * M:], dim=-1)  # [12] (B, P, K)
            cz = F.pad(c, (0, 0, -self.offsets[0], self.offsets[-1]))
            win = cz.unfold(1, self.K, 1)  # (B, P, M, K): rows p + offsets
            c_conv = torch.einsum("bpmk,bpk->bpm", win, wc)
        else:
            c_conv = c
        c = g * i + c_conv * f  # [13]
        h = torch.tanh(self.cn_cell(c) if self.channel_norm else c) * o  # [14]
        return h, c

    def forward(self, x: torch.Tensor, state: TlstmState | None = None
                ) -> tuple[torch.Tensor, TlstmState]:
        """Run over ``x`` (B, T, R); return the last row of H at every step (B, T, M) and the
        final state."""
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        top = self.row0(x)
        out = []
        for t in range(x.shape[1]):
            state = self.step(top[:, t], state)
            out.append(state[0][:, -1])
        return torch.stack(out, dim=1), state

    def as_lstm_weights(self) -> dict[str, torch.Tensor]:
        """For ``P = 1`` without memory-cell convolution and CN: the equal one-layer LSTM's
        ``weight_ih``, ``weight_hh``, ``bias`` (torch layout, gate order i, f, g, o)."""
        if self.P != 1 or self.memory_conv or self.channel_norm or self.n_in is None:
            raise ValueError("only a P = 1 tLSTM with W^x, without memory-cell convolution and "
                             "CN, is an LSTM")
        k_in, k_h = self.offsets.index(-1), self.offsets.index(0)
        wi = self.w_x @ self.w_h[k_in]  # (R, 4M)
        bi = self.b_x @ self.w_h[k_in] + self.b_h
        wh = self.w_h[k_h]
        M = self.M
        order = [1, 2, 0, 3]  # ours g,i,f,o -> torch i,f,g,o

        def reorder(w):
            return torch.cat([w[..., k * M:(k + 1) * M] for k in order], dim=-1)

        return {"weight_ih": reorder(wi).T.contiguous(), "weight_hh": reorder(wh).T.contiguous(),
                "bias": reorder(bi)}


class _Delayed(nn.Module):
    """Shared by both heads: the core and its delay ``L`` (see the module docstring)."""

    def __init__(self, core: TLSTM, depth: int | None) -> None:
        super().__init__()
        self.core = core
        spec = TlstmSpec(P=core.P, K=core.K, depth=depth, memory_conv=core.memory_conv,
                         feedback=core.feedback, channel_norm=core.channel_norm)
        self.depth = int(spec.depth)  # type: ignore[arg-type]

    def run(self, top: torch.Tensor, pad: torch.Tensor, state: TlstmState | None = None
            ) -> tuple[torch.Tensor, TlstmState]:
        """``top`` (B, T, M) row-0 inputs, ``pad`` (B, M) the row 0 after the end; returns the
        last row delayed, (B, T, M) with entry t = H^P_{t+L-1}, and the state after step T-1
        (the ``L - 1`` padding steps run from a copy of it)."""
        core = self.core
        if state is None:
            state = core.init_state(top.shape[0], top.device, top.dtype)
        out = []
        for t in range(top.shape[1]):
            state = core.step(top[:, t], state)
            out.append(state[0][:, -1])
        after = state
        for _ in range(self.depth - 1):
            after = core.step(pad, after)
            out.append(after[0][:, -1])
        return torch.stack(out[self.depth - 1:], dim=1), state


class TLSTMClassifier(_Delayed):
    """``(B, T, n_in)`` → tLSTM → ``head`` on the last row, ``L - 1`` steps after the last
    input (those steps read zero vectors)."""

    def __init__(self, n_in: int, n_out: int, P: int, M: int, K: int = 3, *,
                 depth: int | None = None, **options: Any) -> None:
        super().__init__(TLSTM(n_in, P, M, K, **options), depth)
        self.head = nn.Linear(M, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_out)."""
        pad = self.core.row0(torch.zeros(x.shape[0], x.shape[2], dtype=x.dtype, device=x.device))
        out, _ = self.run(self.core.row0(x), pad)
        return self.head(out[:, -1])


class TLSTMLanguageModel(_Delayed):
    """Ids ``(B, T)`` → embedding (row 0, M channels) → tLSTM → ``decoder`` at every step,
    delayed by ``L - 1`` (the ids after the end are ``pad_id``): logits ``(B, T, vocab)``,
    entry t predicts from the inputs up to t."""

    def __init__(self, vocab: int, P: int, M: int, K: int = 3, *, depth: int | None = None,
                 pad_id: int = 0, dropout: float = 0.0, **options: Any) -> None:
        super().__init__(TLSTM(None, P, M, K, **options), depth)
        self.embedding = nn.Embedding(vocab, M)
        self.decoder = nn.Linear(M, vocab)
        self.pad_id = int(pad_id)
        self.dropout = float(dropout)

    def forward_with_state(self, x: torch.Tensor, state: list[TlstmState] | None = None
                           ) -> tuple[torch.Tensor, list[TlstmState]]:
        """Logits ``(B, T, vocab)`` and the state after the last id, for truncated BPTT: the
        outputs equal those of the uninterrupted stream (module docstring). The state is a list
        of one ``(H, C)`` pair, the shape of an LSTM LM's per-layer state."""
        top = F.dropout(self.embedding(x), self.dropout, self.training)
        pad_ids = torch.full((x.shape[0],), self.pad_id, dtype=torch.long, device=x.device)
        pad = F.dropout(self.embedding(pad_ids), self.dropout, self.training)
        out, new = self.run(top, pad, None if state is None else state[0])
        return self.decoder(F.dropout(out, self.dropout, self.training)), [new]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, vocab)`` for ids ``x`` ``(B, T)`` from a zero state."""
        return self.forward_with_state(x)[0]

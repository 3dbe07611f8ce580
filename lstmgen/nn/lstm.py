"""LSTM stack with per-layer hidden sizes, and the two model heads lstmgen supports.

Parameters use the names of a batch-first ``torch.nn.LSTM`` (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``; gate order i, f, g, o), so an
``nn.LSTM`` state dict loads unchanged when all layers have the same size. Each layer runs
through torch's fused LSTM kernel (``torch._VF.lstm``, the call ``nn.LSTM`` itself makes).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LMState", "LSTMClassifier", "LSTMLanguageModel", "LSTMStack", "StackState"]

#: Per-layer ``(h, c)`` pairs, each of shape ``(1, batch, hidden_l)``.
StackState = list[tuple[torch.Tensor, torch.Tensor]]
#: The recurrent state a language model carries from one batch to the next.
LMState = StackState


class LSTMStack(nn.Module):
    """A batch-first stack of LSTM layers; layer ``l`` has ``hidden[l]`` units.

    ``forward(x, state=None)`` takes ``x`` of shape ``(B, T, n_in)`` and returns the top
    layer's outputs ``(B, T, hidden[-1])`` and the final per-layer state. ``dropout`` is applied
    between layers (not after the top layer), as in ``nn.LSTM``.
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        if n_in < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"LSTMStack needs n_in >= 1 and hidden sizes >= 1, got {n_in}, {hidden}")
        self.n_in = int(n_in)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
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
        out = x
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0.0:
                out = F.dropout(out, self.dropout, self.training)
            out, h_n, c_n = torch._VF.lstm(  # the fused kernel nn.LSTM calls
                out, state[k], list(self.layer_params(k)), True, 1, 0.0, self.training, False, True
            )
            new_state.append((h_n, c_n))
        return out, new_state


class LSTMClassifier(nn.Module):
    """Sequence classifier: ``(B, T, n_in)`` floats → LSTM stack → last step → ``head`` logits.

    ``model(x)`` returns logits of shape ``(B, n_out)``.
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = LSTMStack(n_in, hidden, dropout)
        self.head = nn.Linear(self.lstm.hidden[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits ``(B, n_out)`` for ``x`` of shape ``(B, T, n_in)``."""
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
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, n_in)
        self.lstm = LSTMStack(n_in, hidden, dropout)
        self.decoder = nn.Linear(self.lstm.hidden[-1], vocab)
        self.dropout = float(dropout)
        self.tied = bool(tied)
        if tied:
            if self.lstm.hidden[-1] != n_in:
                raise ValueError("tied weights need hidden[-1] == n_in")
            self.decoder.weight = self.embedding.weight

    def forward_with_state(
        self, x: torch.Tensor, state: LMState | None = None
    ) -> tuple[torch.Tensor, LMState]:
        """Return logits ``(B, T, vocab)`` and the final recurrent state."""
        emb = F.dropout(self.embedding(x), self.dropout, self.training)
        out, new_state = self.lstm(emb, state)
        out = F.dropout(out, self.dropout, self.training)
        return self.decoder(out), new_state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, T, vocab)`` for ids ``x`` ``(B, T)`` from a zero state."""
        return self.forward_with_state(x)[0]

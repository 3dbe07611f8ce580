"""Training loops for the two tasks, with ISS, per-epoch checkpoints and exact resume.

Tasks:

* ``default`` — the bundled digits (8 steps × 8 features, 10 classes), LSTM classifier.
* ``ptb`` — Penn Treebank word LM after Zaremba et al.: batch 20, BPTT 35, hidden state carried
  (detached) across batches and reset every epoch, SGD, gradient-norm clipping, uniform init,
  learning rate ``lr · lr_decay ** max(epoch + 1 - decay_after, 0)`` (epochs counted from 0).

The loss is the cross-entropy summed over the time steps of a window and averaged over the
batch (the TF reference; for the classifier only the last step has a target), plus
``iss_lambda · group_lasso``; when ``iss_lambda > 0`` :func:`~lstmgen.sparsity.zero_out` runs
after every optimizer step. Perplexity is ``exp`` of the mean per-token cross-entropy over a
whole split.

SHS (``shs_threshold`` θ > 0): every layer's output gate is hard-thresholded at θ
(:mod:`lstmgen.nn.lstm`) and ``shs_lambda · Σ_l w_l Σ σ(a_o) / batch`` is added to the loss
(:func:`lstmgen.sparsity.shs.shs_penalty`; ``w_0 = 1``, upper layers ``shs_layer_factor``).
Metrics of SHS and QAT runs carry the share of zeros in ``h`` (mean and per layer) in training
(``train_h_zeros``) and in evaluation (``h_zeros``, ``h_zeros_per_layer``; both evaluation
splits).

``precision="bf16"`` (``--precision bf16``) trains with torch's bfloat16 autocast around the
forward and the loss (:func:`_autocast`; a PTB medium step in 0.63 of the time on a CPU with
AMX, bench/results/train_speed.txt); weights, optimizer state and evaluation stay float32, so
checkpoints are the same kind.

``init_from`` (``--from CKPT``) starts from a checkpoint's weights and shape. ``qat`` trains
with the fake-quantized forward of :mod:`lstmgen.nn.qat` (``qat_weight_bits``,
``qat_act_bits``); the formats fixed from calibration data when the run starts are kept in the
config (``qat_spec``) and in every checkpoint (``meta.qat``), so ``lstmgen quantize`` builds the
IR the run computed.

A run directory ``OUT`` holds ``config.json`` (run and model config), ``metrics.jsonl`` (one
JSON object per epoch), ``last.pt`` and ``best.pt`` (lstmgen checkpoints) and ``state.pt``
(model, optimizer, RNG and history; loadable with ``weights_only=True``) from which
``resume=True`` continues to the same weights, bit for bit on CPU, as an uninterrupted run.
The directory (it may exist if empty) is created when training starts; if the first epoch
fails, everything the run wrote is removed again, with any parent directories it created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from . import __version__
from ._io import atomic_file, check_tree, make_dirs, remove_created_dirs
from .checkpoint import (
    Checkpoint,
    ModelConfig,
    build_module,
    count_params,
    save_checkpoint,
    torch_load,
    torch_save_bytes,
)
from .distributed import SINGLE, Dist, setup, unwrap
from .errors import CheckpointError, UsageError
from .sparsity import add_group_lasso_grad, iss_stats, zero_out
from .sparsity.shs import count_h_zeros

__all__ = [
    "TASKS",
    "TrainConfig",
    "TrainResult",
    "default_config",
    "evaluate_lm",
    "train",
    "train_default",
]

TASKS = ("default", "ptb", "addition", "memorization")
#: The algorithmic tasks of the tLSTM paper (:mod:`lstmgen.data.algorithmic`), generated in code.
ALGO_TASKS = ("addition", "memorization")
#: Fields only a tLSTM run (``model="tlstm"``) or an algorithmic task uses; left out of
#: :meth:`TrainConfig.to_dict` otherwise, so the files of other runs are unchanged.
_TLSTM_FIELDS = ("model", "tensor_size", "kernel", "depth", "memory_conv", "feedback",
                 "channel_norm")
_ALGO_FIELDS = ("digits", "length", "steps_per_epoch")
STATE_FORMAT = "lstmgen-train-state"
#: Training arithmetic: float32, or bfloat16 mixed precision (:func:`_autocast`).
PRECISIONS = ("fp32", "bf16")
#: Largest ``--seed`` (seeds are 0 .. 2**32 - 1, as for numpy's legacy generator).
MAX_SEED = 2**32 - 1
#: The files a run writes into its directory.
RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt", "state.pt")

_INT_FIELDS = ("embed", "epochs", "decay_after", "batch", "bptt", "seed", "qat_weight_bits",
               "qat_act_bits", "tensor_size", "kernel", "digits", "length", "steps_per_epoch")
_FLOAT_FIELDS = ("dropout", "lr", "lr_decay", "clip", "iss_lambda", "zero_threshold",
                 "shs_threshold", "shs_lambda", "shs_layer_factor")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (see :func:`default_config` for defaults).

    ``hidden`` has one size per layer. ``init_scale`` None keeps torch's default init;
    otherwise every parameter starts uniform in ±init_scale. ``clip`` 0 disables clipping.
    ``max_tokens`` truncates each PTB split (smoke runs). ``optimizer`` is ``sgd`` or ``adam``.

    ``model`` is ``lstm`` or ``tlstm`` (a tensorized LSTM, :mod:`lstmgen.nn.tlstm`: ``hidden``
    holds its channel count M, ``tensor_size`` P, ``kernel`` K, ``depth`` L (None: the largest
    causal delay), and the variants ``memory_conv``, ``feedback``, ``channel_norm``). The
    algorithmic tasks (``addition``, ``memorization``) draw ``batch`` fresh sequences per step,
    ``steps_per_epoch`` steps per epoch, with ``digits`` (addition) or ``length``
    (memorization) per operand.
    """

    task: str = "default"
    data: str | None = None
    hidden: tuple[int, ...] = (32, 32)
    embed: int = 200
    dropout: float = 0.0
    tied: bool = False
    epochs: int = 60
    lr: float = 0.01
    lr_decay: float = 1.0
    decay_after: int = 0
    clip: float = 0.0
    batch: int = 32
    bptt: int = 35
    init_scale: float | None = None
    optimizer: str = "adam"
    iss_lambda: float = 0.0
    zero_threshold: float = 1e-4
    seed: int = 0
    max_tokens: int | None = None
    shs_threshold: float = 0.0
    shs_lambda: float = 0.0
    shs_layer_factor: float = 2.0
    init_from: str | None = None
    qat: bool = False
    qat_weight_bits: int = 16
    qat_act_bits: int = 16
    qat_spec: dict[str, Any] | None = None
    model: str = "lstm"
    tensor_size: int = 4
    kernel: int = 3
    depth: int | None = None
    memory_conv: bool = True
    feedback: bool = True
    channel_norm: bool = False
    digits: int = 15
    length: int = 20
    steps_per_epoch: int = 100
    precision: str = "fp32"

    def tlstm_spec(self) -> Any:
        """The :class:`~lstmgen.nn.tlstm.TlstmSpec` of a tLSTM run (None for an LSTM); a bad
        shape raises UsageError naming the flag."""
        if self.model != "tlstm":
            return None
        from .nn.tlstm import TlstmSpec

        try:
            return TlstmSpec(P=self.tensor_size, K=self.kernel, depth=self.depth,
                             memory_conv=self.memory_conv, feedback=self.feedback,
                             channel_norm=self.channel_norm)
        except ValueError as exc:
            text = str(exc).replace("tensor size P", "--tensor-size").replace(
                "kernel size K", "--kernel").replace("depth L", "--depth")
            raise UsageError(text) from None

    def _validate_tlstm(self) -> None:
        """The tLSTM and algorithmic-task options (see :meth:`validate`)."""
        if self.model not in ("lstm", "tlstm"):
            raise UsageError(f"--model must be lstm or tlstm, got {self.model!r}")
        if self.task in ALGO_TASKS:
            if self.data:
                raise UsageError("--data is only used by --task ptb")
            for flag, v in (("--digits", self.digits), ("--length", self.length),
                            ("--steps-per-epoch", self.steps_per_epoch)):
                if v < 1:
                    raise UsageError(f"{flag} must be >= 1, got {v}")
        if self.model != "tlstm":
            return
        if len(self.hidden) != 1:
            raise UsageError(f"--model tlstm has one channel count: give --hidden M (one size, no "
                             f"--layers), got {list(self.hidden)}")
        self.tlstm_spec()
        for flag, on in (("--iss-lambda", self.iss_lambda > 0), ("--tied", self.tied),
                         ("--shs-threshold", self.shs_threshold > 0), ("--from", bool(self.init_from)),
                         ("--qat", self.qat)):
            if on:
                raise UsageError(f"{flag} is not supported with --model tlstm")

    def validate(self) -> None:
        """Raise UsageError for any impossible value or combination."""

        def bad(msg: str) -> UsageError:
            return UsageError(msg)

        if self.task not in TASKS:
            raise bad(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.task == "ptb" and not self.data:
            raise bad("--task ptb needs --data DIR (with ptb.train.txt, ptb.valid.txt, ptb.test.txt)")
        if self.task == "default" and self.data:
            raise bad("--data is only used by --task ptb")
        self._validate_tlstm()
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise bad(f"--hidden sizes must be >= 1, got {list(self.hidden)}")
        if self.embed < 1:
            raise bad(f"--embed must be >= 1, got {self.embed}")
        if not 0.0 <= self.dropout < 1.0:
            raise bad(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.epochs < 1:
            raise bad(f"--epochs must be >= 1, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise bad(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise bad(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if self.decay_after < 0:
            raise bad(f"--decay-after must be >= 0, got {self.decay_after}")
        if not (self.clip >= 0 and math.isfinite(self.clip)):
            raise bad(f"--clip must be >= 0, got {self.clip}")
        if self.batch < 1:
            raise bad(f"--batch must be >= 1, got {self.batch}")
        if self.bptt < 1:
            raise bad(f"--bptt must be >= 1, got {self.bptt}")
        if self.init_scale is not None and not (self.init_scale > 0 and math.isfinite(self.init_scale)):
            raise bad(f"--init-scale must be > 0, got {self.init_scale}")
        if self.optimizer not in ("sgd", "adam"):
            raise bad(f"--optimizer must be sgd or adam, got {self.optimizer!r}")
        if not (self.iss_lambda >= 0 and math.isfinite(self.iss_lambda)):
            raise bad(f"--iss-lambda must be >= 0, got {self.iss_lambda}")
        if not (self.zero_threshold >= 0 and math.isfinite(self.zero_threshold)):
            raise bad(f"--zero-threshold must be >= 0, got {self.zero_threshold}")
        if not 0 <= self.seed <= MAX_SEED:
            raise bad(f"--seed must be between 0 and {MAX_SEED} (2**32 - 1), got {self.seed}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise bad(f"--max-tokens must be >= 1, got {self.max_tokens}")
        self._validate_shs_qat()
        self._validate_precision()
        if self.tied:
            if self.task != "ptb":
                raise bad("--tied is only for --task ptb")
            if self.hidden[-1] != self.embed:
                raise bad(f"--tied needs the last hidden size == --embed ({self.hidden[-1]} != {self.embed})")
            if self.iss_lambda > 0:
                raise bad("ISS (--iss-lambda > 0) is not supported with --tied weights")

    def _validate_shs_qat(self) -> None:
        """The SHS, --from and QAT options (see :meth:`validate`)."""
        if not (0.0 <= self.shs_threshold < 1.0):
            raise UsageError(f"--shs-threshold must be in [0, 1) (0 = off), got {self.shs_threshold}")
        if not (self.shs_lambda >= 0 and math.isfinite(self.shs_lambda)):
            raise UsageError(f"--shs-lambda must be >= 0, got {self.shs_lambda}")
        if self.shs_lambda > 0 and self.shs_threshold == 0 and not self.init_from:
            raise UsageError("--shs-lambda needs an output-gate threshold: give --shs-threshold > 0")
        if not (self.shs_layer_factor >= 0 and math.isfinite(self.shs_layer_factor)):
            raise UsageError(f"--shs-layer-factor must be >= 0, got {self.shs_layer_factor}")
        for flag, bits in (("--weights", self.qat_weight_bits), ("--acts", self.qat_act_bits)):
            if bits not in (8, 16):
                raise UsageError(f"{flag} must be 8 or 16, got {bits}")
        if not self.qat and (self.qat_weight_bits != 16 or self.qat_act_bits != 16):
            raise UsageError("--weights and --acts choose the QAT arithmetic: give --qat too")
        if self.qat and not self.init_from:
            raise UsageError("--qat fine-tunes a trained model: give --from CKPT")
        if self.qat and self.tied:
            raise UsageError("--qat is not supported with --tied weights")
        if self.qat_spec is not None and not self.qat:
            raise UsageError("qat_spec is only used by --qat runs")

    def _validate_precision(self) -> None:
        """``precision``: fp32, or bf16 for the runs whose forward autocast covers (see
        :func:`_autocast`)."""
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        if self.precision == "fp32":
            return
        for flag, on in (("--shs-threshold", self.shs_threshold > 0), ("--qat", self.qat),
                         ("--model tlstm", self.model == "tlstm")):
            if on:
                raise UsageError(f"--precision {self.precision} is not supported with {flag} "
                                 f"(it trains in float32 only)")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (``precision`` only when it is not fp32, so the files of
        float32 runs are those of earlier versions)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        if self.precision == "fp32":
            del d["precision"]
        if self.model == "lstm":
            for k in _TLSTM_FIELDS:
                del d[k]
        if self.task not in ALGO_TASKS:
            for k in _ALGO_FIELDS:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "train config") -> TrainConfig:
        """Inverse of :meth:`to_dict`; checks every key and type (CheckpointError naming
        ``source`` and the field), not the values (see :meth:`validate`)."""

        def bad(msg: str) -> CheckpointError:
            return CheckpointError(f"{source}: {msg}")

        if not isinstance(d, dict):
            raise bad(f"must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in d if k not in names)
        if unknown:
            raise bad(f"unknown key(s) {', '.join(unknown)}")
        for key in ("task", "hidden"):
            if key not in d:
                raise bad(f"missing key {key}")
        d = dict(d)
        for key, v in d.items():
            if key in _INT_FIELDS or (key in ("max_tokens", "depth") and v is not None):
                ok = isinstance(v, int) and not isinstance(v, bool)
                want = "an integer"
            elif key in _FLOAT_FIELDS or (key == "init_scale" and v is not None):
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
                want = "a number"
            elif key in ("task", "optimizer", "model", "precision") or (key in ("data", "init_from")
                                                           and v is not None):
                ok, want = isinstance(v, str), "a string"
            elif key in ("tied", "qat", "memory_conv", "feedback", "channel_norm"):
                ok, want = isinstance(v, bool), "true or false"
            elif key == "qat_spec" and v is not None:
                ok, want = isinstance(v, dict), "an object"
            elif key == "hidden":
                ok = isinstance(v, (list, tuple)) and all(
                    isinstance(h, int) and not isinstance(h, bool) for h in v)
                want = "a list of integers"
            else:
                ok, want = True, ""
            if not ok:
                raise bad(f"{key} must be {want}, got {v!r}")
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)


_DEFAULTS: dict[str, dict[str, Any]] = {
    "default": {
        "hidden": (32, 32), "epochs": 60, "lr": 0.01, "lr_decay": 0.95, "decay_after": 20,
        "clip": 5.0, "batch": 32, "optimizer": "adam", "zero_threshold": 1e-4,
    },
    "ptb": {
        "hidden": (200, 200), "embed": 200, "epochs": 13, "lr": 1.0, "lr_decay": 0.5,
        "decay_after": 4, "clip": 5.0, "batch": 20, "bptt": 35, "init_scale": 0.1,
        "optimizer": "sgd", "zero_threshold": 1e-4,
    },
    # the tLSTM paper's algorithmic tasks: fresh sequences every step, Adam
    "addition": {
        "hidden": (64,), "embed": 16, "epochs": 30, "lr": 0.002, "clip": 1.0, "batch": 32,
        "optimizer": "adam", "steps_per_epoch": 100,
    },
    "memorization": {
        "hidden": (64,), "embed": 16, "epochs": 30, "lr": 0.002, "clip": 1.0, "batch": 32,
        "optimizer": "adam", "steps_per_epoch": 100,
    },
}


def default_config(task: str = "default", **overrides: Any) -> TrainConfig:
    """Return the task's default TrainConfig with ``overrides`` (None values are ignored)."""
    if task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    values = dict(_DEFAULTS[task])
    if overrides.get("model") == "tlstm" and overrides.get("hidden") is None:
        values["hidden"] = tuple(values["hidden"])[:1]  # a tLSTM: one channel count
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["task"] = task
    if "hidden" in values:
        values["hidden"] = tuple(int(h) for h in values["hidden"])
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg


@dataclass
class TrainResult:
    """The last and the best (by validation) checkpoints and the per-epoch metrics."""

    checkpoint: Checkpoint
    best: Checkpoint
    history: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# task data and evaluation


class _DigitsTask:
    """Digits data, model config and per-epoch routines."""

    higher_is_better = True

    def __init__(self, cfg: TrainConfig) -> None:
        from .data import load_digits_split

        s = load_digits_split(seed=0)
        self.x = {k: torch.from_numpy(getattr(s, f"x_{k}")) for k in ("train", "val", "test")}
        self.y = {k: torch.from_numpy(getattr(s, f"y_{k}")) for k in ("train", "val", "test")}
        self.model_config = ModelConfig(
            kind="classifier", n_in=8, hidden=cfg.hidden, n_out=10, dropout=cfg.dropout,
            shs_threshold=cfg.shs_threshold or None, tlstm=cfg.tlstm_spec(),
        )

    def n_batches(self, cfg: TrainConfig) -> int:
        return math.ceil(len(self.y["train"]) / cfg.batch)

    def trainable(self, model: nn.Module) -> nn.Module:
        """The module the training loop calls (wrapped for DDP by the caller)."""
        return model

    def train_epoch(self, model, opt, cfg, epoch, device, bar, dist: Dist = SINGLE) -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        perm = torch.randperm(len(self.y["train"]), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(perm), cfg.batch):
            batch = perm[i : i + cfg.batch]
            idx = batch[dist.shard(len(batch))]  # all of it in a single-process run
            x, y = self.x["train"][idx].to(device), self.y["train"][idx].to(device)
            if len(idx):
                with _autocast(cfg, device):
                    ce_sum = F.cross_entropy(model(x), y, reduction="sum")
                loss = ce_sum + _shs_loss(model, cfg)
            else:  # a shard of a short last batch: take part in the gradient exchange with 0
                ce_sum = loss = sum(p.sum() for p in model.parameters()) * 0.0
            _step(model, opt, loss * (dist.world / len(batch)), cfg)
            total += ce_sum.item()
            n += len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(n, 1):.4f}")
        total, n = dist.sum(total, n)
        return {"train_loss": total / n}

    @torch.no_grad()
    def evaluate(self, model, cfg, device) -> dict[str, float]:
        model.eval()
        out: dict[str, float] = {}
        for split in ("val", "test"):
            logits = model(self.x[split].to(device))
            y = self.y[split].to(device)
            out[f"{split}_loss"] = float(F.cross_entropy(logits, y))
            out[f"{split}_acc"] = float((logits.argmax(-1) == y).float().mean())
        model.train()
        return out

    @staticmethod
    def score(metrics: dict[str, float]) -> float:
        return metrics["val_acc"]


class _PtbTask:
    """PTB data, model config and per-epoch routines."""

    higher_is_better = False

    def __init__(self, cfg: TrainConfig) -> None:
        from .data import batchify, load_ptb

        corpus = load_ptb(cfg.data, max_tokens=cfg.max_tokens)
        self.vocab = len(corpus.vocab)
        self.data = {s: batchify(corpus.split(s), cfg.batch) for s in ("train", "valid", "test")}
        spec = cfg.tlstm_spec()  # a tLSTM LM embeds into its row 0: n_in is its channel count
        self.model_config = ModelConfig(
            kind="lm", n_in=cfg.hidden[0] if spec else cfg.embed, hidden=cfg.hidden,
            n_out=self.vocab, vocab=self.vocab, dropout=cfg.dropout, tied=cfg.tied,
            shs_threshold=cfg.shs_threshold or None, tlstm=spec,
        )

    def n_batches(self, cfg: TrainConfig) -> int:
        return math.ceil((self.data["train"].shape[1] - 1) / cfg.bptt)

    def trainable(self, model: nn.Module) -> nn.Module:
        """The module the training loop calls: ``forward(x, state)`` of the LM (so that a DDP
        wrapper sees the call)."""
        return _WithState(model)

    def train_epoch(self, model, opt, cfg, epoch, device, bar, dist: Dist = SINGLE) -> dict[str, float]:
        full = self.data["train"]
        if full.shape[0] < dist.world:
            raise UsageError(f"--batch {full.shape[0]} is smaller than the {dist.world} processes")
        data = full[dist.shard(full.shape[0])].to(device)  # this rank's streams
        state = None
        total, tokens = 0.0, 0
        for i in range(0, data.shape[1] - 1, cfg.bptt):
            seq = min(cfg.bptt, data.shape[1] - 1 - i)
            x, y = data[:, i : i + seq], data[:, i + 1 : i + 1 + seq]
            if state is not None:
                state = [(h.detach(), c.detach()) for h, c in state]
            with _autocast(cfg, device):
                logits, state = model(x, state)
                ce_sum = F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1),
                                         reduction="sum")
            # the global batch's mean per-token loss times seq (the TF reference's scaling)
            _step(model, opt, (ce_sum + _shs_loss(model, cfg)) * (dist.world / full.shape[0]), cfg)
            total += ce_sum.item()
            tokens += y.numel()
            bar.update(1)
            bar.set_postfix(ppl=f"{_ppl(total / tokens):.1f}")
        total, tokens = dist.sum(total, tokens)
        return {"train_ppl": _ppl(total / tokens)}

    @torch.no_grad()
    def evaluate(self, model, cfg, device) -> dict[str, float]:
        out: dict[str, float] = {}
        for split in ("valid", "test"):
            out[f"{split}_ppl"] = _ppl(evaluate_lm(model, self.data[split], cfg.bptt, device))
        return out

    @staticmethod
    def score(metrics: dict[str, float]) -> float:
        return metrics["valid_ppl"]


class _AlgoTask:
    """The tLSTM paper's addition and memorization tasks (:mod:`lstmgen.data.algorithmic`): a
    language-model-shaped network (token in, logits out at every step) trained on ``batch`` fresh
    sequences per step, the loss only at the answer positions (summed over them, averaged over
    the batch), evaluated on 1000 fixed validation and 1000 test sequences (their seeds do not
    depend on ``seed``, so runs compare on the same data). Metrics: ``*_acc`` the share of
    sequences with every answer position right (the paper's accuracy), ``*_token_acc`` per
    answer position, ``*_loss`` the mean cross-entropy per answer position."""

    higher_is_better = True
    N_EVAL = 1000
    _EVAL_SEEDS: ClassVar[dict[str, int]] = {"val": 1_000_003, "test": 2_000_003}

    def __init__(self, cfg: TrainConfig) -> None:
        from .data.algorithmic import generate, vocab_size

        self.task = cfg.task
        self.size = cfg.digits if cfg.task == "addition" else cfg.length
        self.vocab = vocab_size(cfg.task)
        spec = cfg.tlstm_spec()
        self.model_config = ModelConfig(
            kind="lm", n_in=cfg.hidden[0] if spec else cfg.embed, hidden=cfg.hidden,
            n_out=self.vocab, vocab=self.vocab, dropout=cfg.dropout,
            shs_threshold=cfg.shs_threshold or None, tlstm=spec,
        )
        self.eval_sets = {k: generate(cfg.task, self.N_EVAL, self.size, seed)
                          for k, seed in self._EVAL_SEEDS.items()}

    def n_batches(self, cfg: TrainConfig) -> int:
        return cfg.steps_per_epoch

    def trainable(self, model: nn.Module) -> nn.Module:
        return model

    @staticmethod
    def _loss(logits: torch.Tensor, batch: Any, device) -> torch.Tensor:
        """Cross-entropy summed over the answer positions of every sequence."""
        mask = torch.from_numpy(batch.mask).to(device)
        tgt = torch.from_numpy(batch.targets).to(device)
        return F.cross_entropy(logits[mask], tgt[mask], reduction="sum")

    def train_epoch(self, model, opt, cfg, epoch, device, bar, dist: Dist = SINGLE) -> dict[str, float]:
        from .data.algorithmic import generate

        total, n = 0.0, 0
        for b in range(cfg.steps_per_epoch):
            full = generate(self.task, cfg.batch, self.size, [cfg.seed, epoch, b])
            sl = dist.shard(cfg.batch)  # all of it in a single-process run
            batch = type(full)(full.inputs[sl], full.targets[sl], full.mask[sl])
            if len(batch.inputs):
                with _autocast(cfg, device):
                    ce_sum = self._loss(model(torch.from_numpy(batch.inputs).to(device)), batch,
                                        device)
                loss = ce_sum + _shs_loss(model, cfg)
            else:
                ce_sum = loss = sum(p.sum() for p in model.parameters()) * 0.0
            _step(model, opt, loss * (dist.world / cfg.batch), cfg)
            total += ce_sum.item()
            n += int(batch.mask.sum())
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(n, 1):.4f}")
        total, n = dist.sum(total, n)
        return {"train_loss": total / max(n, 1)}

    @torch.no_grad()
    def evaluate(self, model, cfg, device) -> dict[str, float]:
        from .data.algorithmic import score

        was = model.training
        model.eval()
        out: dict[str, float] = {}
        for split, batch in self.eval_sets.items():
            logits = model(torch.from_numpy(batch.inputs).to(device))
            s = score(logits.argmax(-1).cpu().numpy(), batch)
            out[f"{split}_loss"] = float(self._loss(logits, batch, device)) / int(batch.mask.sum())
            out[f"{split}_acc"] = s["seq_acc"]
            out[f"{split}_token_acc"] = s["token_acc"]
        model.train(was)
        return out

    @staticmethod
    def score(metrics: dict[str, float]) -> float:
        # sequence accuracy first; the answer-position accuracy breaks ties (e.g. both 0)
        return metrics["val_acc"] + 1e-3 * metrics["val_token_acc"]


def _ppl(mean_ce: float) -> float:
    """Return ``exp(mean_ce)``, or inf where that overflows."""
    return math.exp(mean_ce) if mean_ce < 700 else math.inf


@torch.no_grad()
def evaluate_lm(model: nn.Module, data: torch.Tensor, bptt: int, device: str | torch.device = "cpu") -> float:
    """Return the mean per-token cross-entropy of ``model`` over batchified ``data`` (B, N).

    The state is carried across windows, as in training; the model is put back in its mode.
    """
    was_training = model.training
    model.eval()
    data = data.to(device)
    state = None
    total, tokens = 0.0, 0
    for i in range(0, data.shape[1] - 1, bptt):
        seq = min(bptt, data.shape[1] - 1 - i)
        x, y = data[:, i : i + seq], data[:, i + 1 : i + 1 + seq]
        logits, state = model.forward_with_state(x, state)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
        tokens += y.numel()
    model.train(was_training)
    return total / tokens


class _WithState(nn.Module):
    """``forward(x, state)`` of a language model: the call a DDP wrapper must see."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, state=None):
        return self.inner.forward_with_state(x, state)


def _autocast(cfg: TrainConfig, device: str | torch.device) -> contextlib.AbstractContextManager:
    """The context of a training step's forward and loss: none for fp32; for bf16 torch's
    autocast, so matrix products (the LSTM and the softmax layer) run in bfloat16 with float32
    accumulation while the weights, the optimizer, the ISS penalty and zero-out, the loss
    reduction and every evaluation stay float32."""
    if cfg.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def _shs_loss(net: nn.Module, cfg: TrainConfig) -> torch.Tensor | float:
    """``shs_lambda`` times the SHS penalty of the forward just run (0 when off)."""
    if cfg.shs_lambda <= 0:
        return 0.0
    from .sparsity.shs import shs_penalty

    return cfg.shs_lambda * shs_penalty(net, cfg.shs_layer_factor)


def _step(net: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor, cfg: TrainConfig) -> None:
    """One optimizer step on ``loss`` plus the ISS penalty (its gradient added after backward by
    :func:`~lstmgen.sparsity.add_group_lasso_grad`), clipping, then ISS zero-out; ``net`` may
    be the model wrapped for DDP (gradients are then averaged over the ranks in backward)."""
    model = unwrap(net)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.iss_lambda > 0:  # the penalty's gradient, the same on every rank (weights are)
        add_group_lasso_grad(model, cfg.iss_lambda)
    if cfg.clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
    opt.step()
    if cfg.iss_lambda > 0:
        zero_out(model, cfg.zero_threshold)


# ---------------------------------------------------------------------------------------------
# the run


def _make_task(cfg: TrainConfig) -> _DigitsTask | _PtbTask | _AlgoTask:
    if cfg.task in ALGO_TASKS:
        return _AlgoTask(cfg)
    return _DigitsTask(cfg) if cfg.task == "default" else _PtbTask(cfg)


def _iss_stats(model: nn.Module) -> dict[str, Any]:
    """:func:`~lstmgen.sparsity.iss_stats` of an LSTM model; a tLSTM has no ISS groups (an
    empty summary, and no per-layer entries)."""
    if hasattr(model, "lstm"):
        return iss_stats(model)
    return {"layers": [], "total_units": 0, "outgoing_zero_units": 0, "zero_components": 0}


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    return torch.optim.Adam(params, lr=cfg.lr)


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    return cfg.lr * cfg.lr_decay ** max(epoch + 1 - cfg.decay_after, 0)


def _resolve_device(device: str) -> torch.device:
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return torch.device(device)


def _checkpoint(model: nn.Module, task, cfg: TrainConfig, epoch: int, metrics: dict) -> Checkpoint:
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = {
        "task": cfg.task,
        "epoch": epoch,
        "metrics": metrics,
        "iss": _iss_stats(model),
        "provenance": {
            "lstmgen": __version__,
            "torch": torch.__version__,
            "train_config": cfg.to_dict(),
        },
    }
    if cfg.qat_spec is not None:
        meta["qat"] = cfg.qat_spec  # the formats `lstmgen quantize` must use
    return Checkpoint(config=task.model_config, state_dict=sd, meta=meta)


def _from_checkpoint(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the shape of the ``init_from`` checkpoint (hidden sizes, embedding, tied,
    SHS threshold unless given) and, for QAT, the formats fixed from the task's calibration
    data (UsageError when the checkpoint does not fit the task)."""
    from .checkpoint import load_checkpoint

    assert cfg.init_from is not None
    ckpt = load_checkpoint(cfg.init_from)
    c = ckpt.config
    if getattr(c, "tlstm", None) is not None:
        raise UsageError(f"--from {cfg.init_from}: a tensorized LSTM (tLSTM) checkpoint; --from "
                         "(fine-tuning, SHS stages, QAT) takes LSTM checkpoints (continue a tLSTM "
                         "run with --resume)")
    want_kind = "classifier" if cfg.task == "default" else "lm"
    if c.kind != want_kind:
        raise UsageError(f"--from {cfg.init_from}: a {c.kind} checkpoint cannot train --task "
                         f"{cfg.task} (a {want_kind})")
    changes: dict[str, Any] = {"hidden": tuple(c.hidden), "tied": c.tied}
    if c.kind == "lm":
        changes["embed"] = c.n_in
    if cfg.shs_threshold == 0 and c.shs_threshold:
        changes["shs_threshold"] = float(c.shs_threshold)
    new = dataclasses.replace(cfg, **changes)
    if new.shs_lambda > 0 and new.shs_threshold == 0:
        raise UsageError(f"--shs-lambda needs an output-gate threshold: {cfg.init_from} has none; "
                         "give --shs-threshold > 0")
    task_cfg = _make_task(new).model_config
    if (task_cfg.n_in, task_cfg.n_out, task_cfg.vocab) != (c.n_in, c.n_out, c.vocab):
        raise UsageError(
            f"--from {cfg.init_from}: the checkpoint has {c.n_in} inputs and {c.n_out} outputs, "
            f"the task {task_cfg.n_in} and {task_cfg.n_out}")
    if cfg.qat:
        from .commands.quantize import load_task_data
        from .nn.qat import QatSpec
        from .quant import QuantOptions, checkpoint_net, quantize_net

        opts = QuantOptions(weight_bits=cfg.qat_weight_bits, act_bits=cfg.qat_act_bits)
        data = load_task_data(c.kind, cfg.task, cfg.data, None,
                              size=cfg.digits if cfg.task == "addition" else cfg.length)
        shaped = Checkpoint(config=task_cfg, state_dict=ckpt.state_dict, meta=ckpt.meta)
        model = quantize_net(checkpoint_net(shaped), data.calib, opts, name="qat")
        new = dataclasses.replace(new, qat_spec=QatSpec.from_model(model, opts).to_json())
    new.validate()
    return new


def _load_state(out: Path) -> tuple[dict[str, Any], TrainConfig]:
    """Read and check ``out/state.pt``: every field a resume uses, with the stored config."""
    path = out / "state.pt"
    if not path.is_file():
        raise UsageError(f"--resume: {path} not found (not an lstmgen training directory?)")
    state = torch_load(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not an lstmgen training state")

    def bad(msg: str) -> CheckpointError:
        return CheckpointError(f"{path}: {msg}")

    if state.get("version") != 1:
        raise bad(f"unsupported training-state version {state.get('version')!r} (expected 1)")
    for key in ("epoch", "model", "optimizer", "rng", "history", "best_score", "train_config"):
        if key not in state:
            raise bad(f"missing key {key!r}")
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise bad(f"epoch must be a whole number >= 0, got {epoch!r}")
    try:
        raw_cfg = json.loads(state["train_config"])
    except (TypeError, ValueError):
        raise bad("train_config is not a JSON string") from None
    cfg = TrainConfig.from_dict(raw_cfg, f"{path}: train_config")
    try:
        cfg.validate()
    except UsageError as exc:
        raise bad(f"train_config: {exc}") from None
    try:
        history = json.loads(state["history"])
    except (TypeError, ValueError):
        raise bad("history is not a JSON string") from None
    if not isinstance(history, list) or not all(isinstance(m, dict) for m in history):
        raise bad("history must be a JSON list of objects")
    if len(history) != epoch:
        raise bad(f"history holds {len(history)} epoch(s) but epoch is {epoch}")
    best = state["best_score"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))
                             or not math.isfinite(best)):
        raise bad(f"best_score must be a finite number or None, got {best!r}")
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise bad("model must be a dict of tensors")
    for k, v in model.items():
        if v.layout != torch.strided or v.device.type == "meta" or not v.is_floating_point():
            raise bad(f"model {k} is not a dense float tensor")
        if not bool(torch.isfinite(v).all()):
            raise bad(f"model {k} contains NaN or Inf values")
    if not isinstance(state["optimizer"], dict):
        raise bad("optimizer must be a dict")
    rng = state["rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.dim() != 1:
        raise bad("rng must be a 1-D uint8 tensor (torch.get_rng_state())")
    return state, cfg


def _restore(model: nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any], path: Path,
             dev: torch.device) -> None:
    """Load a checked state into ``model`` and ``opt`` and restore the RNG (CheckpointError on
    any mismatch with the run's config)."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else first[0]
        raise CheckpointError(
            f"{path}: the model weights do not match the run's config ({detail})"
        ) from None
    try:
        opt.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
        text = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{path}: the optimizer state does not match the run's config "
            f"({text[0] if text else type(exc).__name__})"
        ) from None
    try:
        torch.set_rng_state(state["rng"])
        if dev.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot restore the random state ({exc})") from None


def _memory_needed(config: ModelConfig, cfg: TrainConfig, steps: int) -> tuple[int, int]:
    """Rough bytes of memory a run needs and its parameter count: float32 weights, gradients
    and optimizer state (Adam: two more copies), plus the activations of one batch."""
    params = count_params(config)
    copies = 4 if cfg.optimizer == "adam" else 2
    width = sum(config.hidden) * 4 * 3 + config.n_out * 3
    activations = cfg.batch * steps * width
    return (params * copies + activations) * 4, params


def _memory_available(dev: torch.device) -> int | None:
    """Total memory of the device (bytes), or None when unknown."""
    try:
        if dev.type == "cuda":
            return int(torch.cuda.get_device_properties(dev).total_memory)
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _check_memory(task: Any, cfg: TrainConfig, dev: torch.device) -> None:
    steps = 8 if cfg.task == "default" else cfg.bptt
    need, params = _memory_needed(task.model_config, cfg, steps)
    have = _memory_available(dev)
    if have is not None and need > have:
        raise UsageError(
            f"--hidden {','.join(map(str, cfg.hidden))}: the model has {params:,} parameters; "
            f"training needs about {_gib(need)} (weights, gradients, {cfg.optimizer} state, "
            f"activations) but this machine has {_gib(have)} of memory"
            + (" on the GPU" if dev.type == "cuda" else "")
        )


def _nonfinite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_nonfinite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_nonfinite(v) for v in obj)
    return False


def _divergence(model: nn.Module, metrics: dict[str, Any], stats: dict[str, Any]) -> str | None:
    """What became NaN/Inf in this epoch, or None when everything is finite."""
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        return f"the {'/'.join(bad)} became NaN/Inf"
    if any(not bool(torch.isfinite(p).all()) for p in model.parameters()):
        return "the weights became NaN/Inf"
    if _nonfinite(stats):
        loss = next((v for k, v in metrics.items() if k.endswith(("loss", "ppl"))), None)
        at = f"the loss reached {loss:.3g} and " if isinstance(loss, float) else ""
        return f"{at}the weights overflow float32 (their group norms are Inf)"
    return None


def _warn_dead_output_gates(cfg: TrainConfig, metrics: dict[str, Any], epoch: int) -> bool:
    """Print one warning line (stderr) when SHS has zeroed every entry of a layer's h on the
    evaluation data: the output gates sit below the threshold, no gradient reaches them through
    h any more and the L1 penalty keeps pushing them down, so the layer cannot recover. Returns
    whether it warned."""
    zeros = metrics.get("h_zeros_per_layer")
    if cfg.shs_threshold <= 0 or not isinstance(zeros, list):
        return False
    dead = [li for li, z in enumerate(zeros) if z >= 1.0]
    if not dead:
        return False
    from tqdm.auto import tqdm

    tqdm.write(f"lstmgen: warning: epoch {epoch}: every entry of h is zero in layer(s) "
          f"{', '.join(map(str, dead))}: the output gates fell below --shs-threshold "
          f"{cfg.shs_threshold:g} and cannot recover; lower --shs-lambda (now "
          f"{cfg.shs_lambda:g}) or --shs-threshold, or start SHS from a trained model "
          "(--from CKPT)", file=sys.stderr)
    return True


def train(
    cfg: TrainConfig | None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    epochs: int | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train ``cfg`` and return the last/best checkpoints and the metrics history.

    ``cfg`` may be None only with ``resume=True``. With ``out`` every epoch writes the run directory described in the module docstring.
    ``resume=True`` reads ``out/state.pt`` and continues that run, whose stored config wins
    over ``cfg`` except for ``epochs`` (given here to extend a run). ``threads`` sets torch's
    CPU thread count for the run (restored afterwards); None means 1 for the small default
    task (faster than several threads for 32-unit matrices) and torch's setting for PTB.
    Raises UsageError, DataError or CheckpointError for bad input; nothing is left on disk if
    epoch 0 fails.
    """
    dev = _resolve_device(device)
    dist = setup(dev)  # a torchrun job: every rank runs this function
    out_path = Path(out) if out is not None else None
    if resume and out_path is None:
        raise UsageError("--resume needs --out DIR of an earlier run")
    # two processes continuing one run would write its files over each other
    with _run_lock(out_path if resume and dist.main else None):
        return _train(cfg, out_path, resume=resume, dev=dev, dist=dist, progress=progress,
                      epochs=epochs, threads=threads)


@contextlib.contextmanager
def _run_lock(path: Path | None):
    """Hold an exclusive lock on the run directory ``path`` (flock on the directory itself, so
    nothing is added to it) while a run continues there; another holder is a one-line error."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unguarded
        fcntl = None
    if path is None or not path.is_dir() or fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"--out {path}: another process is training this run; wait for it "
                             "to finish (or stop it) before continuing the run") from None
        yield
    finally:
        os.close(fd)


def _train(cfg: TrainConfig | None, out_path: Path | None, *, resume: bool, dev: torch.device,
           dist: Dist, progress: bool, epochs: int | None, threads: int | None) -> TrainResult:
    """:func:`train` once the device and the run directory's lock are held."""
    state: dict[str, Any] | None = None
    if resume:
        assert out_path is not None
        state, cfg = _load_state(out_path)
        done = state["epoch"]
        if epochs is not None and epochs < done:
            raise UsageError(
                f"--epochs {epochs} is below the {done} epoch(s) {out_path} has already trained; "
                f"give --epochs above {done} to extend the run"
            )
    if cfg is None:
        raise UsageError("train() needs a TrainConfig unless resume=True")
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    cfg.validate()
    if cfg.init_from is not None and not resume:
        cfg = _from_checkpoint(cfg)
    if out_path is not None and not resume:
        if out_path.is_dir():
            try:
                empty = not any(out_path.iterdir())
            except OSError as exc:
                raise UsageError(f"--out {out_path}: cannot read: {exc.strerror}") from None
            if not empty:
                raise UsageError(
                    f"--out {out_path} already exists and is not empty (use --resume to continue "
                    "a run)"
                )
        elif os.path.lexists(out_path):
            raise UsageError(f"--out {out_path} already exists and is not a directory")
        check_tree(out_path, [])
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be >= 1, got {threads}")
    if threads is None and cfg.task == "default":
        threads = 1
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    dist.barrier()  # every rank has checked --out before rank 0 writes to it
    try:
        return _run(cfg, state=state, out_path=out_path, resume=resume, dev=dev,
                    progress=progress and dist.main, dist=dist)
    finally:
        torch.set_num_threads(saved_threads)


def _run(
    cfg: TrainConfig,
    *,
    state: dict[str, Any] | None,
    out_path: Path | None,
    resume: bool,
    dev: torch.device,
    progress: bool,
    dist: Dist = SINGLE,
) -> TrainResult:
    """The body of :func:`train` once options are checked; only ``dist.main`` writes."""
    from tqdm.auto import tqdm


    task = _make_task(cfg)
    _check_memory(task, cfg, dev)
    torch.manual_seed(cfg.seed)
    model = build_module(task.model_config)
    if cfg.init_scale is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-cfg.init_scale, cfg.init_scale)
    if state is None and cfg.init_from is not None:
        from .checkpoint import load_checkpoint

        model.load_state_dict(load_checkpoint(cfg.init_from).state_dict)
    model.to(dev).train()
    if cfg.qat:
        from .nn.qat import QatSpec, enable_qat

        enable_qat(model, QatSpec.from_json(cfg.qat_spec, "qat_spec"))
    opt = _make_optimizer(model, cfg)
    net = dist.wrap(task.trainable(model), dev)  # what the training loop calls
    history: list[dict[str, Any]] = []
    start = 0
    best_score: float | None = None
    best_ckpt: Checkpoint | None = None
    if state is not None:
        assert out_path is not None
        _restore(model, opt, state, out_path / "state.pt", dev)
        history = json.loads(state["history"])
        start = int(state["epoch"])
        best_score = state["best_score"]
        if (out_path / "best.pt").is_file():
            from .checkpoint import load_checkpoint

            best_ckpt = load_checkpoint(out_path / "best.pt")

    writer = out_path if dist.main else None  # the run directory, on the process that writes
    created: list[Path] = []  # directories this run created
    fresh = out_path is not None and not resume  # remove what it wrote if epoch 1 fails
    warned_dead = False  # one warning per run when SHS zeroes a whole layer of h
    if writer is not None and not resume:
        created = make_dirs(writer)
    try:
        if writer is not None:
            with atomic_file(writer / "config.json") as tmp:
                tmp.write_text(
                    json.dumps({"train": cfg.to_dict(), "model": task.model_config.to_dict()}, indent=2)
                    + "\n"
                )
        ckpt = None
        for epoch in range(start, cfg.epochs):
            lr = _lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            with tqdm(
                total=task.n_batches(cfg), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                disable=not progress, leave=False, dynamic_ncols=True,
            ) as bar:
                metrics: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
                with count_h_zeros(model) as train_zeros:
                    metrics.update(task.train_epoch(net, opt, cfg, epoch, dev, bar, dist))
            with count_h_zeros(model) as eval_zeros:
                metrics.update(task.evaluate(model, cfg, dev))
            if cfg.shs_threshold > 0 or cfg.qat:  # zeros in h only where SHS or QAT makes them
                metrics.update(train_zeros.metrics("train_"))
                metrics.update(eval_zeros.metrics())
            stats = _iss_stats(model)
            if stats["layers"]:  # an LSTM (a tLSTM has no ISS groups)
                metrics["removable_units"] = stats["outgoing_zero_units"]
                # per layer: units left after compaction and ISS group-norm quantiles (run reports)
                metrics["units_left"] = [la["hidden"] - la["outgoing_zero_units"]
                                         for la in stats["layers"]]
                metrics["group_norms"] = [la["norm_quantiles"] for la in stats["layers"]]
            metrics["seconds"] = round(time.perf_counter() - t0, 3)
            what = _divergence(model, metrics, stats)
            if what is not None:
                kept = (f"; {out_path} keeps epoch {epoch}" if out_path is not None and not fresh
                        else "")
                raise UsageError(
                    f"training diverged in epoch {epoch + 1}: {what}; lower --lr "
                    f"(now {cfg.lr:g}){kept}"
                )
            history.append(metrics)
            if progress:
                tqdm.write(json.dumps(metrics))
            if not warned_dead and dist.main:
                warned_dead = _warn_dead_output_gates(cfg, metrics, epoch + 1)
            ckpt = _checkpoint(model, task, cfg, epoch + 1, metrics)
            score = task.score(metrics)
            improved = best_score is None or (
                score > best_score if task.higher_is_better else score < best_score
            )
            if improved:
                best_score, best_ckpt = score, ckpt
            if writer is not None:
                _write_epoch(writer, model, opt, cfg, dev, epoch + 1, history, best_score, ckpt,
                             improved)
            fresh = False  # one complete epoch on disk: keep the directory from now on
            created = []
    except BaseException:
        if fresh and writer is not None:
            for name in RUN_FILES:
                with contextlib.suppress(OSError):
                    (writer / name).unlink()
            remove_created_dirs(created)
        raise
    if ckpt is None:  # resumed a run that was already complete
        ckpt = _checkpoint(model, task, cfg, start, history[-1] if history else {})
    return TrainResult(checkpoint=ckpt, best=best_ckpt or ckpt, history=history)


def _write_epoch(out: Path, model, opt, cfg, dev, epoch, history, best_score, ckpt, improved) -> None:
    """Write last.pt, best.pt (if improved), metrics.jsonl and state.pt, each atomically."""
    save_checkpoint(ckpt, out / "last.pt")
    if improved:
        save_checkpoint(ckpt, out / "best.pt")
    with atomic_file(out / "metrics.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(m) + "\n" for m in history))
    state = {
        "format": STATE_FORMAT,
        "version": 1,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if dev.type == "cuda" else None,
        "history": json.dumps(history),
        "best_score": best_score,
        "train_config": json.dumps(cfg.to_dict()),
    }
    data = torch_save_bytes(state)
    with atomic_file(out / "state.pt") as tmp:
        tmp.write_bytes(data)


def train_default(
    hidden: tuple[int, ...] = (32, 32),
    epochs: int | None = None,
    iss_lambda: float = 0.003,
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = True,
) -> tuple[Checkpoint, list[dict[str, Any]]]:
    """Train the digits classifier with ISS; return the *last* checkpoint and the metrics.

    Defaults (2×32, 60 epochs of Adam, λ = 0.003) take well under a minute on 2 CPU cores and
    give a model whose compaction removes about 40 % of the units at ≥ 95 % validation
    accuracy. The last (not the best) epoch is returned because ISS sparsity grows over
    training. ``epochs`` None means the task default (60).
    """
    cfg = default_config("default", hidden=tuple(hidden), epochs=epochs, iss_lambda=iss_lambda, seed=seed)
    result = train(cfg, out, progress=progress)
    return result.checkpoint, result.history

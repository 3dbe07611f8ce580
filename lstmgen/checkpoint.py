"""Checkpoints: a model configuration, a float state dict and JSON metadata in one ``.pt`` file.

File layout (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "lstmgen-checkpoint", "version": 1, "config": {...},
     "meta": "<JSON string>", "state_dict": {name: tensor}}

State-dict keys follow torch: ``lstm.weight_ih_l{k}`` (4H_k, X_k), ``lstm.weight_hh_l{k}``
(4H_k, H_k), ``lstm.bias_ih_l{k}`` / ``lstm.bias_hh_l{k}`` (4H_k,), gate order i, f, g, o;
classifier ``head.weight`` (n_out, H_last), ``head.bias``; LM ``embedding.weight``
(vocab, n_in), ``decoder.weight`` (vocab, H_last), ``decoder.bias``.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._io import atomic_file
from .errors import CheckpointError

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "ModelConfig",
    "build_module",
    "config_from_state_dict",
    "count_params",
    "expected_shapes",
    "is_checkpoint_file",
    "load_checkpoint",
    "load_module",
    "macs_per_step",
    "save_checkpoint",
    "torch_load",
    "validate_state_dict",
]

FORMAT = "lstmgen-checkpoint"
VERSION = 1
_KINDS = ("classifier", "lm")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a model; every field is validated on construction (raises CheckpointError).

    ``n_in`` is the classifier's input features or the LM's embedding size; ``hidden`` holds
    one size per layer; ``n_out`` is the number of classes or, for an LM, the vocabulary size
    (then ``vocab == n_out``; ``vocab`` is 0 for a classifier). ``tied`` (LM only) shares the
    decoder weight with the embedding and needs ``hidden[-1] == n_in``. ``shs_threshold`` θ
    (None: off; absent in older files) hard-thresholds every layer's output gate (SHS).

    ``tlstm`` (a :class:`lstmgen.nn.tlstm.TlstmSpec`, or its dict; None: an LSTM, and absent
    from the file) makes the model a tensorized LSTM of ``hidden[0]`` channels (one size); an
    LM tLSTM embeds tokens into its row 0 directly, so ``n_in == hidden[0]``.
    """

    kind: str
    n_in: int
    hidden: tuple[int, ...]
    n_out: int
    vocab: int = 0
    dropout: float = 0.0
    tied: bool = False
    shs_threshold: float | None = None
    tlstm: Any = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> CheckpointError:
            return CheckpointError(f"model config: {msg}")

        if self.tlstm is not None:
            self._check_tlstm(bad)

        if self.kind not in _KINDS:
            raise bad(f"kind must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("n_in", "n_out", "vocab"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad(f"{name} must be an integer, got {v!r}")
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise bad(f"hidden must be a non-empty tuple of sizes, got {self.hidden!r}")
        for k, h in enumerate(self.hidden):
            if isinstance(h, bool) or not isinstance(h, int) or h < 1:
                raise bad(f"hidden[{k}] must be an integer >= 1, got {h!r}")
        if self.n_in < 1:
            raise bad(f"n_in must be >= 1, got {self.n_in}")
        if self.n_out < 1:
            raise bad(f"n_out must be >= 1, got {self.n_out}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= float(self.dropout) < 1.0:
            raise bad(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.tied, bool):
            raise bad(f"tied must be a boolean, got {self.tied!r}")
        theta = self.shs_threshold
        if theta is not None and (isinstance(theta, bool) or not isinstance(theta, (int, float))
                                  or not 0.0 <= float(theta) < 1.0):
            raise bad(f"shs_threshold must be a number in [0, 1) or None, got {theta!r}")
        if self.kind == "classifier":
            if self.vocab != 0:
                raise bad(f"vocab must be 0 for a classifier, got {self.vocab}")
            if self.tied:
                raise bad("tied weights exist only for kind 'lm'")
        else:
            if self.vocab != self.n_out:
                raise bad(f"an lm needs vocab == n_out, got vocab={self.vocab}, n_out={self.n_out}")
            if self.tied and self.hidden[-1] != self.n_in:
                raise bad(f"tied weights need hidden[-1] == n_in, got {self.hidden[-1]} != {self.n_in}")

    def _check_tlstm(self, bad: Any) -> None:
        """Validate (and build from a dict) the tLSTM spec and what it implies."""
        from .nn.tlstm import TlstmSpec

        if not isinstance(self.tlstm, TlstmSpec):
            try:
                object.__setattr__(self, "tlstm", TlstmSpec.from_dict(self.tlstm))
            except (ValueError, TypeError) as exc:
                raise bad(f"tlstm: {exc}") from None
        if not isinstance(self.hidden, (tuple, list)) or len(self.hidden) != 1:
            raise bad(f"a tLSTM has one channel count, hidden must hold one size, got {self.hidden!r}")
        if self.tied or self.shs_threshold is not None:
            raise bad("a tLSTM has no tied weights and no SHS threshold")
        if self.kind == "lm" and self.n_in != self.hidden[0]:
            raise bad(f"a tLSTM LM embeds into row 0: n_in must equal hidden[0] ({self.hidden[0]}), "
                      f"got {self.n_in}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (``hidden`` as a list)."""
        return {
            "kind": self.kind,
            "n_in": self.n_in,
            "hidden": list(self.hidden),
            "n_out": self.n_out,
            "vocab": self.vocab,
            "dropout": float(self.dropout),
            "tied": self.tied,
        } | ({} if self.shs_threshold is None else {"shs_threshold": float(self.shs_threshold)}) \
          | ({} if self.tlstm is None else {"tlstm": self.tlstm.to_dict()})

    @classmethod
    def from_dict(cls, d: Any) -> ModelConfig:
        """Build a config from :meth:`to_dict` output; raise CheckpointError on anything odd."""
        if not isinstance(d, dict):
            raise CheckpointError(f"model config must be a dict, got {type(d).__name__}")
        required = {"kind", "n_in", "hidden", "n_out"}
        known = required | {"vocab", "dropout", "tied", "shs_threshold", "tlstm"}
        missing = sorted(required - d.keys())
        extra = sorted(set(d) - known)
        if missing:
            raise CheckpointError(f"model config: missing key(s) {', '.join(missing)}")
        if extra:
            raise CheckpointError(f"model config: unknown key(s) {', '.join(map(str, extra))}")
        hidden = d["hidden"]
        if not isinstance(hidden, (list, tuple)):
            raise CheckpointError(f"model config: hidden must be a list, got {hidden!r}")
        return cls(
            kind=d["kind"],
            n_in=d["n_in"],
            hidden=tuple(hidden),
            n_out=d["n_out"],
            vocab=d.get("vocab", 0),
            dropout=d.get("dropout", 0.0),
            tied=d.get("tied", False),
            shs_threshold=d.get("shs_threshold"),
            tlstm=d.get("tlstm"),
        )


@dataclass
class Checkpoint:
    """A model: its config, its float32 state dict and JSON-able metadata."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Return every state-dict key of ``config`` with its shape (see the module docstring; a
    tLSTM's are :func:`lstmgen.nn.tlstm.tlstm_shapes`)."""
    if config.tlstm is not None:
        from .nn.tlstm import tlstm_shapes

        return tlstm_shapes(config.kind, config.n_in, config.hidden[0], config.n_out, config.vocab,
                            config.tlstm)
    shapes: dict[str, tuple[int, ...]] = {}
    x = config.n_in
    for k, h in enumerate(config.hidden):
        shapes[f"lstm.weight_ih_l{k}"] = (4 * h, x)
        shapes[f"lstm.weight_hh_l{k}"] = (4 * h, h)
        shapes[f"lstm.bias_ih_l{k}"] = (4 * h,)
        shapes[f"lstm.bias_hh_l{k}"] = (4 * h,)
        x = h
    if config.kind == "classifier":
        shapes["head.weight"] = (config.n_out, x)
        shapes["head.bias"] = (config.n_out,)
    else:
        shapes["embedding.weight"] = (config.vocab, config.n_in)
        shapes["decoder.weight"] = (config.vocab, x)
        shapes["decoder.bias"] = (config.vocab,)
    return shapes


def validate_state_dict(config: ModelConfig, sd: Any, source: str = "state dict") -> None:
    """Check keys, shapes, dtypes and finiteness of ``sd`` against ``config``.

    Raises CheckpointError naming ``source`` and the offending key.
    """
    if not isinstance(sd, dict):
        raise CheckpointError(f"{source}: state_dict must be a dict, got {type(sd).__name__}")
    shapes = expected_shapes(config)
    missing = [k for k in shapes if k not in sd]
    extra = [str(k) for k in sd if k not in shapes]
    if missing:
        raise CheckpointError(f"{source}: missing key(s) {', '.join(missing)}")
    if extra:
        raise CheckpointError(f"{source}: unexpected key(s) {', '.join(extra)}")
    for key, shape in shapes.items():
        t = sd[key]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{source}: {key} is not a tensor ({type(t).__name__})")
        if t.layout != torch.strided or t.is_nested:
            layout = "nested" if t.is_nested else str(t.layout).replace("torch.", "")
            raise CheckpointError(
                f"{source}: {key} is a {layout} tensor; expected a dense tensor (convert it with "
                ".to_dense())"
            )
        if t.device.type == "meta":
            raise CheckpointError(f"{source}: {key} is a meta tensor (a shape without data)")
        if t.is_quantized:
            raise CheckpointError(f"{source}: {key} is a quantized tensor ({t.dtype}); expected float")
        if not t.is_floating_point():
            raise CheckpointError(f"{source}: {key} has dtype {t.dtype}, expected a float tensor")
        if tuple(t.shape) != shape:
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(t.shape)}, expected {shape}"
            )
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{source}: {key} contains NaN or Inf values")
    if config.tied and not torch.equal(sd["decoder.weight"], sd["embedding.weight"]):
        raise CheckpointError(f"{source}: tied model but decoder.weight != embedding.weight")


def _shape_of(sd: dict, key: str, ndim: int, source: str) -> tuple[int, ...]:
    t = sd.get(key)
    if t is None:
        raise CheckpointError(f"{source}: missing key {key}")
    if not isinstance(t, torch.Tensor) or t.dim() != ndim:
        what = f"shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise CheckpointError(f"{source}: {key} must be a {ndim}-D tensor, got {what}")
    return tuple(t.shape)


def config_from_state_dict(sd: Any, kind: str, source: str = "state dict") -> ModelConfig:
    """Infer the ModelConfig of a plain PyTorch state dict of the given ``kind``.

    Expects ``lstm.*`` from a batch-first ``nn.LSTM`` (or an lstmgen stack) plus ``head.*``
    (classifier) or ``embedding.*`` and ``decoder.*`` (lm). Never infers tied weights. The
    result still needs :func:`validate_state_dict` (extra keys, shapes, NaN/Inf).
    """
    if kind not in _KINDS:
        raise CheckpointError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        raise CheckpointError(f"{source}: not a state dict (a dict of name -> tensor)")
    hidden = []
    k = 0
    while f"lstm.weight_hh_l{k}" in sd:
        hidden.append(_shape_of(sd, f"lstm.weight_hh_l{k}", 2, source)[1])
        k += 1
    if not hidden:
        raise CheckpointError(f"{source}: missing key lstm.weight_hh_l0 (no LSTM layers found)")
    if kind == "classifier":
        n_in = _shape_of(sd, "lstm.weight_ih_l0", 2, source)[1]
        n_out = _shape_of(sd, "head.weight", 2, source)[0]
        vocab = 0
    else:
        vocab, n_in = _shape_of(sd, "embedding.weight", 2, source)
        n_out = vocab
    try:
        return ModelConfig(kind=kind, n_in=n_in, hidden=tuple(hidden), n_out=n_out, vocab=vocab)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Validate ``ckpt`` and write it atomically to ``path`` (parents are created).

    The bytes depend only on the checkpoint: identical runs give identical files.
    """
    sd = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in ckpt.state_dict.items()}
    validate_state_dict(ckpt.config, sd, str(path))
    try:
        meta = json.dumps(ckpt.meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: meta is not JSON-serializable: {exc}") from exc
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": ckpt.config.to_dict(),
        "meta": meta,
        "state_dict": sd,
    }
    data = torch_save_bytes(payload)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def torch_save_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory: deterministic bytes (a file name would be stored in the zip)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def torch_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into CheckpointError.

    Never unpickles arbitrary objects and prints nothing (torch's warnings are silenced).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    unreadable = f"{path}: not a readable PyTorch file"
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if not magic:
            raise CheckpointError(f"{unreadable} (empty file, 0 bytes)")
        if magic == b"PK":
            try:
                with zipfile.ZipFile(path) as zf:
                    names = zf.namelist()
            except zipfile.BadZipFile:
                raise CheckpointError(
                    f"{unreadable} (truncated or damaged: the zip archive is incomplete; was the "
                    "file cut short?)"
                ) from None
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                raise CheckpointError(f"{unreadable} (a zip archive without data.pkl)")
        elif magic[0] != 0x80:
            raise CheckpointError(f"{unreadable} (neither a zip archive nor a pickle)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc).strip()
        if text.startswith("Weights only load failed"):
            raise CheckpointError(
                f"{unreadable} (it holds Python objects other than tensors and plain data, "
                "which lstmgen never unpickles)"
            ) from None
        raise CheckpointError(f"{unreadable} ({_first_sentence(exc)})") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, AttributeError, ImportError,
            IndexError, KeyError, TypeError, OverflowError) as exc:
        raise CheckpointError(f"{unreadable} ({_first_sentence(exc)})") from None
    except MemoryError:
        raise CheckpointError(f"{path}: too large to load into memory") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # a record points past the end: torch seeks and fails
            raise CheckpointError(f"{unreadable} (truncated or damaged)") from None
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(exc).__name__


def is_checkpoint_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a file lstmgen wrote with :func:`save_checkpoint` or a training
    state (so an ``--out`` may replace it)."""
    try:
        obj = torch_load(path)
    except CheckpointError:
        return False
    return isinstance(obj, dict) and obj.get("format") in (FORMAT, "lstmgen-train-state")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and fully validate a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    obj = torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an lstmgen checkpoint (no 'format': '{FORMAT}')")
    if obj.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint version {obj.get('version')!r} (expected {VERSION})"
        )
    for key in ("config", "meta", "state_dict"):
        if key not in obj:
            raise CheckpointError(f"{path}: missing key {key!r}")
    try:
        config = ModelConfig.from_dict(obj["config"])
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    try:
        meta = json.loads(obj["meta"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: meta is not a JSON string") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta must be a JSON object")
    sd = obj["state_dict"]
    validate_state_dict(config, sd, str(path))
    return Checkpoint(config=config, state_dict={k: v.float() for k, v in sd.items()}, meta=meta)


def build_module(config: ModelConfig) -> nn.Module:
    """Return a freshly initialised module for ``config`` (train mode)."""
    from .nn import LSTMClassifier, LSTMLanguageModel

    theta = config.shs_threshold
    if config.tlstm is not None:
        from .nn.tlstm import TLSTMClassifier, TLSTMLanguageModel

        t = config.tlstm
        opts = {"depth": t.depth, "memory_conv": t.memory_conv, "feedback": t.feedback,
                "channel_norm": t.channel_norm}
        if config.kind == "classifier":
            return TLSTMClassifier(config.n_in, config.n_out, t.P, config.hidden[0], t.K, **opts)
        return TLSTMLanguageModel(config.vocab, t.P, config.hidden[0], t.K,
                                  dropout=config.dropout, **opts)
    if config.kind == "classifier":
        return LSTMClassifier(config.n_in, config.hidden, config.n_out, config.dropout,
                              shs_threshold=theta)
    return LSTMLanguageModel(config.vocab, config.n_in, config.hidden, config.dropout, config.tied,
                             shs_threshold=theta)


def load_module(path: str | os.PathLike[str]) -> nn.Module:
    """Load a checkpoint and return its module in eval mode (CPU)."""
    ckpt = load_checkpoint(path)
    module = build_module(ckpt.config)
    module.load_state_dict(ckpt.state_dict)
    return module.eval()


def count_params(config: ModelConfig) -> int:
    """Return the number of distinct parameters (a tied decoder weight counts once)."""
    total = sum(math.prod(s) for s in expected_shapes(config).values())
    if config.tied:
        total -= config.vocab * config.n_in
    return total


def macs_per_step(config: ModelConfig) -> dict[str, int]:
    """Return multiply-adds per time step: ``lstm`` = Σ_l 4·H_l·(X_l + H_l), ``head``, ``total``.

    For a classifier ``head`` (n_out·H_last) is spent once per sequence; for an LM it is the
    softmax layer (vocab·H_last) spent per token. A tLSTM's ``lstm`` is its recurrence
    (:func:`lstmgen.nn.tlstm.tlstm_macs`).
    """
    if config.tlstm is not None:
        from .nn.tlstm import tlstm_macs

        m = tlstm_macs(config.kind, config.n_in, config.hidden[0], config.n_out, config.tlstm)
        return {"lstm": m["tlstm"], "head": m["head"], "total": m["total"]}
    lstm = 0
    x = config.n_in
    for h in config.hidden:
        lstm += 4 * h * (x + h)
        x = h
    head = config.n_out * config.hidden[-1]
    return {"lstm": lstm, "head": head, "total": lstm + head}

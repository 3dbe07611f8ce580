"""Penn Treebank word-level reader (``ptb.{train,valid,test}.txt``) and Zaremba batching.

Words are split on whitespace and every line ends with ``<eos>``. The vocabulary comes from
the training split, ordered by decreasing frequency, then alphabetically (deterministic).
Words of valid/test missing from it map to ``<unk>`` when the vocabulary has one; otherwise
they are an error.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataError

__all__ = ["SPLITS", "Corpus", "batchify", "load_ptb"]

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Corpus:
    """Token ids (int64, 1-D) of the three splits and the vocabulary (id → word)."""

    vocab: tuple[str, ...]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    def split(self, name: str) -> torch.Tensor:
        """Return the ids of split ``name`` (train, valid or test)."""
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]


def _read_words(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    words: list[str] = []
    for line in text.splitlines():
        words.extend(line.split())
        words.append("<eos>")
    if not any(w != "<eos>" for w in words):
        raise DataError(f"{path}: file is empty")
    return words


def load_ptb(data_dir: str | os.PathLike[str], max_tokens: int | None = None) -> Corpus:
    """Read ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt`` from ``data_dir``.

    ``max_tokens`` truncates every split (for smoke runs). Raises DataError for a missing
    directory, missing, empty or undecodable files, or out-of-vocabulary words without ``<unk>``.
    """
    root = Path(data_dir)
    if not root.exists():
        raise DataError(f"{root}: data directory does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    paths = {s: root / f"ptb.{s}.txt" for s in SPLITS}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"{root}: missing file(s) {', '.join(missing)}")
    words = {s: _read_words(p) for s, p in paths.items()}
    counts = collections.Counter(words["train"])
    vocab = tuple(sorted(counts, key=lambda w: (-counts[w], w)))
    index = {w: i for i, w in enumerate(vocab)}
    unk = index.get("<unk>")
    ids: dict[str, torch.Tensor] = {}
    for s in SPLITS:
        seq = words[s][:max_tokens] if max_tokens else words[s]
        out = []
        for w in seq:
            i = index.get(w, unk)
            if i is None:
                raise DataError(f"{paths[s]}: word {w!r} is not in the training vocabulary")
            out.append(i)
        ids[s] = torch.tensor(out, dtype=torch.int64)
    return Corpus(vocab=vocab, train=ids["train"], valid=ids["valid"], test=ids["test"])


def batchify(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut ``ids`` into ``batch`` contiguous streams: shape ``(batch, len(ids) // batch)``.

    Row ``b`` continues across successive BPTT windows (Zaremba et al.); the tail that does not
    fill a full column is dropped.
    """
    n = ids.numel() // batch
    if n < 2:
        raise DataError(f"split of {ids.numel()} tokens is too short for batch size {batch}")
    return ids[: n * batch].view(batch, n)

"""Data sets: the bundled handwritten digits (default task) and a Penn Treebank reader."""

from __future__ import annotations

from .digits import DigitsSplit, load_digits_split
from .ptb import Corpus, batchify, load_ptb

__all__ = ["Corpus", "DigitsSplit", "batchify", "load_digits_split", "load_ptb"]

"""Data sets: the bundled handwritten digits (default task), a Penn Treebank reader, and the one
reader of user ``.npy`` arrays (:func:`load_array`).

Submodules load on first use, so reading an array does not import torch (the PTB reader does).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Corpus", "DigitsSplit", "batchify", "load_array", "load_digits_split", "load_ptb"]

_WHERE = {
    "Corpus": "ptb", "batchify": "ptb", "load_ptb": "ptb",
    "DigitsSplit": "digits", "load_digits_split": "digits",
    "load_array": "arrays",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""lstmgen: prune, quantize and generate bit-exact fixed-point LSTMs for MCUs and FPGAs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path):
    """Load any checkpoint written by lstmgen and return its torch module (in eval mode)."""
    from .checkpoint import load_module

    return load_module(path)

"""Quantization: float checkpoint + calibration data → IR (see :mod:`.quantize`)."""

from __future__ import annotations

from .evaluate import checkpoint_net, evaluate_classifier, evaluate_lm
from .quantize import QuantOptions, format_for, quantize_inputs, quantize_net

__all__ = [
    "QuantOptions",
    "checkpoint_net",
    "evaluate_classifier",
    "evaluate_lm",
    "format_for",
    "quantize_inputs",
    "quantize_net",
]

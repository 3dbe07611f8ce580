"""The default task: scikit-learn's bundled 8×8 handwritten digits, read row by row.

Each image becomes a sequence of 8 steps × 8 features (pixel / 16, so values lie in [0, 1]).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["DigitsSplit", "load_digits_split"]


@dataclass(frozen=True)
class DigitsSplit:
    """A fixed stratified 70/15/15 split: ``x_*`` float32 (N, 8, 8), ``y_*`` int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0) -> DigitsSplit:
    """Return the digits data split deterministically (stratified by class) for ``seed``.

    >>> s = load_digits_split()
    >>> s.x_train.shape[1:], s.x_train.dtype, len(s.y_train) + len(s.y_val) + len(s.y_test)
    ((8, 8), dtype('float32'), 1797)
    """
    with warnings.catch_warnings():  # joblib warns when it cannot use shared memory
        warnings.filterwarnings("ignore", message=".*joblib will operate in serial mode")
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.30, random_state=seed, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.50, random_state=seed, stratify=y_rest
    )
    return DigitsSplit(x_train, y_train, x_val, y_val, x_test, y_test)

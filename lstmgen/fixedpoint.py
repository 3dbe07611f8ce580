"""Fixed-point primitives: the only arithmetic the golden model uses.

Every helper here has exactly one counterpart per back end (``templates/c/lib/lg_fixed.h`` for
C). All values are numpy ``int64`` arrays (or Python ints); callers guarantee, through the
bounds the IR checks, that no intermediate exceeds 62 bits.

Rounding rule (the only one): an arithmetic right shift by ``s > 0`` rounds half up,
``(x + 2**(s-1)) >> s``; a left shift (``s < 0``) is exact. Then saturate to the destination
width.

>>> int(shift_round(5, 1)), int(shift_round(-5, 1)), int(shift_round(-6, 2))
(3, -2, -1)
>>> int(rescale(70000, 0, 16)), int(rescale(-70000, 0, 16))
(32767, -32768)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bits_for_bound",
    "code_max",
    "code_min",
    "quantize",
    "rescale",
    "saturate",
    "shift_round",
]

IntLike = "int | np.ndarray"


def code_min(bits: int) -> int:
    """Smallest code of a signed ``bits``-wide integer."""
    return -(1 << (bits - 1))


def code_max(bits: int) -> int:
    """Largest code of a signed ``bits``-wide integer."""
    return (1 << (bits - 1)) - 1


def saturate(x, bits: int) -> np.ndarray:
    """Clamp ``x`` to the signed ``bits``-wide range."""
    return np.clip(np.asarray(x, dtype=np.int64), code_min(bits), code_max(bits))


def shift_round(x, s: int) -> np.ndarray:
    """Shift right by ``s`` rounding half up (``s > 0``), or left by ``-s`` exactly (``s <= 0``)."""
    x = np.asarray(x, dtype=np.int64)
    if s > 0:
        return (x + np.int64(1 << (s - 1))) >> np.int64(s)
    if s < 0:
        return x << np.int64(-s)
    return x


def rescale(x, s: int, bits: int) -> np.ndarray:
    """``saturate(shift_round(x, s), bits)``: move to another fraction and width."""
    return saturate(shift_round(x, s), bits)


def bits_for_bound(bound: int) -> int:
    """Width of the signed integer that holds every value in ``[-bound, bound]``."""
    bound = int(bound)
    if bound < 0:
        raise ValueError("bound must be non-negative")
    return bound.bit_length() + 1


def quantize(x, bits: int, frac: int) -> np.ndarray:
    """Float → codes: ``saturate(floor(x * 2**frac + 0.5), bits)`` (round half up)."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * np.ldexp(1.0, frac) + 0.5)
    lo, hi = code_min(bits), code_max(bits)
    return np.clip(scaled, lo, hi).astype(np.int64)

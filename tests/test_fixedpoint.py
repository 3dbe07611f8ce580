"""Hand-computed cases and properties of the fixed-point primitives (``lstmgen.fixedpoint``).

The rule under test (ARCHITECTURE §3): an arithmetic right shift by ``s > 0`` rounds half up,
``(x + 2**(s-1)) >> s``, also for negative ``x``; a left shift is exact; then saturate.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen.fixedpoint import (
    bits_for_bound,
    code_max,
    code_min,
    quantize,
    rescale,
    saturate,
    shift_round,
)

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------
# shift_round


@pytest.mark.parametrize(
    ("x", "s", "want"),
    [
        (5, 1, 3),  # 2.5 -> 3 (tie rounds up)
        (-5, 1, -2),  # -2.5 -> -2 (tie rounds up, i.e. towards +inf)
        (-6, 2, -1),  # -1.5 -> -1
        (6, 2, 2),  # 1.5 -> 2
        (2, 2, 1),  # 0.5 -> 1
        (-2, 2, 0),  # -0.5 -> 0
        (-3, 2, -1),  # -0.75 -> -1
        (-1, 2, 0),  # -0.25 -> 0
        (1, 2, 0),  # 0.25 -> 0
        (3, 2, 1),  # 0.75 -> 1
        (7, 1, 4),  # 3.5 -> 4
        (-7, 1, -3),  # -3.5 -> -3
        (-8, 3, -1),  # exact -1
        (-12, 3, -1),  # -1.5 -> -1
        (-13, 3, -2),  # -1.625 -> -2
        (0, 5, 0),
        (-(1 << 40) - (1 << 19), 20, -(1 << 20)),  # -(2^20 + 0.5) -> -2^20
    ],
)
def test_shift_round_right_hand_computed(x, s, want):
    assert int(shift_round(x, s)) == want


@pytest.mark.parametrize("x", [0, 1, -1, 12345, -32768, 32767, (1 << 61) - 1, -(1 << 61)])
def test_shift_round_zero_is_identity(x):
    assert int(shift_round(x, 0)) == x


@pytest.mark.parametrize(
    ("x", "s", "want"),
    [(3, -1, 6), (-3, -2, -12), (1, -40, 1 << 40), (-5, -3, -40), (-(1 << 20), -30, -(1 << 50))],
)
def test_shift_round_left_is_exact(x, s, want):
    assert int(shift_round(x, s)) == want


def test_shift_round_arrays_keep_shape_and_dtype():
    x = np.array([[5, -5], [-6, 6]], dtype=np.int64)
    y = shift_round(x, 1)
    assert y.dtype == np.int64 and y.shape == (2, 2)
    np.testing.assert_array_equal(y, [[3, -2], [-3, 3]])


def _exact_round_half_up(x: int, s: int) -> int:
    return math.floor(Fraction(x, 1 << s) + Fraction(1, 2))


@settings(max_examples=400, deadline=None)
@given(x=st.integers(-(1 << 61), (1 << 61) - 1), s=st.integers(0, 61))
def test_shift_round_matches_exact_round_half_up(x, s):
    """``(x + 2^(s-1)) >> s == floor(x / 2^s + 1/2)`` computed with exact rationals."""
    want = x if s == 0 else _exact_round_half_up(x, s)
    assert int(shift_round(x, s)) == want
    # and element-wise in an array, next to neighbours that must not interfere
    arr = shift_round(np.array([x, -x - 1, 0], dtype=np.int64), s)
    assert int(arr[0]) == want


@settings(max_examples=200, deadline=None)
@given(x=st.integers(-(1 << 40), 1 << 40), s=st.integers(0, 20))
def test_shift_left_then_right_round_trips(x, s):
    assert int(shift_round(shift_round(x, -s), s)) == x


# ------------------------------------------------------------------------------------------
# code range, saturate, rescale


def test_code_range():
    assert (code_min(16), code_max(16)) == (-32768, 32767)
    assert (code_min(8), code_max(8)) == (-128, 127)
    assert (code_min(2), code_max(2)) == (-2, 1)
    assert (code_min(32), code_max(32)) == (-(1 << 31), (1 << 31) - 1)


@pytest.mark.parametrize(
    ("x", "bits", "want"),
    [
        (32767, 16, 32767),
        (32768, 16, 32767),
        (-32768, 16, -32768),
        (-32769, 16, -32768),
        (1 << 50, 16, 32767),
        (-(1 << 50), 16, -32768),
        (127, 8, 127),
        (128, 8, 127),
        (-128, 8, -128),
        (-129, 8, -128),
        (0, 8, 0),
        (-5, 8, -5),
    ],
)
def test_saturate_both_ends(x, bits, want):
    assert int(saturate(x, bits)) == want


@pytest.mark.parametrize(
    ("x", "s", "bits", "want"),
    [
        (70000, 0, 16, 32767),
        (-70000, 0, 16, -32768),
        (65534, 1, 16, 32767),  # 32767 exactly: no saturation
        (65535, 1, 16, 32767),  # 32767.5 rounds to 32768, saturates to 32767
        (-65536, 1, 16, -32768),  # -32768 exactly
        (-65537, 1, 16, -32768),  # -32768.5 rounds up to -32768, no saturation needed
        (-65538, 1, 16, -32768),  # -32769 saturates
        (254, 1, 8, 127),
        (255, 1, 8, 127),  # 127.5 -> 128 -> 127
        (-257, 1, 8, -128),  # -128.5 -> -128
        (-258, 1, 8, -128),  # -129 -> -128
        (64, -1, 8, 127),  # 128 after the exact left shift -> 127
        (-64, -1, 8, -128),
        (-65, -1, 8, -128),
        (3, -2, 8, 12),
    ],
)
def test_rescale_both_ends(x, s, bits, want):
    assert int(rescale(x, s, bits)) == want


def test_rescale_is_saturate_of_shift_round_on_arrays():
    rng = np.random.default_rng(1)
    x = rng.integers(-(1 << 40), 1 << 40, size=1000)
    for s in (-3, 0, 1, 7, 20):
        for bits in (8, 16, 32):
            np.testing.assert_array_equal(rescale(x, s, bits), saturate(shift_round(x, s), bits))


# ------------------------------------------------------------------------------------------
# quantize (float -> codes)


@pytest.mark.parametrize(
    ("x", "bits", "frac", "want"),
    [
        (0.5, 16, 0, 1),  # tie rounds up
        (-0.5, 16, 0, 0),  # tie rounds up (towards +inf)
        (1.5, 16, 0, 2),
        (-1.5, 16, 0, -1),
        (2.5, 16, 0, 3),
        (-2.5, 16, 0, -2),
        (0.25, 16, 1, 1),  # 0.5 code -> 1
        (-0.25, 16, 1, 0),  # -0.5 code -> 0
        (0.75, 8, 2, 3),
        (-0.375, 8, 3, -3),
        (1.0, 16, 15, 32767),  # 32768 saturates
        (-1.0, 16, 15, -32768),
        (-1.5, 16, 15, -32768),
        (0.999969482421875, 16, 15, 32767),  # exactly 32767 / 2^15
        (200.0, 8, 0, 127),
        (-200.0, 8, 0, -128),
        (1e300, 16, 4, 32767),
        (-1e300, 16, 4, -32768),
        (12.0, 16, -2, 3),  # 12 / 4 = 3
        (10.0, 16, -2, 3),  # 2.5 -> 3
    ],
)
def test_quantize_hand_computed(x, bits, frac, want):
    got = quantize(x, bits, frac)
    assert got.dtype == np.int64
    assert int(got) == want


def test_quantize_array_matches_exact_rule():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 4, 500), np.arange(-40, 41) / 8.0])  # incl. exact ties
    got = quantize(x, 16, 3)
    want = [max(-32768, min(32767, math.floor(Fraction(v) * 8 + Fraction(1, 2)))) for v in x]
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------------------
# bits_for_bound


@pytest.mark.parametrize(
    ("bound", "bits"),
    [
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 3),
        (4, 4),
        (127, 8),
        (128, 9),
        (32767, 16),
        (32768, 17),
        ((1 << 61) - 1, 62),
        (1 << 61, 63),
    ],
)
def test_bits_for_bound(bound, bits):
    assert bits_for_bound(bound) == bits


@settings(max_examples=200, deadline=None)
@given(bound=st.integers(0, 1 << 70))
def test_bits_for_bound_is_minimal_symmetric_width(bound):
    b = bits_for_bound(bound)
    assert -(1 << (b - 1)) <= -bound and bound <= (1 << (b - 1)) - 1  # holds [-bound, bound]
    if b > 1:
        assert bound > (1 << (b - 2)) - 1  # one bit fewer cannot hold +bound


def test_bits_for_bound_rejects_negative():
    with pytest.raises(ValueError):
        bits_for_bound(-1)

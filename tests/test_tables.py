"""Activation tables: generation (``lstmgen.quant.tables``) and lookup (``golden.table_lookup``).

Lookup rule (``ActTable`` docstring, ARCHITECTURE §3): ``d = p - lo``; ``d < 0`` → entry 0;
``idx = d >> shift``; ``idx >= n-1`` → last entry; otherwise entry ``idx`` (plain) or
``t[idx] + shift_round((t[idx+1] - t[idx]) * (d & (2**shift - 1)), shift)`` (interpolated).
"""

from __future__ import annotations

import numpy as np
import pytest

from lstmgen.errors import FormatError, IRError
from lstmgen.fixedpoint import quantize
from lstmgen.golden import table_lookup
from lstmgen.ir import ActTable, IntTensor, QFormat
from lstmgen.quant.tables import make_table

pytestmark = pytest.mark.unit

Q0 = QFormat(16, 0)
PRE = QFormat(16, 12)  # the quantizer's default table input format (Q4.12)
UNIT = QFormat(16, 15)  # the default table output format (Q1.15)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def tiny(values, *, interp=True, lo=-4, shift=2, func="sigmoid") -> ActTable:
    """A hand-built table on integer codes (Q16.0 in and out)."""
    return ActTable(
        func=func,
        in_fmt=Q0,
        lo=lo,
        shift=shift,
        values=IntTensor(np.array(values, np.int64), Q0, name="t"),
        interp=interp,
    )


def look(table, codes) -> list[int]:
    return [int(v) for v in np.asarray(table_lookup(table, np.asarray(codes, np.int64))).ravel()]


# ------------------------------------------------------------------------------------------
# Lookup on a hand-built table: entries [0, 10, 30] at codes -4, 0, 4 (lo = -4, shift 2)


def test_interpolation_hand_computed():
    t = tiny([0, 10, 30])
    # d = p - lo, idx = d >> 2, r = d & 3, y = t[idx] + ((t[idx+1]-t[idx])*r + 2) >> 2
    want = [
        0,  # d=0: t[0]
        3,  # d=1: 0 + (10*1 + 2) >> 2 = 12 >> 2 = 3   (2.5 -> 3, a tie rounding up)
        5,  # d=2: 0 + (10*2 + 2) >> 2 = 22 >> 2 = 5   (exact 5)
        8,  # d=3: 0 + (10*3 + 2) >> 2 = 32 >> 2 = 8   (7.5 -> 8, a tie)
        10,  # d=4: t[1]
        15,  # d=5: 10 + (20*1 + 2) >> 2 = 10 + 5
        20,  # d=6: 10 + (20*2 + 2) >> 2 = 10 + 10
        25,  # d=7: 10 + (20*3 + 2) >> 2 = 10 + 15
        30,  # d=8: idx 2 = n-1 -> last entry
    ]
    assert look(t, [-4 + k for k in range(9)]) == want


def test_interpolation_negative_slope_ties_round_up():
    t = tiny([0, -10, -30])
    want = [
        0,
        -2,  # 0 + (-10 + 2) >> 2 = -8 >> 2 = -2     (-2.5 -> -2)
        -5,  # 0 + (-20 + 2) >> 2 = -18 >> 2 = -5    (exact -5)
        -7,  # 0 + (-30 + 2) >> 2 = -28 >> 2 = -7    (-7.5 -> -7)
        -10,
        -15,  # -10 + (-20 + 2) >> 2 = -10 + (-18 >> 2) = -10 - 5   (exact -5)
        -20,  # -10 + (-40 + 2) >> 2 = -10 + (-38 >> 2) = -10 - 10  (exact -10)
        -25,  # -10 + (-60 + 2) >> 2 = -10 + (-58 >> 2) = -10 - 15  (exact -15)
        -30,
    ]
    assert look(t, [-4 + k for k in range(9)]) == want


def test_interpolated_end_clamps():
    t = tiny([0, 10, 30])
    assert look(t, [-5, -6, -100]) == [0, 0, 0]  # below lo
    assert look(t, [-4]) == [0]  # at lo
    assert look(t, [4]) == [30]  # the last entry's code
    assert look(t, [5, 7, 8, 1000]) == [30, 30, 30, 30]  # past the end
    assert look(t, [-32768, 32767]) == [0, 30]  # the extreme int16 codes


def test_plain_lookup_floors_into_buckets():
    t = tiny([0, 10, 30], interp=False)
    # idx = (p + 4) >> 2: [-4, 0) -> 0, [0, 4) -> 10, [4, ...) -> 30 (idx >= n-1)
    assert look(t, range(-4, 9)) == [0] * 4 + [10] * 4 + [30] * 5
    assert look(t, [-5, -32768]) == [0, 0]
    assert look(t, [32767]) == [30]


def test_shift_zero_interp_is_plain_indexing():
    t = tiny([5, -7, 9, 11], lo=-1, shift=0)
    assert look(t, [-3, -2, -1, 0, 1, 2, 3, 4]) == [5, 5, 5, -7, 9, 11, 11, 11]


def test_lookup_keeps_shape():
    t = tiny([0, 10, 30])
    codes = np.array([[[-4, -3], [-1, 100]]], np.int64)
    out = table_lookup(t, codes)
    assert out.shape == codes.shape
    np.testing.assert_array_equal(out, [[[0, 3], [8, 30]]])


def test_interpolated_values_stay_between_neighbours():
    rng = np.random.default_rng(3)
    vals = np.sort(rng.integers(-32768, 32768, size=17))
    t = ActTable(
        func="tanh",
        in_fmt=QFormat(16, 8),
        lo=-2048,
        shift=8,
        values=IntTensor(vals, UNIT, name="t"),
        interp=True,
    )
    y = table_lookup(t, np.arange(-32768, 32768))
    assert y.min() >= -32768 and y.max() <= 32767
    assert np.all(np.diff(y) >= 0)  # monotone entries give a monotone function


# ------------------------------------------------------------------------------------------
# make_table


def test_make_table_default_sigmoid_sampling():
    t = make_table("sigmoid", PRE, UNIT)  # 256 steps over [-8, 8], interpolated
    assert (t.func, t.in_fmt, t.out_fmt, t.interp) == ("sigmoid", PRE, UNIT, True)
    assert t.lo == -32768  # -8 * 2^12
    assert t.shift == 8  # 16 * 2^12 / 256 = 2^8 codes per step
    assert t.n == 257  # both range ends sampled
    k = np.arange(257)
    want = quantize(_sigmoid((-32768 + 256 * k) / 4096.0), 16, 15)
    np.testing.assert_array_equal(t.values.values, want)
    assert t.values.values[128] == 16384  # sigmoid(0) = 0.5
    # at every sample point the lookup returns the entry itself
    np.testing.assert_array_equal(table_lookup(t, -32768 + 256 * k[:-1]), want[:-1])


def test_make_table_default_tanh_sampling():
    t = make_table("tanh", PRE, UNIT, in_range=4.0)
    assert (t.lo, t.shift, t.n) == (-16384, 7, 257)
    k = np.arange(257)
    np.testing.assert_array_equal(
        t.values.values, quantize(np.tanh((-16384 + 128 * k) / 4096.0), 16, 15)
    )
    assert t.values.values[128] == 0
    assert t.values.values[0] == -quantize(np.tanh(4.0), 16, 15)  # odd function, exact grid


def test_make_table_plain_samples_bucket_centres():
    t = make_table("sigmoid", PRE, UNIT, log2_entries=4, interp=False)
    assert (t.lo, t.shift, t.n, t.interp) == (-32768, 12, 16, False)
    centres = -32768 + 4096 * np.arange(16) + 2048  # codes; = -7.5, -6.5, ..., 7.5
    np.testing.assert_array_equal(t.values.values, quantize(_sigmoid(centres / 4096.0), 16, 15))


def test_make_table_tiny_by_hand():
    # Q14.2 input, ±2 -> codes [-8, 8], 4 steps of 4 codes: points -2, -1, 0, 1, 2
    t = make_table("tanh", QFormat(16, 2), UNIT, log2_entries=2, in_range=2.0)
    assert (t.lo, t.shift, t.n) == (-8, 2, 5)
    pts = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        t.values.values, np.floor(np.tanh(pts) * 32768 + 0.5).astype(np.int64)
    )


@pytest.mark.parametrize("log2_entries", [4, 6, 8, 10, 12])
def test_make_table_sizes(log2_entries):
    for interp in (True, False):
        t = make_table("sigmoid", PRE, UNIT, log2_entries=log2_entries, interp=interp)
        assert t.n == (1 << log2_entries) + (1 if interp else 0)
        assert t.shift == 16 - log2_entries
        assert t.lo + (1 << log2_entries) * (1 << t.shift) == 32768  # covers [-8, 8)


def test_make_table_errors():
    with pytest.raises(FormatError, match="unknown activation"):
        make_table("relu", PRE, UNIT)
    with pytest.raises(FormatError, match="power of two"):
        make_table("tanh", PRE, UNIT, in_range=3.0)
    with pytest.raises(FormatError, match="does not fit"):
        make_table("tanh", PRE, UNIT, in_range=16.0)  # -16 * 2^12 < -32768
    with pytest.raises(FormatError, match="finer than the input format"):
        make_table("tanh", PRE, UNIT, log2_entries=17)


def test_act_table_validation():
    with pytest.raises(IRError, match="unknown function"):
        tiny([0, 1], func="relu")
    with pytest.raises(IRError, match="entries"):
        tiny([0])  # fewer than 2 entries
    with pytest.raises(IRError, match="lo"):
        tiny([0, 1], lo=40000)
    with pytest.raises(IRError, match="shift"):
        tiny([0, 1], shift=17)
    with pytest.raises(FormatError, match="input width"):
        ActTable(
            func="tanh",
            in_fmt=QFormat(12, 0),
            lo=0,
            shift=0,
            values=IntTensor(np.array([0, 1]), Q0),
            interp=True,
        )


# ------------------------------------------------------------------------------------------
# Accuracy of the default tables (Q4.12 in, Q1.15 out, 256 steps) vs float


ALL_CODES = np.arange(-32768, 32768, dtype=np.int64)


@pytest.mark.parametrize(
    ("func", "in_range", "interp", "max_err_in_range", "max_err_all"),
    [
        # interpolated: h^2/8 * max|f''| (sigmoid: 1/256/8*0.0962 = 4.7e-5) + entry and
        # interpolation rounding (2 LSB of Q1.15 = 6.1e-5) -> below 1e-4 (3.3 LSB)
        ("sigmoid", 8.0, True, 1.0e-4, 1.0e-4),
        # tanh: step 1/32, max|f''| = 0.77 -> 1.2e-4 with rounding; beyond ±4 the lookup clamps
        # to tanh(±4) = ±0.99933, an error of 1 - tanh(4) + 1 LSB < 7e-4
        ("tanh", 4.0, True, 1.5e-4, 7.0e-4),
        # plain: bucket centre, error <= max slope * half a step (+ rounding)
        ("sigmoid", 8.0, False, 0.25 / 32 + 1e-4, 0.25 / 32 + 1e-4),  # 0.0079
        ("tanh", 4.0, False, 1.0 / 64 + 1e-4, 1.0 / 64 + 1e-4),  # 0.0157
    ],
)
def test_default_table_accuracy(func, in_range, interp, max_err_in_range, max_err_all):
    t = make_table(func, PRE, UNIT, in_range=in_range, interp=interp)
    x = ALL_CODES / 4096.0
    ref = _sigmoid(x) if func == "sigmoid" else np.tanh(x)
    err = np.abs(table_lookup(t, ALL_CODES) / 32768.0 - ref)
    inside = np.abs(x) < in_range
    assert err[inside].max() <= max_err_in_range
    assert err.max() <= max_err_all
    y = table_lookup(t, ALL_CODES)
    assert np.all(np.diff(y) >= 0)  # monotone


def test_default_tables_symmetry():
    s = table_lookup(make_table("sigmoid", PRE, UNIT), ALL_CODES[1:])
    t = table_lookup(make_table("tanh", PRE, UNIT, in_range=4.0), ALL_CODES[1:])
    # sigmoid(-x) = 1 - sigmoid(x), tanh(-x) = -tanh(x), up to one LSB of rounding per side
    assert np.abs(s + s[::-1] - 32768).max() <= 2
    assert np.abs(t + t[::-1]).max() <= 2

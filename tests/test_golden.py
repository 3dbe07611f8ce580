"""The golden model (``lstmgen.golden``) against hand arithmetic and its own invariants.

The hand-built network: 1 layer, 1 unit, 1 input, classifier, with tiny hand-made tables so
every number below can be checked with pencil and paper.

Formats: x Q8.8 (code 256 = 1.0); every weight Q2.6 int8 (64 = 1.0); h Q1.15; c Q4.12;
tables take Q8.8 and give Q1.15; head output Q8.8.

* products: W_ih·x has fraction 6 + 8 = 14, W_hh·h has 6 + 15 = 21 → acc_frac = 21,
  shift_x = 7, shift_h = 0, biases at fraction 21;
* pre = rescale(acc, 21 - 8 = 13, 16);
* cell: f·c has fraction 15 + 12 = 27, i·g 15 + 15 = 30 → cell_frac 30, shift_fc = 3,
  shift_ig = 0, c = rescale(sum, 30 - 12 = 18, 16); tanh input rescale(c, 12 - 8 = 4, 16);
* h = rescale(o·tanh(c), 15 + 15 - 15 = 15, 16); head: acc fraction 6 + 15 = 21, shift 13.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen import golden
from lstmgen.errors import DataError
from lstmgen.fixedpoint import bits_for_bound
from lstmgen.ir import GATES, ActTable, Gate, IntTensor, Linear, LstmLayer, Model, QFormat
from lstmgen.testing import random_inputs, random_model

pytestmark = pytest.mark.unit

Q = QFormat
X_FMT, W_FMT, H_FMT, C_FMT, OUT_FMT = Q(16, 8), Q(8, 6), Q(16, 15), Q(16, 12), Q(16, 8)
TAB_IN, TAB_OUT = Q(16, 8), Q(16, 15)

#: sigmoid sampled at -4, -2, 0, 2, 4 (lo = -4.0 = -1024 codes, step 2.0 = 2^9 codes)
SIG_VALUES = [512, 4096, 16384, 28672, 32256]
#: tanh sampled at -2, -1, 0, 1, 2 (lo = -2.0 = -512 codes, step 1.0 = 2^8 codes)
TANH_VALUES = [-31744, -24576, 0, 24576, 31744]

#: (w_ih, w_hh, bias) codes per gate of the hand network
HAND = {
    "i": (64, -32, 0),  # 1.0, -0.5, 0
    "f": (32, 16, -(1 << 21) - 4096),  # 0.5, 0.25, -1.0 - 2^-9
    "g": (96, 0, 0),  # 1.5
    "o": (64, 0, 1 << 20),  # 1.0, 0, 0.5
}


def tables(interp: bool = True) -> tuple[ActTable, ActTable]:
    sig = ActTable("sigmoid", TAB_IN, -1024, 9, IntTensor(np.array(SIG_VALUES), TAB_OUT), interp)
    tanh = ActTable("tanh", TAB_IN, -512, 8, IntTensor(np.array(TANH_VALUES), TAB_OUT), interp)
    return sig, tanh


def build(
    weights: dict[str, tuple],
    *,
    x_fmt: QFormat = X_FMT,
    w_fmt: QFormat = W_FMT,
    h_fmt: QFormat = H_FMT,
    c_fmt: QFormat = C_FMT,
    head_w=48,
    head_b: int = 66704,
    out_fmt: QFormat = OUT_FMT,
    thr: int | None = None,
    interp: bool = True,
) -> Model:
    """One-layer classifier; ``weights[g] = (w_ih row(s), w_hh row(s), bias)`` per gate, codes.

    Scalars make a 1-unit, 1-input layer; lists of rows make bigger ones.
    """
    acc_frac = max(w_fmt.frac + x_fmt.frac, w_fmt.frac + h_fmt.frac)

    def mat(v):
        a = np.array(v, np.int64)
        return a.reshape(1, 1) if a.ndim == 0 else a

    gates = {}
    for g in GATES:
        wi, wh, b = weights[g]
        wi, wh = mat(wi), mat(wh)
        gates[g] = Gate(
            w_ih=IntTensor(wi, w_fmt, name=f"{g}.w_ih"),
            w_hh=IntTensor(wh, w_fmt, name=f"{g}.w_hh"),
            bias=IntTensor(np.array(b, np.int64).reshape(-1), Q(40, acc_frac), name=f"{g}.bias"),
        )
    layer = LstmLayer(in_fmt=x_fmt, c_fmt=c_fmt, h_fmt=h_fmt, o_threshold=thr, **gates)
    H = layer.n_hidden
    hw = np.array(head_w, np.int64).reshape(-1, H)
    head = Linear(
        weight=IntTensor(hw, w_fmt, name="head.w"),
        bias=IntTensor(np.array(head_b, np.int64).reshape(-1), Q(40, w_fmt.frac + h_fmt.frac)),
        in_fmt=h_fmt,
        out_fmt=out_fmt,
    )
    sig, tanh = tables(interp)
    return Model(name="hand", kind="classifier", layers=(layer,), head=head, sigmoid=sig, tanh=tanh)


def dump_run(model, x):
    res = golden.run(model, np.asarray(x, np.int64), dump=True)
    return res.outputs, res.layers[0]


# ------------------------------------------------------------------------------------------
# Two steps by hand


def test_hand_network_formats():
    m = build(HAND)
    la = m.layers[0]
    assert [la.acc_frac(g) for g in GATES] == [21] * 4
    assert (la.shift_x("i"), la.shift_h("i")) == (7, 0)
    assert m.cell_shifts(la) == (3, 0, 30)
    assert m.h_shift(la) == 15
    assert m.head.acc_frac == 21


def test_two_steps_by_hand():
    m = build(HAND)
    x = np.array([[[256], [-128]]])  # x = 1.0 then -0.5
    # ---- step 1 (h = c = 0) -------------------------------------------------------------
    # i: acc = (64*256) << 7 = 2097152            pre = (2097152 + 4096) >> 13 = 256 (1.0)
    #    sigmoid: d = 256 + 1024 = 1280, idx 2, r = 256:
    #    16384 + ((28672-16384)*256 + 256) >> 9 = 16384 + 3145984 >> 9 = 16384 + 6144 = 22528
    # f: acc = (32*256) << 7 - 2^21 - 4096 = 1048576 - 2101248 = -1052672   (-128.5 · 2^13)
    #    pre = (-1052672 + 4096) >> 13 = -1048576 >> 13 = -128   (the tie -128.5 rounds up)
    #    sigmoid: d = 896, idx 1, r = 384: 4096 + (12288*384 + 256) >> 9 = 4096 + 9216 = 13312
    # g: acc = (96*256) << 7 = 3145728            pre = 384 (1.5)
    #    tanh: d = 384 + 512 = 896, idx 3, r = 128: 24576 + (7168*128 + 128) >> 8 = 28160
    # o: acc = 2097152 + 2^20 = 3145728           pre = 384
    #    sigmoid: d = 1408, idx 2, r = 384: 16384 + (12288*384 + 256) >> 9 = 25600
    # c: f*c = 0; i*g = 22528*28160 = 634388480; (0 << 3) + 634388480
    #    c = (634388480 + 2^17) >> 18 = 2420                     (2420.0 exactly; Q4.12 ≈ 0.5908)
    # tanh(c): in = (2420 + 8) >> 4 = 151 (151.25 → 151); d = 663, idx 2, r = 151:
    #    0 + (24576*151 + 128) >> 8 = 3711104 >> 8 = 14496
    # h: o*tc = 25600*14496 = 371097600; (371097600 + 2^14) >> 15 = 11325
    # head (only computed by step() here): 48*11325 + 66704 = 610304 = 74.5 · 2^13 → 75 (tie)
    # ---- step 2 (x = -128, h = 11325, c = 2420) ------------------------------------------
    # i: acc = (64*-128) << 7 + (-32*11325) = -1048576 - 362400 = -1410976
    #    pre = (-1410976 + 4096) >> 13 = -172 (-172.24); sigmoid: d = 852, idx 1, r = 340:
    #    4096 + (12288*340 + 256) >> 9 = 4096 + 4178176 >> 9 = 4096 + 8160 = 12256
    # f: acc = (32*-128) << 7 + 16*11325 - 2101248 = -524288 + 181200 - 2101248 = -2444336
    #    pre = (-2444336 + 4096) >> 13 = -298 (-298.38); d = 726, idx 1, r = 214:
    #    4096 + (12288*214 + 256) >> 9 = 4096 + 2629888 >> 9 = 4096 + 5136 = 9232
    # g: acc = (96*-128) << 7 = -1572864; pre = -192 (-0.75); tanh: d = 320, idx 1, r = 64:
    #    -24576 + (24576*64 + 128) >> 8 = -24576 + 6144 = -18432
    # o: acc = -1048576 + 2^20 = 0; pre = 0; sigmoid: d = 1024, idx 2, r = 0 → 16384
    # c: f*c = 9232*2420 = 22341440; << 3 = 178731520; i*g = 12256*-18432 = -225902592
    #    sum = -47171072; (-47171072 + 2^17) >> 18 = -180 (-179.94)
    # tanh(c): in = (-180 + 8) >> 4 = -11 (-11.25); d = 501, idx 1, r = 245:
    #    -24576 + (24576*245 + 128) >> 8 = -24576 + 6021248 >> 8 = -24576 + 23520 = -1056
    # h: o*tc = 16384*-1056 = -17301504; (-17301504 + 2^14) >> 15 = -528
    # head: 48*-528 + 66704 = 41360; (41360 + 4096) >> 13 = 5 (5.05)
    out, d = dump_run(m, x)
    np.testing.assert_array_equal(d["pre"][0, 0], [[256], [-128], [384], [384]])
    np.testing.assert_array_equal(d["gate"][0, 0], [[22528], [13312], [28160], [25600]])
    np.testing.assert_array_equal(d["c"][0], [[2420], [-180]])
    np.testing.assert_array_equal(d["h"][0], [[11325], [-528]])
    np.testing.assert_array_equal(d["pre"][0, 1], [[-172], [-298], [-192], [0]])
    np.testing.assert_array_equal(d["gate"][0, 1], [[12256], [9232], [-18432], [16384]])
    np.testing.assert_array_equal(out, [[5]])

    # the same two steps through step(): the head output of each step
    state = golden.initial_state(m)
    state, y1 = golden.step(m, state, np.array([[256]]))
    assert (int(state[0].c[0, 0]), int(state[0].h[0, 0]), int(y1[0, 0])) == (2420, 11325, 75)
    state, y2 = golden.step(m, state, np.array([[-128]]))
    assert (int(state[0].c[0, 0]), int(state[0].h[0, 0]), int(y2[0, 0])) == (-180, -528, 5)


def test_plain_tables_by_hand():
    m = build(HAND, interp=False)
    # step 1: i pre 256 → d = 1280 >> 9 = idx 2 → 16384; f pre -128 → d = 896 → idx 1 → 4096;
    # g pre 384 → d = 896 >> 8 = idx 3 → 24576; o pre 384 → d = 1408 >> 9 = 2 → 16384
    # c = (16384*24576 + 2^17) >> 18 = 402653184 / 262144 = 1536
    # tanh: in = (1536 + 8) >> 4 = 96; d = 608 >> 8 = idx 2 → 0; h = 0
    # head: (66704 + 4096) >> 13 = 8
    out, d = dump_run(m, [[[256]]])
    np.testing.assert_array_equal(d["gate"][0, 0, :, 0], [16384, 4096, 24576, 16384])
    assert (int(d["c"][0, 0, 0]), int(d["h"][0, 0, 0]), int(out[0, 0])) == (1536, 0, 8)


# ------------------------------------------------------------------------------------------
# SHS threshold


@pytest.mark.parametrize(
    ("thr", "o", "h", "y"),
    [
        (25600, 0, 0, 8),  # o = 25600 <= threshold → o = 0, h = 0; head (66704 + 4096) >> 13 = 8
        (30000, 0, 0, 8),
        (25599, 25600, 11325, 75),  # o > threshold: unchanged
        (-32768, 25600, 11325, 75),
    ],
)
def test_shs_threshold(thr, o, h, y):
    m = build(HAND, thr=thr)
    state, out = golden.step(m, golden.initial_state(m), np.array([[256]]), dumps=[d := {}])
    assert int(d["gate"][0, 3, 0]) == o
    assert int(state[0].h[0, 0]) == h
    assert int(state[0].c[0, 0]) == 2420  # the threshold only touches o, never c
    assert int(out[0, 0]) == y


def test_shs_zero_o_gives_exact_zero_h_everywhere():
    m = random_model(5, hidden=(9,), shs=True)
    thr = m.layers[0].o_threshold
    res = golden.run(m, random_inputs(m, 6, 10, seed=1), dump=True)
    o, h = res.layers[0]["gate"][:, :, 3], res.layers[0]["h"]
    assert np.all(o[o != 0] > thr)
    assert np.all(h[o == 0] == 0)
    assert (o == 0).any() and (o != 0).any()


# ------------------------------------------------------------------------------------------
# Saturation at both ends

BIG = {g: (127, 0, 0) for g in GATES}  # every gate ≈ 2·x


def test_pre_activation_saturates_both_ends():
    m = build(BIG)
    # x = 32767: acc = (127*32767) << 7 = 532663552, >> 13 = 65023 → saturates to 32767;
    # x = -32768: acc = -532676608 >> 13 = -65024 → -32768. Gates take the end entries.
    _, d = dump_run(m, [[[32767]], [[-32768]]])
    np.testing.assert_array_equal(d["pre"][:, 0, :, 0], [[32767] * 4, [-32768] * 4])
    np.testing.assert_array_equal(
        d["gate"][:, 0, :, 0], [[32256, 32256, 31744, 32256], [512, 512, -31744, 512]]
    )


def test_cell_state_saturates_both_ends():
    neg = dict(BIG, g=(-127, 0, 0))
    for w, end in ((BIG, 32767), (neg, -32768)):
        m = build(w, c_fmt=Q(16, 15))  # c in [-1, 1): cell_frac 30, shift 15 to c
        # step 1: c = 32256 * ±31744 >> 15 = ±31248 exactly (32256*31744 = 1023934464 = 31248·2^15)
        # step 2: (32256 * ±31248 + 32256 * ±31744) >> 15 ≈ ±61 996 → saturates; then stays
        _, d = dump_run(m, [[[32767]] * 4])
        np.testing.assert_array_equal(d["c"][0, :, 0], [31248 if end > 0 else -31248] + [end] * 3)


def test_hidden_state_saturates_both_ends():
    neg = dict(BIG, g=(-127, 0, 0))
    for w, end in ((BIG, 32767), (neg, -32768)):
        # h Q0.16 (|h| < 0.5): h_shift = 15 + 15 - 16 = 14. Step 1: c = ±1023934464 >> 18
        # = ±3906; tanh in = (±3906 + 8) >> 4 = ±244 → tc = ±(24576*244 >> 8) = ±23424;
        # o·tc = 32256 · ±23424 = ±755564544, >> 14 = ±46116 → saturates to 32767 / -32768
        m = build(w, h_fmt=Q(16, 16), head_b=0)
        _, d = dump_run(m, [[[32767]] * 2])
        assert int(d["c"][0, 0, 0]) == (3906 if end > 0 else -3906)
        assert np.all(d["h"][0, :, 0] == end)


def test_head_output_saturates_both_ends():
    for hb, end in ((1 << 30, 32767), (-(1 << 30), -32768)):
        # head acc = 48*h + ±2^30 with |48*h| < 2^21, >> 13 ≈ ±131072 → saturates
        m = build(HAND, head_b=hb)
        out, _ = dump_run(m, [[[256], [-128]]])
        assert int(out[0, 0]) == end
    # and from h itself: h saturated at ±32767/-32768 (Q0.16) times weight ±127, out
    # (shift 22 - 20 = 2): ±127*32767 / 4 ≈ ±1.04e6 → both ends
    neg = dict(BIG, g=(-127, 0, 0))
    for w, end in ((BIG, 32767), (neg, -32768)):
        m = build(w, h_fmt=Q(16, 16), head_w=127, head_b=0, out_fmt=Q(16, 20))
        out, _ = dump_run(m, [[[32767]] * 2])
        assert int(out[0, 0]) == end


# ------------------------------------------------------------------------------------------
# Accumulator bound


def test_acc_bound_by_hand_and_minimal_width():
    # 1 unit, 2 inputs; gate i: w_ih = [3, 5], w_hh = [7], bias -100; other gates all zero.
    # bound = (3+5)·32768 << 7 + 7·32768 << 0 + 100 = 33554432 + 229376 + 100 = 33783908
    # bits: 2^25 = 33554432 <= bound < 2^26 → bit_length 26 → 27-bit accumulator.
    w = {g: ([[0, 0]], [[0]], [0]) for g in GATES}
    w["i"] = ([[3, 5]], [[7]], [-100])
    m = build(w)
    lp = m.plan.layers[0]
    assert lp.gates["i"].acc.bound == 33783908
    assert [lp.gates[g].acc.bound for g in "fgo"] == [0, 0, 0]
    assert lp.acc_bits == 27
    # the bound is reached: x = [-32768, -32768], h = -32768 give acc = -33783908 exactly,
    # which needs 27 bits (-2^26 <= acc < -2^25): the width is minimal, not just sufficient
    acc = (3 * -32768 + 5 * -32768) * 2**7 + 7 * -32768 - 100
    assert acc == -33783908 and -(1 << 26) <= acc < -(1 << 25)
    state = golden.LayerState(h=np.array([[-32768]]), c=np.array([[0]]))
    d: dict = {}
    golden.layer_step(m, 0, np.array([[-32768, -32768]]), state, dump=d)
    # golden's pre equals rescale of that accumulator: (-33783908 + 4096) >> 13 = -4124
    assert int(d["pre"][0, 0, 0]) == -4124


def test_cell_bits_by_hand():
    m = build(HAND)
    # |f·c| <= 2^15 · 2^15, << shift_fc 3 → 2^33; |i·g| <= 2^15 · 2^15 = 2^30
    # bound 2^33 + 2^30 → bit_length 34 → 35 bits
    assert m.plan.layers[0].cell.sum_bits == 35
    m32 = build(HAND, c_fmt=Q(32, 12))  # 2^15 · 2^31 << 3 = 2^49, + 2^30 → 51 bits
    assert m32.plan.layers[0].cell.sum_bits == 51


def _exact_terms(la, gname, x, h):
    g = getattr(la, gname)
    sx, sh = la.shift_x(gname), la.shift_h(gname)
    terms = []
    for r in range(la.n_hidden):
        row = [int(w) * int(v) << sx for w, v in zip(g.w_ih.values[r], x)]
        row += [int(w) * int(v) << sh for w, v in zip(g.w_hh.values[r], h)]
        terms.append(row + [int(g.bias.values[r])])
    return terms


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_acc_bound_bounds_every_partial_sum(seed, data):
    """Every prefix sum, in any order, of every row for extreme and random codes is within the bound."""
    m = random_model(seed, n_in=3, hidden=(4,), weight_bits=data.draw(st.sampled_from([8, 16])))
    la = m.layers[0]
    xf, hf = la.in_fmt, la.h_fmt
    pick = st.sampled_from([xf.min_code, xf.max_code, 0, -1, 1])
    x = [data.draw(pick) for _ in range(la.n_in)]
    h = [data.draw(st.sampled_from([hf.min_code, hf.max_code, 0, 1])) for _ in range(la.n_hidden)]
    order = data.draw(st.permutations(range(la.n_in + la.n_hidden + 1)))
    lp = m.plan.layers[0]
    bits = lp.acc_bits
    for gname in GATES:
        bound = lp.gates[gname].acc.bound
        for row in _exact_terms(la, gname, x, h):
            run = 0
            for k in order:
                run += row[k]
                assert abs(run) <= bound
                assert -(1 << (bits - 1)) <= run < (1 << (bits - 1))
        # the worst case picks each code's sign against its weight: the most negative code
        g = getattr(la, gname)
        worst = max(
            sum(abs(int(w)) * xf.max_abs_code << la.shift_x(gname) for w in g.w_ih.values[r])
            + sum(abs(int(w)) * hf.max_abs_code << la.shift_h(gname) for w in g.w_hh.values[r])
            + abs(int(g.bias.values[r]))
            for r in range(la.n_hidden)
        )
        assert bound == worst
    assert bits == max(bits_for_bound(lp.gates[g].acc.bound) for g in GATES)


# ------------------------------------------------------------------------------------------
# Zero skipping, shapes, step vs run, dumps


@pytest.mark.parametrize("kind", ["classifier", "lm"])
def test_skip_zeros_never_changes_a_result(kind):
    zeros_seen = 0
    for seed in range(40):
        m = random_model(
            seed,
            kind=kind,
            n_in=3,
            hidden=(5, 3),
            n_out=2,
            vocab=7,
            shs=True,
            weight_bits=8 if seed % 2 else 16,
        )
        x = random_inputs(m, 3, 6, seed=seed)
        a = golden.run(m, x, skip_zeros=False, dump=True)
        b = golden.run(m, x, skip_zeros=True, dump=True)
        np.testing.assert_array_equal(a.outputs, b.outputs)
        for la, lb in zip(a.layers, b.layers):
            for k in ("pre", "gate", "c", "h"):
                np.testing.assert_array_equal(la[k], lb[k])
        zeros_seen += sum(int((d["h"] == 0).sum()) for d in a.layers)
    assert zeros_seen > 0  # the property was exercised on real zeros of h


def test_output_shapes_classifier_and_lm():
    m = random_model(1, kind="classifier", n_in=3, hidden=(5, 4), n_out=2)
    res = golden.run(m, random_inputs(m, 6, 7), dump=True)
    assert res.outputs.shape == (6, 2)
    lm = random_model(1, kind="lm", n_in=3, hidden=(5,), vocab=11)
    res_lm = golden.run(lm, random_inputs(lm, 6, 7), dump=True)
    assert res_lm.outputs.shape == (6, 7, 11)
    for r, hidden in ((res, (5, 4)), (res_lm, (5,))):
        assert len(r.layers) == len(hidden)
        for d, H in zip(r.layers, hidden):
            assert d["pre"].shape == (6, 7, 4, H) and d["gate"].shape == (6, 7, 4, H)
            assert d["c"].shape == (6, 7, H) and d["h"].shape == (6, 7, H)
            assert all(v.dtype == np.int64 for v in d.values())
    assert res.outputs.dtype == np.int64 and res_lm.outputs.dtype == np.int64
    no_dump = golden.run(m, random_inputs(m, 6, 7))
    assert no_dump.layers == []
    np.testing.assert_array_equal(no_dump.outputs, res.outputs)


def test_dumped_h_feeds_the_head():
    m = random_model(2, n_in=3, hidden=(4, 6), n_out=3)
    res = golden.run(m, random_inputs(m, 5, 4, seed=2), dump=True)
    top_h = res.layers[-1]["h"]
    np.testing.assert_array_equal(golden.head(m.head, top_h[:, -1]), res.outputs)
    # and layer 1's x is layer 0's h: rerun layer 1 on the dump
    lm = random_model(2, kind="lm", n_in=3, hidden=(4,), vocab=9)
    r = golden.run(lm, random_inputs(lm, 5, 4, seed=2), dump=True)
    for t in range(4):
        np.testing.assert_array_equal(golden.head(lm.head, r.layers[0]["h"][:, t]), r.outputs[:, t])


@pytest.mark.parametrize("kind", ["classifier", "lm"])
def test_step_by_step_equals_run(kind):
    m = random_model(3, kind=kind, n_in=2, hidden=(3, 5), n_out=4, vocab=6)
    x = random_inputs(m, 4, 6, seed=3)
    res = golden.run(m, x, dump=True)
    state = golden.initial_state(m, 4)
    outs = []
    for t in range(6):
        dumps = [{}, {}]
        state, y = golden.step(m, state, x[:, t], dumps=dumps)
        outs.append(y)
        for li in range(2):
            np.testing.assert_array_equal(state[li].h, res.layers[li]["h"][:, t])
            np.testing.assert_array_equal(state[li].c, res.layers[li]["c"][:, t])
            np.testing.assert_array_equal(dumps[li]["pre"], res.layers[li]["pre"][:, t])
            np.testing.assert_array_equal(dumps[li]["gate"], res.layers[li]["gate"][:, t])
    if kind == "lm":
        np.testing.assert_array_equal(np.stack(outs, axis=1), res.outputs)
    else:
        np.testing.assert_array_equal(outs[-1], res.outputs)
    _, none = golden.step(m, golden.initial_state(m, 4), x[:, 0], with_head=False)
    assert none is None


def test_batch_rows_are_independent():
    m = random_model(4, n_in=3, hidden=(6,))
    x = random_inputs(m, 5, 5, seed=4)
    whole = golden.run(m, x).outputs
    for b in range(5):
        np.testing.assert_array_equal(golden.run(m, x[b : b + 1]).outputs, whole[b : b + 1])


def test_initial_state_is_zero():
    m = random_model(0, hidden=(3, 2))
    st0 = golden.initial_state(m, 2)
    assert [s.h.shape for s in st0] == [(2, 3), (2, 2)]
    assert all(not s.h.any() and not s.c.any() for s in st0)


# ------------------------------------------------------------------------------------------
# check_inputs


def test_check_inputs_classifier():
    m = random_model(0, n_in=4)  # input format 16-bit
    ok = np.zeros((2, 3, 4), np.int16)
    assert golden.check_inputs(m, ok).dtype == np.int64
    bad = [
        (np.full((1, 2, 4), 32768, np.int64), "out of range"),
        (np.full((1, 2, 4), -32769, np.int64), "out of range"),
        (np.zeros((1, 2, 4), np.float32), "integer"),
        (np.zeros((1, 2, 4), bool), "integer"),
        (np.zeros((2, 4), np.int64), "shape"),
        (np.zeros((1, 2, 5), np.int64), "shape"),
        (np.zeros((1, 2, 4, 1), np.int64), "shape"),
        (np.zeros((1, 0, 4), np.int64), "time step"),
    ]
    for arr, msg in bad:
        with pytest.raises(DataError, match=msg):
            golden.check_inputs(m, arr)
        with pytest.raises(DataError):
            golden.run(m, arr)
    edge = np.array([[[-32768, 32767, 0, -1]]])
    golden.run(m, edge)  # both ends are valid codes


def test_check_inputs_lm():
    m = random_model(0, kind="lm", vocab=10)
    golden.check_inputs(m, np.array([[0, 9, 3]]))
    for arr, msg in [
        (np.array([[0, 10]]), "token ids"),
        (np.array([[-1, 2]]), "token ids"),
        (np.array([[0.0, 1.0]]), "integer"),
        (np.zeros((1, 2, 3), np.int64), "batch, time"),
        (np.zeros(3, np.int64), "batch, time"),
        (np.zeros((2, 0), np.int64), "time step"),
    ]:
        with pytest.raises(DataError, match=msg):
            golden.check_inputs(m, arr)


def test_check_inputs_rejects_huge_unsigned_codes():
    m = random_model(0, n_in=2)
    with pytest.raises(DataError):
        golden.check_inputs(m, np.full((1, 1, 2), 2**64 - 1, np.uint64))

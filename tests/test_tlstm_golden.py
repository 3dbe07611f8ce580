"""The integer tLSTM: IR validation and its own serialization schema, the arithmetic plan (every
golden intermediate within its site's bound), the integer softmax, causality of the delayed
output in integers, and the quantizer (float vs golden, refusals)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest

from lstmgen import golden_tlstm, ir
from lstmgen.errors import FormatError, IRError, UsageError
from lstmgen.fixedpoint import code_max, code_min
from lstmgen.ir import IntTensor, QFormat
from lstmgen.ir.tlstm import TLSTM_FORMAT, ExpTable
from lstmgen.quant import QuantOptions
from lstmgen.quant.tlstm import (
    TlstmFloat,
    evaluate_tlstm,
    float_outputs,
    make_exp_table,
    pad_ids,
    quantize_tlstm,
    random_tlstm,
)
from lstmgen.testing import random_inputs, random_model

pytestmark = pytest.mark.unit

# (seed, kind, P, M, K, memory_conv, feedback, weight_bits, c_bits)
CASES = [
    (0, "classifier", 1, 3, 2, True, True, 16, 16),
    (1, "classifier", 1, 4, 3, False, True, 8, 32),
    (2, "lm", 3, 5, 3, True, True, 16, 32),
    (3, "classifier", 4, 2, 2, True, False, 16, 16),
    (4, "lm", 2, 6, 4, False, False, 8, 16),
    (5, "classifier", 5, 3, 5, True, True, 8, 32),
    (6, "lm", 1, 1, 2, True, True, 16, 16),
]


def _model(case):
    seed, kind, P, M, K, mc, fb, wb, cb = case
    return random_tlstm(seed, kind=kind, P=P, M=M, K=K, memory_conv=mc, feedback=fb,
                        weight_bits=wb, c_bits=cb)


# ---------------------------------------------------------------------------------------------
# IR and serialization


@pytest.mark.parametrize("case", CASES)
def test_round_trip_is_byte_identical(case) -> None:
    m = _model(case)
    data = ir.dumps(m)
    back = ir.loads(data)
    assert ir.dumps(back) == data and ir.sha256(back) == ir.sha256(m)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("ir.json"))
    assert doc["format"] == TLSTM_FORMAT and doc["version"] == 1
    x = random_inputs(m, 3, 5, 0)
    assert np.array_equal(golden_tlstm.run(back, x).outputs, golden_tlstm.run(m, x).outputs)


def test_lstm_ir_schema_is_unchanged() -> None:
    """An LSTM IR keeps its own schema (no key of the tLSTM's in it)."""
    doc = json.loads(zipfile.ZipFile(io.BytesIO(ir.dumps(random_model(0)))).read("ir.json"))
    assert doc["format"] == "lstmgen-ir" and set(doc) == {
        "format", "version", "generator", "name", "kind", "tables", "embedding", "layers", "head",
        "meta"}


def _tampered(m, change) -> bytes:
    data = ir.dumps(m)
    src = zipfile.ZipFile(io.BytesIO(data))
    doc = json.loads(src.read("ir.json"))
    change(doc)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in src.namelist():
            zf.writestr(name, json.dumps(doc) if name == "ir.json" else src.read(name))
    return buf.getvalue()


@pytest.mark.parametrize("change,match", [
    (lambda d: d.update(version=2), "tLSTM IR version 2"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d.update(depth=99), "depth 99 exceeds"),
    (lambda d: d.update(offsets=[0, 1, 2]), "offsets"),
    (lambda d: d.update(K=4), "offsets must be a list of 4"),
    (lambda d: d["gates"].update(z=d["gates"]["g"]), "unknown gate"),
    (lambda d: d["gates"].pop("f"), "missing field 'f'"),
    (lambda d: d["tables"]["exp"].update(func="tanh"), "func must be 'exp'"),
    (lambda d: d.update(c_fmt=[8, 4]), "cell width 8"),
    (lambda d: d["head"].update(in_fmt=[16, 14]), "head: input format"),
    (lambda d: d.pop("P"), "missing field 'P'"),
])
def test_damaged_files_name_the_field(change, match: str) -> None:
    m = _model(CASES[2])
    with pytest.raises(IRError, match=match):
        ir.loads(_tampered(m, change), "t.lstmir")


def test_validation_names_the_field() -> None:
    m = _model(CASES[0])
    g = m.i
    bad_bias = dataclasses.replace(g, bias=IntTensor(g.bias.values, QFormat(40, g.bias.fmt.frac + 1)))
    with pytest.raises(FormatError, match="gate i: bias fraction"):
        m.replace(i=bad_bias)
    with pytest.raises(IRError, match="gate f: weight shape"):
        m.replace(f=dataclasses.replace(m.f, weight=IntTensor(
            np.zeros((m.K, m.M + 1, m.M), np.int64), m.f.weight.fmt)))
    with pytest.raises(IRError, match="embedding"):
        m.replace(kind="lm")
    with pytest.raises(IRError, match="depth"):
        m.replace(depth=m.depth + 5)
    with pytest.raises(IRError, match="q and the exp table"):
        m.replace(exp=None)
    e = m.exp
    assert e is not None
    low = IntTensor(np.minimum(e.values.values, 1000), e.values.fmt)
    with pytest.raises(FormatError, match="table exp: the entry at input 0"):
        dataclasses.replace(e, values=low)


# ---------------------------------------------------------------------------------------------
# The integer softmax


def test_softmax_small_example() -> None:
    """Three logits 0, -1, -2 (Q6.10: 0, -1024, -2048): e = exp table values, the weights sum
    to 2^15 within K codes and follow the float softmax."""
    exp = make_exp_table()
    q = np.array([[0, -1024, -2048]])
    tr: dict = {}
    w = golden_tlstm.softmax_weights(exp, q, tr)
    assert tr["exp"][0, 0] == 32767  # exp(0) = 1 saturates to Q1.15's largest code
    s = int(tr["sum"][0, 0])
    assert tr["recip"][0, 0] == ((1 << 30) + (s >> 1)) // s
    f = np.exp([0.0, -1.0, -2.0])
    np.testing.assert_allclose(w[0] / 32768, f / f.sum(), atol=2e-4)


@pytest.mark.parametrize("K", [2, 3, 5, 8])
@pytest.mark.parametrize("interp", [True, False])
def test_softmax_properties(K: int, interp: bool) -> None:
    exp = make_exp_table(log2_entries=6, interp=interp)
    rng = np.random.default_rng(K)
    q = rng.integers(-32768, 32768, size=(4000, K))
    q[:50] = 32767
    q[50:100] = -32768  # all equal, at both ends
    q[100:150, 0] = 32767
    q[100:150, 1:] = -32768  # the largest difference
    tr: dict = {}
    w = golden_tlstm.softmax_weights(exp, q, tr)
    assert (w >= 0).all() and np.abs(w.sum(axis=-1) - (1 << 15)).max() <= K
    assert (tr["er"] + (1 << 14) < (1 << 31)).all() and (tr["sum"] > 0).all()
    z = q / 1024.0
    f = np.exp(z - z.max(axis=-1, keepdims=True))
    f /= f.sum(axis=-1, keepdims=True)
    # plain tables sample bucket centres 0.25 apart: exp is off by up to e^0.125 there
    np.testing.assert_allclose(w / 32768, f, atol=0.07 if not interp else 2e-3)


# ---------------------------------------------------------------------------------------------
# The plan: every intermediate within its site's bound


def _check_bounds(m, tr) -> None:
    p = m.plan
    for name, s in p.gates.items():
        assert np.abs(tr[f"mv_h/{name}"]).max() <= s.mv_h.bound
        top_bound = 0 if s.mv_top is None else s.mv_top.bound
        assert np.abs(tr[f"mv_top/{name}"]).max() <= top_bound
        assert np.abs(tr[f"acc/{name}"]).max() <= s.acc.bound
    if p.top is not None and "top/mv" in tr:
        assert np.abs(tr["top/mv"]).max() <= p.top.mv.bound
        assert np.abs(tr["top/acc"]).max() <= p.top.acc.bound
    sm = p.softmax
    if sm is not None:
        assert tr["softmax/diff"].min() >= -sm.diff.in_bound and tr["softmax/diff"].max() <= 0
        assert tr["softmax/exp"].max() <= sm.e_max and tr["softmax/exp"].min() >= 0
        assert tr["softmax/sum"].min() >= sm.e0 and tr["softmax/sum"].max() <= sm.sum_bound
        assert tr["softmax/recip"].max() <= sm.recip_bound
        assert tr["softmax/er"].max() <= sm.weight.in_bound
        assert tr["softmax/w"].max() <= sm.weight.out_bound
        assert tr["softmax/w"].sum(axis=-1).max() <= sm.weight_sum_bound
        assert np.abs(tr["cconv_sum"]).max() <= sm.cconv.in_bound
    assert np.abs(tr["cell"]).max() <= p.cell.rescale.in_bound
    assert np.abs(tr["h"]).max() <= p.h.in_bound
    assert p.acc_bits == max(s.acc.bits for s in p.gates.values())


@pytest.mark.parametrize("case", CASES)
def test_every_intermediate_within_its_bound(case) -> None:
    """Golden's intermediates on extreme states (every code of h, c at both ends) and extreme
    inputs stay within the plan's bounds."""
    m = _model(case)
    rng = np.random.default_rng(case[0])
    B = 64
    for trial in range(4):
        h = rng.choice([m.h_fmt.min_code, m.h_fmt.max_code, 0], size=(B, m.P, m.M))
        c = rng.choice([code_min(m.c_fmt.bits), code_max(m.c_fmt.bits)], size=(B, m.P, m.M))
        if trial == 0:
            h = rng.integers(m.h_fmt.min_code, m.h_fmt.max_code + 1, size=(B, m.P, m.M))
        state = golden_tlstm.TlstmState(h.astype(np.int64), c.astype(np.int64))
        tr: dict = {}
        if m.is_lm:
            top = golden_tlstm.row0(m, rng.integers(0, m.vocab, B))
        else:
            x = rng.choice([m.in_fmt.min_code, m.in_fmt.max_code], size=(B, m.n_in))
            top = golden_tlstm.row0(m, x, tr)
        golden_tlstm.step(m, state, top, trace=tr)
        _check_bounds(m, tr)


def test_int32_sites_are_exact_at_the_boundary() -> None:
    """The softmax's int32 facts hold for the worst table the IR admits (e0 = 2^14)."""
    exp = make_exp_table()
    v = np.minimum(exp.values.values, 1 << 14)
    worst = dataclasses.replace(exp, values=IntTensor(v, exp.values.fmt))
    assert worst.at_zero == 1 << 14
    m = _model(CASES[2]).replace(exp=worst)
    sm = m.plan.softmax
    assert sm.recip_bound == (1 << 16) and sm.weight.fits32
    with pytest.raises(FormatError):
        ExpTable(exp.in_fmt, exp.lo, exp.shift, IntTensor(v - 1, exp.values.fmt), exp.interp)


# ---------------------------------------------------------------------------------------------
# Causality and the delay, in integers


@pytest.mark.parametrize("case", [c for c in CASES if c[1] == "lm"])
def test_integer_lm_is_causal(case) -> None:
    """Golden LM output t + L - 1 (the delayed output of token t) is unchanged by any token after
    t, exactly."""
    m = _model(case)
    L = m.depth
    x = random_inputs(m, 4, 8, 1)
    y = golden_tlstm.run(m, pad_ids(x, L)).outputs
    for t in range(8):
        x2 = x.copy()
        x2[:, t + 1:] = (x2[:, t + 1:] + 3) % m.vocab
        y2 = golden_tlstm.run(m, pad_ids(x2, L)).outputs
        assert np.array_equal(y[:, :t + L], y2[:, :t + L])


def test_classifier_output_follows_the_delay() -> None:
    """A classifier's output is the head after T + L - 1 steps (the last L - 1 on zero codes)."""
    m = _model(CASES[5])
    x = random_inputs(m, 3, 6, 2)
    padded = np.concatenate([x, np.zeros((3, m.depth - 1, m.n_in), np.int64)], axis=1)
    st = golden_tlstm.initial_state(m, 3)
    for t in range(padded.shape[1]):
        st = golden_tlstm.step(m, st, golden_tlstm.row0(m, padded[:, t]))
    from lstmgen.golden import head

    assert np.array_equal(golden_tlstm.run(m, x).outputs, head(m.head, st.h[:, -1]))


# ---------------------------------------------------------------------------------------------
# The quantizer


def _float_net(kind: str, seed: int, memory_conv: bool = True, V: int = 9) -> TlstmFloat:
    rng = np.random.default_rng(seed)
    P, M, K, R = 3, 6, 3, 4
    nq = K if memory_conv else 0
    return TlstmFloat(
        kind, P, K, (-1, 0, 1), 3, memory_conv,
        w_h=rng.normal(0, 0.5, (K, M, 4 * M + nq)), b_h=rng.normal(0, 0.3, 4 * M + nq),
        head_w=rng.normal(0, 0.5, (V if kind == "lm" else 3, M)),
        head_b=rng.normal(0, 0.1, V if kind == "lm" else 3),
        w_x=None if kind == "lm" else rng.normal(0, 0.5, (R, M)),
        b_x=None if kind == "lm" else rng.normal(0, 0.1, M),
        embedding=rng.normal(0, 0.5, (V, M)) if kind == "lm" else None)


@pytest.mark.parametrize("kind", ["classifier", "lm"])
@pytest.mark.parametrize("memory_conv", [True, False])
def test_golden_follows_float(kind: str, memory_conv: bool) -> None:
    net = _float_net(kind, 1, memory_conv)
    rng = np.random.default_rng(2)
    calib = rng.integers(0, 9, (16, 12)) if kind == "lm" else rng.normal(0, 1, (16, 12, 4))
    m = quantize_tlstm(net, calib, QuantOptions(), name="t")
    from lstmgen.quant.quantize import quantize_inputs

    codes = calib if kind == "lm" else quantize_inputs(m, calib)
    g = m.head.out_fmt.to_float(golden_tlstm.run(m, codes).outputs)
    f = float_outputs(m, codes)
    assert np.abs(g - f).max() < 0.01 * max(1.0, np.abs(f).max())


def test_evaluate_on_an_algorithmic_batch() -> None:
    from lstmgen.data.algorithmic import generate

    net = _float_net("lm", 3, V=11)
    algo = generate("addition", 20, 1, 0)
    m = quantize_tlstm(net, algo.inputs, name="t")
    r = evaluate_tlstm(net, m, algo=algo)
    assert set(r) >= {"float_accuracy", "golden_accuracy", "agreement"} and r["vectors"] == 20


def test_quantizer_refusals() -> None:
    net = _float_net("classifier", 4)
    calib = np.random.default_rng(0).normal(0, 1, (4, 5, 4))
    with pytest.raises(UsageError, match="16-bit activations"):
        quantize_tlstm(net, calib, QuantOptions(act_bits=8))
    from lstmgen.nn.tlstm import TlstmSpec
    from lstmgen.quant.tlstm import net_from_state_dict

    with pytest.raises(UsageError, match="channel normalization"):
        net_from_state_dict("classifier", TlstmSpec(P=2, channel_norm=True), {})

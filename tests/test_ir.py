"""The IR (``lstmgen.ir``): validation with clear errors, deterministic (de)serialisation."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstmgen import golden, ir
from lstmgen.commands.irinfo import describe_ir
from lstmgen.errors import FormatError, IRError
from lstmgen.ir import GATES, ActTable, Gate, IntTensor, LstmLayer, Model, QFormat
from lstmgen.testing import random_inputs, random_model

pytestmark = pytest.mark.unit

Q = QFormat


# ------------------------------------------------------------------------------------------
# helpers


def remodel(m: Model, **kw) -> Model:
    """A new Model with some fields replaced (validation runs again)."""
    fields = {f.name: getattr(m, f.name) for f in dataclasses.fields(Model) if f.init}
    fields.update(kw)
    return Model(**fields)


def relayer(la: LstmLayer, **kw) -> LstmLayer:
    return dataclasses.replace(la, **kw)


def regate(g: Gate, **kw) -> Gate:
    return dataclasses.replace(g, **kw)


def tensor_like(t: IntTensor, values=None, fmt=None) -> IntTensor:
    return IntTensor(
        t.values if values is None else values, t.fmt if fmt is None else fmt, name=t.name
    )


def rezip(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    """Copy the archive, replacing members (``None`` drops one)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    out.writestr(info.filename, replace[info.filename])
            else:
                out.writestr(info.filename, src.read(info.filename))
    return buf.getvalue()


def edit_json(data: bytes, fn) -> bytes:
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("ir.json"))
    fn(doc)
    return rezip(data, {"ir.json": json.dumps(doc).encode()})


def npy(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def arrays_of(m: Model) -> dict[str, np.ndarray]:
    out = {
        "head.w": m.head.weight.values,
        "head.b": m.head.bias.values,
        "sig": m.sigmoid.values.values,
        "tanh": m.tanh.values.values,
    }
    if m.embedding is not None:
        out["emb"] = m.embedding.values
    for li, la in enumerate(m.layers):
        for g, gate in la.gates():
            for k in ("w_ih", "w_hh", "bias"):
                out[f"{li}.{g}.{k}"] = getattr(gate, k).values
    return out


def formats_of(m: Model) -> list:
    fm = [
        m.head.weight.fmt,
        m.head.bias.fmt,
        m.head.in_fmt,
        m.head.out_fmt,
        m.sigmoid.in_fmt,
        m.sigmoid.out_fmt,
        m.tanh.in_fmt,
        m.tanh.out_fmt,
        m.sigmoid.lo,
        m.sigmoid.shift,
        m.tanh.lo,
        m.tanh.shift,
        m.sigmoid.interp,
        m.tanh.interp,
    ]
    for la in m.layers:
        fm += [la.in_fmt, la.c_fmt, la.h_fmt, la.o_threshold]
        fm += [getattr(g, k).fmt for _, g in la.gates() for k in ("w_ih", "w_hh", "bias")]
    return fm


def assert_same_model(a: Model, b: Model) -> None:
    assert (a.name, a.kind, a.hidden, a.n_in, a.n_out, a.vocab, a.meta) == (
        b.name,
        b.kind,
        b.hidden,
        b.n_in,
        b.n_out,
        b.vocab,
        b.meta,
    )
    assert formats_of(a) == formats_of(b)
    aa, bb = arrays_of(a), arrays_of(b)
    assert aa.keys() == bb.keys()
    for k in aa:
        assert aa[k].dtype == bb[k].dtype == np.int64
        np.testing.assert_array_equal(aa[k], bb[k], err_msg=k)


MODELS = [
    {"seed": s, "kind": k, "hidden": h, "weight_bits": wb, "shs": shs}
    for s, (k, h, wb, shs) in enumerate(
        [
            ("classifier", (8,), 16, None),
            ("classifier", (1,), 8, True),
            ("lm", (5, 3), 16, True),
            ("lm", (2,), 8, False),
            ("classifier", (7, 4, 1), 16, True),
            ("lm", (6,), 16, None),
        ]
    )
]


@pytest.fixture(params=range(len(MODELS)), ids=lambda i: f"m{i}")
def model(request) -> Model:
    kw = dict(MODELS[request.param])
    return random_model(kw.pop("seed"), **kw)


# ------------------------------------------------------------------------------------------
# round trip and determinism


def test_round_trip_bytes_and_arrays(model):
    data = ir.dumps(model)
    back = ir.loads(data)
    assert_same_model(model, back)
    assert ir.dumps(back) == data  # bytes identical after a round trip
    x = random_inputs(model, 3, 4, seed=9)
    np.testing.assert_array_equal(golden.run(model, x).outputs, golden.run(back, x).outputs)


def test_dumps_is_deterministic(model):
    assert ir.dumps(model) == ir.dumps(model)
    assert ir.sha256(model) == ir.sha256(ir.loads(ir.dumps(model)))
    assert len(ir.sha256(model)) == 64


@pytest.mark.parametrize("i", range(len(MODELS)))
def test_same_model_built_twice_serialises_identically(i):
    kw = dict(MODELS[i])
    seed = kw.pop("seed")
    assert ir.dumps(random_model(seed, **kw)) == ir.dumps(random_model(seed, **kw))
    assert ir.dumps(random_model(seed, **kw)) != ir.dumps(random_model(seed + 100, **kw))


def test_archive_layout(model):
    zf = zipfile.ZipFile(io.BytesIO(ir.dumps(model)))
    names = zf.namelist()
    assert names[0] == "ir.json"
    assert names[1:] == sorted(names[1:]) and all(n.startswith("arrays/") for n in names[1:])
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())  # no timestamps
    doc = json.loads(zf.read("ir.json"))
    assert (doc["format"], doc["version"], doc["name"], doc["kind"]) == (
        "lstmgen-ir",
        ir.IR_VERSION,
        model.name,
        model.kind,
    )
    # arrays are stored in the narrowest integer type of their format
    w = np.load(io.BytesIO(zf.read("arrays/layers/0/i/w_ih.npy")))
    assert w.dtype == (np.int8 if model.layers[0].i.w_ih.fmt.bits == 8 else np.int16)


def test_save_then_load(tmp_path: Path, model):
    p = ir.save(model, tmp_path / "m.lstmir")
    assert p == tmp_path / "m.lstmir" and p.read_bytes() == ir.dumps(model)
    assert_same_model(model, ir.load(p))
    assert ir.load(str(p)).name == model.name
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.lstmir"]  # no temp file left


def test_load_missing_file(tmp_path: Path):
    with pytest.raises(IRError, match="cannot read"):
        ir.load(tmp_path / "nope.lstmir")


# ------------------------------------------------------------------------------------------
# validation


@pytest.fixture
def base() -> Model:
    return random_model(11, n_in=3, hidden=(4, 2), n_out=2, shs=True)


def test_valid_base(base):
    assert base.hidden == (4, 2) and base.n_in == 3 and base.n_out == 2


def test_shape_mismatch(base):
    la = base.layers[0]
    bad = regate(la.f, w_hh=tensor_like(la.f.w_hh, np.zeros((4, 5), np.int64)))
    with pytest.raises(IRError, match=r"layer 0 gate f: w_hh shape \(4, 5\) != \(4, 4\)"):
        remodel(base, layers=(relayer(la, f=bad), base.layers[1]))
    bad = regate(la.o, w_ih=tensor_like(la.o.w_ih, np.zeros((4, 2), np.int64)))
    with pytest.raises(IRError, match=r"gate o: w_ih shape"):
        remodel(base, layers=(relayer(la, o=bad), base.layers[1]))
    bad = regate(la.g, bias=tensor_like(la.g.bias, np.zeros(3, np.int64)))
    with pytest.raises(IRError, match=r"gate g: bias shape"):
        remodel(base, layers=(relayer(la, g=bad), base.layers[1]))
    hw = tensor_like(base.head.weight, np.zeros((2, 3), np.int64))
    with pytest.raises(IRError, match=r"head: weight has 3 inputs, top layer has 2 units"):
        remodel(base, head=dataclasses.replace(base.head, weight=hw))


def test_bias_fraction_mismatch(base):
    la = base.layers[0]
    b = la.i.bias
    bad = regate(la.i, bias=tensor_like(b, fmt=Q(b.fmt.bits, b.fmt.frac + 1)))
    with pytest.raises(FormatError, match="bias fraction .* != accumulator fraction"):
        remodel(base, layers=(relayer(la, i=bad), base.layers[1]))
    hb = base.head.bias
    with pytest.raises(FormatError, match="head: bias fraction"):
        remodel(
            base, head=dataclasses.replace(base.head, bias=tensor_like(hb, fmt=Q(hb.fmt.bits, 0)))
        )


def test_weight_width_12(base):
    la = base.layers[0]
    w = la.g.w_hh
    bad = regate(la.g, w_hh=IntTensor(np.zeros(w.shape, np.int64), Q(12, w.fmt.frac)))
    with pytest.raises(FormatError, match="weight width 12 not in"):
        remodel(base, layers=(relayer(la, g=bad), base.layers[1]))
    hw = base.head.weight
    with pytest.raises(FormatError, match="head: weight width 12"):
        remodel(
            base,
            head=dataclasses.replace(
                base.head, weight=IntTensor(hw.values // 16, Q(12, hw.fmt.frac))
            ),
        )


def test_code_out_of_range():
    with pytest.raises(FormatError, match=r"w: codes \[-3, 200\] do not fit 8-bit format"):
        IntTensor(np.array([200, -3]), Q(8, 0), name="w")
    with pytest.raises(FormatError, match="do not fit 16-bit"):
        IntTensor(np.array([-32769]), Q(16, 3))
    IntTensor(np.array([-128, 127]), Q(8, 0))  # both ends fit
    with pytest.raises(IRError, match="integer codes expected"):
        IntTensor(np.array([1.0]), Q(8, 0))
    t = IntTensor(np.array([1, 2], np.int16), Q(8, 0))
    assert t.values.dtype == np.int64 and not t.values.flags.writeable


def test_bad_format_fields():
    with pytest.raises(FormatError, match="width 1"):
        Q(1, 0)
    with pytest.raises(FormatError, match="width 65"):
        Q(65, 0)
    with pytest.raises(FormatError, match="fraction 65"):
        Q(16, 65)
    with pytest.raises(FormatError, match="integers"):
        Q(16.0, 3)
    with pytest.raises(IRError, match="format must be"):
        Q.from_json([16], "here")
    assert Q.from_json([16, 15], "here") == Q(16, 15)
    assert str(Q(16, 15)) == "Q1.15" and str(Q(8, 10)) == "Q-2.10"


def test_wrong_layer_chaining_format(base):
    l0, l1 = base.layers
    other = Q(16, l0.h_fmt.frac - 1)
    with pytest.raises(IRError, match=r"layer 1: input format .* differs from layer 0's h format"):
        remodel(base, layers=(l0, relayer(l1, in_fmt=other)))
    with pytest.raises(IRError, match="head: input format"):
        remodel(base, head=dataclasses.replace(base.head, in_fmt=Q(16, l1.h_fmt.frac - 1)))


@pytest.mark.parametrize("name", ["Net", "1net", "a-b", "", "x" * 33, "net!", "_net", "né"])
def test_bad_name(base, name):
    why = r"is 33 characters long \(at most 32\)" if len(name) > 32 else "is not a C identifier"
    with pytest.raises(IRError, match=rf"model: name .* {why}: lower-case letter, then up to 31"):
        remodel(base, name=name)


@pytest.mark.parametrize("name", ["a", "net_2", "x" * 32])
def test_good_name(base, name):
    assert remodel(base, name=name).name == name


def test_unknown_kind_and_embedding_rules(base):
    with pytest.raises(IRError, match="unknown kind 'rnn'"):
        remodel(base, kind="rnn")
    with pytest.raises(IRError, match="an lm needs an embedding"):
        remodel(base, kind="lm")
    emb = IntTensor(np.zeros((5, 3), np.int64), base.input_fmt)
    with pytest.raises(IRError, match="a classifier has no embedding"):
        remodel(base, embedding=emb)
    with pytest.raises(IRError, match="embedding: must be"):
        remodel(base, kind="lm", embedding=IntTensor(np.zeros((5, 2), np.int64), base.input_fmt))
    lm = remodel(base, kind="lm", embedding=emb)
    assert lm.vocab == 5


def test_tables_rules(base):
    with pytest.raises(IRError, match="tables must be"):
        remodel(base, sigmoid=base.tanh, tanh=base.sigmoid)
    t = base.sigmoid
    t8 = ActTable(t.func, Q(8, 4), -128, 4, t.values, t.interp)
    with pytest.raises(FormatError, match="input and output must be 16-bit"):
        remodel(base, sigmoid=t8)


def _bias_huge(base: Model, value: int) -> Model:
    la = base.layers[0]
    b = la.i.bias
    codes = np.array(b.values)
    codes[0] = value
    bad = regate(la.i, bias=IntTensor(codes, Q(64, b.fmt.frac)))
    return remodel(base, layers=(relayer(la, i=bad), base.layers[1]))


def test_accumulator_bound_over_62_bits(base):
    with pytest.raises(FormatError, match="62"):
        _bias_huge(base, 1 << 62)
    _bias_huge(base, 1 << 40)  # a wide bias whose sum still fits is fine
    hb = base.head.bias
    codes = np.array(hb.values)
    codes[0] = -(1 << 62)
    with pytest.raises(FormatError, match=r"head: accumulator bound needs 64 bits \(> 62\)"):
        remodel(
            base, head=dataclasses.replace(base.head, bias=IntTensor(codes, Q(64, hb.fmt.frac)))
        )


def test_accumulator_bound_message_names_the_accumulator(base):
    with pytest.raises(FormatError, match="accumulator bound needs"):
        _bias_huge(base, 1 << 62)


def test_62_bit_guard_on_rescale_sites(base):
    l0, l1 = base.layers
    # gate site: pre = rescale(acc, acc_frac - table.in.frac, 16); a table input makes
    # that a left shift of acc_frac - 64 (< -30) on an accumulator of more than 30 bits
    t = base.sigmoid
    fine = ActTable(t.func, Q(16, 64), t.lo, t.shift, t.values, t.interp)
    shift = l0.acc_frac("i") - 64
    acc_bits = base.plan.layers[0].acc_bits
    assert acc_bits - shift > 62
    with pytest.raises(
        FormatError,
        match=rf"layer 0 gate i: rescale by {shift} of a {acc_bits}-bit "
        "value exceeds 62 bits",
    ):
        remodel(base, sigmoid=fine)
    # cell site: c Q56.-40 → f·c has fraction 15 - 40 = -25, aligned to i·g's 30 by << 55
    c_bad = relayer(l1, c_fmt=Q(16, -40))
    # |f·c| <= 2^15 · 2^15 << 55 = 2^85, + |i·g| <= 2^30: 87 bits
    with pytest.raises(
        FormatError, match=r"layer 1 cell: rescale by 70 of a 87-bit value exceeds 62"
    ):
        remodel(base, layers=(l0, c_bad))
    # head site: out frac far above the accumulator fraction
    with pytest.raises(FormatError, match="head: rescale by"):
        remodel(base, head=dataclasses.replace(base.head, out_fmt=Q(16, 64)))


def test_o_threshold_out_of_range(base):
    l0, l1 = base.layers
    for thr in (32768, -32769, 10**9):
        with pytest.raises(IRError, match=r"layer 0.o_threshold: .* out of range -32768..32767"):
            remodel(base, layers=(relayer(l0, o_threshold=thr), l1))
    for thr in (1.5, "3", True, np.int64(5)):
        with pytest.raises(IRError, match="o_threshold: integer expected"):
            remodel(base, layers=(relayer(l0, o_threshold=thr), l1))
    for thr in (-32768, 0, 32767, None):
        assert remodel(base, layers=(relayer(l0, o_threshold=thr), l1)).layers[0].o_threshold == thr


def test_cell_width_limits(base):
    l0, l1 = base.layers
    with pytest.raises(FormatError, match="cell width 33"):
        remodel(base, layers=(l0, relayer(l1, c_fmt=Q(33, 12))))


def test_no_layers(base):
    with pytest.raises(IRError, match="at least one LSTM layer"):
        remodel(base, layers=())


def test_one_dimensional_weight_in_later_gate_is_irerror(base):
    la = base.layers[0]
    bad = regate(la.f, w_ih=IntTensor(np.zeros(4, np.int64), la.f.w_ih.fmt))
    with pytest.raises(IRError):
        remodel(base, layers=(relayer(la, f=bad), base.layers[1]))


def test_one_dimensional_first_weight_is_irerror(base):
    la = base.layers[0]
    bad = regate(la.i, w_ih=IntTensor(np.zeros(4, np.int64), la.i.w_ih.fmt))
    with pytest.raises(IRError):
        remodel(base, layers=(relayer(la, i=bad), base.layers[1]))


# ------------------------------------------------------------------------------------------
# corrupted archives


@pytest.fixture
def data() -> bytes:
    return ir.dumps(random_model(3, kind="lm", hidden=(3,), vocab=5, shs=True))


def test_truncated_archive(data):
    for n in sorted({0, 1, 10, 100, len(data) // 2, len(data) - 23, len(data) - 1}):
        with pytest.raises(IRError, match="<bytes>"):
            ir.loads(data[:n])
    for n in range(0, len(data), 7):  # every truncation point, in steps
        with pytest.raises(IRError):
            ir.loads(data[:n])


def test_random_bytes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        with pytest.raises(IRError, match="not a zip file"):
            ir.loads(rng.bytes(int(rng.integers(0, 3000))), src="junk.lstmir")


def test_zip_without_ir_json(data):
    with pytest.raises(IRError, match="no ir.json"):
        ir.loads(rezip(data, {"ir.json": None}))


def test_invalid_json(data):
    with pytest.raises(IRError, match="not valid JSON"):
        ir.loads(rezip(data, {"ir.json": b"{not json"}))
    with pytest.raises(IRError, match="not valid JSON"):
        ir.loads(rezip(data, {"ir.json": b"\xff\xfe\x00"}))
    with pytest.raises(IRError, match="format field missing"):
        ir.loads(rezip(data, {"ir.json": b"[1, 2]"}))


def test_wrong_version(data):
    def bump(doc):
        doc["version"] = 2

    with pytest.raises(
        IRError, match=r"m\.lstmir: IR version 2 is not supported \(this lstmgen reads 1\)"
    ):
        ir.loads(edit_json(data, bump), src="m.lstmir")

    def drop(doc):
        del doc["version"]

    with pytest.raises(IRError, match="IR version None"):
        ir.loads(edit_json(data, drop))


def test_missing_array_member(data):
    with pytest.raises(IRError, match="missing array member arrays/layers/0/g/w_hh.npy"):
        ir.loads(rezip(data, {"arrays/layers/0/g/w_hh.npy": None}))
    with pytest.raises(IRError, match="missing array member arrays/embedding.npy"):
        ir.loads(rezip(data, {"arrays/embedding.npy": None}))


def test_float_array_member(data):
    with pytest.raises(
        IRError, match="layer 0 gate i bias: integer codes expected, got dtype float64"
    ):
        ir.loads(rezip(data, {"arrays/layers/0/i/bias.npy": npy(np.zeros(3))}))
    with pytest.raises(IRError, match="unreadable array"):
        ir.loads(rezip(data, {"arrays/head/weight.npy": b"not an npy file"}))
    with pytest.raises(IRError, match="integer codes expected"):
        ir.loads(rezip(data, {"arrays/tables/tanh.npy": npy(np.zeros(3, bool))}))


def test_json_field_errors(data):
    def no_layers(doc):
        del doc["layers"]

    with pytest.raises(IRError, match="missing field 'layers'"):
        ir.loads(edit_json(data, no_layers))

    def bad_fmt(doc):
        doc["layers"][0]["h_fmt"] = [16.0, 15]

    with pytest.raises(IRError, match="format must be"):
        ir.loads(edit_json(data, bad_fmt))

    def bad_kind(doc):
        doc["kind"] = "gru"

    with pytest.raises(IRError, match="unknown kind"):
        ir.loads(edit_json(data, bad_kind))

    def bad_thr(doc):
        doc["layers"][0]["o_threshold"] = 99999

    with pytest.raises(IRError, match="o_threshold"):
        ir.loads(edit_json(data, bad_thr))


def _member_data_offset(data: bytes, name: str) -> int:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + name_len + extra_len


def test_corrupted_deflate_stream_is_irerror(data):
    b = bytearray(data)
    b[_member_data_offset(data, "ir.json")] = 0xFF  # BFINAL=1, BTYPE=11: an invalid block type
    with pytest.raises(IRError):
        ir.loads(bytes(b))


def test_unknown_compression_method_is_irerror(data):
    b = bytearray(data)
    name = b"arrays/head/bias.npy"
    local = zipfile.ZipFile(io.BytesIO(data)).getinfo(name.decode()).header_offset
    central = data.rfind(name) - 46  # the central directory comes after every local entry
    assert data[central : central + 4] == b"PK\x01\x02" and data[local : local + 4] == b"PK\x03\x04"
    for off in (local + 8, central + 10):  # compression method fields
        b[off : off + 2] = (99).to_bytes(2, "little")
    with pytest.raises(IRError):
        ir.loads(bytes(b))


def test_one_dimensional_array_member_is_irerror(data):
    with pytest.raises(IRError):
        ir.loads(rezip(data, {"arrays/layers/0/f/w_ih.npy": npy(np.zeros(3, np.int16))}))


# ------------------------------------------------------------------------------------------
# is_ir_file, describe_ir


def test_is_ir_file(tmp_path: Path, data):
    p = tmp_path / "m.lstmir"
    p.write_bytes(data)
    assert ir.is_ir_file(p) and ir.is_ir_file(str(p))
    (tmp_path / "junk").write_bytes(b"hello")
    assert not ir.is_ir_file(tmp_path / "junk")
    (tmp_path / "other.zip").write_bytes(rezip(data, {"ir.json": None}))
    assert not ir.is_ir_file(tmp_path / "other.zip")
    assert not ir.is_ir_file(tmp_path / "missing")
    assert not ir.is_ir_file(tmp_path)


def test_describe_ir(tmp_path: Path):
    m = random_model(4, n_in=3, hidden=(5, 2), n_out=4, shs=True, name="kws")
    p = ir.save(m, tmp_path / "kws.lstmir")
    text = describe_ir(p)
    assert "model 'kws'" in text and "classifier" in text
    assert "hidden [5, 2]" in text
    for fmt in (
        m.input_fmt,
        m.layers[0].c_fmt,
        m.layers[1].h_fmt,
        m.head.out_fmt,
        m.sigmoid.in_fmt,
    ):
        assert str(fmt) in text
    assert f"acc {m.plan.layers[0].acc_bits} bits" in text
    assert f"SHS o>{m.layers[0].o_threshold}" in text
    assert ir.sha256(m)[:16] in text
    info = json.loads(describe_ir(p, as_json=True))
    assert info["name"] == "kws" and info["kind"] == "classifier" and info["hidden"] == [5, 2]
    assert info["input_fmt"] == str(m.input_fmt) and info["version"] == ir.IR_VERSION
    assert info["n_in"] == 3 and info["n_out"] == 4 and info["sha256"] == ir.sha256(m)
    assert info["macs_per_step"] == m.macs_per_step() == 4 * 5 * (3 + 5) + 4 * 2 * (5 + 2)
    assert [la["h_fmt"] for la in info["layers"]] == [str(la.h_fmt) for la in m.layers]
    assert [la["acc_bits"] for la in info["layers"]] == [lp.acc_bits for lp in m.plan.layers]
    assert info["tables"]["sigmoid"]["entries"] == m.sigmoid.n
    assert info["head"]["out_fmt"] == str(m.head.out_fmt)
    with pytest.raises(IRError):
        describe_ir(tmp_path / "missing.lstmir")


def test_gate_order_constant():
    assert GATES == ("i", "f", "g", "o")

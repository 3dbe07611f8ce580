"""QAT: the fake-quantized forward read back as integers equals the golden model exactly (random
IRs of every kind, and checkpoints through the quantizer's own formats), straight-through
gradients, the spec in runs and checkpoints, `lstmgen train --qat` / `quantize` of its result,
and bit-identical resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lstmgen import golden
from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module, load_checkpoint
from lstmgen.cli import main
from lstmgen.errors import CheckpointError, FormatError, UsageError
from lstmgen.ir import QFormat
from lstmgen.nn.qat import FakeQuant, QatSpec, enable_qat, fake_quant, table_lookup
from lstmgen.quant import QuantOptions, checkpoint_net, quantize_inputs, quantize_net
from lstmgen.quant.tables import make_table
from lstmgen.testing import random_inputs, random_model
from lstmgen.train import default_config, train

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("torch_one_thread")]


def _trace_equal(trace, want, model) -> None:
    for li, (t, w) in enumerate(zip(trace, want.layers)):
        for key, ref in (("h", w["h"]), ("c", w["c"]), ("o", w["gate"][:, :, 3])):
            got = t[key].numpy()
            assert np.array_equal(got, np.round(got)), f"layer {li} {key}: not integer codes"
            np.testing.assert_array_equal(got.astype(np.int64), ref, err_msg=f"layer {li} {key}")


def _run_ir(model, codes, grad: bool):
    mod = FakeQuant.from_ir(model)
    if grad:
        mod.train()  # no dropout in these modules: the same numbers, with autograd on
    trace: list = []
    with torch.set_grad_enabled(grad):
        if model.is_lm:
            y, _ = mod.fake_quant.lm(mod, torch.from_numpy(codes), None, trace)
        else:
            x = torch.from_numpy(model.input_fmt.to_float(codes))
            y = mod.fake_quant.classifier(mod, x, trace)
    return (y.detach() * 2.0**model.head.out_fmt.frac).numpy(), trace


CASES = [  # seed, kind, hidden, weight bits, act bits, shs
    (s, kind, hidden, wb, ab, shs)
    for s, (kind, hidden, wb, ab, shs) in enumerate([
        ("classifier", (9,), 16, 16, True), ("classifier", (5, 7), 8, 16, True),
        ("lm", (6,), 16, 16, False), ("classifier", (1,), 8, 8, True),
        ("classifier", (4, 3, 2), 16, 8, True), ("lm", (5, 3), 8, 8, True),
        ("classifier", (8, 8), 16, 16, None), ("lm", (7,), 8, 16, None),
        ("classifier", (3,), 16, 8, False), ("lm", (2, 4), 16, 8, True),
        ("classifier", (6, 1), 8, 8, None), ("classifier", (10,), 16, 16, False),
    ])
]


@pytest.mark.parametrize("seed,kind,hidden,wb,ab,shs", CASES)
def test_qat_forward_equals_golden_on_random_irs(seed, kind, hidden, wb, ab, shs):
    """Outputs, and every step's h, c and thresholded o, as integer codes: identical to golden,
    with and without autograd (tables with and without interpolation, SHS, 8/16-bit weights
    and activations, 16/32-bit cells)."""
    model = random_model(100 + seed, kind=kind, hidden=hidden, n_in=3 + seed % 3,
                         weight_bits=wb, act_bits=ab, shs=shs)
    codes = random_inputs(model, 5, 6, seed)
    want = golden.run(model, codes, dump=True)
    for grad in (False, True):
        y, trace = _run_ir(model, codes, grad)
        np.testing.assert_array_equal(y.astype(np.int64), want.outputs)
        _trace_equal(trace, want, model)


def _float_ckpt(kind: str, seed: int, theta: float | None) -> Checkpoint:
    torch.manual_seed(seed)
    if kind == "lm":
        cfg = ModelConfig(kind="lm", n_in=5, hidden=(6, 4), n_out=11, vocab=11, shs_threshold=theta)
    else:
        cfg = ModelConfig(kind="classifier", n_in=3, hidden=(7, 5), n_out=4, shs_threshold=theta)
    model = build_module(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # gates away from 0.5: some o below θ, formats of several widths
    return Checkpoint(cfg, {k: v.clone() for k, v in model.state_dict().items()})


@pytest.mark.parametrize("kind", ["classifier", "lm"])
@pytest.mark.parametrize("wb,ab", [(16, 16), (8, 16), (8, 8)])
def test_qat_of_a_checkpoint_equals_golden_of_its_quantized_ir(kind, wb, ab):
    """The QAT forward with formats from the current weights equals golden on the IR that
    `quantize_net` makes of the same weights with the spec's fixed formats."""
    ckpt = _float_ckpt(kind, 7 + wb + ab, 0.4)
    rng = np.random.default_rng(0)
    calib = rng.integers(0, 11, (4, 9)) if kind == "lm" else rng.normal(0, 1.5, (6, 9, 3))
    opts = QuantOptions(weight_bits=wb, act_bits=ab)
    spec = QatSpec.from_model(quantize_net(checkpoint_net(ckpt), calib, opts), opts)
    module = enable_qat(build_module(ckpt.config), spec)
    module.load_state_dict(ckpt.state_dict)
    module.eval()
    ir = quantize_net(checkpoint_net(ckpt), calib, opts, act_formats=spec.act)
    assert any(la.o_threshold is not None for la in ir.layers)
    if kind == "lm":
        ids = rng.integers(0, 11, (3, 8))
        with torch.no_grad():
            y, _ = module.forward_with_state(torch.from_numpy(ids))
        want = golden.run(ir, ids, dump=True)
    else:
        x = rng.normal(0, 1.5, (5, 8, 3))
        with torch.no_grad():
            y = module(torch.from_numpy(x).float())
        want = golden.run(ir, quantize_inputs(ir, x.astype(np.float32)), dump=True)
    codes = (y * 2.0**ir.head.out_fmt.frac).numpy()
    np.testing.assert_array_equal(codes.astype(np.int64), want.outputs)
    assert np.array_equal(codes, np.round(codes))


def test_fake_quant_rounds_half_up_saturates_and_passes_gradient_inside():
    f = QFormat(8, 2)  # step 0.25, range [-32, 31.75]
    x = torch.tensor([0.125, -0.125, 0.375, -0.375, 40.0, -40.0, 1.1], dtype=torch.float64,
                     requires_grad=True)
    y = fake_quant(x, f)
    assert y.tolist() == [0.25, 0.0, 0.5, -0.25, 31.75, -32.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [1, 1, 1, 1, 0, 0, 1]


def test_table_lookup_is_golden_and_its_gradient_the_function():
    t = make_table("sigmoid", QFormat(16, 12), QFormat(16, 15), log2_entries=5, interp=True)
    from lstmgen.nn.qat import _Table

    tab = _Table(t, torch.device("cpu"))
    codes = np.arange(-40000, 40000, 37).clip(-32768, 32767)
    pre = torch.tensor(codes * 2.0**-12, dtype=torch.float64, requires_grad=True)
    y = table_lookup(pre, tab)
    got = (y.detach() * 2.0**15).numpy().astype(np.int64)
    np.testing.assert_array_equal(got, golden.table_lookup(t, codes))
    y.sum().backward()
    s = torch.sigmoid(pre.detach())
    torch.testing.assert_close(pre.grad, s * (1 - s))


def test_formats_that_float64_cannot_sum_exactly_are_refused():
    """A valid IR whose W_hh·h is aligned 22 bits up (sums near 2^55, within golden's 62 bits):
    QAT says it cannot reproduce it instead of rounding."""
    import dataclasses

    from lstmgen.ir import Gate, IntTensor

    model = random_model(3, hidden=(4,), weight_bits=16, shs=False)
    la = model.layers[0]
    g = la.i
    acc = g.w_ih.fmt.frac + la.in_fmt.frac
    w_hh = IntTensor(np.full(g.w_hh.shape, 32767), QFormat(16, acc - la.h_fmt.frac - 22),
                     name="w_hh")
    bias = IntTensor(np.zeros(la.n_hidden, np.int64), QFormat(16, acc), name="bias")
    layer = dataclasses.replace(la, i=Gate(g.w_ih, w_hh, bias))
    assert layer.shift_h("i") == 22
    wide = model.replace(layers=(layer,))
    assert wide.plan.layers[0].acc_bits > 53
    mod = FakeQuant.from_ir(wide)
    with pytest.raises(FormatError, match="exactly only below"):
        mod(torch.zeros(1, 2, model.n_in, dtype=torch.float64))


def test_spec_round_trips_and_rejects_damage():
    spec = QatSpec(QuantOptions(weight_bits=8, act_bits=8),
                   __import__("lstmgen.quant.quantize", fromlist=["ActFormats"]).ActFormats(
                       QFormat(8, 3), (QFormat(16, 11), QFormat(16, 12)), QFormat(16, 9)))
    assert QatSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    bad = spec.to_json() | {"weight_bits": 4}
    with pytest.raises(CheckpointError, match="weights must be 8 or 16"):
        QatSpec.from_json(bad)
    with pytest.raises(CheckpointError, match="keys"):
        QatSpec.from_json({"weight_bits": 8})
    with pytest.raises(CheckpointError, match="format"):
        QatSpec.from_json(spec.to_json() | {"out_fmt": [16]})


def test_qat_options_are_checked(tmp_path):
    with pytest.raises(UsageError, match="--from"):
        default_config("default", qat=True)
    with pytest.raises(UsageError, match="give --qat"):
        default_config("default", qat_weight_bits=8)
    with pytest.raises(UsageError, match="--acts must be 8 or 16"):
        default_config("default", qat=True, init_from="x.pt", qat_act_bits=4)


@pytest.fixture(scope="module")
def dense_digits(tmp_path_factory):
    """A small dense digits model (2x12, 8 epochs) and its run directory."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("dense")
        train(default_config("default", hidden=(12, 12), epochs=8, shs_threshold=0.2), out,
              progress=False)
        return out / "last.pt"
    finally:
        torch.set_num_threads(n)


def test_qat_run_then_quantize_gives_the_ir_it_trained(dense_digits, tmp_path):
    """`train --qat --from`: every epoch's validation accuracy is the QAT forward's; the IR that
    `quantize` makes of the last checkpoint has the same accuracy on the same data (golden), and
    quantize refuses a width the run was not trained with."""
    out = tmp_path / "qat"
    r = CliRunner().invoke(main, ["train", "--qat", "--from", str(dense_digits), "--weights", "8",
                                  "--acts", "8", "--epochs", "2", "--lr", "0.001",
                                  "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(out / "last.pt")
    assert ck.meta["qat"]["weight_bits"] == 8 and ck.meta["qat"]["act_bits"] == 8
    assert ck.config.shs_threshold == 0.2 and ck.config.hidden == (12, 12)
    ir_path = tmp_path / "q.lstmir"
    r = CliRunner().invoke(main, ["quantize", str(out / "last.pt"), "--out", str(ir_path),
                                  "--json"])
    assert r.exit_code == 0, r.output
    figures = json.loads(r.output)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert figures["golden_accuracy"] == pytest.approx(last["val_acc"], abs=1e-6)
    assert figures["sparsity"]["executed_macs_per_step"] <= figures["sparsity"]["macs_per_step"]
    r = CliRunner().invoke(main, ["quantize", str(out / "last.pt"), "--out",
                                  str(tmp_path / "x.lstmir"), "--weights", "16"])
    assert r.exit_code != 0 and "trained with QAT for --weights 8" in r.output
    r = CliRunner().invoke(main, ["info", str(ir_path)])
    assert r.exit_code == 0 and "executed with zero-skipping" in r.output
    r = CliRunner().invoke(main, ["info", str(out / "last.pt")])
    assert r.exit_code == 0 and "QAT: int8 weights, int8 activations" in r.output


def test_qat_resume_is_bit_identical(dense_digits, tmp_path):
    cfg = default_config("default", qat=True, init_from=str(dense_digits), qat_weight_bits=8,
                         epochs=3, lr=1e-3, iss_lambda=1e-4, shs_lambda=1e-4, dropout=0.2)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, epochs=1)
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=3)
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k
    a = [{k: v for k, v in json.loads(s).items() if k != "seconds"}
         for s in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    b = [{k: v for k, v in json.loads(s).items() if k != "seconds"}
         for s in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert a == b


def test_qat_lm_trains(tmp_path, tiny_ptb):
    base = {"data": str(tiny_ptb), "hidden": (8, 6), "embed": 5, "batch": 4, "bptt": 6}
    first = train(default_config("ptb", epochs=1, shs_threshold=0.3, **base), tmp_path / "f",
                  progress=False)
    assert first.checkpoint.config.shs_threshold == 0.3
    base.pop("hidden")
    base.pop("embed")
    cfg = default_config("ptb", epochs=1, qat=True, init_from=str(tmp_path / "f" / "last.pt"),
                         qat_act_bits=8, **base)
    result = train(cfg, tmp_path / "q", progress=False)
    assert np.isfinite(result.history[-1]["valid_ppl"])
    assert result.checkpoint.meta["qat"]["act_bits"] == 8


def test_from_a_checkpoint_of_another_task_is_refused(dense_digits, tiny_ptb):
    cfg = default_config("ptb", data=str(tiny_ptb), init_from=str(dense_digits), epochs=1)
    with pytest.raises(UsageError, match="classifier checkpoint cannot train --task ptb"):
        train(cfg, progress=False)

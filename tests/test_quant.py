"""Quantizer: formats, calibration, float reference, accuracy float vs golden, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lstmgen import golden, ir
from lstmgen.cli import main
from lstmgen.errors import FormatError, UsageError
from lstmgen.quant import (
    QuantOptions,
    checkpoint_net,
    evaluate_classifier,
    format_for,
    quantize_net,
)
from lstmgen.quant.floatref import FloatNet, float_outputs, forward
from lstmgen.testing import random_inputs, random_model

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def digits_checkpoint():
    """A small digits classifier trained for a few seconds (float accuracy > 85%)."""
    from lstmgen.train import train_default

    ckpt, _ = train_default(hidden=(16, 16), epochs=12, seed=0, progress=False)
    return ckpt


@pytest.fixture(scope="module")
def digits_checkpoint_file(digits_checkpoint, tmp_path_factory):
    from lstmgen.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "digits.pt"
    save_checkpoint(digits_checkpoint, path)
    return path


def _torch_net(seed: int, n_in: int, hidden: int, layers: int, n_out: int):
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True)
    lin = torch.nn.Linear(hidden, n_out)
    sd = {f"lstm.{k}": v.detach().numpy() for k, v in lstm.state_dict().items()}
    sd["head.weight"] = lin.weight.detach().numpy()
    sd["head.bias"] = lin.bias.detach().numpy()
    return lstm, lin, FloatNet.from_state_dict("classifier", layers, sd)


@pytest.mark.parametrize(
    ("max_abs", "bits", "want"),
    [(1.0, 16, (16, 14)), (0.7, 16, (16, 15)), (0.5, 16, (16, 15)), (3.0, 8, (8, 5)),
     (4.0, 16, (16, 12)), (0.01, 8, (8, 13)), (0.0, 16, (16, 15))],
)
def test_format_for_holds_the_range(max_abs, bits, want):
    fmt = format_for(max_abs, bits)
    assert (fmt.bits, fmt.frac) == want
    assert fmt.to_float(fmt.max_code) >= max_abs or max_abs == 0.0 or fmt.max_code / 2**fmt.frac >= max_abs


def test_format_for_rejects_non_finite():
    with pytest.raises(FormatError):
        format_for(float("nan"), 16)


def test_float_reference_matches_torch():
    lstm, lin, net = _torch_net(0, 5, 7, 2, 3)
    x = np.random.default_rng(0).normal(size=(4, 6, 5)).astype(np.float32)
    with torch.no_grad():
        ref = lin(lstm(torch.tensor(x))[0][:, -1]).numpy()
    np.testing.assert_allclose(forward(net, x), ref, atol=1e-5)


@pytest.mark.parametrize("weight_bits", [8, 16])
def test_quantized_model_tracks_float(weight_bits):
    _, _, net = _torch_net(1, 6, 12, 2, 4)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(64, 10, 6))
    model = quantize_net(net, x, QuantOptions(weight_bits=weight_bits), name="t")
    codes = model.input_fmt  # formats chosen from the data: every input code representable
    assert codes.to_float(codes.max_code) >= 1.0 - 2.0**-codes.frac
    fl = forward(net, x)
    q = model.head.out_fmt.to_float(golden.run(model, model_codes(model, x)).outputs)
    tol = 0.02 if weight_bits == 16 else 0.15
    assert np.max(np.abs(fl - q)) < tol * max(1.0, np.abs(fl).max())


def model_codes(model, x):
    from lstmgen.quant import quantize_inputs

    return quantize_inputs(model, x)


def test_nan_weights_are_refused():
    _, _, net = _torch_net(2, 3, 4, 1, 2)
    net.layers[0].w_hh[0, 0] = np.nan
    with pytest.raises(FormatError, match="NaN"):
        quantize_net(net, np.zeros((2, 3, 3)), name="t")


def test_bad_options_and_names():
    with pytest.raises(UsageError):
        QuantOptions(weight_bits=12)
    _, _, net = _torch_net(3, 3, 4, 1, 2)
    with pytest.raises(UsageError):
        quantize_net(net, np.zeros((2, 3, 3)), name="9bad")


def test_float_outputs_of_ir_close_to_golden():
    m = random_model(5, n_in=4, hidden=(6,), shs=False)
    x = random_inputs(m, 8, 5)
    fl = float_outputs(m, x)
    q = m.head.out_fmt.to_float(golden.run(m, x).outputs)
    assert fl.shape == q.shape


def test_trained_digits_int16_within_half_a_point(digits_checkpoint):
    from lstmgen.data.digits import load_digits_split

    d = load_digits_split()
    net = checkpoint_net(digits_checkpoint)
    model = quantize_net(net, d.x_train[:512], QuantOptions(weight_bits=16), name="digits")
    fig = evaluate_classifier(net, model, d.x_val, d.y_val)
    assert fig["float_accuracy"] > 0.85
    assert abs(fig["float_accuracy"] - fig["golden_accuracy"]) <= 0.005
    model8 = quantize_net(net, d.x_train[:512], QuantOptions(weight_bits=8), name="digits")
    fig8 = evaluate_classifier(net, model8, d.x_val, d.y_val)
    assert fig8["golden_accuracy"] > fig["float_accuracy"] - 0.03


def test_quantize_cli_writes_ir_and_reports(digits_checkpoint_file, tmp_path):
    out = tmp_path / "m.lstmir"
    res = CliRunner().invoke(main, ["quantize", str(digits_checkpoint_file), "--out", str(out),
                                    "--task", "default", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output.strip().splitlines()[-1])
    assert info["float_accuracy"] > 0.85 and "golden_accuracy" in info
    model = ir.load(out)
    assert model.kind == "classifier" and model.meta["evaluation"]["vectors"] == info["vectors"]
    text = CliRunner().invoke(main, ["quantize", str(digits_checkpoint_file), "--out", str(out),
                                     "--weights", "8"])
    assert text.exit_code == 0 and "layer0.i.w_ih" in text.output and "golden" in text.output


@pytest.mark.parametrize(
    "args",
    [["--weights", "12"], ["--table-entries", "100"], ["--calib", "missing.npy"],
     ["--task", "ptb"]],
)
def test_quantize_cli_bad_input(digits_checkpoint_file, tmp_path, args):
    out = tmp_path / "m.lstmir"
    res = CliRunner().invoke(main, ["quantize", str(digits_checkpoint_file), "--out", str(out), *args])
    assert res.exit_code != 0
    assert not out.exists()
    assert len([ln for ln in (res.output or "").strip().splitlines() if ln]) >= 1


def test_quantize_cli_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "m.lstmir"
    res = CliRunner().invoke(main, ["quantize", str(bad), "--out", str(out), "--task", "default"])
    assert res.exit_code == 2 and "error" in res.output
    assert not out.exists()


def test_language_model_quantizes_and_tracks_float_perplexity():
    torch.manual_seed(4)
    vocab, emb, hid = 30, 8, 10
    lstm = torch.nn.LSTM(emb, hid, num_layers=2, batch_first=True)
    sd = {f"lstm.{k}": v.detach().numpy() for k, v in lstm.state_dict().items()}
    sd["embedding.weight"] = torch.randn(vocab, emb).numpy() * 0.5
    sd["decoder.weight"] = torch.randn(vocab, hid).numpy() * 0.5
    sd["decoder.bias"] = torch.zeros(vocab).numpy()
    net = FloatNet.from_state_dict("lm", 2, sd)
    ids = np.random.default_rng(0).integers(0, vocab, size=2001)
    model = quantize_net(net, ids[:700].reshape(20, 35), QuantOptions(weight_bits=16), name="lm")
    assert model.kind == "lm" and model.vocab == vocab
    from lstmgen.quant import evaluate_lm

    fig = evaluate_lm(net, model, ids)
    assert abs(fig["float_ppl"] - fig["golden_ppl"]) / fig["float_ppl"] < 0.01
    assert fig["tokens"] == 2000


def test_quantize_cli_rejects_bad_calibration(digits_checkpoint_file, tmp_path):
    out = tmp_path / "m.lstmir"
    np.savez(tmp_path / "archive.npz", a=np.zeros((2, 8, 8)))
    np.save(tmp_path / "five.npy", np.zeros((2, 8, 5)))
    np.save(tmp_path / "nan.npy", np.full((2, 8, 8), np.nan))
    for name, msg in (("archive.npz", "archive"), ("five.npy", "5 features"), ("nan.npy", "NaN")):
        res = CliRunner().invoke(main, ["quantize", str(digits_checkpoint_file), "--out", str(out),
                                        "--calib", str(tmp_path / name)])
        assert res.exit_code == 2 and msg in res.output, res.output
        assert not out.exists()


def test_info_of_a_damaged_ir_names_the_ir_problem(tmp_path):
    m = random_model(1)
    data = ir.dumps(m)
    bad = tmp_path / "bad.lstmir"
    bad.write_bytes(data[:100])
    res = CliRunner().invoke(main, ["info", str(bad)])
    assert res.exit_code == 2 and "IR" in res.output and "PyTorch" not in res.output


def _calib_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((3, 8, 8))
    cases = {
        "text.npy": (np.array([[["a"] * 8] * 8] * 3), "not numeric"),
        "complex.npy": (x.astype(complex), "complex"),
        "bool.npy": (x > 0.5, "bool"),
        "no_steps.npy": (np.zeros((3, 0, 8)), "0 time steps"),
        "no_sequences.npy": (np.zeros((0, 8, 8)), "0 sequences"),
        "huge.npy": (x * 1e30, "input (calibration data)"),
        "two_dims.npy": (x[0], "3 dimensions"),
    }
    for name, (arr, _) in cases.items():
        np.save(tmp_path / name, arr)
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "random.npy").write_bytes(bytes(range(200)))
    return {**{k: m for k, (_, m) in cases.items()}, "empty.npy": "0 bytes",
            "random.npy": "not a .npy file"}


def test_quantize_cli_refuses_meaningless_calibration(digits_checkpoint_file, tmp_path):
    out = tmp_path / "m.lstmir"
    for name, msg in _calib_files(tmp_path).items():
        res = CliRunner().invoke(main, ["quantize", str(digits_checkpoint_file), "--out", str(out),
                                        "--calib", str(tmp_path / name)])
        assert res.exit_code == 2, (name, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0] and name in lines[0], (name, lines)
        assert "allow_pickle" not in lines[0]
        assert not out.exists()


def test_lm_calibration_checks():
    from lstmgen.commands.quantize import check_calibration
    from lstmgen.errors import DataError

    ids = np.arange(12).reshape(3, 4) % 5
    assert check_calibration("lm", ids, vocab=5).dtype == np.int64
    for arr, msg in ((np.zeros((0, 4), np.int64), "0 sequences"),
                     (np.zeros((3, 0), np.int64), "0 time steps"),
                     (ids.astype(float), "token ids"),
                     (ids + 5, "0..4"),
                     (ids[0], "2 dimensions")):
        with pytest.raises(DataError, match=msg):
            check_calibration("lm", arr, vocab=5)


def test_quantize_cli_output_safety(digits_checkpoint_file, tmp_path):
    ckpt = tmp_path / "digits.pt"
    ckpt.write_bytes(digits_checkpoint_file.read_bytes())
    (tmp_path / "adir").mkdir()
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "file").write_text("x")
    cases = [
        (str(ckpt), "never writes over its own input"),
        (str(tmp_path / "adir"), "is a directory"),
        (str(tmp_path / "notes.txt"), "use --force"),
        (str(tmp_path / "file" / "m.lstmir"), "is a file, but a directory"),
    ]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for out, msg in cases:
        res = CliRunner().invoke(main, ["quantize", str(ckpt), "--out", out, "--task", "default"])
        assert res.exit_code == 2 and msg in res.stderr, (out, res.output)
        assert len(res.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "digits.pt", "file", "notes.txt"]
    res = CliRunner().invoke(main, ["quantize", str(ckpt), "--out", str(tmp_path / "notes.txt"),
                                    "--task", "default", "--force"])
    assert res.exit_code == 0 and ir.is_ir_file(tmp_path / "notes.txt")


def test_model_name_limit_is_named():
    _, _, net = _torch_net(3, 3, 4, 1, 2)
    with pytest.raises(UsageError, match="40 characters; the limit is 32"):
        quantize_net(net, np.zeros((2, 3, 3)), name="a" * 40)
    assert quantize_net(net, np.zeros((2, 3, 3)), name="a" * 32).name == "a" * 32

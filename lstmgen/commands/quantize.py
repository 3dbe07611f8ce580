"""``lstmgen quantize``: float checkpoint + calibration data → IR, with float vs golden figures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import ir
from .._io import check_not_input, check_output_file, json_dumps
from ..cli import main
from ..data.arrays import load_array
from ..errors import DataError, FormatError, UsageError
from ..quant import (
    QuantOptions,
    checkpoint_net,
    evaluate_classifier,
    evaluate_lm,
    quantize_inputs,
    quantize_net,
)
from ..quant.quantize import ActFormats

__all__ = [
    "TaskData",
    "check_calibration",
    "format_table",
    "load_task_data",
    "quantize_checkpoint",
    "quantize_tlstm_checkpoint",
    "sparsity_line",
]


@dataclass
class TaskData:
    """Calibration inputs and an evaluation set (classifier: features + labels; LM: token ids)."""

    calib: np.ndarray
    eval_x: np.ndarray
    eval_y: np.ndarray | None
    #: An algorithmic task's evaluation set (:class:`lstmgen.data.algorithmic.AlgoBatch`).
    algo: Any = None


def check_calibration(kind: str, arr: np.ndarray, where: str = "calibration data", *,
                      n_in: int | None = None, vocab: int | None = None) -> np.ndarray:
    """Check calibration inputs; return them (classifier: float64 features (N, T, F); LM: int64
    token ids (N, T)). Raises DataError naming ``where`` for a wrong dtype (strings, bool,
    complex, floats as token ids), shape, an empty axis, NaN/Inf or ids out of range."""
    arr = np.asarray(arr)
    lm = kind == "lm"
    what = "token ids (N, T)" if lm else "float features (N, T, F)"
    if arr.dtype.kind not in ("iu" if lm else "iuf"):
        extra = {"b": "bool", "c": "complex", "U": "strings", "S": "bytes", "O": "objects"}
        got = extra.get(arr.dtype.kind, str(arr.dtype))
        raise DataError(f"{where}: must be {what}, got {got} (dtype {arr.dtype})")
    want = 2 if lm else 3
    if arr.ndim != want:
        raise DataError(f"{where}: must be {what} with {want} dimensions, got shape {arr.shape}")
    axes = ("sequences", "time steps") + (() if lm else ("features",))
    for n, name in zip(arr.shape, axes):
        if n == 0:
            raise DataError(f"{where}: has 0 {name} (shape {arr.shape}); nothing to calibrate on")
    if lm:
        if vocab is not None and (int(arr.min()) < 0 or int(arr.max()) >= vocab):
            raise DataError(f"{where}: token ids must lie in 0..{vocab - 1}, got "
                            f"{int(arr.min())}..{int(arr.max())}")
        return arr.astype(np.int64, copy=False)
    if n_in is not None and arr.shape[2] != n_in:
        raise DataError(f"{where}: has {arr.shape[2]} features, the model takes {n_in}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: contains NaN or Inf")
    return arr


def load_task_data(kind: str, task: str | None, data: str | None, calib: str | None,
                   eval_tokens: int = 4000, size: int | None = None) -> TaskData:
    """Calibration/evaluation data from ``--calib FILE.npy`` or a named task (``size``: the
    digits or symbols of an algorithmic task; its 1000 validation sequences are evaluated)."""
    if calib is not None:
        arr = check_calibration(kind, load_array(calib, "calibration data"),
                                f"{calib}: calibration data")
        return TaskData(arr, arr, None)
    if task == "default":
        if kind != "classifier":
            raise UsageError("--task default is the digits classifier; this checkpoint is an LM")
        from ..data.digits import load_digits_split

        d = load_digits_split()
        return TaskData(d.x_train[:512], d.x_val, d.y_val)
    if task == "ptb":
        if kind != "lm":
            raise UsageError("--task ptb needs a language-model checkpoint")
        if not data:
            raise UsageError("--task ptb needs --data DIR")
        from ..data.ptb import load_ptb

        corpus = load_ptb(data)
        train = corpus.train.numpy()
        steps = min(35, len(train))
        rows = min(20, len(train) // steps)
        calib_ids = train[: rows * steps].reshape(rows, steps)
        valid = corpus.valid.numpy()[: eval_tokens + 1]
        if len(valid) < 11:
            raise DataError(f"{data}: ptb.valid.txt has {len(valid)} tokens; the evaluation "
                            "needs at least 11")
        return TaskData(calib_ids, valid, None)
    if task in ("addition", "memorization"):
        from ..data.algorithmic import generate

        if kind != "lm" or size is None:
            raise UsageError(f"--task {task} needs a checkpoint trained on it")
        cal = generate(task, 64, size, seed=3)
        ev = generate(task, 1000, size, seed=1_000_003)  # the validation set of training
        return TaskData(cal.inputs, ev.inputs, ev.targets, algo=ev)
    raise UsageError("give calibration data: --calib FILE.npy or --task "
                     "default|ptb|addition|memorization [--data DIR]")


def quantize_checkpoint(ckpt, data: TaskData, opts: QuantOptions, name: str,
                        source: str = "", act_formats: ActFormats | None = None,
                        ) -> tuple[ir.Model, dict]:
    """Quantize a checkpoint and measure float vs golden on the evaluation data (with
    ``act_formats``, a QAT checkpoint's fixed formats). The figures include the zeros of ``h``
    and the mult-adds per step with zero-skipping (``sparsity``), also stored in the IR's meta."""
    cfg = ckpt.config
    calib = check_calibration(cfg.kind, data.calib, n_in=cfg.n_in,
                              vocab=cfg.vocab if cfg.kind == "lm" else None)
    net = checkpoint_net(ckpt)
    model = quantize_net(net, calib, opts, name=name, meta={"source": source},
                         act_formats=act_formats)
    if ckpt.config.kind == "lm":
        if data.algo is not None:
            from ..quant.evaluate import evaluate_algorithmic

            figures = evaluate_algorithmic(net, model, data.algo)
        elif data.eval_y is None and data.eval_x.ndim == 1:
            figures = evaluate_lm(net, model, data.eval_x)
        else:
            figures = {}
    elif data.eval_y is not None:
        figures = evaluate_classifier(net, model, data.eval_x, data.eval_y)
    else:
        figures = {}
    sparsity = _sparsity(model, data)
    if sparsity is not None:
        figures = {**figures, "sparsity": sparsity}
    meta = dict(model.meta)
    meta["evaluation"] = figures
    model = ir.Model(name=model.name, kind=model.kind, layers=model.layers, head=model.head,
                     sigmoid=model.sigmoid, tanh=model.tanh, embedding=model.embedding, meta=meta)
    return model, figures


def quantize_tlstm_checkpoint(ckpt, data: TaskData, opts: QuantOptions, name: str,
                              source: str = "") -> tuple[Any, dict]:
    """Quantize a tensorized-LSTM checkpoint (:func:`lstmgen.quant.tlstm.quantize_tlstm`) and
    measure float vs golden on the evaluation data; a channel-normalized one is refused."""
    from ..quant.tlstm import evaluate_tlstm, net_from_state_dict, quantize_tlstm

    cfg = ckpt.config
    calib = check_calibration(cfg.kind, data.calib, n_in=cfg.n_in,
                              vocab=cfg.vocab if cfg.kind == "lm" else None)
    sd = {k: v.detach().cpu().numpy() for k, v in ckpt.state_dict.items()}
    net = net_from_state_dict(cfg.kind, cfg.tlstm, sd)
    model = quantize_tlstm(net, calib, opts, name=name, meta={"source": source})
    if data.algo is not None:
        figures = evaluate_tlstm(net, model, algo=data.algo)
    elif cfg.kind == "lm" and data.eval_y is None and data.eval_x.ndim == 1:
        figures = evaluate_tlstm(net, model, stream=data.eval_x)
    elif cfg.kind == "classifier" and data.eval_y is not None:
        figures = evaluate_tlstm(net, model, x=data.eval_x, y=data.eval_y)
    else:
        figures = {}
    meta = dict(model.meta)
    meta["evaluation"] = figures
    return model.replace(meta=meta), figures


def _algo_size(ckpt) -> int | None:
    """Digits (addition) or symbols (memorization) a checkpoint was trained with, if any."""
    tc = ckpt.meta.get("provenance", {}).get("train_config", {})
    key = {"addition": "digits", "memorization": "length"}.get(ckpt.meta.get("task"))
    v = tc.get(key) if isinstance(tc, dict) and key else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _sparsity(model: ir.Model, data: TaskData) -> dict | None:
    """``h`` zeros and executed mult-adds on the evaluation data (LM: the 10 streams the
    perplexity uses), or None without evaluation data."""
    from ..sparsity.shs import deployed_h_stats

    x = data.eval_x
    if model.is_lm:
        if x.ndim != 1:
            return None
        T = (len(x) - 1) // 10
        if T < 1:
            return None
        inputs = np.stack([x[r * T:(r + 1) * T] for r in range(10)])
    else:
        if x.ndim != 3:
            return None
        inputs = quantize_inputs(model, x)
    return deployed_h_stats(model, inputs)


def sparsity_line(s: dict, lm: bool) -> str:
    """One line: h zeros per layer and dense vs executed mult-adds per step."""
    unit = "token" if lm else "step"
    zeros = ", ".join(f"{100 * z:.1f}%" for z in s["h_zeros_per_layer"])
    dense, done = s["macs_per_step"], s["executed_macs_per_step"]
    return (f"h zeros per layer {zeros} (mean {100 * s['h_zeros']:.1f}%); LSTM mult-adds per "
            f"{unit}: dense {dense}, executed with zero-skipping {done:.0f} "
            f"({dense / max(done, 1e-9):.2f}x fewer)")


def format_table(model: ir.Model) -> str:
    """One line per tensor: name, format, range, step."""
    rows = [("input", model.input_fmt)]
    for li, la in enumerate(model.layers):
        for g, gate in la.gates():
            rows += [(f"layer{li}.{g}.w_ih", gate.w_ih.fmt), (f"layer{li}.{g}.w_hh", gate.w_hh.fmt),
                     (f"layer{li}.{g}.bias", gate.bias.fmt)]
        rows += [(f"layer{li}.c", la.c_fmt), (f"layer{li}.h", la.h_fmt)]
    rows += [("head.weight", model.head.weight.fmt), ("head.bias", model.head.bias.fmt),
             ("head.out", model.head.out_fmt), ("sigmoid/tanh in", model.sigmoid.in_fmt),
             ("sigmoid/tanh out", model.sigmoid.out_fmt)]
    if model.embedding is not None:
        rows.insert(0, ("embedding", model.embedding.fmt))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'tensor':<{width}}  {'format':>8}  {'int':>4}  range"]
    for n, f in rows:
        lo, hi = f.to_float(f.min_code), f.to_float(f.max_code)
        lines.append(f"{n:<{width}}  {f!s:>8}  int{f.bits:<2} [{lo:.4g}, {hi:.4g}]")
    lines.append(
        "accumulators: "
        + ", ".join(f"layer{lp.index} {lp.acc_bits} bits" for lp in model.plan.layers)
        + f", head {model.plan.head.acc.bits} bits"
    )
    return "\n".join(lines)


_FLAGS = {"weight_bits": "--weights", "act_bits": "--acts", "cell_bits": "--cell-bits",
          "table_log2_entries": "--table-entries", "interp": "--interp/--no-interp",
          "acc_bits": "--acc"}


def _options(ckpt, path: Path, given: dict) -> tuple[QuantOptions, ActFormats | None]:
    """The quantizer options: the flags given, or a QAT checkpoint's own (a flag that differs
    from what the checkpoint was trained with is refused: the IR would not be what QAT
    computed)."""
    qat = ckpt.meta.get("qat")
    if qat is None:
        return QuantOptions(**{k: v for k, v in given.items() if v is not None}), None
    from ..nn.qat import QatSpec

    spec = QatSpec.from_json(qat, f"{path}: meta.qat")
    for key, value in given.items():
        have = getattr(spec.options, key)
        if value is not None and value != have:
            shown = (1 << have) if key == "table_log2_entries" else have
            trained = (f"without {_FLAGS[key]}" if have is None  # --acc: the widths formats need
                       else f"for {_FLAGS[key]} {shown}")
            raise UsageError(f"{path} was trained with QAT {trained}; quantize it the same way "
                             f"(or train QAT again)")
    return spec.options, spec.act


def _default_name(path: Path) -> str:
    stem = re.sub(r"[^a-z0-9_]", "_", path.stem.lower())
    stem = re.sub(r"^[^a-z]+", "", stem)[:32]
    return stem or "model"


@main.command("quantize")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="IR file to write (.lstmir).")
@click.option("--weights", "weight_bits", type=click.Choice(["8", "16"]), default=None,
              help="Weight width [16; a QAT checkpoint's own].")
@click.option("--acts", "act_bits", type=click.Choice(["8", "16"]), default=None,
              help="Input and h width [16; a QAT checkpoint's own].")
@click.option("--cell-bits", type=click.Choice(["16", "32"]), default=None, help="Cell width [16].")
@click.option("--acc", "acc_bits", type=click.Choice(["32"]), default=None,
              help="Coarsen weight formats until every accumulator fits 32 bits (faster MCU "
                   "kernels; the accuracy it costs is printed) [the widths the formats need].")
@click.option("--table-entries", type=int, default=None, help="Steps per activation table (power of two) [256].")
@click.option("--interp/--no-interp", default=None, help="Linear interpolation between table entries [on].")
@click.option("--calib", type=click.Path(path_type=Path), help="Calibration inputs (.npy): floats (N,T,F) or token ids (N,T).")
@click.option("--task", type=click.Choice(["default", "ptb", "addition", "memorization"]),
              help="Take calibration and evaluation data from a task.")
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (ptb).")
@click.option("--name", help="Model name used as the C prefix (default: from the file name).")
@click.option("--eval-tokens", type=int, default=4000, show_default=True, help="LM: tokens of valid to evaluate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--force", is_flag=True, help="Replace --out even if lstmgen did not write it.")
def quantize_cmd(checkpoint: Path, out: Path, weight_bits: str | None, act_bits: str | None,
                 cell_bits: str | None, acc_bits: str | None, table_entries: int | None,
                 interp: bool | None,
                 calib: Path | None, task: str | None, data: Path | None, name: str | None,
                 eval_tokens: int, as_json: bool, force: bool) -> None:
    """Quantize CHECKPOINT to a fixed-point IR; print formats, float vs golden quality, h zeros
    and mult-adds per step with zero-skipping."""
    from ..checkpoint import load_checkpoint

    check_not_input(out, checkpoint, calib)
    check_output_file(out, force=force, protect=[checkpoint, calib], ours=ir.is_ir_file)
    if table_entries is not None and (table_entries < 4 or table_entries & (table_entries - 1)):
        raise UsageError(f"--table-entries must be a power of two >= 4, got {table_entries}")
    if eval_tokens < 2:
        raise UsageError("--eval-tokens must be at least 2")
    ckpt = load_checkpoint(checkpoint)
    if task is None and calib is None and ckpt.meta.get("task") in ("default", "addition",
                                                                     "memorization"):
        task = ckpt.meta["task"]
    given = {"weight_bits": None if weight_bits is None else int(weight_bits),
             "act_bits": None if act_bits is None else int(act_bits),
             "cell_bits": None if cell_bits is None else int(cell_bits),
             "acc_bits": None if acc_bits is None else int(acc_bits),
             "table_log2_entries": None if table_entries is None else table_entries.bit_length() - 1,
             "interp": interp}
    opts, act_formats = _options(ckpt, checkpoint, given)
    td = load_task_data(ckpt.config.kind, task, None if data is None else str(data),
                        None if calib is None else str(calib), eval_tokens, _algo_size(ckpt))
    tlstm = ckpt.config.tlstm is not None
    try:
        if tlstm:
            model, figures = quantize_tlstm_checkpoint(
                ckpt, td, opts, name or _default_name(checkpoint), source=checkpoint.name)
        else:
            model, figures = quantize_checkpoint(ckpt, td, opts, name or _default_name(checkpoint),
                                                 source=checkpoint.name, act_formats=act_formats)
    except FormatError as exc:  # name the file whose range does not fit
        src = calib if calib is not None and str(exc).startswith("input") else checkpoint
        raise FormatError(f"{src}: {exc}") from None
    ir.save(model, out)
    if as_json:
        click.echo(json_dumps({"out": str(out), "sha256": ir.sha256(model), **figures},
                              sort_keys=True))
        return
    if tlstm:
        from ..quant.tlstm import format_table as tlstm_table

        click.echo(tlstm_table(model))
    else:
        click.echo(format_table(model))
    if "float_accuracy" in figures:
        click.echo(f"accuracy on {figures['vectors']} validation sequences: float "
                   f"{100 * figures['float_accuracy']:.2f}%  golden {100 * figures['golden_accuracy']:.2f}%"
                   f"  (agreement {100 * figures['agreement']:.2f}%)")
    elif "float_ppl" in figures:
        click.echo(f"perplexity on {figures['tokens']} validation tokens: float {figures['float_ppl']:.2f}"
                   f"  golden {figures['golden_ppl']:.2f}")
    if "sparsity" in figures:
        click.echo(sparsity_line(figures["sparsity"], model.is_lm))
    click.echo(f"wrote {out} (sha256 {ir.sha256(model)[:16]}…)")

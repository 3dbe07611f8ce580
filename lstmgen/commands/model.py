"""Model commands: ``lstmgen train``, ``import``, ``prune`` and ``info``.

Every bad input becomes an :class:`~lstmgen.errors.LstmgenError` (one line on stderr, exit
code 2) and leaves no partial output behind.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import click
import torch

from .._io import check_output_file, json_dumps
from ..checkpoint import (
    Checkpoint,
    build_module,
    config_from_state_dict,
    count_params,
    is_checkpoint_file,
    load_checkpoint,
    macs_per_step,
    save_checkpoint,
    torch_load,
    validate_state_dict,
)
from ..cli import main
from ..errors import CheckpointError, UsageError
from ..ir import is_ir_file
from .irinfo import describe_ir

__all__ = ["describe_checkpoint", "import_cmd", "info", "prune", "prune_report", "train"]

_RESUMABLE = {"epochs", "device", "quiet", "out", "resume", "threads"}


def _parse_hidden(hidden: str | None, layers: int | None, task: str) -> tuple[int, ...] | None:
    """Turn ``--hidden 32`` / ``--hidden 32,16`` and ``--layers`` into per-layer sizes."""
    if hidden is None and layers is None:
        return None
    if layers is not None and layers < 1:
        raise UsageError(f"--layers must be >= 1, got {layers}")
    if hidden is None:
        hidden = str(200 if task == "ptb" else 32)
    try:
        sizes = tuple(int(h) for h in hidden.split(","))
    except ValueError:
        raise UsageError(f"--hidden must be an integer or a comma list like 64,32, got {hidden!r}") from None
    if any(h < 1 for h in sizes):
        raise UsageError(f"--hidden sizes must be >= 1, got {hidden}")
    if len(sizes) == 1 and layers is not None:
        return sizes * layers
    if layers is not None and layers != len(sizes):
        raise UsageError(f"--layers {layers} does not match --hidden {hidden} ({len(sizes)} sizes)")
    return sizes


@main.command()
@click.option("--task", type=click.Choice(["default", "ptb", "addition", "memorization"]),
              default="default", show_default=True,
              help="default: bundled digits classifier; ptb: Penn Treebank word LM; addition, "
                   "memorization: the tLSTM paper's algorithmic tasks, generated in code.")
@click.option("--model", "model_kind", type=click.Choice(["lstm", "tlstm"]), default=None,
              help="lstm, or tlstm: a tensorized LSTM (--hidden M channels) [lstm].")
@click.option("--tensor-size", type=int, default=None, help="tLSTM: locations P [4].")
@click.option("--kernel", type=int, default=None, help="tLSTM: kernel size K >= 2 [3].")
@click.option("--depth", type=int, default=None,
              help="tLSTM: output delay L (1..the largest causal one) [the largest causal one].")
@click.option("--memory-conv/--no-memory-conv", default=None,
              help="tLSTM: the memory-cell convolution (softmax kernel) [on].")
@click.option("--feedback/--no-feedback", default=None,
              help="tLSTM: centred kernel (a location also reads the one above) [on].")
@click.option("--channel-norm", is_flag=True, default=None,
              help="tLSTM: channel normalization (not deployable: quantize refuses it).")
@click.option("--digits", type=int, default=None, help="addition: digits per operand [15].")
@click.option("--length", type=int, default=None, help="memorization: symbols to recall [20].")
@click.option("--steps-per-epoch", type=int, default=None,
              help="addition, memorization: batches of fresh sequences per epoch [100].")
@click.option("--data", type=str, default=None, help="PTB directory (ptb.{train,valid,test}.txt).")
@click.option("--layers", type=int, default=None, help="Number of LSTM layers.")
@click.option("--hidden", type=str, default=None, help="Hidden size, or one per layer: 64,32.")
@click.option("--embed", type=int, default=None, help="LM embedding size [200].")
@click.option("--dropout", type=float, default=None, help="Dropout probability [0].")
@click.option("--tied/--no-tied", default=None, help="LM: tie decoder and embedding weights.")
@click.option("--epochs", type=int, default=None, help="Epochs [default 60, ptb 13].")
@click.option("--lr", type=float, default=None, help="Learning rate [default 0.01 adam, ptb 1 sgd].")
@click.option("--lr-decay", type=float, default=None, help="LR factor per epoch after --decay-after.")
@click.option("--decay-after", type=int, default=None, help="Epochs at full learning rate.")
@click.option("--clip", type=float, default=None, help="Gradient-norm clip (0 = off) [5].")
@click.option("--batch", type=int, default=None, help="Batch size [default 32, ptb 20].")
@click.option("--bptt", type=int, default=None, help="LM truncated-BPTT window [35].")
@click.option("--init-scale", type=float, default=None, help="Uniform init ±scale [ptb 0.1].")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default=None)
@click.option("--iss-lambda", type=float, default=None, help="ISS group-Lasso weight [0 = off].")
@click.option("--zero-threshold", type=float, default=None, help="ISS zero-out threshold [1e-4].")
@click.option("--seed", type=int, default=None, help="Random seed [0].")
@click.option("--max-tokens", type=int, default=None, help="Truncate PTB splits (smoke runs).")
@click.option("--shs-threshold", type=float, default=None,
              help="SHS: zero the output gate where sigmoid(a_o) <= this [0 = off].")
@click.option("--shs-lambda", type=float, default=None,
              help="SHS: L1 weight on the output gate (per batch, summed over steps) [0].")
@click.option("--shs-layer-factor", type=float, default=None,
              help="SHS: L1 weight factor of every layer above the first [2, the reference].")
@click.option("--from", "init_from", type=str, default=None,
              help="Start from this checkpoint's weights and shape (fine-tuning, QAT).")
@click.option("--qat", is_flag=True, default=None,
              help="Quantization-aware training (needs --from): the deployed integer arithmetic.")
@click.option("--weights", "qat_weight_bits", type=click.Choice(["8", "16"]), default=None,
              help="QAT weight width [16].")
@click.option("--acts", "qat_act_bits", type=click.Choice(["8", "16"]), default=None,
              help="QAT input and h width [16].")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None,
              help="Training arithmetic: fp32, or bf16 mixed precision (bfloat16 matrix "
                   "products, float32 weights and evaluation; not with SHS, QAT or tLSTM) [fp32].")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (may extend --epochs).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch [1 for the default task, torch's choice for ptb].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def train(ctx: click.Context, **opts: Any) -> None:
    """Train a model (ISS with --iss-lambda, SHS with --shs-threshold/--shs-lambda, QAT with
    --qat --from CKPT); write OUT/{last,best}.pt, metrics.jsonl, state.pt."""
    from ..train import default_config
    from ..train import train as run_train

    if opts["resume"]:
        given = [
            k for k in opts
            if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
            and k not in _RESUMABLE
        ]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
            raise UsageError(f"--resume takes its settings from the run; do not give {flags}")
        cfg = None
    else:
        hidden = _parse_hidden(opts["hidden"], opts["layers"], opts["task"])
        keys = ("data", "embed", "dropout", "tied", "epochs", "lr", "lr_decay", "decay_after",
                "clip", "batch", "bptt", "init_scale", "optimizer", "iss_lambda", "zero_threshold",
                "seed", "max_tokens", "shs_threshold", "shs_lambda", "shs_layer_factor",
                "init_from", "qat", "precision")
        if opts["init_from"] is not None and (hidden is not None or opts["embed"] is not None
                                              or opts["tied"] is not None):
            raise UsageError("--from takes the model's shape from the checkpoint; do not give "
                             "--hidden, --layers, --embed or --tied")
        bits = {k: None if opts[k] is None else int(opts[k])
                for k in ("qat_weight_bits", "qat_act_bits")}
        tl = _tlstm_options(opts)
        cfg = default_config(opts["task"], hidden=hidden, **{k: opts[k] for k in keys}, **bits,
                             **tl)
    out = Path(opts["out"])
    done_before = len(_history(out)) if opts["resume"] else 0
    result = run_train(
        cfg, opts["out"], resume=opts["resume"], device=opts["device"],
        progress=not opts["quiet"], epochs=opts["epochs"] if opts["resume"] else None,
        threads=opts["threads"],
    )
    if int(os.environ.get("RANK", "0") or 0) != 0:  # a torchrun job: rank 0 reports
        return
    last = result.history[-1] if result.history else {}
    shown = {k: v for k, v in last.items() if k.endswith(("acc", "ppl")) or k == "removable_units"}
    best = out / "best.pt"
    best_text = f"best: {best}" if best.is_file() else "no best.pt in the run directory"
    if opts["resume"] and len(result.history) == done_before:
        click.echo(
            f"nothing to do: {out} has already trained {done_before} epoch(s) "
            f"(give --epochs above {done_before} to extend it); {out / 'last.pt'} ({best_text})"
        )
        return
    click.echo(
        f"trained {len(result.history)} epoch(s) -> {out / 'last.pt'} "
        f"({best_text}) {json_dumps(shown)}"
    )


_TLSTM_FLAGS = ("tensor_size", "kernel", "depth", "memory_conv", "feedback", "channel_norm")
_ALGO_FLAGS = ("digits", "length", "steps_per_epoch")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _tlstm_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The ``train`` options of a tLSTM and of the algorithmic tasks, checked against --model and
    --task (a flag that would have no effect is refused)."""
    tlstm = opts["model_kind"] == "tlstm"
    given = [k for k in _TLSTM_FLAGS if opts[k] is not None]
    if given and not tlstm:
        raise UsageError(f"{_flag(given[0])} shapes a tensorized LSTM: give --model tlstm")
    if tlstm and opts["layers"] is not None:
        raise UsageError("--model tlstm has one channel count: give --hidden M, not --layers")
    if tlstm and opts["embed"] is not None:
        raise UsageError("--model tlstm embeds tokens into its row 0 (--hidden channels): do not "
                         "give --embed")
    for k in _ALGO_FLAGS:
        if opts[k] is not None and opts["task"] not in ("addition", "memorization"):
            raise UsageError(f"{_flag(k)} is an option of --task addition|memorization")
    if opts["digits"] is not None and opts["task"] != "addition":
        raise UsageError("--digits is an option of --task addition (memorization: --length)")
    if opts["length"] is not None and opts["task"] != "memorization":
        raise UsageError("--length is an option of --task memorization (addition: --digits)")
    out = {k: opts[k] for k in (*_TLSTM_FLAGS, *_ALGO_FLAGS)}
    out["model"] = opts["model_kind"]
    return out


def _describe_tlstm_ir(path: Path, as_json: bool) -> str | None:
    """``info`` of a tensorized-LSTM IR (None for any other file: describe_ir's)."""
    from .. import ir
    from ..errors import IRError

    try:
        m = ir.load(path)
    except IRError:
        return None
    if getattr(m, "family", "lstm") != "tlstm":
        return None
    from ..ir.types import thaw
    from ..quant.tlstm import format_table

    if as_json:
        return json_dumps({
            "name": m.name, "kind": m.kind.value, "family": "tlstm", "sha256": ir.sha256(m),
            "P": m.P, "M": m.M, "K": m.K, "offsets": list(m.offsets), "depth": m.depth,
            "memory_conv": m.memory_conv, "n_in": m.n_in, "vocab": m.vocab, "n_out": m.n_out,
            "params": m.n_params(), "macs_per_step": m.macs_per_step(),
            "acc_bits": m.plan.acc_bits, "meta": thaw(m.meta)}, sort_keys=True)
    return f"IR {path}  (tLSTM schema, sha256 {ir.sha256(m)[:16]}…)\nmodel {m.name!r}: " \
           f"{m.kind}\n" + format_table(m)


def _history(out: Path) -> list:
    """The metrics lines of a run directory (empty when unreadable: train() reports why)."""
    try:
        return (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


@main.command("import")
@click.argument("state_dict", type=str)
@click.option("--kind", type=click.Choice(["classifier", "lm"]), required=True)
@click.option("--out", type=str, required=True, help="Checkpoint to write.")
@click.option("--force", is_flag=True, help="Replace --out even if lstmgen did not write it.")
def import_cmd(state_dict: str, kind: str, out: str, force: bool) -> None:
    """Import a plain PyTorch state dict (nn.LSTM batch_first + head / embedding, decoder)."""
    path = Path(state_dict)
    check_output_file(out, force=force, protect=[path], ours=is_checkpoint_file)
    sd = torch_load(path)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        raise CheckpointError(f"{path}: looks like a full checkpoint; pass its plain state dict")
    config = config_from_state_dict(sd, kind, str(path))
    validate_state_dict(config, sd, str(path))
    ckpt = Checkpoint(config=config, state_dict=dict(sd), meta={"imported_from": path.name})
    save_checkpoint(ckpt, out)
    click.echo(f"imported {kind} {list(config.hidden)} -> {out}")


def prune_report(before: Checkpoint, after: Checkpoint, seed: int = 0) -> dict[str, Any]:
    """Compare ``before`` and its compaction ``after`` on random inputs; return the figures.

    Keys: ``hidden_before``, ``hidden_after``, ``macs_before``, ``macs_after`` (per step/token,
    LSTM + head), ``lstm_macs_before``, ``lstm_macs_after``, ``params_before``,
    ``params_after``, ``max_abs_diff`` (largest output difference on random data).
    """
    gen = torch.Generator().manual_seed(seed)
    cfg = before.config
    if cfg.kind == "classifier":
        x = torch.randn(16, 12, cfg.n_in, generator=gen)
    else:
        x = torch.randint(0, cfg.vocab, (4, 24), generator=gen)
    outs = []
    for ck in (before, after):
        model = build_module(ck.config)
        model.load_state_dict(ck.state_dict)
        with torch.no_grad():
            outs.append(model.eval()(x))
    mb, ma = macs_per_step(before.config), macs_per_step(after.config)
    return {
        "hidden_before": list(before.config.hidden),
        "hidden_after": list(after.config.hidden),
        "macs_before": mb["total"],
        "macs_after": ma["total"],
        "lstm_macs_before": mb["lstm"],
        "lstm_macs_after": ma["lstm"],
        "params_before": count_params(before.config),
        "params_after": count_params(after.config),
        "max_abs_diff": float((outs[0] - outs[1]).abs().max()),
    }


@main.command()
@click.argument("ckpt", type=str)
@click.option("--out", type=str, required=True, help="Compacted checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--tol", type=float, default=1e-4, show_default=True,
              help="Largest output difference accepted on random data.")
@click.option("--force", is_flag=True, help="Replace --out even if lstmgen did not write it.")
def prune(ckpt: str, out: str, as_json: bool, tol: float, force: bool) -> None:
    """Drop ISS-removable units (all-zero outgoing weights); check outputs are unchanged."""
    from ..sparsity import compact

    if not (tol >= 0 and math.isfinite(tol)):
        raise UsageError(f"--tol must be a number >= 0, got {tol}")
    check_output_file(out, force=force, protect=[ckpt], ours=is_checkpoint_file)
    before = load_checkpoint(ckpt)
    after = compact(before)
    rep = prune_report(before, after)
    if not rep["max_abs_diff"] <= tol:
        raise CheckpointError(
            f"{ckpt}: compacted model differs by {rep['max_abs_diff']:.3g} > --tol {tol}"
        )
    save_checkpoint(after, out)
    if as_json:
        click.echo(json_dumps(rep))
        return
    unit = "token" if before.config.kind == "lm" else "step"
    click.echo(f"{'':12}{'before':>14}{'after':>14}")
    for l, (hb, ha) in enumerate(zip(rep["hidden_before"], rep["hidden_after"])):
        click.echo(f"{f'layer {l}':12}{hb:>14}{ha:>14}")
    click.echo(f"{'params':12}{rep['params_before']:>14}{rep['params_after']:>14}")
    click.echo(f"{'LSTM MACs':12}{rep['lstm_macs_before']:>14}{rep['lstm_macs_after']:>14}  per {unit}")
    click.echo(f"{'total MACs':12}{rep['macs_before']:>14}{rep['macs_after']:>14}  per {unit}")
    click.echo(f"max |diff| on random inputs: {rep['max_abs_diff']:.3g}; wrote {out}")


def describe_checkpoint(ckpt: Checkpoint) -> dict[str, Any]:
    """Return a JSON-able description: config, params, MACs per step, ISS stats, meta."""
    from ..sparsity import iss_stats

    model = build_module(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    meta = {k: v for k, v in ckpt.meta.items() if k != "iss"}
    return {
        "config": ckpt.config.to_dict(),
        "params": count_params(ckpt.config),
        "macs_per_step": macs_per_step(ckpt.config),
        "iss": iss_stats(model) if ckpt.config.tlstm is None else None,  # no ISS in a tLSTM
        "meta": meta,
    }


def _format_description(path: str, d: dict[str, Any]) -> str:
    cfg: dict[str, Any] = d["config"]
    macs, iss = d["macs_per_step"], d["iss"]
    lm = cfg["kind"] == "lm"
    inputs = f"embedding {cfg['n_in']} (vocab {cfg['vocab']})" if lm else f"input {cfg['n_in']}"
    tied = ", tied" if cfg["tied"] else ""
    if cfg.get("shs_threshold") is not None:
        tied += f", SHS output-gate threshold {cfg['shs_threshold']:g}"
    head = "softmax" if lm else "head (per sequence)"
    if iss is None:  # a tensorized LSTM
        t = cfg["tlstm"]
        variants = [v for v, on in (("memory-cell convolution", t["memory_conv"]),
                                    ("feedback", t["feedback"]),
                                    ("channel normalization", t["channel_norm"])) if on]
        lines = [
            f"{path}: lstmgen checkpoint, kind {cfg['kind']}, tensorized LSTM",
            (f"  {inputs}, P {t['P']} locations x M {cfg['hidden'][0]} channels, kernel "
             f"{t['K']}, delay L {t['depth']}, {', '.join(variants) or 'no variants'}; outputs "
             f"{cfg['n_out']}"),
            f"  parameters {d['params']}",
            f"  MACs per step: tLSTM {macs['lstm']}, {head} {macs['head']}, total {macs['total']}",
        ]
        lines += [f"  {key}: {json.dumps(d['meta'][key])}" for key in ("task", "epoch", "metrics")
                  if key in d["meta"]]
        return "\n".join(lines)
    lines = [
        f"{path}: lstmgen checkpoint, kind {cfg['kind']}",
        f"  {inputs}, hidden {cfg['hidden']}, outputs {cfg['n_out']}, dropout {cfg['dropout']}{tied}",
        f"  parameters {d['params']}",
        f"  MACs per step: LSTM {macs['lstm']}, {head} {macs['head']}, total {macs['total']}",
        f"  ISS: {iss['outgoing_zero_units']}/{iss['total_units']} units removable, "
        + f"{iss['zero_components']} fully-zero components",
    ]
    for layer in iss["layers"]:
        q = layer["norm_quantiles"]
        lines.append(
            f"    layer {layer['layer']}: hidden {layer['hidden']}, "
            f"removable {layer['outgoing_zero_units']}, zero components {layer['zero_components']}, "
            f"group norm min/median/max {q['min']:.3g}/{q['median']:.3g}/{q['max']:.3g}"
        )
    metrics = d["meta"].get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("h_zeros_per_layer"), list):
        z = metrics["h_zeros_per_layer"]
        if len(z) == len(cfg["hidden"]):
            executed, x = 0.0, float(cfg["n_in"])
            for li, h in enumerate(cfg["hidden"]):
                executed += 4 * h * (x + h * (1 - z[li]))
                x = h * (1 - z[li])
            zeros = ", ".join(f"{100 * v:.1f}%" for v in z)
            lines.append(f"  h zeros per layer (float, evaluation data): {zeros}; LSTM MACs per "
                         f"step with zero-skipping about {executed:.0f} (dense {macs['lstm']})")
    if "qat" in d["meta"]:
        q = d["meta"]["qat"]
        lines.append(f"  QAT: int{q.get('weight_bits')} weights, int{q.get('act_bits')} "
                     "activations (quantize uses the formats it was trained with)")
    for key in ("task", "epoch", "metrics", "compacted_from", "imported_from"):
        if key in d["meta"]:
            lines.append(f"  {key}: {json.dumps(d['meta'][key])}")
    return "\n".join(lines)


@main.command()
@click.argument("path", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(path: str, as_json: bool) -> None:
    """Describe a checkpoint (config, sizes, params, MACs/step, ISS stats) or an IR file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    if not p.is_file():
        raise UsageError(f"{p}: not a file")
    if p.suffix == ".lstmir" or is_ir_file(p):  # a damaged .lstmir still gets the IR's error
        text = _describe_tlstm_ir(p, as_json) or describe_ir(p, as_json)
        if as_json:  # NaN/Infinity (invalid JSON) become null
            text = json_dumps(json.loads(text), sort_keys=True)
        click.echo(text)
        return
    d = describe_checkpoint(load_checkpoint(p))
    click.echo(json_dumps(d) if as_json else _format_description(path, d))

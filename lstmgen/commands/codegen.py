"""``lstmgen generate`` and ``lstmgen verify``: IR → source files, and target vs golden model.

``verify`` exits 0 when every output code equals the golden model's, 1 on any mismatch, and 2
(one line on stderr) when it cannot run at all: a bad IR, bad inputs, a missing tool.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import numpy as np

from .. import golden, ir
from ..cli import main
from ..errors import DataError
from ..quant.floatref import float_outputs
from ..testing import random_inputs
from ..verify.base import verify
from ..verify.registry import TARGETS, get_runner

__all__ = ["generate_cmd", "load_inputs", "verify_cmd"]


@main.command("generate")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["c"]), default="c", show_default=True,
              help="Back end to generate.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (replaced atomically).")
@click.option("--prefix", default=None, help="C name prefix and file stem (default: model name).")
@click.option("--cpu", type=click.Choice(["generic", "cortex-m3", "cortex-m4", "cortex-m7"]),
              default="generic", show_default=True,
              help="Core to tune for (cortex-m4/m7: ARM DSP kernels when available).")
def generate_cmd(model_path: str, target: str, out_dir: str, prefix: str | None, cpu: str) -> None:
    """Generate TARGET sources for MODEL (an .lstmir file) into --out."""
    from ..targets.c import CTarget, generate

    model = ir.load(model_path)
    files = generate(model, out_dir, CTarget(prefix=prefix, cpu=cpu))
    click.echo(f"wrote {len(files)} files to {out_dir}")


def load_inputs(path: str | Path, model: ir.Model) -> np.ndarray:
    """Read integer input codes from ``path`` (.npy): (N, T, n_in), or (N, T) token ids for an LM.

    Float arrays are refused: the harness takes codes in the model's input format.
    """
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read inputs ({exc})") from None
    if arr.dtype.kind not in "iu":
        raise DataError(
            f"{path}: inputs must be integer codes in the model's input format "
            f"({model.input_fmt}), got dtype {arr.dtype}; quantize float features first"
        )
    return golden.check_inputs(model, arr)


@main.command("verify")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(list(TARGETS)), default="c", show_default=True,
              help="Target to build, run and compare with the golden model.")
@click.option("--vectors", "n_vectors", type=click.IntRange(min=1), default=100, show_default=True,
              help="Random input sequences (ignored with --inputs).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Time steps per random sequence [default: 8 classifier, 16 lm].")
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Integer input codes (.npy): (N, T, n_in), or (N, T) token ids for an LM.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the build here (default: a temporary directory, removed afterwards).")
@click.option("--cc", default="gcc", show_default=True, envvar="CC",
              help="Host C compiler for --target c (also read from $CC).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify_cmd(model_path: str, target: str, n_vectors: int, steps: int | None,
               inputs_path: str | None, seed: int, workdir: str | None, cc: str,
               as_json: bool) -> None:
    """Run MODEL on TARGET and on the golden model; compare every output code.

    Prints ``PASS n vectors, 0 mismatches`` or the first mismatch (vector, step, layer, unit,
    want, got). Exit status: 0 pass, 1 mismatch, 2 error.
    """
    model = ir.load(model_path)
    if inputs_path is not None:
        inputs = load_inputs(inputs_path, model)
    else:
        t = steps if steps is not None else (16 if model.is_lm else 8)
        inputs = random_inputs(model, n_vectors, t, seed)
    runner = get_runner(target, cc=cc) if target == "c" else get_runner(target)
    ref = float_outputs(model, inputs)
    if workdir is not None:
        report = verify(model, runner, inputs, Path(workdir), float_outputs=ref)
    else:
        with tempfile.TemporaryDirectory(prefix="lstmgen-verify-") as tmp:
            report = verify(model, runner, inputs, Path(tmp), float_outputs=ref)
    click.echo(report.to_json() if as_json else report.text())
    if not report.passed:
        raise SystemExit(1)

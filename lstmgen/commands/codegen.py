"""``lstmgen generate``, ``verify`` and ``report``: IR → source files, target vs golden model, and a
target's measured figures. The ``--target`` choices and each target's option flags come from
the target registry (:mod:`lstmgen.targets.registry`).

``verify`` exits 0 when every output code equals the golden model's, 1 on any mismatch, and 2
(one line on stderr) when it cannot run at all: a bad IR, bad inputs, a missing tool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import golden, ir
from .._io import prepare_workdir
from ..cli import main
from ..data.arrays import load_array
from ..errors import DataError, UsageError
from ..targets.registry import (
    PLATFORMS,
    TARGETS,
    Platform,
    get_platform,
    get_target,
    make_options,
    option_fields,
)

__all__ = ["build_dir", "generate_cmd", "load_inputs", "report_cmd", "verify_cmd"]

#: A directory holding this file was made by lstmgen for builds (``--workdir``).
WORKDIR_MARK = ".lstmgen-workdir"


def _target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add one ``--flag`` per option field of every registered target (the union; a flag given
    for a target that lacks it is refused by :func:`make_options`)."""
    seen: dict[str, dataclasses.Field] = {}
    for target in TARGETS.values():
        for f in option_fields(target):
            seen.setdefault(f.name, f)
    for name, f in sorted(seen.items(), reverse=True):
        meta = f.metadata
        owners = [t.name for t in TARGETS.values() if name in {g.name for g in option_fields(t)}]
        if meta.get("choices"):
            typ: Any = click.Choice(meta["choices"])
        elif isinstance(f.default, bool):
            typ = click.BOOL
        elif isinstance(f.default, (int, float)):
            typ = type(f.default)
        else:
            typ = str
        help_ = f"{meta.get('help', '')} [{', '.join(owners)}; default {f.default}]"
        fn = click.option("--" + name.replace("_", "-"), name, type=typ, default=None,
                          help=help_, metavar=meta.get("metavar"))(fn)
    return fn


def _given(kw: dict[str, Any]) -> dict[str, Any]:
    """The target-option values among a command's keyword arguments."""
    names = {f.name for t in TARGETS.values() for f in option_fields(t)}
    return {k: kw.pop(k) for k in list(kw) if k in names}


@contextlib.contextmanager
def build_dir(path: str | None) -> Iterator[Path]:
    """The build directory: ``path`` (kept; created if missing; refused when it holds files that
    lstmgen did not put there) or a temporary directory removed afterwards."""
    if path is None:
        with tempfile.TemporaryDirectory(prefix="lstmgen-") as tmp:
            yield Path(tmp)
        return
    p = prepare_workdir(path)
    mark = p / WORKDIR_MARK
    if not mark.is_file():
        if any(p.iterdir()):
            raise UsageError(f"--workdir {path}: not empty and not an lstmgen build directory; "
                             "give a new or empty directory")
        mark.write_text("builds of lstmgen verify/report (safe to delete)\n")
    yield p


@main.command("generate")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(list(TARGETS)), default="c", show_default=True,
              help="Back end to generate: " + "; ".join(f"{t.name}: {t.summary}"
                                                         for t in TARGETS.values()))
@click.option("--out", "out_dir", required=True, type=click.Path(),
              help="Output directory (created if missing; files lstmgen did not write are kept, "
                   "and refused as targets unless --force).")
@click.option("--force", is_flag=True, help="Replace files in --out that lstmgen did not write.")
@_target_options
def generate_cmd(model_path: str, target: str, out_dir: str, force: bool, **kw: Any) -> None:
    """Generate TARGET sources for MODEL (an .lstmir file) into --out."""
    from .._io import write_tree

    t = get_target(target)
    options = make_options(t, _given(kw))
    model = ir.load(model_path)
    files = t.render(model, options)
    write_tree(out_dir, files, force=force, protect=(model_path,))
    click.echo(f"wrote {len(files)} files to {out_dir}")


def load_inputs(path: str | Path, model: ir.Model) -> tuple[np.ndarray, np.ndarray | None]:
    """Input sequences from ``path`` (.npy): ``(codes, floats)``.

    A classifier takes integer codes in the model's input format, or float features (N, T,
    n_in) which are quantized by the contract's rule (round half up, saturate) and also
    returned, for the float reference; an LM takes integer token ids (N, T). At least one
    sequence of at least one step.
    """
    from ..quant import quantize_inputs

    arr = load_array(path, "verify inputs")
    floats = None
    if arr.dtype.kind == "f" and not model.is_lm:
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{path}: verify inputs: float features contain NaN or Inf")
        if arr.ndim != 3 or arr.shape[2] != model.n_in:
            raise DataError(f"{path}: float features must be (sequences, steps, {model.n_in}), "
                            f"got shape {arr.shape}")
        floats = arr.astype(np.float64)
        arr = quantize_inputs(model, floats)
    elif arr.dtype.kind not in "iu":
        want = "integer token ids" if model.is_lm else "integer codes or float features"
        raise DataError(f"{path}: verify inputs must be {want}, got dtype {arr.dtype}")
    if arr.ndim >= 1 and arr.shape[0] == 0:
        raise DataError(f"{path}: verify inputs hold no sequences")
    try:
        codes = golden.check_inputs(model, arr)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return codes, floats


@main.command("verify")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(list(PLATFORMS)), default="c", show_default=True,
              help="Where to build, run and compare with the golden model: "
                   + "; ".join(f"{p.name}: {p.summary}" for p in PLATFORMS.values()))
@click.option("--vectors", "n_vectors", type=click.IntRange(min=1), default=100, show_default=True,
              help="Random input sequences (ignored with --inputs).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Time steps per random sequence [default: 8 classifier, 16 lm].")
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False), default=None,
              help="Input sequences (.npy): integer codes or float features (N, T, n_in), or "
                   "(N, T) token ids for an LM.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the random inputs.")
@click.option("--workdir", type=click.Path(), default=None,
              help="Keep the build here (default: a temporary directory, removed afterwards).")
@click.option("--cc", default=None, help="Host C compiler for --target c [default: $CC or gcc].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_target_options
def verify_cmd(model_path: str, target: str, n_vectors: int, steps: int | None,
               inputs_path: str | None, seed: int, workdir: str | None, cc: str | None,
               as_json: bool, **kw: Any) -> None:
    """Run MODEL on TARGET and on the golden model; compare every output code.

    Prints ``PASS n vectors, 0 mismatches`` or the first mismatch (vector, step, layer, unit,
    want, got). Exit status: 0 pass, 1 mismatch, 2 error.
    """
    from ..quant.floatref import float_outputs
    from ..testing import random_inputs
    from ..verify.base import verify

    platform = get_platform(target)
    options = make_options(get_target(platform.target), _given(kw), platform.fixed,
                           platform=target)
    if cc is not None and target != "c":
        raise UsageError(f"--cc is an option of target 'c', not {target!r}")
    model = ir.load(model_path)
    floats = None
    if inputs_path is not None:
        inputs, floats = load_inputs(inputs_path, model)
    else:
        t = steps if steps is not None else (16 if model.is_lm else 8)
        inputs = random_inputs(model, n_vectors, t, seed)
    runner_kw = {"cc": cc or os.environ.get("CC") or "gcc"} if target == "c" else {}
    runner = platform.make_runner(options, **runner_kw)
    ref = float_outputs(model, floats if floats is not None else inputs)
    with build_dir(workdir) as wd:
        report = verify(model, runner, inputs, wd, float_outputs=ref)
    click.echo(report.to_json() if as_json else report.text())
    if not report.passed:
        raise SystemExit(1)


#: ``report --target`` names: every platform with a report, and every target with one.
REPORTS = {**{p.name: p for p in PLATFORMS.values() if p.report},
           **{t.name: t for t in TARGETS.values() if t.report}}


@main.command("report")
@click.argument("model_path", metavar="MODEL|RUN_DIR", type=click.Path())
@click.option("--target", type=click.Choice(list(REPORTS)), default=None,
              help="What to measure (a verify target, or rtl for synthesis) [default: cortex-m4].")
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Time steps of the measured sequence.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the random inputs.")
@click.option("--workdir", type=click.Path(), default=None,
              help="Keep the build here (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Run report: output directory [default: RUN_DIR/report].")
@click.option("--deploy", is_flag=True,
              help="Run report: also compact, quantize and measure each run's model (C, "
                   "Cortex-M4, HLS; cached in the run), and draw a sweep's Pareto front.")
@click.option("--force", is_flag=True, help="Run report: replace files in --out lstmgen did not write.")
@_target_options
def report_cmd(model_path: str, target: str | None, steps: int, seed: int, workdir: str | None,
               as_json: bool, out_dir: str | None, deploy: bool, force: bool, **kw: Any) -> None:
    """Measure MODEL on TARGET (footprint, instructions or cycles per step, resources), or
    report a training run or sweep directory (Markdown + self-contained HTML with plots).

    Every target figure is measured (a build, a run, a count, a synthesis), and the outputs of
    the measured run are checked against the golden model first.
    """
    if Path(model_path).is_dir():
        from ..study import write_report

        given = [k for k, v in kw.items() if v is not None]
        if target is not None or given or workdir is not None:
            raise UsageError("a run report takes --out, --deploy, --force and --json only")
        out = Path(out_dir) if out_dir is not None else Path(model_path) / "report"
        files = write_report(model_path, out, deploy=deploy, force=force)
        html = next(f for f in files if f.name == "report.html")
        click.echo(json.dumps({"html": str(html), "files": len(files)}) if as_json
                   else f"wrote {html} and {len(files) - 1} more files")
        return
    if out_dir is not None or deploy or force:
        raise UsageError("--out, --deploy and --force are for a run report (a directory)")
    target = target or "cortex-m4"
    entry = REPORTS[target]
    if isinstance(entry, Platform):
        t, fixed, runner_kw = get_target(entry.target), entry.fixed, entry.runner_kw
    else:
        t, fixed, runner_kw = entry, {}, {}
    options = make_options(t, _given(kw), fixed, platform=target)
    model = ir.load(model_path)
    fn = entry.report_function()
    with build_dir(workdir) as wd:
        data, text = fn(model, options, steps=steps, seed=seed, workdir=wd, **runner_kw)
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)

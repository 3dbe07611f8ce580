"""The verify protocol shared by every target: run golden and target on the same vectors,
compare integer codes exactly, report the first mismatch as (vector, layer, step, unit, want, got).

A target plugs in as a runner, a :class:`ToolRunner` subclass that implements two steps:
``build(model, workdir)`` (generate and compile, simulate-build, ...; once per ``workdir``, reused
while the sources are unchanged; returns the directory it runs in) and ``execute(model, rundir,
dump, n_vectors, n_steps)`` (run on ``rundir/inputs.bin``, write ``outputs.bin`` and, when asked
and supported, ``dump.bin``, see :mod:`lstmgen.verify.vectors`; return the measured
:class:`Figures`). :meth:`ToolRunner.run` does the rest the same way for every target: check the
inputs, write the vector file, clear stale outputs, decode what the target wrote. Tool look-up
(:func:`find_tool`) and subprocess calls (:func:`call`) give one clear line when a tool is
missing or fails, with the tool's own message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import golden
from ..errors import ToolError, UsageError
from ..ir import Model
from . import vectors

__all__ = [
    "FIGURE_KEYS",
    "Figures",
    "Mismatch",
    "Report",
    "Runner",
    "TargetRun",
    "ToolRunner",
    "call",
    "find_tool",
    "first_mismatch",
    "golden_of",
    "verify",
]


@dataclass
class Figures:
    """What a target measured, with the same keys on every target (None: not measured here).

    ``instructions_per_sequence``/``instructions_per_mac`` (dense mult-adds of the LSTM stack)
    are counted instructions (callgrind on the host, the QEMU plugin on Cortex-M);
    ``flash_bytes``/``ram_bytes`` the model's own footprint; ``cycles_per_step`` clock cycles
    per time step measured in HDL simulation. ``extra`` holds a target's own figures.
    """

    instructions_per_sequence: float | None = None
    instructions_per_mac: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    cycles_per_step: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The common keys (always present) followed by the target's own."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        d.update(self.extra)
        return d


#: The figure keys every verify report carries.
FIGURE_KEYS = tuple(f.name for f in fields(Figures) if f.name != "extra")


@dataclass
class TargetRun:
    """What a target produced: outputs shaped like golden's, optional dump, its figures."""

    outputs: np.ndarray
    dump: list[dict[str, np.ndarray]] | None = None
    figures: Figures = field(default_factory=Figures)


class Runner(Protocol):
    """A back end's build-and-run step (see :class:`ToolRunner`)."""

    name: str

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        """Build (once per ``workdir``) and run the target on ``inputs``."""
        ...


def golden_of(model: Any) -> Any:
    """The golden model of ``model``'s family: :mod:`lstmgen.golden` for an LSTM IR,
    :mod:`lstmgen.golden_tlstm` for a tLSTM IR (both offer ``check_inputs`` and ``run``)."""
    if getattr(model, "family", "lstm") == "tlstm":
        from .. import golden_tlstm

        return golden_tlstm
    return golden


def find_tool(name: str, hint: str) -> str:
    """Full path of executable ``name``; a missing one raises :class:`ToolError` with ``hint``
    (how to install it)."""
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} not found on PATH: {hint}")
    return path


_MESSAGE_MAX = 400


def tool_message(text: str) -> str:
    """One line from a tool's output: its first line that names an error, else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "no message"
    pick = next((ln for ln in lines if "error" in ln.lower()), lines[-1])
    return pick if len(pick) <= _MESSAGE_MAX else pick[:_MESSAGE_MAX] + "…"


def call(argv: Sequence[str], cwd: Path, what: str, *, timeout: float | None = None,
         env: Mapping[str, str] | None = None) -> str:
    """Run a tool in ``cwd`` and return its stdout. A non-zero exit, a timeout or a tool that
    cannot start raises :class:`ToolError` naming ``what`` with the tool's own message; the
    whole output is kept in the exception's ``output`` attribute."""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=None if env is None else dict(env), errors="replace")
    except subprocess.TimeoutExpired as exc:
        out = "".join(s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
                      for s in (exc.stderr, exc.stdout))
        err = ToolError(f"{what}: no result within {timeout:g} s"
                        + (f": {tool_message(out)}" if out.strip() else ""))
        err.output = out  # type: ignore[attr-defined]
        raise err from None
    except OSError as exc:
        raise ToolError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        out = proc.stderr + proc.stdout
        err = ToolError(f"{what} failed (exit status {proc.returncode}): {tool_message(out)}")
        err.output = out  # type: ignore[attr-defined]
        raise err
    return proc.stdout


class ToolRunner:
    """Base of every runner: the shared build / write vectors / run / decode steps.

    Subclasses set :attr:`name` and implement :meth:`build` and :meth:`execute`;
    :attr:`supports_dump` is False for a target that cannot write per-step h/c dumps (a
    mismatch is then located at the outputs only).
    """

    name: str = "target"
    supports_dump: bool = True
    #: The model families (``family`` of an IR model; an LSTM's is ``lstm``) the runner builds.
    families: tuple[str, ...] = ("lstm",)

    def build(self, model: Model, workdir: Path) -> Path:
        """Build the target for ``model`` inside ``workdir``; return the directory it runs in."""
        raise NotImplementedError

    def execute(self, model: Model, rundir: Path, *, dump: bool, n_vectors: int,
                n_steps: int) -> Figures:
        """Run on ``rundir/inputs.bin``; write ``outputs.bin`` (and ``dump.bin``)."""
        raise NotImplementedError

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        """Build (once per ``workdir``) and run the target on ``inputs``."""
        family = getattr(model, "family", "lstm")
        if family not in self.families:
            raise UsageError(f"target {self.name!r} does not run {family} models")
        arr = golden.check_inputs(model, inputs)
        n, steps = int(arr.shape[0]), int(arr.shape[1])
        rundir = self.build(model, Path(workdir).resolve())
        vectors.write_inputs(rundir / "inputs.bin", model, arr)
        for stale in ("outputs.bin", "dump.bin"):
            (rundir / stale).unlink(missing_ok=True)
        dump = dump and self.supports_dump
        figures = self.execute(model, rundir, dump=dump, n_vectors=n, n_steps=steps)
        return TargetRun(
            outputs=vectors.read_outputs(rundir / "outputs.bin", model, n, steps),
            dump=vectors.read_dump(rundir / "dump.bin", model) if dump else None,
            figures=figures,
        )


@dataclass
class Mismatch:
    """The first disagreement: ``what`` is ``output``, ``h`` or ``c``."""

    vector: int
    step: int
    what: str
    layer: int | None
    unit: int
    want: int
    got: int

    def __str__(self) -> str:
        where = "output" if self.layer is None else f"layer {self.layer} {self.what}"
        return (
            f"vector {self.vector}, step {self.step}, {where}, unit {self.unit}: "
            f"want {self.want}, got {self.got}"
        )


@dataclass
class Report:
    """Result of :func:`verify`; ``mismatches`` counts vectors with any differing output code.

    ``outputs`` / ``golden_outputs`` hold the compared codes (not part of the JSON report).
    """

    target: str
    vectors: int
    mismatches: int
    first: Mismatch | None = None
    max_abs_err_vs_float: float | None = None
    figures: Figures = field(default_factory=Figures)
    outputs: np.ndarray | None = field(default=None, repr=False)
    golden_outputs: np.ndarray | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    def text(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.vectors} vectors, {self.mismatches} mismatches"
        if self.first is not None:
            head += f"; first mismatch: {self.first}"
        return f"[{self.target}] {head}"

    def to_json(self) -> str:
        d: dict[str, Any] = {
            "target": self.target,
            "vectors": self.vectors,
            "mismatches": self.mismatches,
            "max_abs_err_vs_float": self.max_abs_err_vs_float,
            "first_mismatch": None if self.first is None else asdict(self.first),
        }
        d.update(self.figures.to_dict())
        return json.dumps(d, sort_keys=True)


def first_mismatch(
    model: Model,
    want: golden.RunResult,
    got_outputs: np.ndarray,
    got_dump: list[dict[str, np.ndarray]] | None,
) -> Mismatch | None:
    """Earliest (step, then layer) disagreement; h/c dumps locate it inside the network."""
    if got_dump is not None and want.layers:
        best: tuple[int, int, int] | None = None  # (step, layer, vector)
        found: Mismatch | None = None
        for li, (w, g) in enumerate(zip(want.layers, got_dump)):
            for what in ("c", "h"):
                diff = np.argwhere(w[what] != g[what])
                if diff.size:
                    order = np.lexsort((diff[:, 0], diff[:, 1]))  # by step, then vector
                    v, t, u = (int(a) for a in diff[order[0]])
                    key = (t, li, v)
                    if best is None or key < best:
                        best = key
                        found = Mismatch(v, t, what, li, u, int(w[what][v, t, u]), int(g[what][v, t, u]))
        if found is not None:
            return found
    w_out = want.outputs if model.is_lm else want.outputs[:, None, :]
    g_out = got_outputs if model.is_lm else got_outputs[:, None, :]
    diff = np.argwhere(w_out != g_out)
    if not diff.size:
        return None
    order = np.lexsort((diff[:, 0], diff[:, 1]))
    v, t, u = (int(a) for a in diff[order[0]])
    step = t if model.is_lm else int(want.layers[0]["h"].shape[1] - 1) if want.layers else t
    return Mismatch(v, step, "output", None, u, int(w_out[v, t, u]), int(g_out[v, t, u]))


def verify(
    model: Model,
    runner: Runner,
    inputs: np.ndarray,
    workdir: Path,
    *,
    float_outputs: np.ndarray | None = None,
) -> Report:
    """Compare ``runner`` with the golden model on ``inputs`` (exact, every output code).

    On a mismatch the target is run again with dumps to name the first differing layer/step.
    ``float_outputs`` (same shape as the outputs, float values) gives ``max_abs_err_vs_float``.
    """
    gold = golden_of(model)
    inputs = gold.check_inputs(model, inputs)
    want = gold.run(model, inputs)
    got = runner.run(model, inputs, workdir)
    if got.outputs.shape != want.outputs.shape:
        raise ValueError(f"target output shape {got.outputs.shape} != golden {want.outputs.shape}")
    axes = tuple(range(1, want.outputs.ndim))
    bad = np.any(want.outputs != got.outputs, axis=axes)
    report = Report(target=runner.name, vectors=int(inputs.shape[0]), mismatches=int(bad.sum()),
                    figures=got.figures, outputs=got.outputs, golden_outputs=want.outputs)
    if report.mismatches:
        want_d = gold.run(model, inputs, dump=True)
        got_d = runner.run(model, inputs, workdir, dump=True)
        report.first = first_mismatch(model, want_d, got_d.outputs, got_d.dump)
    if float_outputs is not None:
        deq = model.head.out_fmt.to_float(got.outputs)
        report.max_abs_err_vs_float = float(np.max(np.abs(deq - float_outputs), initial=0.0))
    return report

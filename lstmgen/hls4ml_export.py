"""Hand a (compacted) lstmgen classifier to hls4ml, so hls4ml users get ISS's smaller dense
LSTM in their own flow, and check the result against the float model before writing it.

What hls4ml 1.3.0's PyTorch front end can express, and how lstmgen meets it:

* one ``nn.LSTM`` layer (``num_layers=1``, batch first) followed by one ``nn.Linear``; its LSTM
  returns only the last step's ``h``, which is exactly a classifier's head input. Stacked
  LSTMs and language models (an output every step, an embedding) are refused with one line
  (:func:`check_exportable`) instead of being written wrong;
* hls4ml's channels-last conversion (on by default for PyTorch) inserts a transpose of the
  ``(steps, features)`` input in front of the LSTM, so it is turned off; hls4ml then takes the
  ``nn.Linear`` weight as if it were stored ``(in, out)`` like a Keras ``Dense`` kernel, while
  PyTorch stores ``(out, in)`` (measured: max error 0.26-0.38 on outputs of magnitude 0.35-0.38).
  lstmgen therefore hands hls4ml a module whose ``fc.weight`` holds the transposed matrix.

The converted model is compiled (hls4ml's own C-simulation, ``hls_model.compile()``) and traced
on check inputs; it is written only when (1) the LSTM's last ``h`` agrees with the float model
within :func:`tolerances`' ``h`` budget (hls4ml's activation tables and data precision), (2)
the Dense output agrees with the float ``Linear`` applied to hls4ml's own ``h`` within the
rounding of its weight, bias and result precisions - the check that catches a mis-transposed
weight - and so (3) the outputs agree with the float model within ``out`` (the two combined).
Otherwise a :class:`~lstmgen.errors.VerifyError` names the figures and nothing is written.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import write_tree
from .checkpoint import Checkpoint, ModelConfig
from .errors import DataError, ToolError, UsageError, VerifyError

__all__ = [
    "DEFAULT_PRECISION",
    "DEFAULT_TABLE_SIZE",
    "STRATEGIES",
    "ExportResult",
    "Precision",
    "check_exportable",
    "export_hls4ml",
    "hls4ml_module",
    "parse_precision",
    "tolerances",
    "valid_reuse_factors",
]

DEFAULT_PRECISION = "ap_fixed<16,6>"
#: hls4ml's LSTM activation tables: entries, and the input ranges it samples them over.
DEFAULT_TABLE_SIZE = 1024
_SIGMOID_RANGE, _TANH_RANGE = 8.0, 4.0
STRATEGIES = ("latency", "resource")
_PRECISION_RE = re.compile(
    r"^ap_fixed<\s*(\d+)\s*,\s*(-?\d+)\s*"
    r"(?:,\s*(AP_RND|AP_RND_ZERO|AP_RND_MIN_INF|AP_RND_INF|AP_RND_CONV|AP_TRN|AP_TRN_ZERO)\s*"
    r"(?:,\s*(AP_SAT|AP_SAT_ZERO|AP_SAT_SYM|AP_WRAP|AP_WRAP_SM)\s*)?)?>$")
_SKIP_SUFFIXES = (".so", ".o")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Precision:
    """An ``ap_fixed<W, I[, Q[, O]]>`` type: ``width`` bits, ``integer`` of them left of the
    point; ``lsb`` is its resolution ``2^-(W-I)``."""

    text: str
    width: int
    integer: int

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, self.integer - self.width)


def parse_precision(text: str) -> Precision:
    """Parse ``--precision``; anything but an ``ap_fixed<W,I[,Q[,O]]>`` raises UsageError.

    >>> parse_precision("ap_fixed<16,6>").lsb
    0.0009765625
    """
    m = _PRECISION_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise UsageError(f"--precision {text!r}: expected ap_fixed<W,I> (optionally with "
                         "quantization and overflow modes, e.g. ap_fixed<16,6,AP_RND,AP_SAT>)")
    width, integer = int(m.group(1)), int(m.group(2))
    if not 2 <= width <= 64 or not width - 32 <= integer <= width:
        raise UsageError(f"--precision {text!r}: width must be 2..64 and the integer bits "
                         "within the width")
    return Precision(text.strip().replace(" ", ""), width, integer)


def check_exportable(config: ModelConfig) -> None:
    """Refuse, in one line, what hls4ml 1.3.0 cannot express (a tLSTM, a language model,
    stacked LSTMs)."""
    if getattr(config, "tlstm", None) is not None:
        raise UsageError("hls4ml export: a tensorized LSTM (tLSTM) cannot be expressed in hls4ml "
                         "1.3.0; lstmgen generates it with --target c")
    if config.kind != "classifier":
        raise UsageError(
            "hls4ml export: a language model cannot be expressed in hls4ml 1.3.0 (its PyTorch "
            "LSTM returns only the last step and it has no embedding layer); use lstmgen "
            "generate --target hls")
    if len(config.hidden) > 1:
        sizes = "x".join(map(str, config.hidden))
        raise UsageError(
            f"hls4ml export: {len(config.hidden)} stacked LSTM layers ({sizes}) cannot be "
            "expressed in hls4ml 1.3.0 (it converts one nn.LSTM layer with num_layers=1); use "
            "lstmgen generate --target hls, which takes any stack")


def valid_reuse_factors(config: ModelConfig) -> list[int]:
    """Reuse factors hls4ml's resource strategy accepts for every kernel of ``config``: the
    LSTM input (n_in x 4H) and recurrent (H x 4H) kernels and the Dense (H x n_out)."""
    backend = _hls4ml().backends.get_backend("Vitis")
    H = config.hidden[0]
    sets = [set(backend.get_valid_reuse_factors(n_in, n_out))
            for n_in, n_out in ((config.n_in, 4 * H), (H, 4 * H), (H, config.n_out))]
    return sorted(set.intersection(*sets))


def tolerances(precision: Precision, steps: int, head_weight: np.ndarray,
               table_size: int = DEFAULT_TABLE_SIZE) -> dict[str, float]:
    """The agreement hls4ml's precision allows (absolute errors).

    ``h``: per step, one table step of each activation times its largest slope (sigmoid over
    ±8: ``0.25·16/N``; tanh over ±4: ``8/N``) plus what the tables cut off at their ends, plus
    four data LSBs (the gate, cell and h roundings), accumulated over ``steps`` - a first-order
    budget, loose by design (measured errors are 3-4x smaller). ``out``: the head spreads an
    ``h`` error over a row of weights (``max_j Σ_k |W[j,k]|``). The Dense check itself uses the
    rounding of hls4ml's weight and bias types (see :func:`export_hls4ml`).
    """
    n = float(table_size)
    sig = 0.25 * 2 * _SIGMOID_RANGE / n + 1.0 / (1.0 + math.exp(_SIGMOID_RANGE))
    tanh = 2 * _TANH_RANGE / n + (1.0 - math.tanh(_TANH_RANGE))
    tol_h = steps * (sig + tanh + 4 * precision.lsb)
    row = float(np.abs(head_weight).sum(axis=1).max(initial=0.0))
    return {"h": tol_h, "out": row * tol_h}


def _hls4ml():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import hls4ml
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "hls4ml":
            raise ToolError("hls4ml is not installed: export-hls4ml needs it (pip install "
                            "hls4ml==1.3.0)") from None
        raise ToolError(f"hls4ml needs the Python package {exc.name!r}") from None
    return hls4ml


def hls4ml_module(ckpt: Checkpoint):
    """A torch module hls4ml 1.3.0 converts correctly: ``lstm`` (one ``nn.LSTM``, batch first)
    then ``fc`` (``nn.Linear``) whose ``weight`` holds the *transposed* head matrix (hls4ml reads
    it as a Keras ``(in, out)`` kernel). For hls4ml only: torch cannot run it."""
    import torch
    from torch import nn

    cfg = ckpt.config
    check_exportable(cfg)
    H = cfg.hidden[0]

    class Hls4mlClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(cfg.n_in, H, batch_first=True)
            self.fc = nn.Linear(H, cfg.n_out)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out)  # hls4ml's LSTM yields the last step only

    m = Hls4mlClassifier()
    sd = ckpt.state_dict
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(m.lstm, f"{name}_l0").copy_(sd[f"lstm.{name}_l0"])
        m.fc.weight.data = sd["head.weight"].detach().t().contiguous().float()
        m.fc.bias.copy_(sd["head.bias"])
    return m.eval()


def _float_reference(ckpt: Checkpoint, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float model's last ``h`` and outputs on ``x`` (float64)."""
    import torch

    from .checkpoint import build_module

    module = build_module(ckpt.config)
    module.load_state_dict(ckpt.state_dict)
    module = module.double().eval()
    with torch.no_grad():
        out, _ = module.lstm(torch.from_numpy(np.asarray(x, np.float64)))
        h = out[:, -1]
        y = module.head(h)
    return h.numpy(), y.numpy()


@dataclass
class ExportResult:
    """What :func:`export_hls4ml` wrote and measured."""

    files: list[Path]
    figures: dict[str, Any]


def _convert(hls4ml, module, ckpt: Checkpoint, steps: int, precision: Precision, reuse: int,
             strategy: str, outdir: Path, name: str, part: str, clock_ns: float, trace: bool,
             tb: tuple[Path, Path] | None = None):
    cfg = hls4ml.utils.config_from_pytorch_model(
        module, (steps, ckpt.config.n_in), granularity="name", backend="Vitis",
        default_precision=precision.text, default_reuse_factor=reuse,
        channels_last_conversion="off")
    cfg["Model"]["Strategy"] = "Resource" if strategy == "resource" else "Latency"
    for layer in cfg["LayerName"].values():
        layer["Trace"] = trace
        if "ReuseFactor" in layer:
            layer["ReuseFactor"] = reuse
        if strategy == "resource":
            layer["Strategy"] = "Resource"
    return hls4ml.converters.convert_from_pytorch_model(
        module, hls_config=cfg, output_dir=str(outdir), project_name=name, backend="Vitis",
        io_type="io_parallel", part=part, clock_period=clock_ns,
        input_data_tb=None if tb is None else str(tb[0]),
        output_data_tb=None if tb is None else str(tb[1]))


def export_hls4ml(ckpt: Checkpoint, out_dir: str | Path, *, steps: int,
                  check_inputs: np.ndarray | None = None, precision: str = DEFAULT_PRECISION,
                  reuse: int = 1, strategy: str = "latency", name: str = "lstm_classifier",
                  part: str = "xcvu13p-flga2577-2-e", clock_ns: float = 5.0,
                  force: bool = False, protect: tuple[Path, ...] = ()) -> ExportResult:
    """Convert ``ckpt`` with hls4ml, check its C-simulation against the float model, write the
    hls4ml project into ``out_dir`` (atomically: nothing on any error).

    ``steps`` is the sequence length the hls4ml model is built for; ``check_inputs`` float
    features ``(N, steps, n_in)`` to check on (default: 64 standard-normal sequences).
    ``strategy="resource"`` needs a reuse factor from :func:`valid_reuse_factors` (hls4ml would
    silently pick another); ``latency`` takes any ``reuse >= 1``. Returns the files written
    and the figures (errors and tolerances, multipliers hls4ml is limited to).
    """
    cfg = ckpt.config
    check_exportable(cfg)
    prec = parse_precision(precision)
    if isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1:
        raise UsageError(f"--reuse must be a positive integer, got {reuse!r}")
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {steps!r}")
    if not _NAME_RE.match(name):
        raise UsageError(f"--name {name!r} must be a C identifier")
    if check_inputs is None:
        check_inputs = np.random.default_rng(0).standard_normal((64, steps, cfg.n_in))
    x = np.asarray(check_inputs, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (steps, cfg.n_in) or x.shape[0] < 1:
        raise DataError(f"check inputs must be (N, {steps}, {cfg.n_in}) float features, got "
                        f"shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("check inputs contain NaN or Inf")
    hls4ml = _hls4ml()
    if strategy == "resource":
        valid = valid_reuse_factors(cfg)
        if reuse not in valid:
            raise UsageError(f"--reuse {reuse} with --strategy resource: hls4ml accepts "
                             f"{', '.join(map(str, valid))} for this model (it would silently "
                             "use another)")
    module = hls4ml_module(ckpt)
    h_ref, y_ref = _float_reference(ckpt, x)
    head_w = ckpt.state_dict["head.weight"].detach().double().numpy()
    head_b = ckpt.state_dict["head.bias"].detach().double().numpy()
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="lstmgen-hls4ml-") as tmp:
        tmp_path = Path(tmp)
        try:
            with contextlib.redirect_stdout(log):
                checked = _convert(hls4ml, module, ckpt, steps, prec, reuse, strategy,
                                   tmp_path / "check", name, part, clock_ns, trace=True)
                checked.compile()
                y_hls, trace = checked.trace(np.ascontiguousarray(x.astype(np.float32)))
        except Exception as exc:  # noqa: BLE001 - hls4ml raises bare Exceptions with its reason
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ToolError(f"hls4ml could not convert or compile the model: {reason}") from None
        layers = {layer.name: layer for layer in checked.get_layers()}
        h_hls = np.asarray(trace["lstm"], np.float64).reshape(h_ref.shape)
        y_hls = np.asarray(y_hls, np.float64).reshape(y_ref.shape)
        fc = layers["fc"]
        q_w = _lsb(fc.get_weights("weight").type.precision)
        q_b = _lsb(fc.get_weights("bias").type.precision)
        q_r = _lsb(fc.get_output_variable().type.precision)
        tol = tolerances(prec, steps, head_w)
        tol_dense = np.abs(h_hls).sum(axis=1) * q_w + q_b + q_r
        err_h = float(np.abs(h_hls - h_ref).max())
        dense_err = np.abs(y_hls - (h_hls @ head_w.T + head_b)).max(axis=1)
        err_out = float(np.abs(y_hls - y_ref).max())
        figures: dict[str, Any] = {
            "precision": prec.text, "reuse": reuse, "strategy": strategy, "steps": steps,
            "hidden": cfg.hidden[0], "n_in": cfg.n_in, "n_out": cfg.n_out,
            "check_vectors": int(x.shape[0]),
            "max_abs_err_h": err_h, "tolerance_h": tol["h"],
            "max_abs_err_dense": float(dense_err.max()),
            "tolerance_dense": float(tol_dense.max()),
            "max_abs_err_out": err_out, "tolerance_out": tol["out"] + float(tol_dense.max()),
            "max_abs_out": float(np.abs(y_ref).max()),
            "macs_per_step": 4 * cfg.hidden[0] * (cfg.n_in + cfg.hidden[0]),
            "multiplier_limit": -(-4 * cfg.hidden[0] * (cfg.n_in + cfg.hidden[0]) // reuse),
        }
        if err_h > tol["h"] or np.any(dense_err > tol_dense) or \
                err_out > figures["tolerance_out"]:
            raise VerifyError(
                f"hls4ml's C-simulation disagrees with the float model beyond {prec.text}'s "
                f"precision (h: {err_h:.4g} > {tol['h']:.4g}?, dense: "
                f"{figures['max_abs_err_dense']:.4g} > {figures['tolerance_dense']:.4g}?, "
                f"outputs: {err_out:.4g}); nothing written (try a wider --precision)")
        np.save(tmp_path / "check_x.npy", x.astype(np.float32))
        np.save(tmp_path / "check_y.npy", y_ref.astype(np.float32))
        final = tmp_path / "project"
        try:
            with contextlib.redirect_stdout(log):
                clean = _convert(hls4ml, module, ckpt, steps, prec, reuse, strategy, final, name,
                                 part, clock_ns, trace=False,
                                 tb=(tmp_path / "check_x.npy", tmp_path / "check_y.npy"))
                # plain YAML (hls4ml would pickle the torch module and a tuple into it, which
                # its own link_existing_project cannot read back)
                conf = clean.config.config
                conf["PytorchModel"] = (f"lstmgen checkpoint: LSTM {cfg.n_in} -> {cfg.hidden[0]}"
                                        f" -> Linear {cfg.n_out} (weight passed transposed)")
                conf["InputShape"] = [steps, cfg.n_in]
                clean.write()
        except Exception as exc:  # noqa: BLE001 - as above
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ToolError(f"hls4ml could not write the project: {reason}") from None
        out_abs = Path(out_dir).resolve()
        moves = {str(final): str(out_abs)}
        for npy in ("check_x.npy", "check_y.npy"):
            moves[str(tmp_path / npy)] = str(out_abs / "tb_data" / npy)
        files = _collect(final, moves)
        executables = sorted(p.relative_to(final).as_posix() for p in final.rglob("*")
                             if p.is_file() and p.stat().st_mode & 0o111
                             and p.suffix not in _SKIP_SUFFIXES)
        for npy in ("check_x.npy", "check_y.npy"):
            files[f"tb_data/{npy}"] = (tmp_path / npy).read_bytes()
    files["lstmgen_export.json"] = json.dumps(figures, indent=1, sort_keys=True) + "\n"
    written = write_tree(out_dir, files, force=force, protect=protect)
    for rel in executables:  # hls4ml runs ./build_lib.sh
        target = Path(out_dir) / rel
        target.chmod(target.stat().st_mode | 0o111)
    return ExportResult(written, figures)


def _lsb(precision) -> float:
    return math.ldexp(1.0, int(precision.integer) - int(precision.width))


def _collect(root: Path, moves: dict[str, str]) -> dict[str, str | bytes]:
    """Every file of the hls4ml project under ``root`` except build products; in text files
    each temporary path of ``moves`` is replaced by its final one."""
    out: dict[str, str | bytes] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix in _SKIP_SUFFIXES:
            continue
        rel = p.relative_to(root).as_posix()
        data = p.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            out[rel] = data
            continue
        for old, new in moves.items():
            text = text.replace(old, new)
        out[rel] = text
    return out

"""The C99 back end: an IR becomes a small, self-contained C library plus a test harness.

``render(model, Options())`` returns ``{file name: text}`` (pure and deterministic: the same IR
and options always give the same bytes); ``generate`` writes them into a directory. The library
(what a user drops into firmware):

* ``<p>.h`` - the API: ``<p>_reset``, ``<p>_step``, ``<p>_run``, LM: ``<p>_step_token``; sizes
  as ``<P>_*`` macros; the caller-owned ``<p>_state`` (h and c only) and ``<p>_scratch`` (the
  working memory of a step, ``<P>_SCRATCH_BYTES``); ``extern "C"`` for C++ callers;
* ``<p>.c`` - weights and tables as ``static const`` integer arrays (flash on an MCU) and the step
  code, exactly :mod:`lstmgen.golden`'s arithmetic, with the widths of :mod:`lstmgen.plan`;
* ``lg_fixed.h``, ``lg_kernels.h`` (and ``lg_dsp.h`` for DSP cores, ``lg_mve.h`` for Helium
  cores) - the hand-written kernel library from ``templates/c/lib``.

Activation codes (inputs, h) are stored as ``int8_t`` when their format is 8 bits wide
(``lstmgen quantize --acts 8``), else ``int16_t``; a product on 8-bit codes widens them into the
scratch's ``x16`` first (the kernels read int16).

The harness under ``harness/`` (``main.c``, ``Makefile``, ``CMakeLists.txt``; for a Cortex-M core
also the startup file, linker script and a CMake toolchain file) builds the vector-file program
``lstmgen verify`` runs, for the CPU the code was generated for.

Weights are stored transposed (one row per input, holding that input's weight for every unit),
so a product with ``h`` visits only the rows of its nonzero entries (zero-skipping: the cost of
``W_hh·h`` is proportional to ``nnz(h)``; the result is unchanged). The DSP and MVE kernels
keep the accumulators of 4 rows in registers over the whole input loop instead, so their
weights are stored per block of 4 rows (``lg_dsp.h``: input pairs, ``lg_mve.h``: chunks of 8
inputs), and they skip zero input pairs / chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import write_tree
from ..errors import UsageError
from ..ir import ActTable, IntTensor, Model, sha256
from ..plan import INT32_MAX, CellSite, Lookup, Rescale
from . import _jinja
from .cpus import CPUS, Cpu, get_cpu
from .registry import option

__all__ = [
    "BLOCK",
    "KERNEL_ROWS",
    "MAX_STEPS",
    "WARNINGS",
    "CTarget",
    "Options",
    "footprint_estimate",
    "generate",
    "render",
    "weight_layout",
]

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: Prefixes that would clash with a file of the harness, the kernel library or a standard header
#: (a generated ``stdio.h`` next to ``main.c`` would hide the system one).
_RESERVED = frozenset({
    "main", "mps2", "arm_acle", "arm_mve", "arm_math", "cmsis_gcc",
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits",
    "locale", "math", "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool", "stddef",
    "stdint", "stdio", "stdlib", "stdnoreturn", "string", "tgmath", "threads", "time", "uchar",
    "wchar", "wctype", "unistd", "strings", "alloca", "malloc", "memory", "newlib", "reent",
})
#: Rows per kernel block; must equal ``LG_BLOCK`` in ``templates/c/lib/lg_kernels.h``. Gate
#: segments are padded to an even unit count (4 gates x even = a multiple of 8) and the head's
#: outputs to a multiple of 8, with zero weights whose accumulators are never read (so the
#: DSP/MVE register blocks of 4 rows divide every matrix).
BLOCK = 8
#: Longest sequence the harness's static buffers hold (``-D<P>_MAX_STEPS=N`` changes it).
MAX_STEPS = 1024
#: The warnings every generated file compiles without, on the host and on Cortex-M.
WARNINGS = "-Wall -Wextra -Wconversion -Wsign-conversion -Werror -pedantic"
_GATE_LABEL = {"i": "input", "f": "forget", "g": "cell candidate", "o": "output"}


@dataclass(frozen=True, slots=True)
class CTarget:
    """Options of the C back end (``Options`` in the target registry).

    ``prefix``: the C name prefix and file stem (default: the model name); a lower-case C
    identifier that is not ``main``, an ``lg_*`` name or a standard header's stem. ``cpu``: one
    of :data:`lstmgen.targets.cpus.CPUS`; DSP cores (Cortex-M4/M7) get the ARM DSP kernels
    (``templates/c/lib/lg_dsp.h``), Helium cores (Cortex-M55) the MVE kernels
    (``lg_mve.h``), Cortex-M cores a harness that builds for them. Invalid values raise
    :class:`~lstmgen.errors.UsageError`.
    """

    prefix: str | None = option(None, "C name prefix and file stem [default: the model name]")
    cpu: str = option("generic", "Core to generate for (Cortex-M4/M7: ARM DSP kernels; "
                      "Cortex-M55: Helium MVE kernels).", choices=tuple(CPUS))

    def __post_init__(self) -> None:
        get_cpu(self.cpu)
        if self.prefix is not None:
            _check_prefix(self.prefix, "--prefix")

    def prefix_for(self, model: Model) -> str:
        """The prefix used for ``model``."""
        if self.prefix is not None:
            return self.prefix
        _check_prefix(model.name, f"model name {model.name!r} as prefix (pass --prefix)")
        return model.name

    @property
    def core(self) -> Cpu:
        return CPUS[self.cpu]

    @property
    def dsp(self) -> bool:
        """True when the generated code uses the ARM DSP kernels (``LG_DSP``)."""
        return self.core.dsp


#: The registry's name for the options class.
Options = CTarget


def _check_prefix(prefix: str, what: str) -> None:
    if not _PREFIX_RE.match(prefix):
        raise UsageError(f"{what}: {prefix!r} must match [a-z][a-z0-9_]{{0,31}}")
    if prefix in _RESERVED or prefix.startswith("lg_"):
        raise UsageError(f"{what}: {prefix!r} would clash with a file of the library, the harness "
                         "or a standard C header; choose another")


# --------------------------------------------------------------------------------------------
# The view: everything the templates print, computed here


def _ctype(bits: int) -> str:
    return "int8_t" if bits <= 8 else "int16_t" if bits <= 16 else "int32_t" if bits <= 32 else "int64_t"


def _acc(bits: int) -> int:
    """C accumulator width (32 or 64) for a value that needs ``bits`` bits."""
    return 32 if bits <= 32 else 64


def _shl(expr: str, shift: int, width: int) -> str:
    return expr if shift == 0 else f"lg_shl{width}({expr}, {shift})"


def _rescale(expr: str, site: Rescale, width: int) -> str:
    """``rescale(expr, s, bits)`` of the plan's ``site`` for a C expression of type
    ``int{width}_t``: the int32 helpers where the plan proves them exact (the same numbers,
    cheaper on a 32-bit core): ``lg_rescale32`` when the operand and its rounding addend fit in
    int32, ``lg_rescale64_32`` when only the shifted value does; else the int64 one."""
    s, bits = site.shift, site.out_bits
    if site.fits32:
        return f"lg_rescale32({expr if width == 32 else f'(int32_t)({expr})'}, {s}, {bits})"
    if site.result_fits32:
        return f"lg_rescale64_32({expr}, {s}, {bits})"
    return f"lg_rescale({expr}, {s}, {bits})"


def _lookup(site: Lookup) -> str:
    """The table-lookup helper: ``lg_table_lookup32`` when the plan proves the interpolation
    product plus its rounding addend fits in int32."""
    return "lg_table_lookup32" if site.fits32 else "lg_table_lookup"


def cell_expr(cell: CellSite, fc: str) -> str:
    """The cell update ``rescale((f·c << s_fc) + (i·g << s_ig), s_c, c.bits)`` as a C expression
    (``fc``: the C text of the product ``f·c``; a tLSTM passes ``f·Cconv``): the plan's exact
    fused int32 form (:class:`lstmgen.plan.FusedCell`) where it fits, else the sum in the
    accumulator width the plan gives."""
    ig = "gate_i * gate_g"
    fused = cell.fused
    if (fused is not None and fused.fits32 and cell.fc_bound <= INT32_MAX
            and cell.ig_bound <= INT32_MAX):
        t1, t0 = (fc, ig) if fused.shifted == "fc" else (ig, fc)
        k = fused.k
        sum_expr = f"(int32_t){t1} + " + (f"(((int32_t){t0}) >> {k})" if k else f"(int32_t){t0}")
        return _rescale(sum_expr, fused.rescale, 32)
    width = _acc(cell.sum_bits)
    cell_t = f"int{width}_t"
    cell_sum = " + ".join([_shl(f"({cell_t}){fc}", cell.s_fc, width),
                           _shl(f"({cell_t}){ig}", cell.s_ig, width)])
    return _rescale(cell_sum, cell.rescale, width)


def _pad(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


#: Rows per register block of the DSP and MVE kernels (``LG_DSP_ROWS`` / ``LG_MVE_ROWS``).
KERNEL_ROWS = 4
#: Inputs per stored group: a pair (one SMLAD word) for DSP, a chunk of 8 (one MVE vector).
_GROUP = {"dsp": 2, "mve": 8}


def _ctype_act(bits: int) -> str:
    """Storage of activation codes (inputs, h): int8_t for 8-bit formats, else int16_t."""
    return "int8_t" if bits <= 8 else "int16_t"


def _blocks(v: np.ndarray, bits: int, kernels: str) -> np.ndarray:
    """The register-block layout of ``v`` (rows x inputs, rows a multiple of 4) for the DSP or
    MVE kernels: one array row per block of :data:`KERNEL_ROWS` rows (documented in
    ``lg_dsp.h`` / ``lg_mve.h``). Inputs are zero-padded to whole groups; numbers are never
    changed, only placed."""
    g = _GROUP[kernels]
    m, n = v.shape
    groups = -(-n // g)
    v = np.pad(v, ((0, 0), (0, groups * g - n))).reshape(m // KERNEL_ROWS, KERNEL_ROWS, groups, g)
    if kernels == "mve" or bits > 8:  # [block][group][row][input]: int16 pair words, MVE vectors
        out = v.transpose(0, 2, 1, 3)
    else:  # DSP int8: [block][pair][row pair j][input][row of the pair]
        out = v.reshape(m // KERNEL_ROWS, 2, 2, groups, 2).transpose(0, 3, 1, 4, 2)
    return out.reshape(m // KERNEL_ROWS, -1)


def _dual_rows(blocks: np.ndarray) -> np.ndarray | None:
    """The DSP int8 layout of :func:`_blocks` for the dual-row kernels (``lg_mv_*_w8r_a32``,
    ``lg_dsp.h``): the byte of each odd row lowered by one where the even row's byte beside it
    is negative, so that each halfword reads as ``256 * W[r+1][k] + W[r][k]``; None where a byte
    would leave int8 (then the plain int8 kernels run). The same numbers, placed differently."""
    v = blocks.reshape(blocks.shape[0], -1, 2, 2, 2)  # [block][pair][row pair][input][row]
    lo, hi = v[..., 0], v[..., 1]
    hi2 = hi - (lo < 0)
    if (hi2 < -128).any():
        return None
    return np.stack([lo, hi2], axis=-1).reshape(blocks.shape)


def weight_layout(values: np.ndarray, bits: int, kernels: str) -> np.ndarray:
    """The stored order of a weight matrix ``values`` (rows x inputs, rows a multiple of 8) for
    a kernel family (``"portable"``, ``"dsp"``, ``"mve"``, or ``"dsp8r"``: the DSP dual-row
    int8 kernels ``lg_mv_*_w8r_a32``): the flat sequence of codes the ``lg_mv_*`` kernels of
    that family read (``lg_kernels.h``: transposed; ``lg_dsp.h`` / ``lg_mve.h``: blocks of 4
    rows). Tests drive the kernels directly with it.

    >>> weight_layout(np.arange(16).reshape(8, 2), 16, "dsp")[:8].tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    v = np.asarray(values, np.int64)
    if v.ndim != 2 or v.shape[0] % BLOCK:
        raise ValueError(f"weights must be 2-D with a multiple of {BLOCK} rows, got {v.shape}")
    if kernels == "portable":
        return v.T.ravel()
    if kernels == "dsp8r":
        dual = _dual_rows(_blocks(v, 8, "dsp"))
        if dual is None:
            raise ValueError("an odd row holds -128 beside a negative weight: no dual-row layout")
        return dual.ravel()
    return _blocks(v, bits, kernels).ravel()


def _row_label(names: list[str], r: int) -> str:
    return names[r] if r < len(names) else "-"


def _matrix(tensors: list[IntTensor], seg: int, kernels: str, dims: tuple[str, str, str],
            labels: tuple[str, ...], kind: str, skip_zeros: bool, acc: int,
            sets: bool = True) -> dict[str, Any]:
    """A stored weight matrix: the ``tensors`` stacked (each padded to ``seg`` rows) and
    transposed, in the narrowest type for all. ``dims`` are the C names of the input count,
    the padded segment and the row count; ``labels`` name each segment's rows (gates i, f, g,
    o: ``"i"``..; the head: ``"y"``).

    Portable kernels: one array row per input k (``rows``: its segments), see
    ``lg_kernels.h``. DSP and MVE kernels: one array row per block of 4 rows (``blocks``)."""
    bits = max(t.fmt.bits for t in tensors)
    n_in = tensors[0].shape[1]
    stacked = np.concatenate([np.pad(np.asarray(t.values), ((0, seg - t.shape[0]), (0, 0)))
                              for t in tensors])
    # the portable zero-skipping kernels add to accumulators the step clears first (GCC 12
    # inlines and vectorises them best so: bench/c_speed.py); the DSP and MVE ones write
    if kernels == "portable" and skip_zeros:
        sets = False
    view: dict[str, Any] = {"ctype": _ctype(bits), "kernel": _kernel(bits, acc, skip_zeros, sets),
                            "sets": sets, "kind": kind}
    n_macro, seg_macro, rows_macro = dims
    if kernels == "portable":
        view["dims"] = f"[{n_macro}][{rows_macro}]"
        view["row_inputs"] = [str(k) for k in range(n_in)]
        view["rows"] = [[list(map(int, stacked[i * seg:(i + 1) * seg, k])) for i in range(len(tensors))]
                        for k in range(n_in)]
        view["blocks"] = None
        view["dual"] = False
        return view
    g = _GROUP[kernels]
    names = [f"{lab}{u}" if u < t.shape[0] else "-"
             for lab, t in zip(labels, tensors) for u in range(seg)]
    blocks_macro = seg_macro if len(tensors) == 4 else f"{rows_macro} / {KERNEL_ROWS}"
    view["dims"] = f"[{blocks_macro}][{4 * g} * (({n_macro} + {g - 1}) / {g})]"
    view["rows"] = None
    blocks = _blocks(stacked, bits, kernels)
    view["dual"] = False
    if kernels == "dsp" and bits <= 8 and acc == 32:
        dual = _dual_rows(blocks)
        if dual is not None:  # the dual-row kernels: 10 estimated cycles a pair, not 12
            blocks, view["dual"] = dual, True
            view["kernel"] = view["kernel"].replace("_w8_", "_w8r_")
    view["blocks"] = [
        {"label": " ".join(_row_label(names, KERNEL_ROWS * b + j) for j in range(KERNEL_ROWS)),
         "values": list(map(int, row))}
        for b, row in enumerate(blocks)
    ]
    return view


def _kernel(bits: int, acc: int, skip_zeros: bool, sets: bool = True) -> str:
    """The kernel of a product: zero-skipping or dense, writing its accumulators (``set``:
    every product of the generated code does) or adding to them."""
    kind = ("nz_" if skip_zeros else "") + ("set_" if sets else "")
    return f"lg_mv_{kind}w{8 if bits <= 8 else 16}_a{acc}"


def _table_view(p: str, t: ActTable) -> dict[str, Any]:
    return {
        "name": f"{p}_{t.func}",
        "func": t.func,
        "entries": t.values.values.tolist(),
        "n": t.n,
        "lo": t.lo,
        "shift": t.shift,
        "interp": int(t.interp),
        "in_fmt": str(t.in_fmt),
        "out_fmt": str(t.out_fmt),
    }


def _source(expr: str, bits: int, n_macro: str) -> dict[str, Any]:
    """A product's input vector: ``expr`` holds codes of ``bits`` bits; 8-bit codes (int8_t
    storage) are widened into the scratch's ``x16`` first (the kernels read int16)."""
    widen = bits <= 8
    return {"expr": "w->x16" if widen else expr, "widen": widen, "src": expr, "n": n_macro}


def _layer_view(model: Model, li: int, p: str, kernels: str) -> dict[str, Any]:
    la, lp = model.layers[li], model.plan.layers[li]
    P = p.upper()
    in_macro = f"{P}_N_IN" if li == 0 else f"{P}_H{li - 1}"
    h_macro, pad_macro = f"{P}_H{li}", f"{P}_H{li}_PAD"
    acc = _acc(lp.acc_bits)
    h_pad = _pad(la.n_hidden, BLOCK // 4)
    gates = []
    for gi, (name, g) in enumerate(la.gates()):
        site = lp.gates[name]
        sum_expr = " + ".join(
            [
                _shl(f"w->acc{li}[0][{gi}][j]", site.acc.shift_x, acc),
                _shl(f"w->acc{li}[1][{gi}][j]", site.acc.shift_h, acc),
                f"{p}_l{li}_bias[{gi}][j]",
            ]
        )
        pre = _rescale(sum_expr, site.pre, acc)
        gates.append(
            {
                "name": name,
                "label": _GATE_LABEL[name],
                "table": f"{p}_{site.lookup.func}",
                "lookup": _lookup(site.lookup),
                "w_ih_fmt": str(g.w_ih.fmt),
                "w_hh_fmt": str(g.w_hh.fmt),
                "bias": g.bias.values.tolist(),
                "bias_fmt": str(g.bias.fmt),
                "pre": f"(int32_t){pre}",
            }
        )
    c_type = "int16_t" if la.c_fmt.bits <= 16 else "int32_t"
    h_type = _ctype_act(la.h_fmt.bits)
    tanh_in = _rescale("c", lp.tanh_in, 32)
    h_new = _rescale("(int32_t)gate_o * tanh_c", lp.h, 32)
    tanh_lookup = _lookup(lp.gates["g"].lookup)
    seg_dims = (in_macro, pad_macro, f"4 * {pad_macro}")
    return {
        "index": li,
        "n_in": la.n_in,
        "n_hidden": la.n_hidden,
        "in_macro": in_macro,
        "h_macro": h_macro,
        "h_pad": h_pad,
        "pad_macro": pad_macro,
        "in_fmt": str(la.in_fmt),
        "h_fmt": str(la.h_fmt),
        "c_fmt": str(la.c_fmt),
        "c_type": c_type,
        "h_type": h_type,
        "x_type": _ctype_act(la.in_fmt.bits),
        "acc_type": f"int{acc}_t",
        "acc": acc,
        "acc_bits": lp.acc_bits,
        "cell_bits": lp.cell.sum_bits,
        "o_threshold": lp.o_threshold,
        # a threshold at the top sigmoid code zeroes every o (and a compare would always hold)
        "o_always_zero": lp.o_always_zero,
        "gates": gates,
        "w_ih": _matrix([g.w_ih for _, g in la.gates()], h_pad, kernels, seg_dims, tuple("ifgo"),
                        "x" if li == 0 else f"h{li - 1}", li > 0, acc),
        "w_hh": _matrix([g.w_hh for _, g in la.gates()], h_pad, kernels,
                        (h_macro, pad_macro, f"4 * {pad_macro}"), tuple("ifgo"), f"h{li}", True,
                        acc),
        "x_src": _source("x" if li == 0 else f"s->h{li - 1}", la.in_fmt.bits, in_macro),
        "h_src": _source(f"s->h{li}", la.h_fmt.bits, h_macro),
        "c_new": f"({c_type}){cell_expr(lp.cell, f'gate_f * s->c{li}[j]')}",
        "tanh_c": f"{tanh_lookup}(&{p}_tanh, (int32_t){tanh_in})",
        "h_new": f"({h_type}){h_new}",
    }


def _banner(model: Model, p: str, file: str) -> dict[str, str]:
    return {
        "file": file,
        "title": f'{file} - generated by lstmgen {__version__} from model "{model.name}" '
        f"(ir sha256 {sha256(model)})",
        "formats": model.formats_summary(),
    }


def _view(model: Model, opts: CTarget) -> dict[str, Any]:
    """The data the C templates render: names, sizes, weight rows and expressions."""
    p = opts.prefix_for(model)
    top = len(model.layers) - 1
    hd, hp = model.head, model.plan.head
    head_acc = _acc(hp.acc.bits)
    kernels = opts.core.kernels
    P = p.upper()
    layers = [_layer_view(model, li, p, kernels) for li in range(len(model.layers))]
    # the longest vector of 8-bit codes a product widens into the scratch's x16 (0: none)
    widen = [n for la, ml in zip(layers, model.layers)
             for n, src in ((ml.n_in, la["x_src"]), (ml.n_hidden, la["h_src"])) if src["widen"]]
    head_src = _source(f"s->h{top}", hd.in_fmt.bits, f"{P}_H{top}")
    if head_src["widen"]:
        widen.append(hd.n_in)
    return {
        "p": p,
        "P": p.upper(),
        "model": model.name,
        "kind": model.kind,
        "lm": model.is_lm,
        "cpu": opts.cpu,
        "dsp": opts.dsp,
        "kernels": kernels,
        "n_in": model.n_in,
        "x_type": _ctype_act(model.input_fmt.bits),
        "x16_len": max(widen, default=0),
        "n_out": model.n_out,
        "n_out_pad": _pad(model.n_out, BLOCK),
        "vocab": model.vocab,
        "input_fmt": str(model.input_fmt),
        "in_min": model.input_fmt.min_code,
        "in_max": model.input_fmt.max_code,
        "macs": model.macs_per_step(),
        "tables": [_table_view(p, model.sigmoid), _table_view(p, model.tanh)],
        "layers": layers,
        "top": top,
        "embedding": None if model.embedding is None else model.embedding.values.tolist(),
        "head": {
            "ctype": _ctype(hd.weight.fmt.bits),
            "fmt": str(hd.weight.fmt),
            "w": _matrix([hd.weight], _pad(hd.n_out, BLOCK), kernels,
                         (f"{P}_H{top}", f"{P}_N_OUT_PAD", f"{P}_N_OUT_PAD"), ("y",), f"h{top}",
                         True, head_acc),
            "src": head_src,
            "bias": hd.bias.values.tolist(),
            "bias_fmt": str(hd.bias.fmt),
            "out_fmt": str(hd.out_fmt),
            "acc": head_acc,
            "acc_type": f"int{head_acc}_t",
            "acc_bits": hp.acc.bits,
            "shift": hd.acc_frac - hd.out_fmt.frac,
            "bits": hd.out_fmt.bits,
            "y": _rescale(f"w->head_acc[j] + {p}_head_bias[j]", hp.out, head_acc),
        },
    }


_TEMPLATES = {
    "{p}.h": "c/model.h.j2",
    "{p}.c": "c/model.c.j2",
    "harness/main.c": "c/main.c.j2",
    "harness/Makefile": "c/Makefile.j2",
    "harness/CMakeLists.txt": "c/CMakeLists.txt.j2",
}
_MCU_TEMPLATES = {"harness/arm-none-eabi.cmake": "c/mcu/arm-none-eabi.cmake.j2"}
_MCU_STATIC = {"harness/lg_startup.c": "c/mcu/startup.c"}
_LIBRARY = ("lg_fixed.h", "lg_kernels.h")
_KERNEL_LIBRARY = {"portable": (), "dsp": ("lg_dsp.h",), "mve": ("lg_mve.h",)}


def render(model: Model, opts: CTarget | None = None) -> dict[str, str]:
    """Every generated file as ``{relative path: text}``; the same inputs always give the same
    bytes. The library files are at the top, the harness under ``harness/``."""
    opts = CTarget() if opts is None else opts
    v = _view(model, opts)
    p = v["p"]
    core = opts.core
    library = _LIBRARY + _KERNEL_LIBRARY[core.kernels]
    v.update(
        mcu=core.is_mcu, board=core.board or "", cpu_flags=" ".join(core.gcc_flags),
        linker_script=core.linker_script,
        prog=f"{p}_main.elf" if core.is_mcu else f"{p}_main", warnings=WARNINGS,
        headers=[f"{p}.h", *library], max_steps=MAX_STEPS,
    )
    templates = dict(_TEMPLATES, **(_MCU_TEMPLATES if core.is_mcu else {}))
    files = {
        name.format(p=p): _jinja.render(tpl, banner=_banner(model, p, name.format(p=p)), **v)
        for name, tpl in templates.items()
    }
    statics = {lib: f"c/lib/{lib}" for lib in library}
    if core.is_mcu:
        statics.update(_MCU_STATIC)
        statics[f"harness/{core.linker_script}"] = f"c/mcu/{core.linker_script}"
    for name, src in statics.items():
        b = _banner(model, p, name)
        title = b["title"].replace("generated", "copied", 1)
        files[name] = f"/* {title}\n * {b['formats']} */\n" + _jinja.read_static(src)
    return dict(sorted(files.items()))


def footprint_estimate(model: Model, opts: CTarget | None = None) -> dict[str, int]:
    """Bytes the library needs at least: ``flash_bytes`` (weights, biases, tables, embedding as
    stored, code excluded) and ``ram_bytes`` (state and scratch, alignment padding excluded).
    Used to refuse a model that cannot fit a board before anything is built."""
    opts = CTarget() if opts is None else opts
    flash = 2 * (model.sigmoid.n + model.tanh.n)
    ram = 0
    for la, lp in zip(model.layers, model.plan.layers):
        acc = _acc(lp.acc_bits) // 8
        pad = _pad(la.n_hidden, BLOCK // 4)
        rows = la.n_in + la.n_hidden  # (the DSP layout pads odd counts to pairs: more)
        wbytes = max(g.w_ih.fmt.bits for _, g in la.gates()) // 8
        flash += rows * 4 * pad * wbytes + 4 * la.n_hidden * acc
        ram += la.n_hidden * (2 + (2 if la.c_fmt.bits <= 16 else 4))  # state: h, c
        ram += 2 * 4 * pad * acc  # scratch: the accumulators
    hd, hp = model.head, model.plan.head
    head_acc = _acc(hp.acc.bits) // 8
    flash += hd.n_in * _pad(hd.n_out, BLOCK) * (hd.weight.fmt.bits // 8) + hd.n_out * head_acc
    ram += _pad(hd.n_out, BLOCK) * head_acc
    if model.embedding is not None:
        flash += model.embedding.values.size * 2
    return {"flash_bytes": flash, "ram_bytes": ram}


def generate(model: Model, out_dir: str | Path, opts: CTarget | None = None, *,
             force: bool = False, protect: Iterable[str | Path] = ()) -> list[Path]:
    """Write :func:`render`'s files into ``out_dir`` file by file (see
    :func:`lstmgen._io.write_tree`: a file there that lstmgen did not write is refused unless
    ``force``; the paths in ``protect`` are never written over)."""
    return write_tree(out_dir, render(model, opts), force=force, protect=protect)

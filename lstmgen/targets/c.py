"""The C99 back end: an IR becomes a small, self-contained C library plus a test harness.

``render(model, Options())`` returns ``{file name: text}`` (pure and deterministic: the same IR
and options always give the same bytes); ``generate`` writes them into a directory. The library
(what a user drops into firmware):

* ``<p>.h`` - the API: ``<p>_reset``, ``<p>_step``, ``<p>_run``, LM: ``<p>_step_token``; sizes
  as ``<P>_*`` macros; the caller-owned ``<p>_state`` (h and c only) and ``<p>_scratch`` (the
  working memory of a step, ``<P>_SCRATCH_BYTES``); ``extern "C"`` for C++ callers;
* ``<p>.c`` - weights and tables as ``static const`` integer arrays (flash on an MCU) and the step
  code, exactly :mod:`lstmgen.golden`'s arithmetic, with the widths of :mod:`lstmgen.plan`;
* ``lg_fixed.h``, ``lg_kernels.h`` (and ``lg_dsp.h`` for DSP cores) - the hand-written kernel
  library from ``templates/c/lib``.

The harness under ``harness/`` (``main.c``, ``Makefile``, ``CMakeLists.txt``; for a Cortex-M core
also the startup file, linker script and a CMake toolchain file) builds the vector-file program
``lstmgen verify`` runs, for the CPU the code was generated for.

Weights are stored transposed (one row per input, holding that input's weight for every unit),
so a product with ``h`` visits only the rows of its nonzero entries (zero-skipping: the cost of
``W_hh·h`` is proportional to ``nnz(h)``; the result is unchanged).
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
    "MAX_STEPS",
    "WARNINGS",
    "CTarget",
    "Options",
    "footprint_estimate",
    "generate",
    "render",
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
#: outputs to a multiple of 8, with zero weights whose accumulators are never read.
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
    (``templates/c/lib/lg_dsp.h``), Cortex-M cores a harness that builds for them. Invalid
    values raise :class:`~lstmgen.errors.UsageError`.
    """

    prefix: str | None = option(None, "C name prefix and file stem [default: the model name]")
    cpu: str = option("generic", "Core to generate for (Cortex-M4/M7: ARM DSP kernels).",
                      choices=tuple(CPUS))

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


def _cell(cell: CellSite, li: int, c_bits: int) -> str:
    """The cell update ``rescale((f·c << s_fc) + (i·g << s_ig), s_c, c.bits)`` as a C expression:
    the plan's exact fused int32 form (:class:`lstmgen.plan.FusedCell`) where it fits, else
    the sum in the accumulator width the plan gives."""
    fc = f"gate_f * s->c{li}[j]"
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


def _rows(t: IntTensor, width: int, dsp: bool = False, bits: int | None = None) -> list[list[int]]:
    """The transposed weight matrix, one row per input, each row zero-padded to ``width``.

    With ``dsp`` (the ``lg_dsp.h`` kernels, --cpu cortex-m4/m7) the rows are the pairs of inputs
    (2c, 2c+1) instead, interleaved so that every 32-bit word is one SMLAD operand (layout
    documented in ``templates/c/lib/lg_dsp.h``; ``bits`` is the stored weight width): an odd
    input count gets one zero input, which multiplies as zero. Numbers are never changed.
    """
    v = np.asarray(t.values).T
    v = np.pad(v, ((0, 0), (0, width - v.shape[1])))
    if not dsp:
        return v.tolist()
    pairs = np.pad(v, ((0, v.shape[0] % 2), (0, 0))).reshape(-1, 2, width)  # [pair][input][unit]
    if (bits or t.fmt.bits) > 8:  # int16: [pair][unit][input]
        return pairs.transpose(0, 2, 1).reshape(len(pairs), -1).tolist()
    # int8 (width is even): [pair][unit // 2][input][unit % 2]
    quads = pairs.reshape(len(pairs), 2, width // 2, 2).transpose(0, 2, 1, 3)
    return quads.reshape(len(pairs), -1).tolist()


def _dims(rows: str, cols: str, n_rows: int, dsp: bool) -> str:
    """C dimensions of a stored matrix: ``[rows][cols]``, or for the ``lg_dsp.h`` input-pair
    layout ``[pairs][2 * cols]``."""
    return f"[{(n_rows + 1) // 2}][2 * {cols}]" if dsp else f"[{rows}][{cols}]"


def _kernel(bits: int, acc: int, skip_zeros: bool, sets: bool = False) -> str:
    kind = "nz_" if skip_zeros else "set_" if sets else ""
    return f"lg_mv_{kind}w{8 if bits <= 8 else 16}_a{acc}"


def _sets(bits: int, dsp: bool) -> bool:
    """Whether layer 0's dense W_ih·x kernel writes its accumulators (``lg_mv_set_*``) instead
    of adding to cleared ones: a pass saved, except for the DSP int8 kernel, where GCC 12
    allocates the extra pass variant's registers worse than the clear costs (measured by
    bench/mcu_speed.py)."""
    return not (dsp and bits <= 8)


def _stacked(tensors: list[IntTensor], acc: int, skip_zeros: bool, width: int,
             dims: tuple[str, str], dsp: bool, sets: bool = False) -> dict[str, Any]:
    """The four gates' matrices as one transposed array: row k = input k's weights for the
    gate rows i, f, g, o (one segment of ``width`` per gate), in the narrowest type for all.
    ``dims`` are the C row and column counts; ``dsp`` selects the input-pair layout (each
    gate segment interleaved on its own, which equals interleaving the whole row)."""
    bits = max(t.fmt.bits for t in tensors)
    n_in = tensors[0].shape[1]
    return {
        "ctype": _ctype(bits),
        "dims": _dims(dims[0], dims[1], n_in, dsp),
        "row_inputs": [f"{2 * c}, {2 * c + 1}" if 2 * c + 1 < n_in else f"{2 * c}, zero"
                       for c in range((n_in + 1) // 2)] if dsp else [str(k) for k in range(n_in)],
        "rows": [list(seg) for seg in zip(*(_rows(t, width, dsp, bits) for t in tensors))],
        "kernel": _kernel(bits, acc, skip_zeros, sets),
        "sets": sets,
    }


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


def _layer_view(model: Model, li: int, p: str, dsp: bool) -> dict[str, Any]:
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
    tanh_in = _rescale("c", lp.tanh_in, 32)
    h_new = _rescale("(int32_t)gate_o * tanh_c", lp.h, 32)
    tanh_lookup = _lookup(lp.gates["g"].lookup)
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
        "acc_type": f"int{acc}_t",
        "acc": acc,
        "acc_bits": lp.acc_bits,
        "cell_bits": lp.cell.sum_bits,
        "o_threshold": lp.o_threshold,
        # a threshold at the top sigmoid code zeroes every o (and a compare would always hold)
        "o_always_zero": lp.o_always_zero,
        "gates": gates,
        "w_ih": _stacked([g.w_ih for _, g in la.gates()], acc, li > 0, h_pad,
                         (in_macro, f"4 * {pad_macro}"), dsp,
                         sets=li == 0 and _sets(max(g.w_ih.fmt.bits for _, g in la.gates()), dsp)),
        "w_hh": _stacked([g.w_hh for _, g in la.gates()], acc, True, h_pad,
                         (h_macro, f"4 * {pad_macro}"), dsp),
        "c_new": f"({c_type}){_cell(lp.cell, li, la.c_fmt.bits)}",
        "tanh_c": f"{tanh_lookup}(&{p}_tanh, (int32_t){tanh_in})",
        "h_new": f"(int16_t){h_new}",
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
    return {
        "p": p,
        "P": p.upper(),
        "model": model.name,
        "kind": model.kind,
        "lm": model.is_lm,
        "cpu": opts.cpu,
        "dsp": opts.dsp,
        "n_in": model.n_in,
        "n_out": model.n_out,
        "n_out_pad": _pad(model.n_out, BLOCK),
        "vocab": model.vocab,
        "input_fmt": str(model.input_fmt),
        "in_min": model.input_fmt.min_code,
        "in_max": model.input_fmt.max_code,
        "macs": model.macs_per_step(),
        "tables": [_table_view(p, model.sigmoid), _table_view(p, model.tanh)],
        "layers": [_layer_view(model, li, p, opts.dsp) for li in range(len(model.layers))],
        "top": top,
        "embedding": None if model.embedding is None else model.embedding.values.tolist(),
        "head": {
            "ctype": _ctype(hd.weight.fmt.bits),
            "fmt": str(hd.weight.fmt),
            "rows": _rows(hd.weight, _pad(hd.n_out, BLOCK), opts.dsp),
            "dims": _dims(f"{p.upper()}_H{top}", f"{p.upper()}_N_OUT_PAD", hd.n_in, opts.dsp),
            "bias": hd.bias.values.tolist(),
            "bias_fmt": str(hd.bias.fmt),
            "out_fmt": str(hd.out_fmt),
            "acc": head_acc,
            "acc_type": f"int{head_acc}_t",
            "acc_bits": hp.acc.bits,
            "kernel": _kernel(hd.weight.fmt.bits, head_acc, skip_zeros=True),
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
_MCU_STATIC = {"harness/lg_startup.c": "c/mcu/startup.c", "harness/mps2.ld": "c/mcu/mps2.ld"}
_LIBRARY = ("lg_fixed.h", "lg_kernels.h")


def render(model: Model, opts: CTarget | None = None) -> dict[str, str]:
    """Every generated file as ``{relative path: text}``; the same inputs always give the same
    bytes. The library files are at the top, the harness under ``harness/``."""
    opts = CTarget() if opts is None else opts
    v = _view(model, opts)
    p = v["p"]
    library = _LIBRARY + (("lg_dsp.h",) if opts.dsp else ())
    core = opts.core
    v.update(
        mcu=core.is_mcu, board=core.board or "", cpu_flags=" ".join(core.gcc_flags),
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

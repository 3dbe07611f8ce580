"""The C99 back end of a tensorized LSTM (:class:`lstmgen.ir.tlstm.TlstmModel`): the same target
as :mod:`lstmgen.targets.c` (options :class:`~lstmgen.targets.c.CTarget`, the same harness
build files, the same Cortex-M startup and linker scripts, ``lg_fixed.h``'s primitives), its
own step code.

``render(model, CTarget())`` returns ``{file name: text}`` (pure and deterministic). The library:

* ``<p>.h`` - the API: ``<p>_reset``; a classifier's ``<p>_step``, ``<p>_flush`` (the
  ``L - 1`` delay steps on a zero input and the head) and ``<p>_run``; an LM's
  ``<p>_step_token``; the caller-owned ``<p>_state`` (H and C of every location) and
  ``<p>_scratch``; ``extern "C"``;
* ``<p>.c`` - weights and tables as ``static const`` integer arrays and the step, exactly
  :mod:`lstmgen.golden_tlstm`'s arithmetic with the widths of :func:`lstmgen.plan.derive_tlstm`
  (helpers chosen by :mod:`lstmgen.targets.c`'s own rules: ``lg_rescale32`` where the plan
  proves it exact, and so on);
* ``lg_fixed.h`` and ``lg_tlstm.h`` (the dot-product and softmax kernels; SMLAD/SMLALD on
  Cortex-M4/M7), copied from ``templates/c/lib``.

The convolution runs location by location: for each output channel of each gate, one dot
product of M channels per kernel offset whose row exists (zero padding is never multiplied),
the products with row 0 summed apart (their own alignment shift). All gates share one
accumulator type, the widest the plan needs.

:func:`render_any` and :func:`footprint_any` take an LSTM or a tLSTM IR; the C target's
runners call them.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..errors import UsageError
from ..ir import sha256
from ..ir.tlstm import TlstmModel
from . import _jinja
from . import c as c_target
from .c import MAX_STEPS, WARNINGS, CTarget, _acc, _rescale, _shl, _table_view, cell_expr

__all__ = ["footprint_any", "footprint_estimate", "render", "render_any"]

_LABEL = {"g": "cell candidate", "i": "input", "f": "forget", "o": "output", "q": "memory kernel"}


def _ctype(bits: int) -> str:
    return "int8_t" if bits <= 8 else "int16_t"


def _dot(wbits: int, acc: int) -> str:
    return f"lg_tl_dot_w{8 if wbits <= 8 else 16}_a{acc}"


def _view(model: TlstmModel, opts: CTarget) -> dict[str, Any]:
    p = opts.prefix_for(model)  # type: ignore[arg-type]
    P = p.upper()
    plan = model.plan
    acc = _acc(plan.acc_bits)
    gates = []
    for gi, (name, g) in enumerate(model.gates()):
        site = plan.gates[name]
        s = " + ".join([_shl("top_part[r]", model.shift_top(name), acc),
                        _shl("h_part[r]", model.shift_h(name), acc), f"{p}_b_{name}[j + r]"])
        pre = _rescale(s, site.pre, acc)
        if name == "q":
            store, value, what = "w->q[j + r]", f"(int16_t){pre}", "the logit's rescale"
        else:
            table = "tanh" if name == "g" else "sigmoid"
            fn = "lg_table_lookup32" if site.lookup.fits32 else "lg_table_lookup"
            store, value = f"w->gate[{gi}][j + r]", f"{fn}(&{p}_{table}, (int32_t){pre})"
            what = f"the {table} table"
        gates.append({
            "name": name, "label": _LABEL[name], "rows": int(g.weight.shape[1]),
            "ctype": _ctype(g.weight.fmt.bits), "fmt": str(g.weight.fmt),
            "bias_fmt": str(g.bias.fmt), "dot": _dot(g.weight.fmt.bits, acc),
            "mv4": _dot(g.weight.fmt.bits, acc).replace("_dot_", "_mv4_"),
            "w": g.weight.values.tolist(), "bias": g.bias.values.tolist(),
            "st": model.shift_top(name), "sh": model.shift_h(name),
            "store": store, "value": value, "what": what,
        })
    c_type = "int16_t" if model.c_fmt.bits <= 16 else "int32_t"
    tanh_fn = "lg_table_lookup32" if plan.gates["g"].lookup.fits32 else "lg_table_lookup"
    view: dict[str, Any] = {
        "p": p, "P": P, "model": model.name, "kind": model.kind, "lm": model.is_lm,
        "cpu": opts.cpu, "dsp": opts.dsp, "n_in": model.n_in, "n_out": model.n_out,
        "vocab": model.vocab, "TP": model.P, "M": model.M, "K": model.K, "depth": model.depth,
        "offsets": list(model.offsets), "memory_conv": model.memory_conv,
        "macs": model.macs_per_step(), "input_fmt": str(model.in_fmt), "in_min": -32768,
        "in_max": 32767, "top_fmt": str(model.top_fmt), "h_fmt": str(model.h_fmt),
        "c_fmt": str(model.c_fmt), "c_type": c_type, "out_fmt": str(model.head.out_fmt),
        "acc": acc, "acc_type": f"int{acc}_t", "acc_bits": plan.acc_bits,
        "tables": [_table_view(p, t) for t in
                   (model.sigmoid, model.tanh, *((model.exp,) if model.exp is not None else ()))],
        "gates": gates,
        "c_new": cell_expr(plan.cell, "gate_f * cconv"),
        "tanh_c": f"{tanh_fn}(&{p}_tanh, (int32_t){_rescale('c', plan.tanh_in, 32)})",
        "h_new": _rescale("gate_o * tanh_c", plan.h, 32),
        "embedding": None if model.embedding is None else model.embedding.values.tolist(),
    }
    if plan.softmax is not None:
        cs = _acc(plan.softmax.cconv.in_bits)
        view["csum_type"] = f"int{cs}_t"
        view["cconv"] = _rescale("csum", plan.softmax.cconv, cs)
    hd, hp = model.head, plan.head
    ha = _acc(hp.acc.bits)
    view["head"] = {
        "ctype": _ctype(hd.weight.fmt.bits), "fmt": str(hd.weight.fmt), "acc": ha,
        "acc_type": f"int{ha}_t", "w": hd.weight.values.tolist(), "bias": hd.bias.values.tolist(),
        "y": _rescale(f"{_dot(hd.weight.fmt.bits, ha)}({p}_head_w[j], s->h[{P}_LOCATIONS - 1], "
                      f"{P}_CHANNELS) + {p}_head_b[j]", hp.out, ha),
    }
    if plan.top is not None:
        assert model.w_x is not None and model.b_x is not None
        ta = _acc(plan.top.acc.bits)
        view["top"] = {
            "ctype": _ctype(model.w_x.fmt.bits), "fmt": str(model.w_x.fmt), "acc": ta,
            "acc_type": f"int{ta}_t", "bias_fmt": str(model.b_x.fmt),
            "w": model.w_x.values.tolist(), "bias": model.b_x.values.tolist(),
            "value": _rescale(f"{_dot(model.w_x.fmt.bits, ta)}({p}_w_x[j], x, {P}_N_IN) + "
                              f"{p}_b_x[j]", plan.top.out, ta),
        }
    return view


def _banner(model: TlstmModel, file: str) -> dict[str, str]:
    return {
        "file": file,
        "title": f'{file} - generated by lstmgen {__version__} from model "{model.name}" '
        f"(ir sha256 {sha256(model)})",  # type: ignore[arg-type]
        "formats": model.formats_summary(),
    }


_TEMPLATES = {
    "{p}.h": "c/tlstm.h.j2",
    "{p}.c": "c/tlstm.c.j2",
    "harness/main.c": "c/tlstm_main.c.j2",
    "harness/Makefile": "c/Makefile.j2",
    "harness/CMakeLists.txt": "c/CMakeLists.txt.j2",
}
_MCU_TEMPLATES = {"harness/arm-none-eabi.cmake": "c/mcu/arm-none-eabi.cmake.j2"}
_LIBRARY = ("lg_fixed.h", "lg_tlstm.h")


def render(model: TlstmModel, opts: CTarget | None = None) -> dict[str, str]:
    """Every generated file as ``{relative path: text}``; the same inputs always give the same
    bytes. The library files are at the top, the harness under ``harness/``."""
    opts = CTarget() if opts is None else opts
    if opts.core.mve:
        raise UsageError(f"--cpu {opts.cpu}: the tLSTM C code has no Helium (MVE) kernels; "
                         "generate for cortex-m4, cortex-m7 or generic")
    v = _view(model, opts)
    p = v["p"]
    core = opts.core
    v.update(
        mcu=core.is_mcu, board=core.board or "", cpu_flags=" ".join(core.gcc_flags),
        linker_script=core.linker_script,
        prog=f"{p}_main.elf" if core.is_mcu else f"{p}_main", warnings=WARNINGS,
        headers=[f"{p}.h", *_LIBRARY], max_steps=MAX_STEPS,
    )
    templates = dict(_TEMPLATES, **(_MCU_TEMPLATES if core.is_mcu else {}))
    files = {
        name.format(p=p): _jinja.render(tpl, banner=_banner(model, name.format(p=p)), **v)
        for name, tpl in templates.items()
    }
    statics = {lib: f"c/lib/{lib}" for lib in _LIBRARY}
    if core.is_mcu:
        statics["harness/lg_startup.c"] = "c/mcu/startup.c"
        statics[f"harness/{core.linker_script}"] = f"c/mcu/{core.linker_script}"
    for name, src in statics.items():
        b = _banner(model, name)
        title = b["title"].replace("generated", "copied", 1)
        files[name] = f"/* {title}\n * {b['formats']} */\n" + _jinja.read_static(src)
    return dict(sorted(files.items()))


def footprint_estimate(model: TlstmModel, opts: CTarget | None = None) -> dict[str, int]:
    """Bytes the library needs at least: ``flash_bytes`` (weights, biases, tables, embedding;
    code excluded) and ``ram_bytes`` (state and scratch, padding excluded)."""
    plan = model.plan
    acc = _acc(plan.acc_bits) // 8
    flash = 2 * (model.sigmoid.n + model.tanh.n + (model.exp.n if model.exp is not None else 0))
    for _, g in model.gates():
        flash += g.weight.values.size * (1 if g.weight.fmt.bits <= 8 else 2) + g.bias.values.size * acc
    hd = model.head
    flash += hd.weight.values.size * (1 if hd.weight.fmt.bits <= 8 else 2)
    flash += hd.n_out * _acc(plan.head.acc.bits) // 8
    if model.w_x is not None and plan.top is not None:
        flash += model.w_x.values.size * (1 if model.w_x.fmt.bits <= 8 else 2)
        flash += model.M * _acc(plan.top.acc.bits) // 8
    if model.embedding is not None:
        flash += model.embedding.values.size * 2
    cb = 2 if model.c_fmt.bits <= 16 else 4
    PM = model.P * model.M
    ram = 2 * (PM * (2 + cb)) + 2 * 5 * model.M + 6 * model.K
    return {"flash_bytes": flash, "ram_bytes": ram}


def render_any(model: Any, opts: CTarget | None = None) -> dict[str, str]:
    """The C target's files of an LSTM IR (:func:`lstmgen.targets.c.render`) or a tLSTM IR
    (:func:`render`)."""
    if getattr(model, "family", "lstm") == "tlstm":
        return render(model, opts)
    return c_target.render(model, opts)


def footprint_any(model: Any, opts: CTarget | None = None) -> dict[str, int]:
    """:func:`lstmgen.targets.c.footprint_estimate` or :func:`footprint_estimate`, by family."""
    if getattr(model, "family", "lstm") == "tlstm":
        return footprint_estimate(model, opts)
    return c_target.footprint_estimate(model, opts)

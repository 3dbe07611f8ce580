"""The one table of back ends. ``lstmgen generate``, ``verify`` and ``report`` take their
``--target`` choices and per-target options from here.

A *target* is a back end that renders files: a module with a typed options dataclass and
``render(model, options) -> {file name: text}`` (``c``, ``hls``, ``rtl``). A *platform* is
where ``verify`` builds and runs a target's output and compares it with the golden model: the
host compiler, a Cortex-M core under QEMU, an HDL simulator, HLS C-simulation. Each platform
names its target, the options it fixes (``cortex-m4`` fixes the C target's ``cpu``) and its
runner class (a :class:`lstmgen.verify.base.ToolRunner`); a platform or a target may also name
a report function for ``lstmgen report``. Modules are imported only when asked for.

Adding a back end is: one module (``lstmgen/targets/<name>.py`` with ``Options`` and
``render``), one template folder (``templates/<name>/``), one entry in :data:`TARGETS`.

Options are dataclass fields; :func:`option` attaches the command-line help (and choices) that
the CLI turns into ``--flags``:

>>> [p.name for p in get_target("c").platforms][:2]
['c', 'cortex-m3']
>>> get_platform("cortex-m4").fixed
{'cpu': 'cortex-m4'}
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ToolError, UsageError
from .cpus import MCU_CPUS

__all__ = [
    "PLATFORMS",
    "TARGETS",
    "Platform",
    "Target",
    "get_platform",
    "get_target",
    "make_options",
    "option",
    "option_fields",
    "supporting",
]


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
           metavar: str | None = None) -> Any:
    """A dataclass field of a target's options with its command-line help (and choices)."""
    meta = {"help": help, "choices": choices, "metavar": metavar}
    return field(default=default, metadata=meta)


def _load(ref: str) -> Any:
    """``"module:attr"`` → the attribute, imported now; a missing module is a ToolError."""
    mod, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name and mod.startswith(exc.name):
            raise ToolError(f"{mod} is not installed") from None
        raise ToolError(f"{mod} needs the Python package {exc.name!r} (pip install {exc.name})") \
            from None
    return getattr(module, attr)


@dataclass(frozen=True)
class Platform:
    """Where ``verify`` runs a target's output. ``runner`` and ``report`` are ``module:attr``
    references. ``fixed`` are target options the platform sets (``cpu`` for a Cortex-M core);
    ``runner_kw`` keyword arguments of the runner (the simulator of an RTL platform). The runner
    class is called as ``runner(options, **runner_kw, **kw)``; a report function as
    ``report(model, options, *, steps, seed, workdir, **runner_kw) -> (figures dict, text)``."""

    name: str
    target: str
    summary: str
    runner: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    runner_kw: Mapping[str, Any] = field(default_factory=dict)
    report: str | None = None

    def make_runner(self, options: Any, **kw: Any) -> Any:
        """The runner for ``options`` (the target's options, this platform's fixed values set)."""
        return _load(self.runner)(options, **self.runner_kw, **kw)

    def report_function(self) -> Callable[..., Any]:
        if self.report is None:
            raise UsageError(f"target {self.name!r} has no report")
        return _load(self.report)


@dataclass(frozen=True)
class Target:
    """A back end: ``module`` holds ``Options`` (a dataclass) and ``render(model, options)``."""

    name: str
    summary: str
    module: str
    platforms: tuple[Platform, ...] = ()
    report: str | None = None  # a report of the target itself (RTL: synthesis), same signature
    #: Modules rendering other model families (``family`` of an IR model; an LSTM has none).
    families: Mapping[str, str] = field(default_factory=dict)

    def options_type(self) -> type:
        return _load(f"{self.module}:Options")

    def render(self, model: Any, options: Any) -> dict[str, str]:
        """Every generated file as ``{relative path: text}`` (pure, deterministic); a model
        family the target does not render (a tLSTM on hls or rtl) is a UsageError."""
        family = getattr(model, "family", "lstm")
        module = self.module if family == "lstm" else self.families.get(family)
        if module is None:
            raise UsageError(f"target {self.name!r} does not generate {family} models "
                             f"(targets that do: {', '.join(supporting(family))})")
        return _load(f"{module}:render")(model, options)

    def report_function(self) -> Callable[..., Any]:
        if self.report is None:
            raise UsageError(f"target {self.name!r} has no report")
        return _load(self.report)


_C_PLATFORMS = (
    Platform("c", "c", "host C compiler (gcc/clang), run natively",
             "lstmgen.verify.cpu:CpuRunner", report="lstmgen.verify.cpu:host_report"),
    *(
        Platform(cpu, "c", f"arm-none-eabi-gcc for {cpu}, run under QEMU",
                 "lstmgen.verify.qemu:QemuRunner", fixed={"cpu": cpu},
                 runner_kw={"count": None},  # instructions (and cycle estimates) when it can
                 report="lstmgen.verify.qemu:mcu_report")
        for cpu in MCU_CPUS
    ),
)

#: Every back end lstmgen knows, by name.
TARGETS: Mapping[str, Target] = {
    t.name: t
    for t in (
        Target("c", "C99 library for MCUs and hosts (portable, ARM DSP kernels)",
               "lstmgen.targets.c", _C_PLATFORMS,
               families={"tlstm": "lstmgen.targets.c_tlstm"}),
        Target("hls", "Vitis HLS C++ project (ap_int types, reuse factor, AXI4-Stream)",
               "lstmgen.targets.hls",
               (Platform("hls", "hls", "HLS C-simulation with g++ and the ap_types headers",
                         "lstmgen.verify.hls:HlsRunner", report="lstmgen.verify.hls:hls_report"),)),
        Target("rtl", "synthesizable Verilog-2005 engine with AXI4-Stream ports",
               "lstmgen.targets.rtl",
               (Platform("rtl-icarus", "rtl", "cocotb testbench on Icarus Verilog",
                         "lstmgen.verify.rtl:RtlRunner", runner_kw={"simulator": "icarus"}),
                Platform("rtl-verilator", "rtl", "cocotb testbench on Verilator",
                         "lstmgen.verify.rtl:RtlRunner", runner_kw={"simulator": "verilator"})),
               report="lstmgen.verify.rtl:rtl_report"),
    )
}

#: Every verify platform, by name.
PLATFORMS: Mapping[str, Platform] = {p.name: p for t in TARGETS.values() for p in t.platforms}


def supporting(family: str) -> list[str]:
    """The targets that render models of ``family`` (``lstm``: every one)."""
    return [t.name for t in TARGETS.values() if family == "lstm" or family in t.families]


def get_target(name: str) -> Target:
    """The back end ``name``; an unknown name raises :class:`UsageError` listing the choices."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}") from None


def get_platform(name: str) -> Platform:
    """The verify platform ``name``; an unknown name raises :class:`UsageError`."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UsageError(
            f"unknown target {name!r}: choose one of {', '.join(PLATFORMS)}"
        ) from None


def option_fields(target: Target) -> tuple[dataclasses.Field, ...]:
    """The option fields of ``target`` (empty when its module cannot be imported here)."""
    try:
        return dataclasses.fields(target.options_type())
    except ToolError:
        return ()


def make_options(target: Target, given: Mapping[str, Any], fixed: Mapping[str, Any] = {},
                 *, platform: str | None = None) -> Any:
    """``target``'s options from the values a user ``given`` (None = not given) and the values
    a platform ``fixed``. An option of another target, or one that contradicts a fixed value,
    raises :class:`UsageError`; the options class validates the values themselves."""
    cls = target.options_type()
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key not in names:
            owners = [t.name for t in TARGETS.values()
                      if key in {f.name for f in option_fields(t)}]
            raise UsageError(f"{flag} is not an option of target {platform or target.name!r}"
                             + (f" (it is one of {', '.join(owners)})" if owners else ""))
        if key in fixed and fixed[key] != value:
            raise UsageError(f"{flag} {value} contradicts target {platform!r} "
                             f"({flag} {fixed[key]})")
        values[key] = value
    values.update(fixed)
    return cls(**values)

"""The processors the C target generates for, written once: what every command, runner and
build file reads (``--cpu`` choices, DSP kernels, compiler flags, the QEMU board that runs it).

``generic`` is any C99 compiler (the host build, and the portable kernels on any core); the
Cortex-M entries name the arm-none-eabi-gcc flags that select the core and its float ABI and
the QEMU machine whose memory map its linker script (``templates/c/mcu/``) describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import UsageError

__all__ = ["CPUS", "MCU_CPUS", "Cpu", "get_cpu"]


@dataclass(frozen=True, slots=True)
class Cpu:
    """A core: ``dsp`` selects the ``lg_dsp.h`` kernels (ARM DSP extension: SMLAD, SXTB16),
    ``mve`` the ``lg_mve.h`` kernels (Helium, M-profile Vector Extension); ``gcc_flags`` select
    core and float ABI for arm-none-eabi-gcc (empty for the host); ``board`` is the QEMU
    machine (``qemu-system-arm -M``) that runs it, None for the host; ``linker_script`` the
    file under ``templates/c/mcu/`` describing that board's memory map; ``flash_bytes``/
    ``ram_bytes`` what that board offers a program."""

    name: str
    dsp: bool
    gcc_flags: tuple[str, ...] = ()
    board: str | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    mve: bool = False
    linker_script: str = "mps2.ld"

    @property
    def kernels(self) -> str:
        """The kernel family: ``"mve"``, ``"dsp"`` or ``"portable"``."""
        return "mve" if self.mve else "dsp" if self.dsp else "portable"

    @property
    def is_mcu(self) -> bool:
        """True for a core lstmgen cross-builds and runs under QEMU."""
        return self.board is not None


CPUS: Mapping[str, Cpu] = MappingProxyType({
    c.name: c
    for c in (
        Cpu("generic", dsp=False),
        Cpu("cortex-m3", dsp=False, board="mps2-an385",
            gcc_flags=("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
            flash_bytes=4 << 20, ram_bytes=4 << 20),
        Cpu("cortex-m4", dsp=True, board="mps2-an386",
            gcc_flags=("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
            flash_bytes=4 << 20, ram_bytes=4 << 20),
        Cpu("cortex-m7", dsp=True, board="mps2-an500",
            gcc_flags=("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"),
            flash_bytes=4 << 20, ram_bytes=4 << 20),
        Cpu("cortex-m55", dsp=False, mve=True, board="mps3-an547",
            gcc_flags=("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
            flash_bytes=8 << 20, ram_bytes=4 << 20, linker_script="mps3_an547.ld"),
    )
})

#: The cores lstmgen cross-builds for and runs under QEMU (each is a ``verify`` target).
MCU_CPUS: tuple[str, ...] = tuple(n for n, c in CPUS.items() if c.is_mcu)


def get_cpu(name: str) -> Cpu:
    """The :class:`Cpu` called ``name``; an unknown name raises :class:`UsageError`."""
    try:
        return CPUS[name]
    except KeyError:
        raise UsageError(f"--cpu {name!r}: choose one of {', '.join(CPUS)}") from None

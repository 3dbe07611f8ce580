"""The ``lstmgen`` command line: train / import / prune / info / quantize / generate / verify /
report / demo.

Every command module registers its commands on :data:`main`; a :class:`LstmgenError` becomes
one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .errors import LstmgenError

__all__ = ["main"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LstmgenError as exc:
            click.echo(f"lstmgen: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lstmgen")
def main() -> None:
    """Take an LSTM from PyTorch to bit-exact fixed-point C, HLS and RTL."""


#: Modules whose import attaches commands to ``main`` (one per area of the tool).
COMMAND_MODULES = ("model", "quantize", "codegen", "mcu", "demo")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"{__package__}.commands.{_name}")
    except ModuleNotFoundError as _exc:  # an area not built yet
        if _exc.name != f"{__package__}.commands.{_name}":
            raise

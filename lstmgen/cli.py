"""The ``lstmgen`` command line: train / import / prune / info / quantize / generate / verify /
report / demo.

Every command module registers its commands on :data:`main`. A :class:`LstmgenError`, an
``OSError`` (with its file name), a failed allocation (with the size asked for, when known) and
an end of file become one line on stderr and exit code 2; Ctrl-C prints one line and exits 130.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import importlib
import re
import sys

import click

from . import __version__
from .errors import LstmgenError

__all__ = ["main"]


def _one_line(text: str) -> str:
    """Join a multi-line message into one line."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def _memory_message(exc: BaseException) -> str:
    """One line for an allocation failure, with the size asked for when the message has it."""
    text = str(exc)
    m = re.search(r"allocate (\d+) bytes", text)
    if m:
        return f"out of memory: tried to allocate {_bytes(int(m.group(1)))}"
    m = re.search(r"(Unable to allocate [^\n]*?)(?: for an array| and data type|$)", text)
    if m:
        return f"out of memory: {m.group(1)[0].lower()}{m.group(1)[1:]}"
    m = re.search(r"Tried to allocate ([\d.]+ [KMGT]?i?B)", text)
    if m:
        return f"out of memory: tried to allocate {m.group(1)}"
    return "out of memory" + (f" ({_one_line(text)})" if text else "")


def _is_allocation_failure(exc: BaseException) -> bool:
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError / torch.OutOfMemoryError
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text
    )


def _os_message(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    return f"{where}: {reason}" if where else reason


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"lstmgen: error: {_one_line(message)}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turn every environmental failure into one line on stderr; bugs keep their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LstmgenError as exc:
            _fail(str(exc))
        except click.UsageError as exc:  # a bad option: one line too, with where to get help
            cmd = exc.ctx.command_path if exc.ctx is not None else "lstmgen"
            _fail(f"{exc.format_message()} (see '{cmd} -h')")
        except KeyboardInterrupt:
            click.echo("lstmgen: interrupted", err=True)
            sys.exit(130)
        except MemoryError as exc:
            _fail(_memory_message(exc))
        except BrokenPipeError:  # stdout closed by a pager or `head`: stop quietly
            try:
                sys.stdout = open(  # noqa: SIM115 - never closed on purpose
                    "/dev/null", "w", encoding="utf-8")
            except OSError:
                pass
            sys.exit(141)
        except OSError as exc:
            _fail(_os_message(exc) if exc.errno != errno.EPIPE else "broken pipe")
        except EOFError as exc:  # click would print "Aborted!" and exit 1 (a verify mismatch)
            _fail(f"unexpected end of file{f' ({exc})' if str(exc) else ''}")
        except RuntimeError as exc:
            if _is_allocation_failure(exc):
                _fail(_memory_message(exc))
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lstmgen")
def main() -> None:
    """Take an LSTM from PyTorch to bit-exact fixed-point C, HLS and RTL."""


#: Modules whose import attaches commands to ``main`` (one per area of the tool).
COMMAND_MODULES = ("model", "quantize", "codegen", "demo", "export", "study")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"{__package__}.commands.{_name}")
    except ModuleNotFoundError as _exc:  # an area not built yet
        if _exc.name != f"{__package__}.commands.{_name}":
            raise

"""The typer application and the one place errors become messages and exit codes.

Commands are thin: they parse options, call one library function, and print its result
object. Library code raises `AnalogNASError` subclasses; `_Group.main` turns those, and
typer's usage errors, into ONE line on stderr with exit code 2 and no traceback.
Heavy libraries (torch, sklearn) are imported inside commands, so `--help` is instant.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from analognas._errors import AnalogNASError

EXIT_USAGE = 2


class _Group(TyperGroup):
    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name or "analognas", complete_var, standalone_mode=False, **extra)
        except AnalogNASError as exc:
            _fail(str(exc))
        except OSError as exc:  # an output that cannot be written: read-only, full disk, /sys ...
            _fail(os_error_message(exc))
        except ClickException as exc:
            _fail(exc.format_message(), getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{6,}$")


def os_error_message(exc: OSError) -> str:
    """One line naming the path a user asked for (not our temporary file) and the reason."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return f"cannot write output: {reason}"
    path = Path(str(exc.filename))
    temp = _TEMP_NAME.match(path.name)
    target = path.with_name(temp.group("name")) if temp else path
    return f"cannot write {target}: {reason}"


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    line = " ".join(message.split())  # one line, whatever the library put in the message
    if not line:  # `analognas` alone: click has printed the help; add no empty "error:"
        sys.exit(code)
    print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


app = typer.Typer(
    cls=_Group,
    name="analognas",
    help="Neural-architecture search for analog in-memory computing (PCM) hardware.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def parse_shape(text: str) -> tuple[int, int, int]:
    from analognas._errors import ConfigError

    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise ConfigError(f"--input-shape must look like 3,32,32, got {text!r}") from None
    if len(parts) != 3 or min(parts) < 1:
        raise ConfigError(f"--input-shape must be three positive integers C,H,W, got {text!r}")
    return parts  # type: ignore[return-value]

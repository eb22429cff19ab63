"""The screening options shared by ``screen`` and ``check``, and the config they build.

``screening_options`` adds INPUT... and every option of DESIGN's ``screen``
line; ``config_from_options(**kwargs)`` turns the parsed values into a
``ScreenConfig``. Commands add their own options (``-o``, ``--json``,
``--baseline``, ``--format``) and pass the rest here.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from ..models import SEVERITIES, ScreenConfig

F = TypeVar("F", bound=Callable[..., Any])

SCREENING_KEYS = (
    "inputs",
    "rules",
    "lists",
    "as_of",
    "horizon",
    "fail_on",
    "fail_on_upcoming",
    "waivers",
    "decisions",
    "columns",
    "suppliers_map",
    "strict",
    "quiet",
    "verbose",
)


def _as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def screening_options(command: F | None = None, *, fail_on_default: str | None = None) -> Any:
    """Decorator adding INPUT... and the shared screening options to a click command.

    Use as ``@screening_options`` or ``@screening_options(fail_on_default="high")``.
    """

    def decorate(command: F) -> F:
        existing = click.Path(exists=True, dir_okay=False, path_type=Path)
        options = [
            click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path)),
            click.option(
                "-r",
                "--rules",
                multiple=True,
                metavar="RULES",
                help="Ruleset file or builtin:NAME (repeatable; default: every shipped ruleset).",
            ),
            click.option(
                "-l",
                "--list",
                "lists",
                multiple=True,
                type=click.Path(exists=True, path_type=Path),
                help="Watchlist file or folder (repeatable; default: $FEOCSCREEN_LISTS_DIR).",
            ),
            click.option(
                "--as-of",
                callback=_as_of,
                metavar="DATE",
                help="Date the rules are applied on (default: today).",
            ),
            click.option(
                "--horizon",
                type=click.IntRange(0, 240),
                default=24,
                show_default=True,
                metavar="MONTHS",
                help="Report rules becoming effective within this many months as upcoming.",
            ),
            click.option(
                "--fail-on",
                type=click.Choice(SEVERITIES),
                default=fail_on_default,
                show_default=fail_on_default is not None,
                help="Exit 1 when an active unwaived finding (or a not-screened supplier, as high) "
                "is at or above this severity.",
            ),
            click.option(
                "--fail-on-upcoming", is_flag=True, help="Count upcoming findings toward --fail-on."
            ),
            click.option(
                "--waivers", type=existing, help="Waivers YAML (accepted findings, with expiry)."
            ),
            click.option(
                "--decisions", type=existing, help="Match decisions file (closed false positives)."
            ),
            click.option(
                "--columns", type=existing, help="YAML map of extra header names to fields."
            ),
            click.option(
                "--suppliers",
                "suppliers_map",
                type=existing,
                help="CSV mapping RMI files to supplier id, stage and spend.",
            ),
            click.option("--strict", is_flag=True, help="Any input error is fatal (exit 2)."),
            click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors."),
            click.option(
                "--verbose", "-v", is_flag=True, help="Print stage timings and every warning."
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    if command is not None:
        return decorate(command)
    return decorate


def config_from_options(**kwargs: Any) -> ScreenConfig:
    """Build the run's ScreenConfig from the parsed screening options (extra keys ignored)."""
    as_of = kwargs.get("as_of") or date.today()
    return ScreenConfig(
        inputs=tuple(Path(p) for p in kwargs.get("inputs") or ()),
        rules=tuple(kwargs.get("rules") or ()),
        lists=tuple(Path(p) for p in kwargs.get("lists") or ()),
        waivers=kwargs.get("waivers"),
        decisions=kwargs.get("decisions"),
        columns=kwargs.get("columns"),
        suppliers_map=kwargs.get("suppliers_map"),
        as_of=as_of,
        horizon_months=int(kwargs["horizon"]) if kwargs.get("horizon") is not None else 24,
        fail_on=kwargs.get("fail_on"),
        fail_on_upcoming=bool(kwargs.get("fail_on_upcoming")),
        strict=bool(kwargs.get("strict")),
        verbose=bool(kwargs.get("verbose")),
        command_line=kwargs.get("command_line") or command_line(),
    )


def command_line() -> str:
    """The command as typed (program name without its install path), for the audit block."""
    args = list(sys.argv)
    if args:
        args[0] = Path(args[0]).name
    return shlex.join(args)

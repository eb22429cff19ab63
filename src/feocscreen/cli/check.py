"""`feocscreen check`: the CI gate over a supplier list.

Screens like ``screen`` but writes no workbook unless ``--report`` asks for one,
prints the result in a CI format (text, json, junit, sarif, markdown) and exits
per DESIGN: 0 ok; 1 gate tripped (active unwaived findings at or above
``--fail-on``, default high, and not-screened suppliers as high; with
``--baseline`` only those new since OLD.json); 2 usage errors, unreadable
input, invalid rules, lists, waivers or baseline, or any input error with
``--strict``; 3 a bug (reported by the CLI group).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..report import FORMATS
from .options import config_from_options, screening_options

REASONS_SHOWN = 20  # gate reasons echoed to stderr; the full list is in the chosen format


@click.command("check")
@screening_options(fail_on_default="high")
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A previous JSON result (screen --json): fail only on findings new since it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the output to FILE instead of stdout.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the Excel report (no workbook is written by default).",
)
@click.pass_context
def check_command(
    ctx: click.Context,
    baseline: Path | None,
    fmt: str,
    output: Path | None,
    report: Path | None,
    **options: Any,
) -> None:
    """Fail the build when the supplier list has findings at or above --fail-on.

    Only active, unwaived findings count, and suppliers that could not be screened
    count as high. Informational only; not legal advice.
    """
    from .. import progress
    from ..api import screen
    from ..baseline import load_baseline
    from ..gate import evaluate_gate
    from ..report import render
    from ..report.view import waiver_label, waiver_lists

    config = config_from_options(**options)
    quiet = bool(options.get("quiet"))
    baseline_ids = load_baseline(baseline) if baseline is not None else None
    with progress.use(progress.configured(quiet=quiet)):
        result = screen(config)
    data = result.data
    outcome = evaluate_gate(data, config.fail_on, config.fail_on_upcoming, baseline_ids)
    gate = {
        "tripped": outcome.tripped,
        "fail_on": outcome.fail_on,
        "fail_on_upcoming": config.fail_on_upcoming,
        "counted": list(outcome.counted),
        "reasons": list(outcome.reasons),
        "baseline": str(baseline) if baseline is not None else None,
    }
    text = render(fmt, data, gate)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    if report is not None:
        from ..report.excel import write_report

        for path in write_report(data, report):
            if not quiet:
                click.echo(f"report: {path}", err=True)

    if not quiet and (fmt != "text" or output is not None):  # the log still says why
        for line in outcome.reasons[:REASONS_SHOWN]:
            click.echo(f"gate: {line}", err=True)
    if fmt != "text" or output is not None:
        waivers = waiver_lists(data)
        for waiver in waivers["expired"]:
            click.echo(
                f"warning: EXPIRED waiver no longer applies: {waiver_label(waiver)}", err=True
            )
        if not quiet:
            for waiver in waivers["unused"]:
                click.echo(f"warning: unused waiver: {waiver_label(waiver)}", err=True)
    errors = data["validation"]["errors"]
    if config.strict and errors:
        click.echo(f"error: --strict: {len(errors)} input error(s)", err=True)
        ctx.exit(2)
    if outcome.tripped:
        ctx.exit(1)


def register(group: click.Group) -> None:
    group.add_command(check_command)

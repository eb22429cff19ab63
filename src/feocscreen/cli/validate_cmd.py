"""`feocscreen validate`: read and check inputs, print every located issue, exit 0/1/2."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import click

from ..models import Issue


@click.command("validate")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--columns",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML map of extra header names to fields.",
)
@click.option(
    "--suppliers",
    "suppliers_map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV mapping RMI files to supplier id, stage and spend.",
)
@click.option("--strict", is_flag=True, help="Any error is fatal (exit 2).")
@click.pass_context
def validate_command(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    fmt: str,
    columns: Path | None,
    suppliers_map: Path | None,
    strict: bool,
) -> None:
    """Check supplier workbooks, CSVs or RMI templates; list every problem with its cell.

    Exit 0 when there are no errors (warnings allowed), 1 when rows have errors,
    2 when a file cannot be read (or any error with --strict).
    """
    from ..ingest import check_ahead

    check_ahead(inputs)  # large workbooks are checked while the libraries below load
    from .. import progress
    from ..validate import load_portfolio, summarize

    with progress.use(progress.configured()):  # shown on a terminal's stderr only
        portfolio = load_portfolio(list(inputs), columns_map=columns, suppliers_map=suppliers_map)
    summary = summarize(portfolio)
    summary["not_screened"] = sorted(portfolio.not_screened)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "errors": [i.to_dict() for i in portfolio.errors],
                    "warnings": [i.to_dict() for i in portfolio.warnings],
                    "summary": summary,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_text(portfolio.issues, summary)
    if portfolio.errors:
        ctx.exit(2 if strict else 1)


def _print_text(issues: list[Issue], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False, width=None if _is_tty() else 160)
    key = lambda i: (i.file or "", i.sheet or "")  # noqa: E731
    for (file, sheet), group in groupby(sorted(issues, key=lambda i: (*key(i), i.row or 0)), key):
        table = Table(title=f"{file} — {sheet}", title_justify="left", show_lines=False)
        for column in ("Row", "Cell", "Field", "Severity", "Code", "Message"):
            table.add_column(column, overflow="fold")
        for issue in group:
            table.add_row(
                str(issue.row or ""),
                issue.cell or "",
                issue.column or "",
                issue.severity,
                issue.code,
                issue.message,
            )
        console.print(table)
    console.print(
        f"{summary['suppliers_screenable']} suppliers ready to screen, "
        f"{summary['suppliers_not_screened']} not screened; "
        f"{summary['errors']} errors, {summary['warnings']} warnings."
    )
    if summary["not_screened"]:
        console.print("Not screened: " + ", ".join(summary["not_screened"]))


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


def register(group: click.Group) -> None:
    group.add_command(validate_command)

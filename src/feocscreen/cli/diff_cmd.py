"""`feocscreen diff OLD.json NEW.json`: what changed between two screening results.

Exit 0 whatever changed (the gate is `check --baseline`); 2 when a file is not a
feocscreen JSON result.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..diff import DIFF_FORMATS


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(DIFF_FORMATS),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the diff to FILE instead of stdout.",
)
def diff_command(old: Path, new: Path, fmt: str, output: Path | None) -> None:
    """Compare two JSON results: suppliers added/removed, tier changes, findings new/resolved,
    exposure changes."""
    from ..baseline import read_result
    from ..diff import diff_results, render_diff

    text = render_diff(diff_results(read_result(old), read_result(new)), fmt)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def register(group: click.Group) -> None:
    group.add_command(diff_command)

"""`feocscreen template OUT.xlsx`: write a blank intake workbook."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def template_command(out: Path) -> None:
    """Write a blank intake workbook (Suppliers, Sourcing, Ownership, Instructions)."""
    from ..template import write_template

    write_template(out)
    click.echo(
        f"Wrote {out}: fill Suppliers (and optionally Sourcing, Ownership), then run "
        f"`feocscreen validate {out}`."
    )


def register(group: click.Group) -> None:
    group.add_command(template_command)

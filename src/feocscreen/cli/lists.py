"""`feocscreen lists fetch | check | info`: dated list snapshots and the drift guard.

Exit codes: 0 ok; 1 a source's row count dropped sharply (the snapshot is kept, the
drop is reported); 2 unreadable list or failed download (raised as WatchlistError).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..watchlist import (
    CSL_URL,
    CSL_URL_ENV,
    DEFAULT_MAX_DROP,
    LISTS_DIR_ENV,
    SourceDrift,
    fetch_csl,
    list_drift,
    load_lists,
)

_MAX_DROP_HELP = (
    f"Percent a source may shrink before the check fails (default {DEFAULT_MAX_DROP:.0%})."
)


def _print_drift(drifts: list[SourceDrift]) -> None:
    width = max([len(d.list_id) for d in drifts] + [6])
    click.echo(f"{'list':<{width}}  {'old':>8}  {'new':>8}  change")
    for d in drifts:
        flag = "  SHARP DROP" if d.sharp_drop else ""
        change = f"{d.change:+.1%}" if d.old else "new"
        click.echo(f"{d.list_id:<{width}}  {d.old:>8}  {d.new:>8}  {change}{flag}")


@click.group("lists")
def lists_group() -> None:
    """Download restricted-party lists and guard against silent shrinkage."""


@lists_group.command("fetch")
@click.option(
    "--url",
    default=None,
    help=f"CSL CSV to download (default ${CSL_URL_ENV}, else {CSL_URL}).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder for snapshots (default ${LISTS_DIR_ENV}, else ./lists).",
)
@click.option(
    "--max-drop",
    type=click.FloatRange(0, 100),
    default=DEFAULT_MAX_DROP * 100,
    show_default=True,
    help=_MAX_DROP_HELP,
)
def fetch_command(url: str | None, directory: Path | None, max_drop: float) -> None:
    """Download the Consolidated Screening List into DIR/csl-DATE.csv with its SHA-256.

    The new snapshot is compared with the previous one in DIR; a sharp drop in any
    source's rows exits 1 (the snapshot is kept so it can be inspected).
    """
    folder = directory or Path(os.environ.get(LISTS_DIR_ENV) or "lists")
    snapshot = fetch_csl(folder, url)
    total = sum(snapshot.rows_by_source.values())
    click.echo(f"Saved {snapshot.path} ({total} rows), sha256 {snapshot.sha256}")
    if snapshot.previous is None:
        for list_id, count in snapshot.rows_by_source.items():
            click.echo(f"  {list_id}: {count}")
        return
    old = load_lists([snapshot.previous]).rows_by_source()
    drifts = list_drift(old, snapshot.rows_by_source, max_drop=max_drop / 100)
    click.echo(f"Compared with {snapshot.previous.name}:")
    _print_drift(drifts)
    if any(d.sharp_drop for d in drifts):
        click.echo("error: a source shrank sharply since the previous snapshot", err=True)
        click.get_current_context().exit(1)


@lists_group.command("check")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--max-drop",
    type=click.FloatRange(0, 100),
    default=DEFAULT_MAX_DROP * 100,
    show_default=True,
    help=_MAX_DROP_HELP,
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def check_command(old: Path, new: Path, max_drop: float, fmt: str) -> None:
    """Compare rows per source between two list snapshots; exit 1 on a sharp drop."""
    before, after = load_lists([old]), load_lists([new])
    drifts = list_drift(before.rows_by_source(), after.rows_by_source(), max_drop=max_drop / 100)
    sharp = [d for d in drifts if d.sharp_drop]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "old": before.sources,
                    "new": after.sources,
                    "max_drop": max_drop / 100,
                    "sources": [
                        {"list": d.list_id, "old": d.old, "new": d.new, "sharp_drop": d.sharp_drop}
                        for d in drifts
                    ],
                    "ok": not sharp,
                },
                indent=2,
            )
        )
    else:
        _print_drift(drifts)
        for d in sharp:
            click.echo(
                f"error: {d.list_id} fell from {d.old} to {d.new} rows ({d.change:+.1%}), "
                f"more than {max_drop:g} %",
                err=True,
            )
    if sharp:
        click.get_current_context().exit(1)


@lists_group.command("info")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def info_command(paths: tuple[Path, ...]) -> None:
    """Show which list files would load (PATHS, else the lists folder) and their rows."""
    loaded = load_lists(list(paths))
    if not loaded.loaded:
        click.echo(f"No lists given and ${LISTS_DIR_ENV} is not set: listing is not tested.")
        return
    for source in loaded.sources:
        counts = ", ".join(f"{k} {v}" for k, v in source["rows_by_source"].items()) or "companion"
        click.echo(f"{source['path']}  sha256 {source['sha256'][:16]}…  {counts}")
    click.echo(f"{len(loaded)} entries in all")


def register(group: click.Group) -> None:
    group.add_command(lists_group)

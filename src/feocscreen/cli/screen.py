"""`feocscreen screen`: screen inputs, write the JSON result and/or the Excel report, gate.

Exit codes (DESIGN): 0 ok; 1 ``--fail-on`` gate tripped; 2 unreadable input,
invalid rules, lists or waivers, or any input error with ``--strict``; 3 bug.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from .options import config_from_options, screening_options

TIER_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "clear": "green",
}
TOP_EXPOSURES = 5  # suppliers listed in the terminal summary
PRETTY_JSON_LIMIT = 2000


@click.command("screen")
@screening_options
@click.option(
    "-o",
    "--output",
    "report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Excel report here (REPORT.xlsx).",
)
@click.option(
    "--json", "json_out", metavar="FILE|-", help="Write the JSON result to FILE, or - for stdout."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="dask: screen Parquet/CSV tables (suppliers.*, sourcing.*, ownership.*) on Dask "
    "(extra feocscreen[dask]).",
)
@click.option(
    "--scheduler",
    envvar="DASK_SCHEDULER_ADDRESS",
    metavar="ADDRESS",
    help="With --engine dask: an existing cluster's scheduler (tcp://host:8786); "
    "default: local threads.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --engine dask: write suppliers.parquet and summary.json here.",
)
@click.option(
    "--stream",
    "stream_results",
    is_flag=True,
    help="With --engine dask: workers write supplier rows themselves (needs --output-dir on "
    "storage every worker can write); the client keeps only the summary.",
)
@click.pass_context
def screen_command(
    ctx: click.Context,
    report: Path | None,
    json_out: str | None,
    engine: str,
    scheduler: str | None,
    output_dir: Path | None,
    stream_results: bool,
    **options: Any,
) -> None:
    """Screen supplier workbooks against the FEOC, PFE, DFARS and allied rulesets.

    Prints a short summary on stderr; the full result goes to --json and -o.
    Informational only; not legal advice.
    """
    from .. import progress
    from ..api import collector_paused, screen

    config = config_from_options(**options)
    if engine == "local" and (scheduler or output_dir or stream_results):
        raise click.UsageError("--scheduler, --output-dir and --stream go with --engine dask")
    if stream_results and (report is not None or json_out):
        raise click.UsageError(
            "--stream keeps no supplier list on the client: use --output-dir, not -o or --json"
        )
    # Screening and writing build millions of small objects: no GC passes until the command ends.
    ctx.with_resource(collector_paused())
    with progress.use(progress.configured(quiet=bool(options.get("quiet")))):
        if engine == "dask":
            from ..engine_dask import screen_dask

            result = screen_dask(
                config, scheduler=scheduler, output=output_dir, stream=stream_results
            )
        else:
            result = screen(config)
    data = result.data
    if json_out:
        if json_out == "-":
            write_json(data, sys.stdout)
        else:
            try:
                Path(json_out).parent.mkdir(parents=True, exist_ok=True)
                with open(json_out, "w", encoding="utf-8") as stream:
                    write_json(data, stream)
            except OSError as exc:
                raise click.UsageError(f"cannot write {json_out}: {exc.strerror or exc}") from None
    written: list[Path] = []
    if report is not None:
        from ..report.excel import write_report

        try:
            written = list(write_report(data, report))
        except OSError as exc:
            raise click.UsageError(f"cannot write {report}: {exc.strerror or exc}") from None
    if not options.get("quiet"):
        _summary(data, json_out, written, verbose=bool(options.get("verbose")))
    if config.strict and data["validation"]["errors"]:
        click.echo(f"error: --strict: {len(data['validation']['errors'])} input error(s)", err=True)
        ctx.exit(2)
    if result.gate is not None:
        for line in result.gate.reasons[: 1 if options.get("quiet") else 21]:
            click.echo(f"gate: {line}", err=True)
        if result.gate.tripped:
            ctx.exit(1)


def write_json(data: dict[str, Any], stream: TextIO) -> None:
    """Write the result as JSON: indented for small portfolios; past PRETTY_JSON_LIMIT
    suppliers compact and one supplier at a time, so memory does not hold the whole text
    (indented JSON of a 100k-row portfolio is ~300 MB)."""
    if len(data["suppliers"]) <= PRETTY_JSON_LIMIT:
        stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    stream.write("{")
    for index, (key, value) in enumerate(data.items()):
        stream.write(("," if index else "") + json.dumps(key) + ":")
        if key == "suppliers":
            stream.write("[")
            for position, supplier in enumerate(value):
                stream.write(("," if position else "") + compact(supplier))
            stream.write("]")
        else:
            stream.write(compact(value))
    stream.write("}\n")


def _summary(
    data: dict[str, Any], json_out: str | None, written: list[Path], verbose: bool
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    summary = data["summary"]
    tiers = summary["by_tier"]
    line = "  ".join(
        f"[{TIER_STYLE[t]}]{t} {tiers[t]}[/]"
        for t in ("critical", "high", "medium", "low", "clear")
    )
    console.print(
        f"[bold]feocscreen[/] {data['tool']['version']} as of {data['as_of']}: "
        f"{len(data['suppliers'])} screened, {len(data['not_screened'])} not screened"
    )
    console.print(line)
    feoc_pfe = summary["spend_feoc_pfe"]
    passing = summary["spend_passing_2027"]
    console.print(
        f"FEOC/PFE suppliers: {feoc_pfe['suppliers']}; chains passing the 2027 DFARS test: "
        f"{passing['suppliers']}; portfolio midstream exposure: {_pct(summary['portfolio_midstream_exposure'])}"
    )
    top = sorted(
        data["suppliers"], key=lambda s: (-s["midstream_exposure"], -s["score"], s["supplier_id"])
    )[:TOP_EXPOSURES]
    if top and top[0]["midstream_exposure"] > 0:
        table = Table(title="Top midstream exposures", title_justify="left")
        for column in ("Supplier", "Name", "Tier", "Midstream", "FEOC", "PFE"):
            table.add_column(column)
        for s in top:
            if s["midstream_exposure"] <= 0:
                break
            table.add_row(
                s["supplier_id"],
                str(s["supplier_name"] or ""),
                f"[{TIER_STYLE[s['tier']]}]{s['tier']}[/]",
                _pct(s["midstream_exposure"]),
                "yes" if s["feoc"] else "no",
                "yes" if s["pfe"] else "no",
            )
        console.print(table)
    validation = data["validation"]
    console.print(
        f"validation: {len(validation['errors'])} error(s), {len(validation['warnings'])} warning(s)"
    )
    if verbose:
        for issue in validation["warnings"]:
            console.print(f"  warning [{issue['code']}] {issue['message']}", markup=False)
        for name, seconds in data["audit"]["timings"].items():
            console.print(f"  {name}: {seconds:.3f} s")
    if json_out and json_out != "-":
        console.print(f"JSON result: {json_out}")
    for path in written:
        console.print(f"report: {path}")
    console.print("Informational only; not legal advice.", style="dim")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def register(group: click.Group) -> None:
    group.add_command(screen_command)

"""`feocscreen rules validate|list|explain`: check, list and explain rules and their kinds."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("rules")
def rules_group() -> None:
    """Check, list and explain the rules that screening applies."""


@rules_group.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_context
def validate_rules(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Validate rules files (rulesets, groups.yaml, scoring.yaml) against the shipped schema.

    Exit 0 when every file is valid, 2 otherwise, with file, JSON pointer, rule id and message.
    """
    from ..errors import RulesError
    from ..rules.load import validate_file

    failed = False
    for path in files:
        try:
            kind, issues = validate_file(path)
        except RulesError as exc:
            click.echo(f"{path}: invalid: {exc.message}", err=True)
            failed = True
            continue
        if issues:
            failed = True
            click.echo(f"{path}: invalid {kind} file, {len(issues)} problem(s)", err=True)
            for issue in issues:
                click.echo(f"  {path}: {issue.message}", err=True)
        else:
            click.echo(f"{path}: valid {kind} file")
    if failed:
        ctx.exit(2)


@rules_group.command("list")
@click.option(
    "-r",
    "--rules",
    multiple=True,
    metavar="RULES",
    help="Ruleset file or builtin:NAME (default: all shipped).",
)
@click.option(
    "--as-of", metavar="DATE", help="Show each rule's status on this date (default: today)."
)
def list_rules(rules: tuple[str, ...], as_of: str | None) -> None:
    """List rulesets and their rules: id, severity, confidence, effective dates, status."""
    from datetime import date

    from ..api import add_months
    from ..rules.load import load_rulebook

    day = date.fromisoformat(as_of) if as_of else date.today()
    book = load_rulebook(rules)
    for ruleset in book.rulesets:
        click.echo(
            f"{ruleset.id} {ruleset.version} - {ruleset.title} (last reviewed {ruleset.last_reviewed})"
        )
        click.echo(f"  applies to: {ruleset.applicability}")
        for rule in ruleset.rules:
            status = rule.status(day, add_months(day, 24)) or (
                "expired" if rule.effective_until and day > rule.effective_until else "later"
            )
            until = f"..{rule.effective_until}" if rule.effective_until else ".."
            click.echo(
                f"  {rule.id:<34} {rule.severity:<8} {rule.confidence:<11} "
                f"{rule.effective_from}{until:<12} {status}"
            )


@rules_group.command("explain")
@click.argument("name")
@click.option(
    "-r",
    "--rules",
    multiple=True,
    metavar="RULES",
    help="Ruleset file or builtin:NAME (default: all shipped).",
)
@click.pass_context
def explain(ctx: click.Context, name: str, rules: tuple[str, ...]) -> None:
    """Explain a rule (by id), a condition kind or an issue code, in words."""
    from ..errors import catalogue
    from ..rules.kinds import REGISTRY
    from ..rules.load import load_rulebook

    book = load_rulebook(rules)
    rule = book.rule(name)
    if rule is not None:
        ruleset = next(rs for rs in book.rulesets if rs.id == rule.ruleset)
        click.echo(f"{rule.id}: {rule.title}")
        click.echo(f"  ruleset:     {ruleset.id} {ruleset.version} ({ruleset.title})")
        click.echo(f"  applies to:  {ruleset.applicability}")
        click.echo(f"  severity:    {rule.severity}")
        click.echo(f"  confidence:  {rule.confidence}")
        click.echo(f"  citation:    {rule.citation.text} <{rule.citation.url}>")
        until = rule.effective_until.isoformat() if rule.effective_until else "no end date"
        setting = f" (setting {rule.effective_setting})" if rule.effective_setting else ""
        click.echo(f"  effective:   {rule.effective_from.isoformat()}{setting} to {until}")
        if rule.marks:
            click.echo(f"  prong:       {rule.marks}_{rule.prong} (feeds the {rule.marks} flag)")
        click.echo(f"  fires when:  {rule.condition.describe()}")
        if rule.advice:
            click.echo(f"  next step:   {rule.advice}")
        return
    if name in REGISTRY:
        click.echo(f"{name} (condition kind): {REGISTRY[name].description}")
        return
    codes = catalogue()
    if name in codes:
        entry = codes[name]
        click.echo(f"{entry.code} (issue code): {entry.title}. {entry.description}")
        return
    click.echo(f"error: no rule, condition kind or issue code named {name!r}", err=True)
    ctx.exit(2)


def register(group: click.Group) -> None:
    group.add_command(rules_group)

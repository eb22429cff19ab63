"""The shipped rulesets as the page offers them: read through the rules package, never re-parsed here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..rules.load import load_rulebook, shipped_rulesets


def names() -> list[str]:
    """Names accepted as ``rules`` (the CLI's ``builtin:NAME``), in file order."""
    return [path.stem for path in shipped_rulesets()]


@lru_cache(maxsize=1)
def _described() -> tuple[dict[str, Any], ...]:
    book = load_rulebook()  # validates every shipped file, as `feocscreen rules list` does
    return tuple(
        {
            "name": Path(ruleset.path).stem,
            "id": ruleset.id,
            "version": ruleset.version,
            "title": ruleset.title,
            "regime": ruleset.regime,
            "applicability": " ".join(ruleset.applicability.split()),
            "last_reviewed": ruleset.last_reviewed.isoformat(),
            "rules": len(ruleset.rules),
        }
        for ruleset in book.rulesets
    )


def describe() -> list[dict[str, Any]]:
    """Each shipped ruleset: name, id, version, title, regime, who it binds, last review, rule count."""
    return [dict(entry) for entry in _described()]

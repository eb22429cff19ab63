"""Report writers, one per format; they format `result.data` and never re-score or filter.

`FORMATS` maps each CI/terminal format name to a function
``render(data, gate=None) -> str``; the Excel workbook is written by
`feocscreen.report.excel.write_report(data, path)`. `gate` is the plain-dict
decision of `feocscreen check` (tripped, fail_on, counted keys, reasons) so the
outputs can mark exactly what counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import json, junit, markdown, sarif, text

Writer = Callable[..., str]

FORMATS: dict[str, Writer] = {
    "text": text.render,
    "json": json.render,
    "junit": junit.render,
    "sarif": sarif.render,
    "markdown": markdown.render,
}


def render(fmt: str, data: Mapping[str, Any], gate: Mapping[str, Any] | None = None) -> str:
    """The result in the named format; an unknown name is a KeyError listing the known ones."""
    try:
        writer = FORMATS[fmt]
    except KeyError:
        raise KeyError(f"unknown report format {fmt!r}; known: {', '.join(FORMATS)}") from None
    return writer(data, gate)

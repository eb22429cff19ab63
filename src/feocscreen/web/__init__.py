"""The upload page (optional extra ``feocscreen[web]``): ``feocscreen serve`` runs it.

A procurement analyst drops a supplier workbook, picks rulesets, an as-of date
and optional watchlists, and reads the verdict; a JSON API sits beside the page.
Both call the same ``feocscreen.api.screen`` as the CLI. See docs/web.md.
"""

from __future__ import annotations

from .app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]

"""The README documents every command, and every issue code and rule kind explains itself."""

from __future__ import annotations

from pathlib import Path

import click

from feocscreen.cli import main
from feocscreen.errors import catalogue

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "feocscreen") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
        else:
            found.append(f"{prefix} {name}")
    return found


def test_every_command_is_in_the_readme():
    """`feocscreen rules explain` counts as documented by `feocscreen rules ... | rules explain`."""
    missing = []
    for command in _commands(main):
        parts = command.split()[1:]
        documented = f"feocscreen {parts[0]}" in README and (
            len(parts) == 1 or " ".join(parts) in README
        )
        if not documented:
            missing.append(command)
    assert missing == []


def test_every_command_has_help_text():
    for command in _commands(main):
        parts = command.split()[1:]
        node: click.Command = main
        for part in parts:
            assert isinstance(node, click.Group)
            node = node.commands[part]
        assert node.help and node.help.strip(), command


def test_every_issue_code_has_a_title_and_description():
    for code, entry in catalogue().items():
        assert entry.title and entry.description, code
        assert code.replace("-", "").isalnum() and code == code.lower()

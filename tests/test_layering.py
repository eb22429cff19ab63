"""Each room of the house keeps to its job: checked by reading imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "feocscreen"


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against the package)."""
    package = ["feocscreen", *path.relative_to(SRC).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def files(folder: str) -> list[Path]:
    target = SRC / folder
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files(folder):
        for module in imports_of(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    return bad


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("cli", ("pandas", "numpy")),
        (
            "report",
            (
                "feocscreen.score",
                "feocscreen.rules",
                "feocscreen.graph",
                "feocscreen.ownership",
                "feocscreen.match",
            ),
        ),
        ("match.py", ("feocscreen.rules", "feocscreen.score")),
        ("models.py", ("pandas", "numpy", "feocscreen")),
        ("score.py", ("feocscreen.ingest", "feocscreen.report")),
    ],
)
def test_layers_do_not_reach_across(folder, forbidden):
    if not (SRC / folder).exists():
        pytest.fail(f"{folder} is missing from the package")
    assert _violations(folder, forbidden) == []


def test_only_ingest_and_readers_open_input_workbooks():
    readers = {"ingest.py", "rmi.py", "watchlist.py", "template.py"}
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name in readers or "report" in path.parts or "web" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "CalamineWorkbook" in text or "load_workbook(" in text:
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_rule_evaluation_does_no_io():
    evaluate = SRC / "rules" / "evaluate.py"
    if not evaluate.exists():
        pytest.fail("rules/evaluate.py is missing")
    names = {n.id for n in ast.walk(ast.parse(evaluate.read_text())) if isinstance(n, ast.Name)}
    assert "open" not in names
    assert not {"pathlib", "os", "io"} & {m.split(".")[0] for m in imports_of(evaluate)}

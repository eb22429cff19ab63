"""Screening results stay byte-identical while the evaluation is made faster.

The demo is compared in full with ``tests/golden/demo_result.json``; a generated
benchmark portfolio (``benchmarks/data/portfolio_10k.xlsx``, git-ignored) with the
SHA-256 of its canonical result in ``tests/golden/portfolio_10k_result.sha256``,
since its result is tens of megabytes. Both goldens were written from the code
before memoisation. Fields that depend on the run rather than the inputs
(``generated_at``, the command line with its temporary output path, the Python,
platform and library versions) are left out; so is the 10k workbook's file hash,
which changes with the xlsxwriter version that wrote it while its cells do not.

Regenerate after an intended change of results with
``FEOCSCREEN_WRITE_GOLDEN=1 .venv/bin/pytest tests/test_perf_equivalence.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feocscreen.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
DEMO = "fixtures/demo_suppliers.xlsx"
BENCH_10K = "benchmarks/data/portfolio_10k.xlsx"
LISTS = ("fixtures/lists/simple_illustrative.csv", "fixtures/lists/csl_illustrative.csv")
AS_OF = "2026-11-28"
RUN_AUDIT_FIELDS = ("command_line", "python", "platform", "libraries")  # vary by run, not input
WRITE = os.environ.get("FEOCSCREEN_WRITE_GOLDEN") == "1"


def _screen(workbook: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The JSON result of ``feocscreen screen`` run from the repository root."""
    monkeypatch.chdir(ROOT)
    args = ["screen", workbook, "--as-of", AS_OF, "-q", "--json", str(out)]
    for path in LISTS:
        args += ["-l", path]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 0, run.output
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def _canonical(data: dict[str, Any], keep_input_hash: bool = True) -> str:
    """The result without run-dependent fields, as sorted-key JSON."""
    data = dict(data)
    data.pop("generated_at", None)
    data["audit"] = {k: v for k, v in data["audit"].items() if k not in RUN_AUDIT_FIELDS}
    if not keep_input_hash:
        # where the generated workbook sits and its bytes (xlsxwriter stamps them) do not matter
        data["inputs"] = [
            {**{k: v for k, v in i.items() if k != "sha256"}, "path": Path(i["path"]).name}
            for i in data["inputs"]
        ]
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def test_demo_result_matches_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _canonical(_screen(DEMO, tmp_path / "demo.json", monkeypatch))
    golden = GOLDEN / "demo_result.json"
    if WRITE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_generated_portfolio_result_matches_golden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbook = ROOT / BENCH_10K
    if not workbook.exists():  # a clean checkout: generate it (deterministic, about 2 s)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from make_workbook import build_portfolio, write_xlsx

        workbook = tmp_path / "portfolio_10k.xlsx"
        write_xlsx(build_portfolio(10_000, seed=7), workbook, stream=False)
    text = _canonical(_screen(str(workbook), tmp_path / "10k.json", monkeypatch), False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    golden = GOLDEN / "portfolio_10k_result.sha256"
    if WRITE:
        golden.write_text(digest + "\n", encoding="utf-8")
    assert digest == golden.read_text(encoding="utf-8").strip()

"""The upload page in a real browser: Debian's headless chromium, driven by Playwright, against
`feocscreen serve` started on a free loopback port.

Uploads the demo workbook, waits for the suppliers table, checks tiers and a
finding against the JSON the same run produced, downloads the Excel report and
opens it with openpyxl; then uploads a file that is not a spreadsheet and reads
the error. Screenshots of the empty, result and error views go to
``$FEOCSCREEN_SCREENSHOTS`` (default: the test's temporary directory).

Playwright never downloads a browser here. When /usr/bin/chromium is missing the
test runs scripts/install-browser.sh once, and skips — loudly — only when that
cannot install it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"
DEMO_LIST = ROOT / "fixtures" / "lists" / "csl_illustrative.csv"
SCREENING_TIMEOUT_MS = 90_000  # the first run also starts the forkserver and imports pandas


def _browser_or_skip() -> Path:
    if not CHROMIUM.exists():
        script = ROOT / "scripts" / "install-browser.sh"
        result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=900)
        if not CHROMIUM.exists():
            reason = (
                "BROWSER TEST SKIPPED: no chromium at /usr/bin/chromium and "
                f"scripts/install-browser.sh could not install it: {result.stderr.strip()[-300:]}"
            )
            warnings.warn(reason, stacklevel=2)
            print(f"\n{'!' * 20} {reason} {'!' * 20}", file=sys.stderr)
            pytest.skip(reason)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`feocscreen serve` on a free loopback port, stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    command = [
        sys.executable,
        "-c",
        "from feocscreen.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--time-limit",
        "90",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"feocscreen serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("FEOCSCREEN_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(server: str) -> Iterator[object]:
    executable = _browser_or_skip()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        tab = context.new_page()
        problems: list[str] = []
        # A 4xx answer is logged as "Failed to load resource"; anything else (a CSP refusal,
        # a script error) is a defect of the page.
        tab.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.problems = problems  # type: ignore[attr-defined]
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def test_upload_the_demo_workbook_and_download_the_report(
    page: object, server: str, screenshots: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    assert DEMO.exists(), (
        "fixtures/demo_suppliers.xlsx is missing (fixtures/make_demo.py writes it)"
    )
    page.goto(server + "/")
    expect(page.get_by_role("heading", name="Screen a supplier workbook")).to_be_visible()
    workbook_input = page.get_by_label("Supplier workbook", exact=False).and_(page.locator("input"))
    expect(workbook_input).to_be_visible()  # the file input is labelled
    page.screenshot(path=str(screenshots / "empty.png"), full_page=True)

    page.keyboard.press("Tab")  # keyboard users land on the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    page.locator("#workbook").set_input_files(str(DEMO))
    page.locator("#lists").set_input_files(str(DEMO_LIST))  # a fictional CSL: matches to show
    page.get_by_label("As of").fill("2026-11-28")
    page.get_by_role("button", name="Screen", exact=True).click()
    expect(page.locator("#progress")).to_be_visible()
    table = page.locator("table.suppliers")
    expect(table).to_be_visible(timeout=SCREENING_TIMEOUT_MS)
    expect(page.locator("#result")).to_be_focused()

    # The JSON of the same run is the truth the table must show.
    json_href = page.get_by_role("link", name="Download JSON").get_attribute("href")
    assert json_href
    with urllib.request.urlopen(server + json_href, timeout=10) as response:
        data = json.load(response)
    rows = table.locator("tbody > tr[data-supplier]")
    expect(rows).to_have_count(len(data["suppliers"]))
    shown = {
        rows.nth(i).get_attribute("data-supplier"): rows.nth(i).locator("td .tier").inner_text()
        for i in range(rows.count())
    }
    expected = {s["supplier_id"]: s["tier"] for s in data["suppliers"]}
    assert {k: v.split()[-1] for k, v in shown.items()} == expected
    assert len(set(expected.values())) > 1, "the demo should show more than one tier"
    assert [entry["path"] for entry in data["lists"]] == ["lists/csl_illustrative.csv"]

    # Open the worst supplier's findings: the first active finding's title and citation are there.
    worst = max(
        (s for s in data["suppliers"] if s["findings"]),
        key=lambda s: (["clear", "low", "medium", "high", "critical"].index(s["tier"]), s["score"]),
    )
    row = table.locator(f'tr[data-detail-for="{worst["supplier_id"]}"]')
    row.locator("summary").click()
    finding = next(f for f in worst["findings"] if f["status"] == "active")
    expect(row.get_by_text(finding["title"], exact=True).first).to_be_visible()
    matched = [s for s in data["suppliers"] if s["matches"]]
    assert matched, "the fictional CSL should match some demo suppliers"
    detail = table.locator(f'tr[data-detail-for="{matched[0]["supplier_id"]}"]')
    if detail.locator("details").get_attribute("open") is None:
        detail.locator("summary").click()
    expect(detail.get_by_text(matched[0]["matches"][0]["entry"]).first).to_be_visible()
    page.screenshot(path=str(screenshots / "result.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download Excel report").click()
    report = tmp_path / "report.xlsx"
    download_info.value.save_as(report)
    workbook = openpyxl.load_workbook(report, read_only=True)
    assert workbook.sheetnames[:2] == ["Summary", "Suppliers"]
    sheet = workbook["Suppliers"]
    ids = {str(cell.value) for row_cells in sheet.iter_rows() for cell in row_cells[:3]}
    assert worst["supplier_id"] in ids
    workbook.close()
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_a_file_that_is_not_a_spreadsheet_shows_the_clis_message(
    page: object, server: str, screenshots: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    bogus = tmp_path / "suppliers.xlsx"
    bogus.write_text("<script>alert('x')</script> this is not a workbook\n")
    page.goto(server + "/")
    page.locator("#workbook").set_input_files(str(bogus))
    page.get_by_role("button", name="Screen", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=SCREENING_TIMEOUT_MS)
    expect(alert.get_by_role("heading")).to_have_text("The workbook could not be screened")
    expect(alert).to_contain_text("suppliers.xlsx")
    page.screenshot(path=str(screenshots / "error.png"), full_page=True)
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_an_upload_over_the_cap_is_refused_before_it_is_sent(
    page: object, server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    big = tmp_path / "huge.xlsx"
    with big.open("wb") as handle:
        handle.truncate(26 * 1024 * 1024)  # 1 MB over the default cap, sparse on disk
    page.goto(server + "/")
    page.locator("#workbook").set_input_files(str(big))
    page.get_by_role("button", name="Screen", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("larger than the 25 MB limit", timeout=10_000)
    expect(page.locator("#progress")).to_be_hidden()
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_unticking_every_ruleset_asks_instead_of_screening(page: object, server: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(server + "/")
    page.locator("#workbook").set_input_files(str(DEMO))
    boxes = page.locator("input[type=checkbox][name=rules]")
    assert boxes.count() > 0
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()  # keyboard- and mouse-operable native checkboxes
    page.get_by_role("button", name="Screen", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Tick at least one ruleset")
    assert not page.problems, page.problems  # type: ignore[attr-defined]

"""`feocscreen lists fetch | check | info` through click's CliRunner, with real files."""

from __future__ import annotations

import csv
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from feocscreen.cli import main
from feocscreen.watchlist import CSL_HEADER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lists"
EL = "Entity List (EL) - Bureau of Industry and Security"
SDN = "Specially Designated Nationals (SDN) - Treasury Department"


def write_csl(path: Path, counts: dict[str, int]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSL_HEADER))
        writer.writeheader()
        for source, count in counts.items():
            for n in range(count):
                writer.writerow(
                    {
                        "_id": f"{source[:3]}{n}",
                        "source": source,
                        "name": f"Demo Entity {n}",
                        "type": "Entity",
                    }
                )
    return path


def test_check_passes_when_counts_hold_and_fails_with_exit_1_on_a_sharp_drop(
    tmp_path: Path,
) -> None:
    old = write_csl(tmp_path / "csl-2026-01-01.csv", {SDN: 50, EL: 20})
    steady = write_csl(tmp_path / "csl-2026-01-02.csv", {SDN: 48, EL: 21})
    dropped = write_csl(tmp_path / "csl-2026-01-03.csv", {SDN: 5, EL: 21})
    runner = CliRunner()
    ok = runner.invoke(main, ["lists", "check", str(old), str(steady)])
    assert ok.exit_code == 0, ok.output
    assert "SHARP DROP" not in ok.output
    bad = runner.invoke(main, ["lists", "check", str(old), str(dropped)])
    assert bad.exit_code == 1
    assert "SDN" in bad.output and "SHARP DROP" in bad.output
    loose = runner.invoke(main, ["lists", "check", str(old), str(dropped), "--max-drop", "95"])
    assert loose.exit_code == 0


def test_check_json_output_lists_every_source(tmp_path: Path) -> None:
    old = write_csl(tmp_path / "a.csv", {SDN: 10})
    new = write_csl(tmp_path / "b.csv", {EL: 3})
    result = CliRunner().invoke(main, ["lists", "check", str(old), str(new), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert {s["list"]: s["sharp_drop"] for s in data["sources"]} == {"EL": False, "SDN": True}
    assert data["old"][0]["rows_by_source"] == {"SDN": 10}


def test_check_unreadable_list_is_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    good = write_csl(tmp_path / "good.csv", {EL: 1})
    result = CliRunner().invoke(main, ["lists", "check", str(good), str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "bad.csv" in result.output


def test_info_shows_files_hashes_and_counts_of_the_shipped_lists() -> None:
    result = CliRunner().invoke(main, ["lists", "info", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    assert "csl_illustrative.csv" in result.output and "SDN 4" in result.output
    assert "16 entries in all" in result.output


def test_info_without_lists_says_listing_is_not_tested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEOCSCREEN_LISTS_DIR", raising=False)
    result = CliRunner().invoke(main, ["lists", "info"])
    assert result.exit_code == 0 and "not tested" in result.output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_downloads_a_snapshot_and_guards_the_next_one(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, www = server
    folder = tmp_path / "lists"
    write_csl(www / "consolidated.csv", {SDN: 40, EL: 10})
    monkeypatch.setenv("FEOCSCREEN_CSL_URL", f"{url}/consolidated.csv")
    runner = CliRunner()
    first = runner.invoke(main, ["lists", "fetch", "--dir", str(folder)])
    assert first.exit_code == 0, first.output
    today = date.today().isoformat()
    assert (folder / f"csl-{today}.csv").exists()
    assert "sha256" in first.output and "SDN: 40" in first.output
    # An older snapshot with many more SDN rows: today's download is a sharp drop.
    write_csl(folder / "csl-2000-01-01.csv", {SDN: 400, EL: 10})
    (folder / f"csl-{today}.csv").unlink()
    second = runner.invoke(
        main, ["lists", "fetch", "--dir", str(folder), "--url", f"{url}/consolidated.csv"]
    )
    assert second.exit_code == 1
    assert "csl-2000-01-01.csv" in second.output and "SHARP DROP" in second.output
    assert (folder / f"csl-{today}.csv").exists()  # kept for inspection


def test_fetch_failure_is_exit_2(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    result = CliRunner().invoke(
        main, ["lists", "fetch", "--dir", str(tmp_path), "--url", f"{url}/nothing-here.csv"]
    )
    assert result.exit_code == 2
    assert "download failed" in result.output

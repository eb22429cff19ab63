"""List readers (CSL, OFAC legacy, simple CSV), folder resolution, fetch and drift."""

from __future__ import annotations

import csv
import hashlib
import http.server
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from feocscreen.errors import WatchlistError
from feocscreen.watchlist import (
    CSL_HEADER,
    CSL_SOURCES,
    LIST_IDS,
    fetch_csl,
    list_drift,
    load_lists,
    resolve_list_paths,
    short_list_id,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lists"


def write_csl(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSL_HEADER))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in CSL_HEADER})
    return path


def csl_row(
    name: str, source: str = "Entity List (EL) - Bureau of Industry and Security", **more: str
) -> dict[str, str]:
    return {"_id": f"id-{name}", "source": source, "type": "Entity", "name": name, **more}


def test_shipped_fixture_folder_loads_all_three_formats_with_hashes_and_counts() -> None:
    lists = load_lists([FIXTURES])
    kinds = {Path(s["path"]).name: s["rows_by_source"] for s in lists.sources}
    assert kinds["csl_illustrative.csv"] == {
        "CMIC": 1,
        "DPL": 1,
        "EL": 1,
        "MBS": 1,
        "MEU": 1,
        "SDN": 1,
        "UVL": 1,
    }
    assert kinds["sdn.csv"] == {"SDN": 4}
    assert kinds["simple_illustrative.csv"] == {"1260H": 2, "NDAA154": 1, "UFLPA": 2}
    for source in lists.sources:
        assert source["sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert lists.rows_by_source()["SDN"] == 5
    assert all(
        e.source_url and "example.invalid" in e.source_url
        for e in lists.entries
        if e.list_id != "SDN" or e.file.endswith("csl_illustrative.csv")
    )


def test_csl_reader_splits_multi_valued_fields_and_maps_long_source_names(tmp_path: Path) -> None:
    path = write_csl(
        tmp_path / "consolidated.csv",
        [
            csl_row(
                "Qiaolan Demo Magnet Co., Ltd.",
                alt_names="桥兰示例磁业; Qiaolan Demo Magnetics",
                addresses="1 Demo Road, Ganzhou, Jiangxi, CN; 2 Sample St, Kowloon, HK",
                ids="Unified Social Credit Code (USCC), 913607000EXAMP000P, CN; Website, x.invalid",
                source_list_url="https://example.invalid/el",
            ),
            csl_row(
                "Demo Person",
                "Denied Persons List (DPL) - Bureau of Industry and Security",
                type="Individual",
            ),
        ],
    )
    entries = load_lists([path]).entries
    first = entries[0]
    assert first.list_id == "EL"
    assert first.aliases == ("桥兰示例磁业", "Qiaolan Demo Magnetics")
    assert first.countries == ("CN", "HK") and first.country == "CN"
    assert first.identifiers == ("913607000EXAMP000P",)
    assert first.row == 2 and first.entry_id == "id-Qiaolan Demo Magnet Co., Ltd."
    assert entries[1].list_id == "DPL" and entries[1].entity_type == "Individual"


def test_every_csl_long_source_name_maps_to_a_known_short_id() -> None:
    for long_name, short in CSL_SOURCES.items():
        assert short_list_id(long_name) == short
        assert short in LIST_IDS
    # A long name we have not seen, with the abbreviation in brackets, still maps.
    assert short_list_id("Entity List (EL) - Bureau of Industry & Security (renamed)") == "EL"
    assert short_list_id("ofac_sdn") == "SDN" and short_list_id("dod_1260h") == "1260H"
    assert short_list_id("Something Else") is None


def test_csl_row_with_wrong_field_count_names_file_and_row(tmp_path: Path) -> None:
    path = write_csl(tmp_path / "c.csv", [csl_row("Good Demo Co")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("only,three,fields\n")
    with pytest.raises(WatchlistError) as caught:
        load_lists([path])
    assert caught.value.issues[0].row == 3
    assert str(path) in caught.value.message


def test_csl_unknown_source_is_an_error_not_a_guess(tmp_path: Path) -> None:
    path = write_csl(tmp_path / "c.csv", [csl_row("Demo Co", "Mystery List - Nobody")])
    with pytest.raises(WatchlistError, match="unknown CSL source"):
        load_lists([path])


def test_ofac_legacy_files_join_aliases_and_countries_and_ignore_eof_byte(tmp_path: Path) -> None:
    folder = tmp_path / "ofac"
    folder.mkdir()
    (folder / "sdn.csv").write_bytes(
        b'10,"QIAOLAN DEMO TRADING LLC",-0- ,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        b'11,"DEMO, Person",individual,"IRAN",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1970."\r\n\x1a'
    )
    (folder / "alt.csv").write_bytes(b'10,1,"aka","QIAOLAN DEMO",-0- \r\n\x1a')
    (folder / "add.csv").write_bytes(b'10,5,-0- ,"Dubai","United Arab Emirates",-0- \r\n\x1a')
    lists = load_lists([folder / "sdn.csv"])  # companions are picked up from the folder
    first, second = lists.entries
    assert (first.entry_id, first.name, first.aliases, first.country) == (
        "SDN-10",
        "QIAOLAN DEMO TRADING LLC",
        ("QIAOLAN DEMO",),
        "AE",
    )
    assert second.entity_type == "individual" and second.aliases == ()
    assert {Path(s["path"]).name for s in lists.sources} == {"sdn.csv", "alt.csv", "add.csv"}


def test_ofac_row_with_wrong_width_is_located(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_text(
        '10,"A",-0- ,"X",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n11,"B"\n'
    )
    with pytest.raises(WatchlistError) as caught:
        load_lists([tmp_path / "sdn.csv"])
    assert caught.value.issues[0].row == 2


def test_alt_csv_without_its_sdn_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "alt.csv").write_text('10,1,"aka","X",-0- \n')
    with pytest.raises(WatchlistError, match="needs its sdn.csv"):
        load_lists([tmp_path / "alt.csv"])


def test_simple_csv_reads_comments_aliases_countries_and_list_aliases(tmp_path: Path) -> None:
    path = tmp_path / "own.csv"
    path.write_text(
        "# our own list\nname,aliases,country,list,source_url,uscc\n"
        '"Qiaolan Demo Co., Ltd.",Qiaolan Demo;桥兰示例,P.R. China,uflpa,https://x.invalid,'
        "913607000EXAMP000P\n"
        "Other Demo Ltd,,,ndaa24_s154,,\n",
        encoding="utf-8",
    )
    first, second = load_lists([path]).entries
    assert (first.list_id, first.country, first.aliases) == (
        "UFLPA",
        "CN",
        ("Qiaolan Demo", "桥兰示例"),
    )
    assert first.identifiers == ("913607000EXAMP000P",)
    assert first.row == 3 and second.row == 4 and second.list_id == "NDAA154"


@pytest.mark.parametrize(
    ("body", "message", "row"),
    [
        ("name,aliases,country,list\nA Demo,,CN,NOT_A_LIST\n", "unknown list", 2),
        ("name,aliases,country,list\n,,CN,EL\n", "blank name", 2),
        ("name,aliases,country,list\nA Demo,,Korea,EL\n", "ambiguous", 2),
        ("name,country\nA Demo,CN\n", "not a list we read", 1),
    ],
)
def test_simple_csv_errors_name_file_and_row(
    tmp_path: Path, body: str, message: str, row: int
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(WatchlistError, match=message) as caught:
        load_lists([path])
    assert caught.value.issues[0].row == row
    assert caught.value.issues[0].file == str(path)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"just some words\n"])
def test_unreadable_list_files_raise_watchlist_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(WatchlistError):
        load_lists([path])


def test_missing_list_file_raises(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="no such file"):
        load_lists([tmp_path / "absent.csv"])


def test_env_folder_is_used_when_no_paths_given_and_newest_snapshot_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_csl(tmp_path / "csl-2026-01-01.csv", [csl_row("Old Demo Co")])
    write_csl(tmp_path / "csl-2026-02-01.csv", [csl_row("New Demo Co")])
    (tmp_path / "own.csv").write_text("name,list\nOwn Demo Co,UFLPA\n")
    (tmp_path / "notes.txt").write_text("not a list")
    monkeypatch.setenv("FEOCSCREEN_LISTS_DIR", str(tmp_path))
    assert [p.name for p in resolve_list_paths([])] == ["csl-2026-02-01.csv", "own.csv"]
    names = {e.name for e in load_lists([]).entries}
    assert names == {"New Demo Co", "Own Demo Co"}


def test_no_paths_and_no_env_means_nothing_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEOCSCREEN_LISTS_DIR", raising=False)
    lists = load_lists([])
    assert not lists.loaded and len(lists) == 0


def test_drift_flags_sharp_drops_and_vanished_sources_only() -> None:
    drifts = {
        d.list_id: d
        for d in list_drift(
            {"SDN": 15000, "EL": 1000, "SSI": 300, "MEU": 10},
            {"SDN": 200, "EL": 950, "MEU": 12, "UFLPA": 5},
            max_drop=0.10,
        )
    }
    assert drifts["SDN"].sharp_drop and drifts["SSI"].sharp_drop  # 99 % and vanished
    assert not drifts["EL"].sharp_drop  # -5 %
    assert not drifts["MEU"].sharp_drop and not drifts["UFLPA"].sharp_drop


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A file server on 127.0.0.1 serving tmp_path/www (no test touches the internet)."""
    www = tmp_path / "www"
    www.mkdir()

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_saves_a_dated_hashed_snapshot_from_a_loopback_server(
    loopback: tuple[str, Path], tmp_path: Path
) -> None:
    url, www = loopback
    write_csl(www / "consolidated.csv", [csl_row("Demo One Co"), csl_row("Demo Two Co")])
    target = tmp_path / "lists"
    snapshot = fetch_csl(target, f"{url}/consolidated.csv", today=date(2026, 11, 28))
    assert snapshot.path == target / "csl-2026-11-28.csv"
    data = snapshot.path.read_bytes()
    assert data == (www / "consolidated.csv").read_bytes()
    assert snapshot.sha256 == hashlib.sha256(data).hexdigest()
    assert (target / "csl-2026-11-28.csv.sha256").read_text().split()[0] == snapshot.sha256
    assert snapshot.rows_by_source == {"EL": 2} and snapshot.previous is None
    assert not list(target.glob("*.part"))
    again = fetch_csl(target, f"{url}/consolidated.csv", today=date(2026, 11, 29))
    assert again.previous == snapshot.path


def test_fetch_refuses_a_download_that_is_not_the_csl(
    loopback: tuple[str, Path], tmp_path: Path
) -> None:
    url, www = loopback
    (www / "page.csv").write_text("<html>maintenance</html>\n")
    with pytest.raises(WatchlistError, match="not a list we read|not a Consolidated"):
        fetch_csl(tmp_path / "lists", f"{url}/page.csv", today=date(2026, 11, 28))
    assert not list((tmp_path / "lists").iterdir())


def test_fetch_reports_http_errors_as_watchlist_errors(
    loopback: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = loopback
    with pytest.raises(WatchlistError, match="download failed"):
        fetch_csl(tmp_path / "lists", f"{url}/missing.csv")
    with pytest.raises(WatchlistError, match="only http"):
        fetch_csl(tmp_path / "lists", "file:///etc/passwd")

"""The Dask engine validates partitions into exactly the Portfolio the local intake builds.

The same rows go to the local engine as an xlsx workbook (openpyxl) and to the Dask
engine as Parquet / CSV tables split into several partitions, on a LocalCluster of
two workers; the records, issues and not-screened suppliers must be identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from feocscreen import engine_dask
from feocscreen.errors import InputError
from feocscreen.portfolio import Portfolio
from feocscreen.validate import load_portfolio

distributed = pytest.importorskip("distributed")
# dask's Parquet reader still calls reset_index(inplace=True), which pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

SUPPLIER_HEADERS = ["Supplier ID", "Supplier Name", "Country", "Stage", "Annual Spend (USD)"]
SOURCING_HEADERS = ["Supplier ID", "Stage", "Country", "Share %", "Upstream Supplier ID"]
OWNERSHIP_HEADERS = ["Entity", "Owner", "Owner Country", "Owner Type", "Equity %"]
COUNTRIES = ["P.R. China", "Japan", "Viet Nam", "USA", "Korea, Republic of", "Hong Kong SAR"]


def _sheets() -> dict[str, tuple[list[str], list[list[Any]]]]:
    """A portfolio with clean suppliers and a few of every kind of problem, spread over rows."""
    suppliers: list[list[Any]] = []
    sourcing: list[list[Any]] = []
    for i in range(1, 41):
        sid = f"S{i:03d}"
        stage = ("alloy", "magnet", "metal", "separation")[i % 4]
        suppliers.append([sid, f"Supplier {i} Co., Ltd.", COUNTRIES[i % 6], stage, 1000.0 * i])
        chain = ("mining", "separation", "metal", "alloy", "magnet")
        for depth, chain_stage in enumerate(chain[: chain.index(stage) + 1]):
            country = COUNTRIES[(i + depth) % 6]
            if i % 7 == 0 and chain_stage == "separation":
                sourcing.append([sid, chain_stage, country, 60.0, None])
                sourcing.append([sid, chain_stage, "unknown", 30.0, None])  # 10 % left unverified
            elif i > 10 and i % 5 == 0 and chain_stage == "alloy":
                sourcing.append([sid, chain_stage, None, 100.0, "S004"])  # alloy bought upstream
            else:
                sourcing.append([sid, chain_stage, country, 100.0, None])
    # Problems the local engine reports, placed so that they land in different partitions.
    suppliers[3 - 1][2] = "Korea"  # ambiguous country
    suppliers.append(["S005", "A second S005", "Japan", "magnet", 10.0])  # duplicate id, far apart
    suppliers.append(["S050", "Twin", "Japan", "magnet", 10.0])  # duplicate id, side by side
    suppliers.append(["S050", "Twin", "Japan", "magnet", 10.0])
    sourcing.append(["S010", "metal", "Japan", 80.0, None])  # S010's metal now sums over 100
    sourcing.append(["S999", "magnet", "Japan", 100.0, None])  # no such supplier
    sourcing.append(["S012", "polishing", "Japan", 100.0, None])  # unknown stage
    ownership = [
        ["S001", "Baotou Holdings", "China", "state_owned", 30.0],
        ["S002", "Government of Japan", "Japan", "government", 10.0],
        ["Baotou Holdings", "SASAC", "China", "government", 100.0],
        ["S008", "Someone", "Japan", "company", 150.0],  # out of range
    ]
    return {
        "Suppliers": (SUPPLIER_HEADERS, suppliers),
        "Sourcing": (SOURCING_HEADERS, sourcing),
        "Ownership": (OWNERSHIP_HEADERS, ownership),
    }


def _write_workbook(path: Path, as_text: bool = False) -> Path:
    """The sheets as a workbook; ``as_text`` stores every cell as text, as a CSV holds it."""
    book = Workbook()
    book.remove(book.active)
    for name, (headers, rows) in _sheets().items():
        sheet = book.create_sheet(name)
        sheet.append(headers)
        for row in rows:
            sheet.append([str(v) if as_text and v is not None else v for v in row])
    book.save(path)
    return path


def _write_tables(folder: Path, kind: str, parts: int) -> Path:
    """One table per sheet; Parquet sheets become datasets of ``parts`` files."""
    folder.mkdir()
    for name, (headers, rows) in _sheets().items():
        frame = pd.DataFrame(rows, columns=headers)
        if kind == "csv":
            frame.to_csv(folder / f"{name.lower()}.csv", index=False)
            continue
        dataset = folder / f"{name.lower()}.parquet"
        dataset.mkdir()
        step = -(-len(frame) // parts)
        for k in range(parts):
            chunk = frame.iloc[k * step : (k + 1) * step]
            if len(chunk):
                chunk.to_parquet(dataset / f"part-{k:03d}.parquet", index=False)
    return folder


def _cells(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows of a frame without where they came from (file names differ by design)."""
    kept = frame.drop(columns=[c for c in ("_file", "_sheet", "kind") if c in frame])
    kept = kept.astype(object).where(kept.notna(), None)
    return sorted(map(tuple, kept.itertuples(index=False, name=None)), key=repr)


def _issues(portfolio: Portfolio) -> list[tuple[Any, ...]]:
    return sorted(
        (i.code, i.severity, i.row, i.column, i.header, i.cell, repr(i.value), i.message)
        for i in portfolio.issues
    )


def _same(local: Portfolio, dask_built: Portfolio) -> None:
    for name in ("suppliers", "sourcing", "ownership"):
        assert _cells(getattr(local, name)) == _cells(getattr(dask_built, name)), name
    assert _issues(local) == _issues(dask_built)
    assert {k: sorted(i.code for i in v) for k, v in local.not_screened.items()} == {
        k: sorted(i.code for i in v) for k, v in dask_built.not_screened.items()
    }


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_local_reference_has_every_kind_of_problem(tmp_path: Path) -> None:
    local = load_portfolio([_write_workbook(tmp_path / "portfolio.xlsx")])
    codes = {i.code for i in local.issues}
    assert {"ambiguous-country", "duplicate-id", "unknown-reference", "unknown-stage"} <= codes
    assert {"shares-over-100", "shares-under-100", "share-out-of-range"} <= codes
    assert "S005" in local.not_screened and "S003" in local.not_screened
    assert local.sourcing["upstream_supplier_id"].notna().any()


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_dask_partitions_give_the_local_portfolio(
    tmp_path: Path, cluster_client: Any, kind: str
) -> None:
    local = load_portfolio([_write_workbook(tmp_path / "portfolio.xlsx", as_text=kind == "csv")])
    tables = _write_tables(tmp_path / "tables", kind, parts=3)
    with cluster_client.as_current():
        built = engine_dask.load_portfolio_dask([tables], blocksize="1KB")
    partitions = engine_dask.read_table(
        next(t for t in engine_dask.find_tables([tables]) if t.spec.name == "Sourcing"),
        blocksize="1KB",
    ).npartitions
    assert partitions >= 2  # the comparison means something only across partitions
    _same(local, built)
    rows = {(i.code, i.row) for i in built.issues if i.code == "duplicate-id"}
    assert rows == {("duplicate-id", r) for r in (6, 42, 43, 44)}


def test_rows_are_numbered_across_partitions(tmp_path: Path, cluster_client: Any) -> None:
    tables = _write_tables(tmp_path / "tables", "parquet", parts=4)
    with cluster_client.as_current():
        built = engine_dask.load_portfolio_dask([tables])
    unknown = [i for i in built.issues if i.code == "unknown-reference" and i.value == "S999"]
    sourcing_rows = len(_sheets()["Sourcing"][1])
    # S999 is the second-last Sourcing row; header is row 1.
    assert [(i.row, i.cell, i.sheet) for i in unknown] == [
        (sourcing_rows, f"A{sourcing_rows}", "Sourcing")
    ]


def test_validation_progress_counts_every_row_of_each_table(
    tmp_path: Path, cluster_client: Any
) -> None:
    from feocscreen import progress

    tables = _write_tables(tmp_path / "tables", "parquet", parts=3)
    tracker = progress.Tracker(show=False)
    with cluster_client.as_current(), progress.use(tracker):
        engine_dask.load_portfolio_dask([tables])
    counted = {t.stage: (t.count, t.unit) for t in tracker.history}
    for name, (_, rows) in _sheets().items():
        assert counted[f"validating {name}"] == (len(rows), "rows")


def test_a_lone_table_is_the_supplier_master_and_missing_suppliers_is_refused(
    tmp_path: Path,
) -> None:
    lone = tmp_path / "master.csv"
    pd.DataFrame([["S1", "One", "Japan", "magnet"]], columns=SUPPLIER_HEADERS[:4]).to_csv(
        lone, index=False
    )
    assert [t.spec.name for t in engine_dask.find_tables([lone])] == ["Suppliers"]
    only_sourcing = tmp_path / "only"
    only_sourcing.mkdir()
    pd.DataFrame([["S1", "magnet", "Japan", 100]], columns=SOURCING_HEADERS[:4]).to_csv(
        only_sourcing / "sourcing.csv", index=False
    )
    with pytest.raises(InputError, match="suppliers table"):
        engine_dask.find_tables([only_sourcing])


def test_supplier_table_flattens_results_for_parquet(tmp_path: Path) -> None:
    data = {
        "schema_version": "1",
        "summary": {"by_tier": {"high": 1}},
        "suppliers": [
            {
                "supplier_id": "S1",
                "supplier_name": "One",
                "country": "CN",
                "stage": "magnet",
                "tier": "high",
                "score": 70.0,
                "feoc": True,
                "pfe": True,
                "covered_government_ownership": 0.3,
                "midstream_exposure": 1.0,
                "stage_exposure": {"mining": 1.0, "magnet": 1.0},
                "stage_unverified": {"mining": 0.0, "magnet": 0.0},
                "prongs": {"jurisdiction": True},
                "findings": [{"rule_id": "feoc.x"}],
            }
        ],
    }
    written = engine_dask.write_outputs(data, tmp_path / "out")
    table = pd.read_parquet(written[0])
    assert table.loc[0, "supplier_id"] == "S1"
    assert table.loc[0, "exposure_magnet"] == 1.0
    assert "feoc.x" in table.loc[0, "findings"]
    assert '"by_tier"' in written[1].read_text()


VOLATILE_KEYS = {"generated_at", "file", "path", "sha256", "inputs", "audit", "command_line"}


def _comparable(value: Any) -> Any:
    """A result with what legitimately differs between the engines removed (file names, hashes,
    timings), and lists of issues in a stable order."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        items = [_comparable(v) for v in value]
        if items and all(isinstance(v, dict) and "code" in v for v in items):
            return sorted(items, key=repr)
        return items
    return value


def test_screen_dask_gives_the_local_verdict(tmp_path: Path, cluster_client: Any) -> None:
    from datetime import date

    from feocscreen import api
    from feocscreen.models import ScreenConfig

    as_of = date(2026, 11, 28)
    workbook = _write_workbook(tmp_path / "portfolio.xlsx")
    tables = _write_tables(tmp_path / "tables", "parquet", parts=3)
    local = api.screen(ScreenConfig(inputs=(workbook,), as_of=as_of, fail_on="high"))
    distributed_result = engine_dask.screen_dask(
        ScreenConfig(inputs=(tables,), as_of=as_of, fail_on="high"),
        scheduler=cluster_client,
        output=tmp_path / "out",
        suppliers_per_task=7,  # six tasks; S020, S025 and S040 buy alloy from S004, in task 1
    )
    assert local.data["suppliers"], "the comparison needs screened suppliers"
    assert {s["tier"] for s in local.data["suppliers"]} - {"clear"}, "and some findings"
    assert _comparable(distributed_result.data) == _comparable(local.data)
    assert distributed_result.data["summary"] == local.data["summary"]
    assert local.gate is not None and distributed_result.gate is not None
    assert (distributed_result.gate.tripped, distributed_result.gate.reasons) == (
        local.gate.tripped,
        local.gate.reasons,
    )
    written = pd.read_parquet(tmp_path / "out" / "suppliers.parquet")
    assert written["supplier_id"].tolist() == [s["supplier_id"] for s in local.data["suppliers"]]
    assert written["tier"].tolist() == [s["tier"] for s in local.data["suppliers"]]


def test_each_task_gets_everything_upstream_of_its_suppliers(tmp_path: Path) -> None:
    portfolio = load_portfolio([_write_workbook(tmp_path / "portfolio.xlsx")])
    links = engine_dask._upstream_links(portfolio)
    assert links["S020"] == {"S004"} and links["S025"] == {"S004"}
    needed = engine_dask._with_upstream(["S020", "S021"], links)
    assert needed == {"S020", "S021", "S004"}
    sub = engine_dask._sub_portfolio(portfolio, needed)
    assert set(sub.suppliers["supplier_id"]) == needed
    assert set(sub.sourcing["supplier_id"]) == needed
    assert len(sub.ownership) == len(portfolio.ownership)


def test_streamed_screen_writes_every_supplier_and_the_local_summary(
    tmp_path: Path, cluster_client: Any
) -> None:
    from datetime import date

    from feocscreen import api
    from feocscreen.models import ScreenConfig

    as_of = date(2026, 11, 28)
    local = api.screen(
        ScreenConfig(inputs=(_write_workbook(tmp_path / "p.xlsx"),), as_of=as_of, fail_on="high")
    )
    tables = _write_tables(tmp_path / "tables", "parquet", parts=2)
    streamed = engine_dask.screen_dask(
        ScreenConfig(inputs=(tables,), as_of=as_of, fail_on="high"),
        scheduler=cluster_client,
        output=tmp_path / "out",
        suppliers_per_task=9,
        stream=True,
    )
    parts = sorted((tmp_path / "out" / "suppliers.parquet").glob("part-*.parquet"))
    assert len(parts) >= 4
    written = pd.read_parquet(tmp_path / "out" / "suppliers.parquet")
    # The same tables screened in one piece (equal to the local result, test above) give
    # the same rows, evidence naming the same files.
    whole = engine_dask.screen_dask(
        ScreenConfig(inputs=(tables,), as_of=as_of, fail_on="high"), scheduler=cluster_client
    )
    expected = engine_dask.supplier_table(whole.data)
    assert written["supplier_id"].tolist() == [s["supplier_id"] for s in local.data["suppliers"]]
    pd.testing.assert_frame_equal(written.reset_index(drop=True), expected, check_dtype=False)
    assert streamed.data["summary"] == local.data["summary"]
    assert _comparable(streamed.data["validation"]) == _comparable(local.data["validation"])
    assert streamed.gate is not None and local.gate is not None
    assert (streamed.gate.tripped, streamed.gate.reasons) == (
        local.gate.tripped,
        local.gate.reasons,
    )
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert '"suppliers_file": "suppliers.parquet"' in summary

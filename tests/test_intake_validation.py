"""Row-level validation: every problem located exactly, and nothing else lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from feocscreen.cli import main
from feocscreen.validate import lei_is_valid, load_portfolio


def _issues(portfolio, code):
    return [i for i in portfolio.issues if i.code == code]


def test_one_of_each_row_error_is_located_and_others_still_screened(make_workbook):
    path = make_workbook(
        suppliers=[
            ["OK1", "Good Magnets KK", "Japan", "magnet", "1,200,000"],
            ["DUP", "First", "US", "magnet", 10],
            ["DUP", "Second", "US", "magnet", 10],
            ["KOR", "Ambiguous Co", "Korea", "alloy", 5],
            ["NOPE", "Unknown Land", "Atlantis", "alloy", 5],
            ["STG", "Bad Stage", "CA", "smelter-ish", 5],
            ["NEG", "Negative", "CA", "magnet", -3],
            ["TXT", "Text Spend", "CA", "magnet", "lots"],
            [None, "No Id", "CA", "magnet", 1],
            ["SHR", "Shares", "DE", "magnet", 1],
            ["REF", "Dangling", "FR", "magnet", 1],
        ],
        sourcing=[
            ["OK1", "alloy", "JP", 100, None],
            ["SHR", "alloy", "DE", 70, None],
            ["SHR", "alloy", "PL", 50, None],
            ["REF", "alloy", None, 100, "GHOST"],
            ["ZZZ", "metal", "CN", 100, None],
            ["OK1", "separation", "CN", 150, None],
        ],
    )
    portfolio = load_portfolio([path])
    by_code = {i.code: i for i in portfolio.issues}

    dup = [i for i in _issues(portfolio, "duplicate-id")]
    assert [(i.sheet, i.row, i.column, i.cell) for i in dup] == [
        ("Suppliers", 3, "supplier_id", "A3"),
        ("Suppliers", 4, "supplier_id", "A4"),
    ]
    korea = by_code["ambiguous-country"]
    assert (korea.file, korea.sheet, korea.row, korea.column, korea.header, korea.cell) == (
        "suppliers.xlsx",
        "Suppliers",
        5,
        "country",
        "Country",
        "C5",
    )
    assert "KR" in korea.message and "KP" in korea.message
    unknown = by_code["unknown-country"]
    assert (unknown.row, unknown.cell, unknown.value) == (6, "C6", "Atlantis")
    assert (by_code["unknown-stage"].row, by_code["unknown-stage"].cell) == (7, "D7")
    assert (by_code["negative-number"].row, by_code["negative-number"].cell) == (8, "E8")
    assert (by_code["bad-number"].row, by_code["bad-number"].value) == (9, "lots")
    missing = by_code["missing-value"]
    assert (missing.row, missing.column, missing.cell) == (10, "supplier_id", "A10")
    over = [i for i in _issues(portfolio, "shares-over-100")]
    assert {(i.sheet, i.row) for i in over} == {("Sourcing", 3)}
    out_of_range = by_code["share-out-of-range"]
    assert (out_of_range.sheet, out_of_range.row, out_of_range.cell) == ("Sourcing", 7, "D7")
    refs = _issues(portfolio, "unknown-reference")
    assert {(i.sheet, i.row, i.column) for i in refs} == {
        ("Sourcing", 5, "upstream_supplier_id"),
        ("Sourcing", 6, "supplier_id"),
    }

    assert sorted(portfolio.not_screened) == [
        "DUP",
        "KOR",
        "NEG",
        "NOPE",
        "OK1",
        "REF",
        "SHR",
        "STG",
        "TXT",
    ]
    # Nothing else is lost: OK1 has an error (150 %), every clean supplier stays.
    assert list(portfolio.suppliers["supplier_id"]) == []
    assert portfolio.errors and all(i.file == "suppliers.xlsx" for i in portfolio.errors)


def test_clean_rows_survive_next_to_broken_ones(make_workbook):
    path = make_workbook(
        suppliers=[["A", "Alpha", "JP", "magnet", 1], ["B", "Beta", "Korea", "magnet", 2]],
        sourcing=[["A", "alloy", "JP", 100, None], ["B", "alloy", "KR", 100, None]],
    )
    portfolio = load_portfolio([path])
    assert list(portfolio.suppliers["supplier_id"]) == ["A"]
    assert list(portfolio.sourcing["supplier_id"]) == ["A"]
    assert list(portfolio.not_screened) == ["B"]
    assert portfolio.not_screened["B"][0].code == "ambiguous-country"


def test_headers_match_aliases_and_extra_columns_are_kept_aside(make_workbook):
    path = make_workbook(
        suppliers=[["A", "Alpha", "U.S.A.", "Magnet", "5", "whatever"]],
        supplier_headers=[
            "  vendor-id ",
            "VENDOR NAME",
            "Supplier-Country",
            "stage",
            "Spend (USD)",
            "Buyer Notes",
        ],
    )
    portfolio = load_portfolio([path])
    row = portfolio.suppliers.iloc[0]
    assert (row["supplier_id"], row["supplier_name"], row["hq_country"], row["stage"]) == (
        "A",
        "Alpha",
        "US",
        "magnet",
    )
    assert row["annual_spend_usd"] == 5.0
    unused = [i for i in portfolio.warnings if i.code == "unused-column"]
    assert [(i.header, i.cell) for i in unused] == [("Buyer Notes", "F1")]
    assert not portfolio.errors


def test_columns_map_names_any_other_header(make_workbook, tmp_path):
    path = make_workbook(
        suppliers=[["A", "Alpha", "CA", "mining"]],
        supplier_headers=["Kreditor", "Firma", "Land", "Stufe"],
    )
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "Kreditor: supplier_id\nFirma: supplier_name\nLand: country\nSuppliers:\n  Stufe: stage\n",
        encoding="utf-8",
    )
    portfolio = load_portfolio([path], columns_map=mapping)
    assert portfolio.suppliers.iloc[0]["country"] == "CA"
    assert not portfolio.errors


def test_shares_percent_rules(tmp_path):
    workbook = Workbook()
    suppliers = workbook.active
    suppliers.title = "Suppliers"
    suppliers.append(["supplier_id", "supplier_name", "country", "stage"])
    suppliers.append(["M", "Maker", "JP", "magnet"])
    sourcing = workbook.create_sheet("Sourcing")
    sourcing.append(["supplier_id", "stage", "country", "share_pct"])
    sourcing.append(["M", "alloy", "JP", 0.45])  # percent-formatted: 45 %
    sourcing["D2"].number_format = "0%"
    sourcing.append(["M", "alloy", "VN", "30%"])  # text with % : 30 %
    sourcing.append(["M", "alloy", "CN", 25])  # plain number: percent
    sourcing.append(["M", "metal", "CN", 0.5])  # plain 0.5 among percents: 0.5 %
    sourcing.append(["M", "metal", "JP", 99.5])
    path = tmp_path / "shares.xlsx"
    workbook.save(path)
    portfolio = load_portfolio([path])
    shares = portfolio.sourcing.set_index("_row")["share"].round(6).to_dict()
    assert shares == {2: 0.45, 3: 0.30, 4: 0.25, 5: 0.005, 6: 0.995}
    assert not portfolio.errors


def test_all_fraction_sheet_is_read_as_fractions_with_a_warning(make_workbook):
    path = make_workbook(
        suppliers=[["M", "Maker", "JP", "magnet", 1]],
        sourcing=[["M", "alloy", "JP", 0.6, None], ["M", "alloy", "unknown", 0.3, None]],
    )
    portfolio = load_portfolio([path])
    assert sorted(portfolio.sourcing["share"].round(6)) == [0.3, 0.6]
    codes = [(i.code, i.sheet) for i in portfolio.warnings]
    assert ("shares-as-fractions", "Sourcing") in codes
    under = [i for i in portfolio.warnings if i.code == "shares-under-100"]
    assert under and "10.0 % is unverified" in under[0].message
    assert portfolio.sourcing["country"].isna().sum() == 1  # 'unknown' = unverified


def test_flat_shortcut_becomes_sourcing_and_conflicts_are_errors(make_workbook):
    path = make_workbook(
        suppliers=[
            ["A", "Alpha", "JP", "alloy", "CN", "JP"],
            ["B", "Beta", "JP", "alloy", "CN", None],
        ],
        supplier_headers=[
            "supplier_id",
            "supplier_name",
            "country",
            "stage",
            "separation_country",
            "alloy_country",
        ],
        sourcing=[["B", "separation", "AU", 100, None]],
    )
    portfolio = load_portfolio([path])
    flat = portfolio.sourcing[portfolio.sourcing["supplier_id"] == "A"]
    assert sorted(
        zip(flat["stage"], flat["country"], flat["share"], flat["share_basis"], strict=True)
    ) == [("alloy", "JP", 1.0, "flat"), ("separation", "CN", 1.0, "flat")]
    conflict = [i for i in portfolio.errors if i.code == "flat-and-sourcing"]
    assert [(i.sheet, i.row) for i in conflict] == [("Sourcing", 2)]
    assert list(portfolio.not_screened) == ["B"]


def test_cycles_name_the_loop(make_workbook):
    path = make_workbook(
        suppliers=[
            ["A", "Alpha", "JP", "magnet", 1],
            ["B", "Beta", "JP", "alloy", 1],
            ["C", "Gamma", "JP", "magnet", 1],
        ],
        sourcing=[
            ["A", "alloy", None, 100, "B"],
            ["B", "alloy", None, 100, "A"],
            ["C", "alloy", None, 100, "B"],
        ],
        ownership=[
            ["X Holdings", "Y Holdings", "SG", "company", 50],
            ["Y Holdings", "X Holdings", "SG", "company", 50],
            ["C", "X Holdings", "SG", "company", 10],
        ],
    )
    portfolio = load_portfolio([path])
    loops = [i.message for i in portfolio.errors if i.code == "cycle"]
    assert any("A → B → A" in m for m in loops)
    assert any("x holdings → y holdings → x holdings" in m for m in loops)
    assert sorted(portfolio.not_screened) == ["A", "B", "C"]


def test_ownership_fields_and_unknown_entity(make_workbook):
    path = make_workbook(
        suppliers=[["A", "Alpha", "CN", "alloy", 1], ["B", "Beta", "JP", "alloy", 1]],
        ownership=[
            ["A", "SASAC Example", "CN", "government", "30%", "40", "1/3", "no"],
            ["B", "Nobody", "JP", "company", 10, None, None, "maybe"],
            ["Q", "Someone", "JP", "individual", 10, None, None, None],
        ],
        ownership_headers=[
            "Entity",
            "Owner",
            "Owner Country",
            "Owner Type",
            "Equity %",
            "Voting %",
            "Board %",
            "Appoints Officer",
        ],
    )
    portfolio = load_portfolio([path])
    codes = sorted((i.code, i.row, i.cell) for i in portfolio.errors)
    assert codes == [
        ("bad-boolean", 3, "H3"),
        ("bad-number", 2, "G2"),
        ("unknown-reference", 4, "A4"),
    ]
    assert sorted(portfolio.not_screened) == ["A", "B"]


def test_lei_checksum():
    assert lei_is_valid("5493001KJTIIGC8Y1R12")
    assert not lei_is_valid("5493001KJTIIGC8Y1R13")
    assert not lei_is_valid("SHORT")


def test_duplicate_supplier_across_files_names_both(make_workbook):
    first = make_workbook(suppliers=[["A", "Alpha", "JP", "magnet", 1]], name="one.xlsx")
    second = make_workbook(
        suppliers=[["A", "Alpha again", "JP", "magnet", 1], ["B", "Beta", "JP", "magnet", 1]],
        name="two.xlsx",
    )
    portfolio = load_portfolio([first, second])
    errors = [i for i in portfolio.errors if i.code == "duplicate-supplier-across-files"]
    assert {i.file for i in errors} == {"one.xlsx", "two.xlsx"}
    assert "one.xlsx and two.xlsx" in errors[0].message
    assert list(portfolio.suppliers["supplier_id"]) == ["B"]


def test_rows_keep_excel_numbers_when_leading_rows_and_columns_are_empty(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Suppliers"
    sheet["C4"], sheet["D4"], sheet["E4"], sheet["F4"] = "ID", "Name", "Country", "Stage"
    sheet["C5"], sheet["D5"], sheet["E5"], sheet["F5"] = "A", "Alpha", "JP", "magnet"
    sheet["C7"], sheet["D7"], sheet["E7"], sheet["F7"] = "B", "Beta", "Korea", "magnet"
    path = tmp_path / "offset.xlsx"
    workbook.save(path)
    portfolio = load_portfolio([path])
    assert list(portfolio.suppliers["_row"]) == [5]
    (issue,) = portfolio.errors
    assert (issue.row, issue.cell, issue.header) == (7, "E7", "Country")


def test_validate_cli_text_json_and_exit_codes(make_workbook):
    clean = make_workbook(suppliers=[["A", "Alpha", "JP", "magnet", 1]], name="clean.xlsx")
    broken = make_workbook(suppliers=[["A", "Alpha", "Korea", "magnet", 1]], name="broken.xlsx")
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(clean)])
    assert result.exit_code == 0, result.output
    assert "1 suppliers ready to screen" in result.output
    result = runner.invoke(main, ["validate", str(broken)])
    assert result.exit_code == 1
    assert "C2" in result.output and "ambiguous" in result.output
    result = runner.invoke(main, ["validate", str(broken), "--format", "json"])
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["errors"][0]["cell"] == "C2" and data["errors"][0]["sheet"] == "Suppliers"
    assert set(data["errors"][0]) == {
        "code",
        "severity",
        "file",
        "sheet",
        "row",
        "column",
        "header",
        "cell",
        "value",
        "message",
    }
    assert data["summary"]["not_screened"] == ["A"]
    result = runner.invoke(main, ["validate", str(broken), "--strict"])
    assert result.exit_code == 2


def test_template_filled_in_validates_cleanly(tmp_path: Path):
    from openpyxl import load_workbook

    runner = CliRunner()
    out = tmp_path / "blank.xlsx"
    result = runner.invoke(main, ["template", str(out)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    assert workbook.sheetnames[:4] == ["Instructions", "Suppliers", "Sourcing", "Ownership"]
    suppliers = workbook["Suppliers"]
    assert suppliers["A1"].comment is not None
    assert any("F2" in str(v.sqref) for v in suppliers.data_validations.dataValidation)
    suppliers.append(
        [
            "S1",
            "Acme Magnets",
            "Korea, Republic of",
            None,
            None,
            "magnet",
            None,
            "ndfeb",
            1000,
            50,
            None,
            None,
            "5493001KJTIIGC8Y1R12",
            None,
        ]
    )
    workbook["Sourcing"].append(["S1", "alloy", "Japan", 100])
    workbook["Ownership"].append(["S1", "Founders", "Korea, Republic of", "individual", 100])
    workbook.save(out)
    result = runner.invoke(main, ["validate", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["errors"] == []


def test_recycled_feed_shares_add_up_with_mining(make_workbook):
    path = make_workbook(
        suppliers=[["M", "Maker", "JP", "separation", 1]],
        sourcing=[
            ["M", "mining", "AU", 50, None],
            ["M", "recycling", "JP", 50, None],
            ["M", "separation", "JP", 100, None],
        ],
    )
    portfolio = load_portfolio([path])
    assert [i.code for i in portfolio.issues] == []


def _deep_chains(make_workbook):
    """Ownership 5 levels deep above A, a loop of upstream links after 4 plain links."""
    owners = [["A", "H1", "SG", "company", 100]] + [
        [f"H{i}", f"H{i + 1}", "SG", "company", 100] for i in range(1, 5)
    ]
    ids = ["A", "B", "C", "D", "E", "F"]
    return make_workbook(
        suppliers=[[s, s.lower(), "JP", "magnet", 1] for s in ids],
        sourcing=[
            ["A", "alloy", None, 100, "B"],
            ["B", "alloy", None, 100, "C"],
            ["C", "alloy", None, 100, "D"],
            ["D", "alloy", None, 100, "E"],
            ["E", "alloy", None, 100, "F"],
            ["F", "alloy", None, 100, "E"],
        ],
        ownership=owners,
    )


def test_graphs_deeper_than_the_array_passes_are_walked_alike(make_workbook, monkeypatch):
    from feocscreen import validate

    path = _deep_chains(make_workbook)
    deep = load_portfolio([path])
    assert len(deep.ownership) == 5  # every level above A is kept
    assert [i.message for i in deep.errors if i.code == "cycle"] == [
        "upstream links form a loop: E → F → E"
    ] * 2
    monkeypatch.setattr(validate._KeyEdges, "PASSES", 2)
    shallow = load_portfolio([path])
    assert shallow.issues == deep.issues
    assert shallow.ownership.equals(deep.ownership)
    assert shallow.not_screened == deep.not_screened


edges = st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from("abcdefg")), max_size=14)


@given(edges, st.sets(st.sampled_from("abcdefgh")), st.integers(1, 8))
def test_array_passes_agree_with_the_walks(pairs, start, passes):
    from feocscreen import validate

    graph: dict[str, set[str]] = {}
    for owner, held in pairs:
        graph.setdefault(owner, set()).add(held)
    keyed = validate._KeyEdges(
        np.array([o for o, _ in pairs], dtype=object), np.array([h for _, h in pairs], dtype=object)
    )
    keyed.PASSES = passes
    assert keyed.targets_of == graph
    if keyed.acyclic():
        assert validate.find_cycles(graph) == []
    above = keyed.above(set(start))
    assert above is None or above == validate._ancestors(set(start), graph)
    keyed.PASSES = 64
    assert keyed.acyclic() == (validate.find_cycles(graph) == [])
    assert keyed.above(set(start)) == validate._ancestors(set(start), graph)

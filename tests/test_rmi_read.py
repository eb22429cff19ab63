"""Reading RMI AMRT/EMRT templates: positions, languages, chain mapping and Checker-like issues."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen import errors, rmi
from feocscreen.portfolio import SOURCING_COLUMNS, SUPPLIER_COLUMNS
from rmi_builders import COUNTRIES, LANGUAGES, TemplateSpec, build_template, smelter

CHINA_REFINER = "Baotou Example Rare Earth Refinery"
MALAYSIA_REFINER = "Kuantan Example Separation"
ESTONIA_REFINER = "Tallinn Example Rare Metals"


def read(
    tmp_path: Path, spec: TemplateSpec, name: str = "supplier.xlsx", **kw: Any
) -> rmi.RmiReport:
    return rmi.read_rmi(build_template(tmp_path / name, spec), **kw)


def by_stage(report: rmi.RmiReport, stage: str) -> list[dict[str, Any]]:
    return [row for row in report.sourcing if row["stage"] == stage]


def codes(report: rmi.RmiReport) -> list[str]:
    return [issue.code for issue in report.issues]


def shares_by_country(rows: list[dict[str, Any]]) -> dict[str | None, float]:
    result: dict[str | None, float] = {}
    for row in rows:
        result[row["country"]] = result.get(row["country"], 0.0) + row["share"]
    return {k: round(v, 9) for k, v in result.items()}


@pytest.mark.parametrize("rendered", [False, True], ids=["formulas-no-values", "labels-as-text"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_amrt_reads_the_same_in_every_language(
    tmp_path: Path, language: str, rendered: bool
) -> None:
    spec = TemplateSpec(
        language=language,
        rendered=rendered,
        smelters=[
            smelter(CHINA_REFINER),
            smelter(MALAYSIA_REFINER, mine_names="Mount Weld", mine_countries="AUSTRALIA"),
        ],
        mines=[
            {
                "metal": "Rare Earth Elements",
                "smelter": "Baotou Example RE Refinery Co., Ltd.",
                "name": "Bayan Obo",
                "country": "CHINA",
            }
        ],
    )
    report = read(tmp_path, spec)
    assert report.template == "AMRT 1.3"
    assert report.info.language == language
    [supplier] = report.suppliers
    assert supplier["supplier_name"] == "Nordmag Magnetics GmbH"
    assert supplier["kind"] == "rmi"
    assert supplier["stage"] == "magnet" and supplier["material"] == "ndfeb"
    assert supplier["country"] == "DE"  # from the address's last part
    separation = by_stage(report, "separation")
    assert shares_by_country(separation) == {"CN": 0.5, "MY": 0.5}
    assert {r["operator"] for r in separation} == {
        "Baotou Example RE Refinery Co., Ltd.",
        "Kuantan Example Separation Sdn. Bhd.",
    }
    assert {r["facility"] for r in separation} == {"CID009001", "CID009002"}
    assert shares_by_country(by_stage(report, "mining")) == {"CN": 0.5, "AU": 0.5}
    assert all(r["share_basis"] == "assumed_equal" for r in report.sourcing)
    assert not [i for i in report.issues if i.is_error]


def test_rows_carry_the_contract_keys_and_their_cells(tmp_path: Path) -> None:
    report = read(tmp_path, TemplateSpec(smelters=[smelter(CHINA_REFINER)]))
    [supplier] = report.suppliers
    assert set(supplier) == {*SUPPLIER_COLUMNS, "_file", "_sheet", "_row"}
    assert (supplier["_sheet"], supplier["_row"]) == ("Declaration", 8)
    assert math.isnan(supplier["annual_spend_usd"])
    [row] = report.sourcing
    assert set(row) == {*SOURCING_COLUMNS, "_file", "_sheet", "_row", "_field"}
    assert (row["_sheet"], row["_row"], row["supplier_id"]) == (
        "Smelter List",
        5,
        supplier["supplier_id"],
    )
    assert row["upstream_supplier_id"] is None
    layouts = {layout.sheet: layout for layout in report.layouts}
    assert layouts["Smelter List"].columns["country"] == ("Smelter Country", "E")


def test_positions_are_absolute_when_rows_above_the_data_are_empty(tmp_path: Path) -> None:
    # calamine trims leading empty rows; the Declaration's row 1 and the list's rows 5-7 are empty.
    spec = TemplateSpec(smelters=[smelter(CHINA_REFINER)], blank_rows_before_data=3)
    report = read(tmp_path, spec)
    [row] = report.sourcing
    assert row["_row"] == 8


def test_a_chinese_refiner_is_separation_in_china(tmp_path: Path) -> None:
    report = read(tmp_path, TemplateSpec(smelters=[smelter(CHINA_REFINER)]))
    [row] = by_stage(report, "separation")
    assert (row["country"], row["share"]) == ("CN", 1.0)
    assert by_stage(report, "mining") == []  # no mine declared: the stage stays unverified


def test_smelter_not_yet_identified_is_one_unverified_source(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[smelter(ESTONIA_REFINER), smelter("Smelter not yet identified")])
    report = read(tmp_path, spec)
    separation = by_stage(report, "separation")
    assert shares_by_country(separation) == {"EE": 0.5, None: 0.5}
    unknown = next(r for r in separation if r["country"] is None)
    assert unknown["operator"] is None  # nothing to screen
    assert unknown["facility"] == "Smelter not yet identified"


def test_smelter_not_listed_uses_typed_name_and_rmi_country_names(tmp_path: Path) -> None:
    spec = TemplateSpec(
        smelters=[
            smelter(
                "Smelter not listed",
                name="Formosa Example Magnet Metals",
                country="TAIWAN, PROVINCE OF CHINA",
            ),
            smelter(
                "Smelter not listed", name="Ulsan Example Refinery", country="KOREA, REPUBLIC OF"
            ),
            smelter(
                "Smelter not listed",
                name="Teesside Example Separation",
                country="UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND",
            ),
            smelter("Smelter not listed", name="Pointe-Noire Example", country="CONGO"),
        ]
    )
    report = read(tmp_path, spec)
    countries = {r["operator"]: r["country"] for r in by_stage(report, "separation")}
    assert countries == {
        "Formosa Example Magnet Metals": "TW",
        "Ulsan Example Refinery": "KR",
        "Teesside Example Separation": "GB",
        "Pointe-Noire Example": "CG",  # exact value of the template's own country list
    }
    assert not report.errors


def test_smelter_id_typed_in_column_a_is_resolved_through_the_lookup(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[{"id_input": "CID009002"}])  # B, C, E, F are formulas
    report = read(tmp_path, spec)
    [row] = report.sourcing
    assert (row["country"], row["facility"]) == ("MY", "CID009002")


def test_cached_values_of_the_lookup_formulas_are_used_when_present(tmp_path: Path) -> None:
    spec = TemplateSpec(
        smelters=[
            smelter("Some Refinery Listed Elsewhere", country="JAPAN", cid="CID007777"),
        ]
    )
    [row] = read(tmp_path, spec).sourcing
    assert (row["country"], row["facility"]) == ("JP", "CID007777")


def test_smelter_without_country_is_unverified_with_a_warning(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[smelter("Smelter not listed", name="Mystery Refinery")])
    report = read(tmp_path, spec)
    [row] = report.sourcing
    assert row["country"] is None and row["operator"] == "Mystery Refinery"
    [issue] = [i for i in report.issues if i.code == "rmi-smelter-no-country"]
    assert (issue.sheet, issue.cell, issue.severity) == ("Smelter List", "E5", "warning")


def test_not_listed_without_a_name_is_flagged(tmp_path: Path) -> None:
    report = read(tmp_path, TemplateSpec(smelters=[smelter("Smelter not listed", country="CHINA")]))
    [issue] = [i for i in report.issues if i.code == "rmi-smelter-unnamed"]
    assert issue.cell == "D5"
    [row] = report.sourcing
    assert row["country"] == "CN" and row["operator"] is None


def test_unreadable_country_is_a_located_error(tmp_path: Path) -> None:
    spec = TemplateSpec(
        smelters=[
            smelter("Smelter not listed", name="A Refinery", country="Atlantis"),
            smelter("Smelter not listed", name="B Refinery", country="Korea"),
        ]
    )
    report = read(tmp_path, spec)
    found = {(i.code, i.cell) for i in report.errors}
    assert found == {("unknown-country", "E5"), ("ambiguous-country", "E6")}
    ambiguous = next(i for i in report.errors if i.code == "ambiguous-country")
    assert "KR" in ambiguous.message and "KP" in ambiguous.message


def test_duplicate_smelter_counts_once(tmp_path: Path) -> None:
    report = read(tmp_path, TemplateSpec(smelters=[smelter(CHINA_REFINER), smelter(CHINA_REFINER)]))
    assert len(report.sourcing) == 1 and report.sourcing[0]["share"] == 1.0
    [issue] = [i for i in report.issues if i.code == "rmi-duplicate-smelter"]
    assert issue.cell == "D6" and "row 5" in issue.message


def test_unknown_metal_is_ignored_with_a_warning(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[smelter(CHINA_REFINER), smelter("X", metal="Unobtainium")])
    report = read(tmp_path, spec)
    assert len(report.sourcing) == 1
    [issue] = [i for i in report.issues if i.code == "rmi-unknown-metal"]
    assert (issue.cell, issue.value) == ("B6", "Unobtainium")


def test_metal_left_blank_takes_the_only_declared_mineral(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[{"lookup": CHINA_REFINER}])
    [row] = read(tmp_path, spec).sourcing
    assert row["country"] == "CN"


def test_other_minerals_are_reported_and_ignored(tmp_path: Path) -> None:
    spec = TemplateSpec(
        minerals=["Rare Earth Elements", "Zinc", "Aluminum"],
        smelters=[smelter(CHINA_REFINER), smelter("Example Zinc Works", metal="Zinc")],
    )
    report = read(tmp_path, spec)
    assert report.minerals_ignored == ["Aluminum", "Zinc"]
    ignored = [i for i in report.issues if i.code == "rmi-mineral-ignored"]
    assert {i.value for i in ignored} == {"Aluminum", "Zinc"}
    assert all(i.severity == "warning" and not i.is_error and i.cell for i in ignored)
    assert [r["operator"] for r in report.sourcing] == ["Baotou Example RE Refinery Co., Ltd."]


def test_other_mineral_typed_in_the_amrt_is_read(tmp_path: Path) -> None:
    spec = TemplateSpec(
        minerals=[], other_minerals={"D12": "Neodymium"}, smelters=[{"lookup": CHINA_REFINER}]
    )
    report = read(tmp_path, spec)
    assert report.sourcing[0]["country"] == "CN"
    assert report.minerals_ignored == []


def test_emrt_cobalt_feeds_the_smco_chain(tmp_path: Path) -> None:
    spec = TemplateSpec(
        kind="EMRT",
        minerals=["Cobalt", "Copper", "Mica"],
        declaration={"company_name": "Samarium Cobalt Example Ltd", "address": "Sheffield, UK"},
        smelters=[
            smelter("Kokkola Example Cobalt Refinery", metal="Cobalt"),
            smelter(
                "Ganzhou Example Cobalt",
                metal="Cobalt",
                mine_countries="CONGO, DEMOCRATIC REPUBLIC OF THE",
            ),
        ],
    )
    report = read(tmp_path, spec)
    assert report.template == "EMRT 2.1"
    [supplier] = report.suppliers
    assert supplier["material"] == "smco" and supplier["country"] == "GB"
    assert shares_by_country(by_stage(report, "separation")) == {"FI": 0.5, "CN": 0.5}
    # Kokkola declared no mines (one unknown source), Ganzhou declared the DRC.
    assert shares_by_country(by_stage(report, "mining")) == {None: 0.5, "CD": 0.5}
    assert report.minerals_ignored == ["Copper", "Mica"]


def test_emrt_declaration_rows_differ_from_amrt(tmp_path: Path) -> None:
    spec = TemplateSpec(kind="EMRT", minerals=["Cobalt"], declaration={"effective_date": None})
    report = read(tmp_path, spec)
    [issue] = [i for i in report.issues if i.code == "rmi-missing-declaration-field"]
    assert (issue.cell, issue.column, issue.severity) == ("D26", "effective_date", "warning")


def test_recycled_feedstock_in_the_chosen_language_is_a_recycling_source(tmp_path: Path) -> None:
    spec = TemplateSpec(
        language="日本語 Japanese",
        smelters=[
            smelter(
                "Smelter not listed", name="Osaka Example Recycling", country="JAPAN", recycled=True
            ),
            smelter(ESTONIA_REFINER, mine_names="recycled"),
        ],
    )
    report = read(tmp_path, spec)
    recycling = by_stage(report, "recycling")
    assert shares_by_country(recycling) == {"JP": 0.5, "EE": 0.5}
    assert by_stage(report, "mining") == []


def test_mine_list_rows_and_column_o_with_several_countries(tmp_path: Path) -> None:
    spec = TemplateSpec(
        smelters=[smelter(CHINA_REFINER, mine_countries="CHINA; MYANMAR")],
        mines=[
            {
                "metal": "Rare Earth Elements",
                "name": "Mountain Pass",
                "mine_id": "M-1",
                "country": "UNITED STATES OF AMERICA",
            },
            {"metal": "Rare Earth Elements", "name": "Unknown Pit"},
        ],
    )
    report = read(tmp_path, spec)
    mining = by_stage(report, "mining")
    assert shares_by_country(mining) == {"CN": 0.25, "MM": 0.25, "US": 0.25, None: 0.25}
    assert next(r for r in mining if r["country"] == "US")["facility"] == "M-1"
    [issue] = [i for i in report.issues if i.code == "rmi-mine-no-country"]
    assert (issue.sheet, issue.cell) == ("Mine List", "F6")


def test_missing_company_name_is_an_error_unless_the_map_names_the_supplier(tmp_path: Path) -> None:
    spec = TemplateSpec(declaration={"company_name": None}, smelters=[smelter(CHINA_REFINER)])
    report = read(tmp_path, spec, name="acme.xlsx")
    [error] = report.errors
    assert (error.code, error.sheet, error.cell) == (
        "rmi-missing-declaration-field",
        "Declaration",
        "D8",
    )
    assert report.supplier_id == "acme"  # something to attach the error to
    mapped = read(
        tmp_path,
        spec,
        name="acme.xlsx",
        suppliers_map={"acme.xlsx": {"supplier_id": "S-ACME", "supplier_name": "Acme Magnets"}},
    )
    assert not mapped.errors
    assert (mapped.supplier_id, mapped.suppliers[0]["supplier_name"]) == ("S-ACME", "Acme Magnets")


def test_every_checker_field_is_reported_at_its_cell(tmp_path: Path) -> None:
    blank = dict.fromkeys(
        [
            "scope",
            "contact_name",
            "contact_email",
            "contact_phone",
            "authorizer",
            "authorizer_email",
            "effective_date",
        ]
    )
    report = read(tmp_path, TemplateSpec(declaration=blank, minerals=[]))
    cells = {i.cell for i in report.issues if i.code == "rmi-missing-declaration-field"}
    assert cells == {"D9", "D20", "D21", "D22", "D23", "D25", "D27", "D12"}
    assert "rmi-no-magnet-minerals" in codes(report)


def test_older_layout_is_located_through_the_language_sheet(tmp_path: Path) -> None:
    # An AMRT 1.1-like Declaration where every field sits one row lower than in 1.3.
    from rmi_builders import DECLARATION_ROWS

    shifted = {label: row + 1 for label, row in DECLARATION_ROWS["AMRT"].items()}
    spec = TemplateSpec(version="1.1", declaration_rows=shifted, smelters=[smelter(CHINA_REFINER)])
    report = read(tmp_path, spec)
    assert report.template == "AMRT 1.1" and report.info.supported
    assert report.suppliers[0]["supplier_name"] == "Nordmag Magnetics GmbH"
    assert report.suppliers[0]["_row"] == 9
    assert "rmi-missing-declaration-field" not in codes(report)


@pytest.mark.parametrize(
    ("kind", "version", "supported"),
    [
        ("AMRT", "1.0", False),
        ("AMRT", "1.2", True),
        ("AMRT", "1.21", True),
        ("AMRT", "2.0", False),
        ("EMRT", "1.3", True),
        ("EMRT", "2.0", True),
        ("EMRT", "3.0", False),
    ],
)
def test_version_detection(tmp_path: Path, kind: str, version: str, supported: bool) -> None:
    minerals = ["Rare Earth Elements"] if kind == "AMRT" else ["Cobalt"]
    report = read(tmp_path, TemplateSpec(kind=kind, version=version, minerals=minerals))
    assert report.template == f"{kind} {version}"
    assert ("rmi-unsupported-version" not in codes(report)) is supported


def test_template_is_recognised_without_language_and_revision_sheets(tmp_path: Path) -> None:
    spec = TemplateSpec(
        kind="EMRT",
        minerals=["Cobalt"],
        with_language_sheet=False,
        with_revision_sheet=False,
        rendered=False,
    )
    report = read(tmp_path, spec)
    assert report.template == "EMRT 2.1"  # from the sheet structure and J3's revision


def test_cmrt_is_recognised_and_explained(tmp_path: Path) -> None:
    report = read(
        tmp_path, TemplateSpec(kind="CMRT", minerals=[], smelters=[smelter("X", metal="Tin")])
    )
    assert report.template == "CMRT 6.5"
    assert report.suppliers == [] and report.sourcing == []
    [issue] = report.issues
    assert issue.code == "rmi-cmrt-out-of-scope" and issue.severity == "warning"
    assert "tantalum" in issue.message and "225.7018" in issue.message


def test_detection(tmp_path: Path) -> None:
    for kind in ("AMRT", "EMRT", "CMRT"):
        assert rmi.is_rmi_workbook(
            build_template(tmp_path / f"{kind}.xlsx", TemplateSpec(kind=kind))
        )
    plain = tmp_path / "plain.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Suppliers"  # type: ignore[union-attr]
    book.save(plain)
    assert not rmi.is_rmi_workbook(plain)
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    assert not rmi.is_rmi_workbook(text)
    assert not rmi.is_rmi_workbook(tmp_path / "missing.xlsx")


def test_unreadable_files_raise_input_errors(tmp_path: Path) -> None:
    text = tmp_path / "report.xlsx"
    text.write_text("hello")
    with pytest.raises(errors.InputError) as caught:
        rmi.read_rmi(text)
    # the same guard as intake: an .xlsx name without a zip container is damaged or mis-named
    assert caught.value.issues[0].code == "corrupt-file"
    legacy = tmp_path / "report.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    with pytest.raises(errors.InputError) as caught:
        rmi.read_rmi(legacy)
    assert caught.value.issues[0].code == "legacy-xls"


def test_suppliers_map_sets_stage_spend_material_and_refining_stage(tmp_path: Path) -> None:
    map_file = tmp_path / "map.csv"
    map_file.write_text(
        "File Name,Supplier ID,Stage,Material,Spend,Country,Smelter Stage\n"
        'alloyco.xlsx,S-ALLOY,alloy,smco,"1,250,000",Japan,metal\n'
        "other.xlsx,S-OTHER,magnet,,0,,\n",
        encoding="utf-8",
    )
    mapping = rmi.load_suppliers_map(map_file)
    assert mapping["alloyco.xlsx"]["annual_spend_usd"] == 1_250_000.0
    report = read(
        tmp_path,
        TemplateSpec(smelters=[smelter(CHINA_REFINER)]),
        name="alloyco.xlsx",
        suppliers_map=mapping,
    )
    [supplier] = report.suppliers
    assert (supplier["supplier_id"], supplier["stage"], supplier["supplies_stage"]) == (
        "S-ALLOY",
        "alloy",
        "alloy",
    )
    assert (supplier["material"], supplier["country"], supplier["annual_spend_usd"]) == (
        "smco",
        "JP",
        1_250_000.0,
    )
    assert [r["stage"] for r in report.sourcing] == ["metal"]
    unmapped = read(tmp_path, TemplateSpec(), name="stray.xlsx", suppliers_map=mapping)
    assert "rmi-not-in-suppliers-map" in codes(unmapped)


def test_bad_suppliers_map_lists_every_problem(tmp_path: Path) -> None:
    map_file = tmp_path / "map.csv"
    map_file.write_text(
        "file,supplier_id,stage,material,annual_spend_usd,country,dfars_exception\n"
        "a.xlsx,A,smelting,ndfeb,-5,China,cots\n"
        ",B,magnet,gold,10,Korea\n",
        encoding="utf-8",
    )
    with pytest.raises(errors.InputError) as caught:
        rmi.load_suppliers_map(map_file)
    found = {(i.row, i.column) for i in caught.value.issues}
    assert found == {(2, "stage"), (2, "annual_spend_usd"), (2, "dfars_exception"), (3, "file")}
    no_file = tmp_path / "nofile.csv"
    no_file.write_text("supplier_id\nA\n")
    with pytest.raises(errors.InputError):
        rmi.load_suppliers_map(no_file)


def test_issue_codes_are_in_the_catalogue() -> None:
    catalogue = errors.catalogue()
    for code in (
        "rmi-cmrt-out-of-scope",
        "rmi-missing-declaration-field",
        "rmi-mineral-ignored",
        "bad-suppliers-map",
    ):
        assert code in catalogue and catalogue[code].description


@given(
    st.lists(
        st.sampled_from([name for code, name in COUNTRIES if code != "ZZ"]), min_size=1, max_size=5
    )
)
def test_split_countries_keeps_rmi_names_with_commas(names: list[str]) -> None:
    for separator in ("; ", ", ", "\n"):
        assert rmi.split_countries(separator.join(names)) == names


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [CHINA_REFINER, MALAYSIA_REFINER, ESTONIA_REFINER, "Smelter not yet identified"]
        ),
        min_size=1,
        max_size=6,
    )
)
def test_each_stage_splits_to_one(
    tmp_path_factory: pytest.TempPathFactory, picks: list[str]
) -> None:
    path = build_template(
        tmp_path_factory.mktemp("split") / "t.xlsx",
        TemplateSpec(smelters=[smelter(p) for p in picks]),
    )
    report = rmi.read_rmi(path)
    for stage in ("separation", "mining"):
        rows = by_stage(report, stage)
        if rows:
            assert math.isclose(sum(r["share"] for r in rows), 1.0)
            assert len({r["share"] for r in rows}) == 1
    distinct = {p for p in picks if p != "Smelter not yet identified"}
    unknown = picks.count("Smelter not yet identified")
    assert len(by_stage(report, "separation")) == len(distinct) + unknown


def test_absurdly_long_lists_are_cut_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rmi, "MAX_LIST_ROWS", 6)
    spec = TemplateSpec(
        smelters=[smelter(CHINA_REFINER), smelter(MALAYSIA_REFINER), smelter(ESTONIA_REFINER)]
    )
    report = read(tmp_path, spec)
    assert [r["country"] for r in report.sourcing] == ["CN", "MY"]
    [issue] = [i for i in report.issues if i.code == "rmi-list-truncated"]
    assert issue.sheet == "Smelter List"


def test_rows_of_ignored_minerals_raise_no_country_errors(tmp_path: Path) -> None:
    spec = TemplateSpec(
        minerals=["Rare Earth Elements", "Zinc"],
        smelters=[
            smelter(CHINA_REFINER),
            smelter("Smelter not listed", metal="Zinc", name="Z", country="Atlantis"),
            smelter("Smelter not listed", metal="Cobalt", name="C", country="Korea"),
        ],
    )
    report = read(tmp_path, spec)
    assert not report.errors  # zinc and (for an NdFeB supplier) cobalt are outside the chain
    assert report.minerals_ignored == ["Cobalt", "Zinc"]


def test_mine_list_links_to_a_smelter_by_its_dropdown_name(tmp_path: Path) -> None:
    spec = TemplateSpec(
        smelters=[smelter(CHINA_REFINER), smelter(MALAYSIA_REFINER)],
        mines=[
            {
                "metal": "Rare Earth Elements",
                "smelter": MALAYSIA_REFINER,
                "name": "Mount Weld",
                "country": "AUSTRALIA",
            }
        ],
    )
    mining = by_stage(read(tmp_path, spec), "mining")
    # Kuantan's mine is known; Baotou declared none (one unverified source).
    assert shares_by_country(mining) == {None: 0.5, "AU": 0.5}


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("Nanshan, Shenzhen 518000 P.R. China", "CN"),
        ("12 Teheran-ro, Seoul, KOREA, REPUBLIC OF", "KR"),
        ("Tokyo 100-0001 Japan", "JP"),
        ("1 Main Street, Springfield", None),
    ],
)
def test_company_country_from_the_declared_address(
    tmp_path: Path, address: str, country: str | None
) -> None:
    report = read(tmp_path, TemplateSpec(declaration={"address": address}))
    assert report.suppliers[0]["country"] == country
    assert ("rmi-no-company-country" in codes(report)) is (country is None)


def test_japanese_title_with_full_width_brackets_is_recognised(tmp_path: Path) -> None:
    spec = TemplateSpec(
        language="日本語 Japanese",
        rendered=True,
        with_language_sheet=False,
        with_revision_sheet=False,
    )
    path = build_template(tmp_path / "ja.xlsx", spec)
    book = openpyxl.load_workbook(path)
    del book["Minerals Scope"]  # leave the title (D2 shows （AMRT）) as the only marker
    book.save(path)
    assert rmi.read_rmi(path).template == "AMRT 1.3"


def test_each_source_names_the_cell_it_rests_on(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[smelter(CHINA_REFINER, mine_countries="MYANMAR")])
    report = read(tmp_path, spec)
    layout = {layout.sheet: layout for layout in report.layouts}["Smelter List"]
    cells = {r["stage"]: f"{layout.columns[r['_field']][1]}{r['_row']}" for r in report.sourcing}
    assert cells == {"separation": "E5", "mining": "O5"}


@pytest.mark.parametrize(
    ("value", "flagged"), [("01-OCT-2026", False), ("2026-10-01", False), ("soon", True)]
)
def test_effective_date_typed_as_text(tmp_path: Path, value: str, flagged: bool) -> None:
    report = read(tmp_path, TemplateSpec(declaration={"effective_date": value}))
    found = [i for i in report.issues if i.code == "rmi-bad-date"]
    assert bool(found) is flagged
    if flagged:
        assert (found[0].cell, found[0].value) == ("D27", "soon")


def test_mines_typed_without_a_smelter_are_flagged(tmp_path: Path) -> None:
    report = read(
        tmp_path, TemplateSpec(smelters=[{"mine_names": "Bayan Obo", "mine_countries": "CHINA"}])
    )
    assert report.sourcing == []
    [issue] = [i for i in report.issues if i.code == "rmi-metal-missing"]
    assert issue.cell == "N5"


def test_workbook_without_any_template_marker_is_read_as_an_amrt(tmp_path: Path) -> None:
    spec = TemplateSpec(
        kind="CMRT",  # no Mine List, no Minerals Scope; with no title, L or Revision sheet
        minerals=[],
        with_language_sheet=False,
        with_revision_sheet=False,
        smelters=[smelter(CHINA_REFINER)],
    )
    report = read(tmp_path, spec)
    assert report.info.kind == "unknown"
    assert "rmi-unknown-template" in codes(report)
    assert [r["country"] for r in report.sourcing] == ["CN"]


def test_emrt_1x_takes_its_minerals_from_the_smelter_list(tmp_path: Path) -> None:
    spec = TemplateSpec(
        kind="EMRT",
        version="1.3",
        minerals=["Some question text", "Yes"],  # D12:G13 held other things before 2.0
        smelters=[smelter("Kokkola Example Cobalt Refinery", metal="Cobalt")],
    )
    report = read(tmp_path, spec)
    assert report.suppliers[0]["material"] == "smco"
    assert report.minerals_ignored == []
    assert [r["country"] for r in report.sourcing] == ["FI"]


def test_damaged_sheet_xml_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    import zipfile

    good = build_template(tmp_path / "good.xlsx", TemplateSpec(smelters=[smelter(CHINA_REFINER)]))
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = data[: len(data) // 2]  # cut mid-element
            target.writestr(item, data)
    assert rmi.is_rmi_workbook(bad)  # the sheet names are intact
    with pytest.raises(errors.InputError) as caught:
        rmi.read_rmi(bad)
    assert caught.value.issues[0].code == "corrupt-file"

"""Waivers: applied before scoring, visible on the finding; expired and unused reported; bad files exit 2."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from feocscreen.api import screen
from feocscreen.cli import main
from feocscreen.errors import WaiverError
from feocscreen.models import ScreenConfig
from feocscreen.waivers import load_waivers

AS_OF = date(2026, 11, 28)
CHINA_ALLOY = [
    ["S1", "magnet", "US", 100, None],
    ["S1", "alloy", "CN", 100, None],
    ["S1", "metal", "JP", 100, None],
    ["S1", "separation", "EE", 100, None],
    ["S1", "mining", "AU", 100, None],
]


def waiver(rule_id: str, expires: str = "2027-06-30", supplier_id: str = "S1") -> dict:
    return {
        "supplier_id": supplier_id,
        "rule_id": rule_id,
        "justification": "Second alloy source qualified; switch in Q1",
        "approved_by": "j.doe@example.com",
        "expires": expires,
    }


@pytest.fixture
def workbook(make_workbook) -> Path:
    return Path(
        make_workbook(suppliers=[["S1", "Alloy Buyer", "US", "magnet", 100]], sourcing=CHINA_ALLOY)
    )


def _write(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(yaml.safe_dump({"waivers": entries}), encoding="utf-8")
    return path


def test_waived_findings_stay_visible_and_stop_counting(workbook, tmp_path):
    plain = screen(ScreenConfig(inputs=(workbook,), as_of=AS_OF)).data["suppliers"][0]
    assert plain["tier"] == "critical"
    path = _write(
        tmp_path,
        [
            waiver("dfars-melted-produced-covered"),
            waiver("feoc-activity-midstream"),
            waiver("feoc-covered-jurisdiction"),
            waiver("dfars-melted-produced-covered", "2026-01-01"),
        ],
    )
    data = screen(ScreenConfig(inputs=(workbook,), as_of=AS_OF, waivers=path)).data
    s1 = data["suppliers"][0]
    waived = {f["rule_id"]: f["waived"] for f in s1["findings"] if f["waived"]}
    assert waived["dfars-melted-produced-covered"] == {
        "by": "j.doe@example.com",
        "why": "Second alloy source qualified; switch in Q1",
        "until": "2027-06-30",
    }
    assert s1["tier"] == "clear" and s1["score"] == 0
    assert [w["rule_id"] for w in data["waivers"]["applied"]] == [
        "dfars-melted-produced-covered",
        "feoc-activity-midstream",
    ]
    assert [w["rule_id"] for w in data["waivers"]["unused"]] == ["feoc-covered-jurisdiction"]
    assert [w["expires"] for w in data["waivers"]["expired"]] == ["2026-01-01"]
    codes = sorted(
        w["code"] for w in data["validation"]["warnings"] if w["code"].startswith("waiver")
    )
    assert codes == ["waiver-expired", "waiver-unused"]


def test_expired_waiver_does_not_apply(workbook, tmp_path):
    path = _write(tmp_path, [waiver("dfars-melted-produced-covered", "2026-11-27")])
    s1 = screen(ScreenConfig(inputs=(workbook,), as_of=AS_OF, waivers=path)).data["suppliers"][0]
    finding = next(f for f in s1["findings"] if f["rule_id"] == "dfars-melted-produced-covered")
    assert finding["waived"] is None and s1["tier"] == "critical"


def test_bad_waivers_name_file_and_entry(tmp_path, workbook):
    entry = waiver("x")
    del entry["justification"]
    path = _write(tmp_path, [waiver("x"), entry])
    with pytest.raises(WaiverError) as caught:
        load_waivers(path)
    assert "entry 2" in caught.value.issues[0].message
    assert "justification" in caught.value.issues[0].message
    assert caught.value.issues[0].file == str(path)
    result = CliRunner().invoke(main, ["screen", str(workbook), "--waivers", str(path), "-q"])
    assert result.exit_code == 2
    assert "entry 2" in result.output


def test_a_waiver_can_name_one_finding_of_a_rule(make_workbook, tmp_path):
    path = Path(
        make_workbook(
            suppliers=[["S1", "Two Stage Buyer", "US", "magnet", 100]],
            sourcing=[
                [*row[:2], "CN" if row[1] in ("alloy", "metal") else row[2], *row[3:]]
                for row in CHINA_ALLOY
            ],
        )
    )
    plain = screen(ScreenConfig(inputs=(path,), as_of=AS_OF)).data["suppliers"][0]
    activity = {
        f["stage"]: f["finding_id"]
        for f in plain["findings"]
        if f["rule_id"] == "feoc-activity-midstream"
    }
    assert set(activity) == {"alloy", "metal"}
    only_metal = {**waiver("feoc-activity-midstream"), "finding_id": activity["metal"]}
    data = screen(
        ScreenConfig(inputs=(path,), as_of=AS_OF, waivers=_write(tmp_path, [only_metal]))
    ).data
    waived = {
        f["stage"]: bool(f["waived"])
        for f in data["suppliers"][0]["findings"]
        if f["rule_id"] == "feoc-activity-midstream"
    }
    assert waived == {"alloy": False, "metal": True}
    assert data["waivers"]["applied"][0]["findings"] == [activity["metal"]]

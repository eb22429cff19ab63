"""The upload API end to end: real workbooks through ``POST /api/screen`` and the page, compared
with the same screening called in-process, bad files, limits, expiry and concurrent uploads."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from starlette.testclient import TestClient

from feocscreen.api import screen, validate_result
from feocscreen.errors import FeocscreenError
from feocscreen.models import ScreenConfig
from feocscreen.rules.load import shipped_rulesets
from feocscreen.web import WebSettings, create_app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"
AS_OF = "2026-11-28"
LOOPBACK = ("127.0.0.1", 50000)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MakeWorkbook = Callable[..., Path]


def client_for(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(WebSettings(work_root=tmp_path / "web", **settings))
    return TestClient(app, base_url="http://127.0.0.1:8000", client=LOOPBACK)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as c:
        yield c


def upload(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"workbook": (name or path.name, path.read_bytes(), XLSX)}


def uploads_left(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "web" / "uploads").iterdir())


def small_portfolio(make_workbook: MakeWorkbook, name: str, prefix: str, country: str) -> Path:
    """Two magnet makers whose whole chain is in ``country``; ids start with ``prefix``."""
    return make_workbook(
        suppliers=[
            [f"{prefix}1", f"{prefix} Magnet Works", country, "magnet", 100_000],
            [f"{prefix}2", f"{prefix} Alloy Co", country, "alloy", 50_000],
        ],
        sourcing=[
            [f"{prefix}1", stage, country, 100, None]
            for stage in ("mining", "separation", "metal", "alloy", "magnet")
        ]
        + [
            [f"{prefix}2", stage, country, 100, None]
            for stage in ("mining", "separation", "metal", "alloy")
        ],
        name=name,
    )


# -- the happy path ---------------------------------------------------------------------------


def test_demo_workbook_gives_the_same_result_as_the_api(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/api/screen", files=upload(DEMO), data={"as_of": AS_OF})
    assert response.status_code == 200, response.text
    data = response.json()
    validate_result(data)  # the shipped JSON Schema
    direct = screen(ScreenConfig(inputs=(DEMO,), as_of=date.fromisoformat(AS_OF))).data
    tiers = {s["supplier_id"]: (s["tier"], s["score"]) for s in data["suppliers"]}
    assert tiers == {s["supplier_id"]: (s["tier"], s["score"]) for s in direct["suppliers"]}
    assert data["summary"]["by_tier"] == direct["summary"]["by_tier"]
    assert data["inputs"][0]["sha256"] == direct["inputs"][0]["sha256"]
    # The server's temporary directory never shows in the result.
    assert data["inputs"][0]["path"] == "inputs/demo_suppliers.xlsx"
    assert str(tmp_path) not in response.text

    report_id = response.headers["x-report-id"]
    assert f"</reports/{report_id}/report.xlsx>" in response.headers["link"]
    excel = client.get(f"/reports/{report_id}/report.xlsx")
    assert excel.status_code == 200
    assert excel.headers["content-type"] == XLSX
    assert "attachment" in excel.headers["content-disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(excel.content), read_only=True)
    assert workbook.sheetnames == [
        "Summary",
        "Suppliers",
        "Findings",
        "Midstream",
        "Ownership",
        "Matches",
        "Validation",
        "Audit",
    ]
    stored = client.get(f"/reports/{report_id}/result.json").json()
    assert stored == data
    assert uploads_left(tmp_path) == []


def test_ruleset_choice_and_gate_are_passed_through(client: TestClient) -> None:
    response = client.post(
        "/api/screen",
        files=upload(DEMO),
        data={"as_of": AS_OF, "rules": ["feoc", "builtin:pfe"], "fail_on": "critical"},
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert sorted(r["id"] for r in data["rulesets"]) == ["feoc", "pfe"]
    direct = screen(
        ScreenConfig(
            inputs=(DEMO,),
            rules=("builtin:feoc", "builtin:pfe"),
            as_of=date.fromisoformat(AS_OF),
            fail_on="critical",
        )
    )
    assert direct.gate is not None
    assert response.headers["x-gate"] == ("tripped" if direct.gate.tripped else "passed")


def test_an_uploaded_rules_file_is_used_and_a_broken_one_refused(
    client: TestClient, tmp_path: Path
) -> None:
    own = (ROOT / "rules" / "feoc.yaml").read_bytes()
    response = client.post(
        "/api/screen",
        files=[*upload(DEMO).items(), ("rules", ("my_rules.yaml", own, "application/yaml"))],
        data={"as_of": AS_OF},
    )
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["rulesets"]] == ["feoc"]

    broken = tmp_path / "broken_rules.yaml"
    broken.write_text("kind: ruleset\nid: 12\nrules: nope\n")
    with pytest.raises(FeocscreenError) as direct:
        screen(ScreenConfig(inputs=(DEMO,), rules=(str(broken),)))
    refused = client.post(
        "/api/screen",
        files=[*upload(DEMO).items(), ("rules", ("broken_rules.yaml", broken.read_bytes()))],
        data={"as_of": AS_OF},
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert [i["code"] for i in error["issues"]] == [i.code for i in direct.value.issues]
    assert "broken_rules.yaml" in json.dumps(error)
    assert str(tmp_path) not in refused.text


def test_page_renders_tiers_findings_and_escapes_input_text(
    client: TestClient, make_workbook: MakeWorkbook
) -> None:
    hostile = "<script>alert('x')</script> Magnets"
    book = make_workbook(
        suppliers=[
            ["H1", hostile, "CN", "magnet", 1000],
            ["H2", "Clean Allied Magnets", "JP", "magnet", 1000],
        ],
        sourcing=[
            ["H1", stage, "CN", 100, None]
            for stage in ("mining", "separation", "metal", "alloy", "magnet")
        ]
        + [
            ["H2", stage, "JP", 100, None]
            for stage in ("mining", "separation", "metal", "alloy", "magnet")
        ],
        name="hostile.xlsx",
    )
    response = client.post("/screen", files=upload(book), data={"as_of": AS_OF})
    assert response.status_code == 200, response.text
    html = response.text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Magnets" in html
    direct = screen(ScreenConfig(inputs=(book,), as_of=date.fromisoformat(AS_OF))).data
    for supplier in direct["suppliers"]:
        # The tier is written out, not only coloured.
        row = html.split(f'data-supplier="{supplier["supplier_id"]}"', 1)[1].split("</tr>", 1)[0]
        assert f"</span> {supplier['tier']}</span>" in row
        for finding in supplier["findings"]:
            assert finding["rule_id"] in html
    assert "Download Excel report" in html
    assert "not legal advice" in html.lower()


def test_rules_endpoint_lists_the_shipped_rulesets(client: TestClient) -> None:
    rulesets = client.get("/api/rules").json()["rulesets"]
    assert [r["name"] for r in rulesets] == [p.stem for p in shipped_rulesets()]
    for ruleset in rulesets:
        assert ruleset["applicability"] and ruleset["last_reviewed"] and ruleset["rules"] > 0
    page = client.get("/").text
    for ruleset in rulesets:
        assert f'value="{ruleset["name"]}"' in page


# -- bad files: the CLI's message, a 4xx, never a traceback -----------------------------------


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (12 * 1024 * 1024))
    return path


def _bad_files(tmp_path: Path, make_workbook: MakeWorkbook) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("supplier list coming next week\n")
    pdf = tmp_path / "suppliers.pdf"
    pdf.write_bytes(b"%PDF-1.4 not a workbook")
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(DEMO.read_bytes()[:3000])
    legacy = tmp_path / "old.xlsx"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048)
    no_sheet = tmp_path / "no_sheet.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Vendors"
    book.active.append(["Supplier ID", "Supplier Name"])
    book.save(no_sheet)
    no_column = make_workbook(
        suppliers=[["S1", "Only Name"]],
        supplier_headers=["Supplier ID", "Supplier Name"],
        name="no_column.xlsx",
    )
    return {
        "text": text,
        "pdf": pdf,
        "corrupt": corrupt,
        "legacy": legacy,
        "zip-bomb": _zip_bomb(tmp_path / "bomb.xlsx"),
        "missing-sheet": no_sheet,
        "missing-column": no_column,
    }


@pytest.mark.parametrize(
    "kind", ["text", "pdf", "corrupt", "legacy", "zip-bomb", "missing-sheet", "missing-column"]
)
def test_bad_files_get_the_clis_message_and_a_4xx(
    client: TestClient, tmp_path: Path, make_workbook: MakeWorkbook, kind: str
) -> None:
    path = _bad_files(tmp_path, make_workbook)[kind]
    with pytest.raises(FeocscreenError) as direct:
        screen(ScreenConfig(inputs=(path,), as_of=date.fromisoformat(AS_OF)))
    response = client.post("/api/screen", files=upload(path), data={"as_of": AS_OF})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"] == direct.value.message
    assert [i["code"] for i in error["issues"]] == [i.code for i in direct.value.issues]
    assert error["code"] == direct.value.issues[0].code
    assert "Traceback" not in response.text

    page = client.post("/screen", files=upload(path), data={"as_of": AS_OF})
    assert page.status_code == 422
    assert "The workbook could not be screened" in page.text
    assert 'role="alert"' in page.text
    assert "Traceback" not in page.text
    assert uploads_left(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"as_of": "28/11/2026"}, "bad-as-of"),
        ({"fail_on": "severe"}, "bad-fail-on"),
        ({"horizon": "-3"}, "bad-horizon"),
        ({"rules": "../../etc/passwd"}, "unknown-ruleset"),
        ({"rules": "/work/main/rules/feoc.yaml"}, "unknown-ruleset"),
        ({"workbooks": "typo"}, "unknown-field"),
    ],
)
def test_bad_form_fields_are_400(client: TestClient, data: dict[str, str], code: str) -> None:
    response = client.post("/api/screen", files=upload(DEMO), data=data)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_missing_workbook_and_wrong_content_type(client: TestClient) -> None:
    missing = client.post("/api/screen", data={"as_of": AS_OF}, files={"lists": ("", b"")})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "no-workbook"
    as_json = client.post("/api/screen", json={"workbook": "x"})
    assert as_json.status_code == 415


def test_uploaded_names_cannot_escape_the_upload_directory(
    client: TestClient, tmp_path: Path
) -> None:
    response = client.post(
        "/api/screen", files=upload(DEMO, name="../../../../tmp/evil.xlsx"), data={"as_of": AS_OF}
    )
    assert response.status_code == 200, response.text
    assert response.json()["inputs"][0]["path"] == "inputs/evil.xlsx"
    assert not Path("/tmp/evil.xlsx").exists()
    assert uploads_left(tmp_path) == []


def test_a_bug_is_a_500_that_says_so_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feocscreen.web import rulesets

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(rulesets, "describe", broken)
    app = create_app(WebSettings(work_root=tmp_path / "web"))
    with TestClient(
        app, base_url="http://127.0.0.1", client=LOOPBACK, raise_server_exceptions=False
    ) as c:
        response = c.get("/api/rules")
        page = c.get("/")  # the page still loads without its ruleset list
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal-error"
    assert "This is a bug in feocscreen" in error["message"]
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert page.status_code == 200
    assert "No shipped rulesets could be listed" in page.text


def test_unknown_pages_are_404_pages(client: TestClient) -> None:
    page = client.get("/nowhere", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert '<h2 id="result-heading">Not found</h2>' in page.text
    assert client.get("/nowhere").json()["error"]["code"] == "not-found"
    assert client.get("/screen").status_code == 405


# -- limits ------------------------------------------------------------------------------------


def test_time_limit_stops_the_run_and_cleans_up(tmp_path: Path) -> None:
    with client_for(tmp_path, time_limit_seconds=0.05) as c:
        response = c.post("/api/screen", files=upload(DEMO), data={"as_of": AS_OF})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "time-limit"
        assert "0.05 s limit" in response.json()["error"]["message"]
        assert uploads_left(tmp_path) == []
        assert not any((tmp_path / "web" / "reports").iterdir())


def _asgi_post(app: Any, request: httpx.Request, leave_after_body: bool) -> tuple[int, float]:
    """Send one request straight to the ASGI app; optionally disconnect once the body is sent."""
    body = request.read()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": request.url.path,
        "raw_path": request.url.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers.raw] + [(b"host", b"127.0.0.1")],
        "client": LOOPBACK,
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    finished = asyncio.Event()
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if not leave_after_body:
            await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    async def run() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await app(scope, receive, send)
        return loop.time() - start

    elapsed = asyncio.run(run())
    return status[0], elapsed


def test_a_client_that_leaves_stops_its_screening(tmp_path: Path) -> None:
    app = create_app(WebSettings(work_root=tmp_path / "web"))
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/api/screen",
        files=upload(DEMO),
        data={"as_of": AS_OF},
    )
    _asgi_post(app, request, leave_after_body=False)  # warms the forkserver up
    status, full_run = _asgi_post(app, request, leave_after_body=False)
    assert status == 200
    _, abandoned = _asgi_post(app, request, leave_after_body=True)
    assert abandoned < full_run / 2, (abandoned, full_run)
    assert uploads_left(tmp_path) == []
    assert len(list((tmp_path / "web" / "reports").iterdir())) == 2  # the finished runs' only
    app.state.web.close()


def test_reports_expire_after_the_stated_time(tmp_path: Path) -> None:
    now = [1_900_000_000.0]
    with client_for(tmp_path, report_ttl_seconds=3600, clock=lambda: now[0]) as c:
        response = c.post("/api/screen", files=upload(DEMO), data={"as_of": AS_OF})
        assert response.status_code == 200
        report_id = response.headers["x-report-id"]
        expires = parsedate_to_datetime(response.headers["x-report-expires"])
        assert expires.timestamp() == now[0] + 3600
        assert c.get(f"/reports/{report_id}/report.xlsx").status_code == 200
        now[0] += 3601
        gone = c.get(f"/reports/{report_id}/report.xlsx")
        assert gone.status_code == 404
        assert "expired" in gone.json()["error"]["message"]
        assert not (tmp_path / "web" / "reports" / report_id).exists()


def test_concurrent_uploads_each_get_their_own_result(
    tmp_path: Path, make_workbook: MakeWorkbook
) -> None:
    books = {
        prefix: small_portfolio(make_workbook, f"{prefix}.xlsx", prefix, country)
        for prefix, country in (("CNA", "CN"), ("JPB", "JP"), ("DEC", "DE"), ("RUD", "RU"))
    }
    expected = {
        prefix: {
            s["supplier_id"]: s["tier"]
            for s in screen(ScreenConfig(inputs=(path,), as_of=date.fromisoformat(AS_OF))).data[
                "suppliers"
            ]
        }
        for prefix, path in books.items()
    }
    assert expected["CNA"] != {"CNA1": "clear", "CNA2": "clear"}
    app = create_app(WebSettings(work_root=tmp_path / "web", max_concurrent=4))

    async def run_all() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            responses = await asyncio.gather(
                *(
                    c.post("/api/screen", files=upload(path), data={"as_of": AS_OF}, timeout=120)
                    for path in books.values()
                )
            )
        return dict(zip(books, responses, strict=True))

    responses = asyncio.run(run_all())
    report_ids = set()
    for prefix, response in responses.items():
        assert response.status_code == 200, response.text
        data = response.json()
        assert {s["supplier_id"]: s["tier"] for s in data["suppliers"]} == expected[prefix]
        assert data["inputs"][0]["path"] == f"inputs/{prefix}.xlsx"
        report_ids.add(response.headers["x-report-id"])
    assert len(report_ids) == len(books)
    assert uploads_left(tmp_path) == []
    app.state.web.close()


# -- the API description --------------------------------------------------------------------


def test_openapi_describes_exactly_the_api_routes(client: TestClient) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    spec = served.json()
    assert spec["openapi"].startswith("3.")
    page_only = {"/", "/screen", "/static/{name}"}
    routes = {route.path for route in client.app.routes} - page_only  # type: ignore[attr-defined]
    assert set(spec["paths"]) == routes
    for path, operations in spec["paths"].items():
        for method in operations:
            route = next(r for r in client.app.routes if r.path == path)  # type: ignore[attr-defined]
            assert method.upper() in route.methods, (path, method)
    form = spec["paths"]["/api/screen"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(form["schema"]["properties"]) == {
        "workbook",
        "rules",
        "lists",
        "as_of",
        "fail_on",
        "horizon",
    }
    json.dumps(spec)  # plain JSON throughout

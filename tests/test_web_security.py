"""The upload page's wall: loopback/token access, cross-site posts, the body cap, headers, traversal, expiry."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from feocscreen.web import WebSettings, create_app
from feocscreen.web.app import safe_filename
from feocscreen.web.store import ReportStore

LOOPBACK = ("127.0.0.1", 50000)
TOKEN = "s3cret-token-for-tests-0123456789"


def client_for(
    tmp_path: Path, *, peer: tuple[str, int] = LOOPBACK, **settings: object
) -> TestClient:
    app = create_app(WebSettings(work_root=tmp_path / "web", **settings))  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:8000", client=peer)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as c:
        yield c


def test_loopback_client_without_token_is_served(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_remote_peer_is_refused_without_token(tmp_path: Path) -> None:
    with client_for(tmp_path, peer=("192.0.2.7", 40000)) as c:
        response = c.get("/healthz")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not-loopback"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "10.0.0.5:8000"])
def test_foreign_host_header_is_refused_without_token(client: TestClient, host: str) -> None:
    """DNS rebinding: a page elsewhere points its own name at 127.0.0.1; the Host header gives it away."""
    response = client.get("/healthz", headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad-host"


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000"])
def test_loopback_host_names_are_accepted(client: TestClient, host: str) -> None:
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_token_is_required_on_every_route(tmp_path: Path) -> None:
    with client_for(tmp_path, peer=("192.0.2.7", 40000), token=TOKEN) as c:
        for path in ("/", "/healthz", "/api/rules", "/openapi.json", "/static/app.css"):
            response = c.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/api/screen", files={"workbook": ("a.xlsx", b"x")}).status_code == 401
        wrong = c.get("/healthz", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        right = c.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200


def test_token_mode_answers_any_host_name(tmp_path: Path) -> None:
    with client_for(tmp_path, peer=("192.0.2.7", 40000), token=TOKEN) as c:
        response = c.get(
            "/healthz",
            headers={"Host": "screening.example:8000", "Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 200


def test_query_token_becomes_a_same_site_cookie(tmp_path: Path) -> None:
    with client_for(tmp_path, peer=("192.0.2.7", 40000), token=TOKEN) as c:
        first = c.get(f"/?token={TOKEN}", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/"  # the token leaves the address bar
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = c.get("/")  # the client kept the cookie
        assert page.status_code == 200
        assert "<form" in page.text


def test_query_token_is_not_accepted_on_posts(tmp_path: Path) -> None:
    with client_for(tmp_path, peer=("192.0.2.7", 40000), token=TOKEN) as c:
        response = c.post(f"/api/screen?token={TOKEN}", files={"workbook": ("a.xlsx", b"x")})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:9999"},
    ],
)
def test_cross_site_posts_are_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/api/screen", files={"workbook": ("a.xlsx", b"x")}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "cross-site"


def test_declared_body_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    with client_for(tmp_path, max_upload_bytes=4096) as c:
        response = c.post("/api/screen", files={"workbook": ("big.xlsx", b"x" * 10_000)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload-too-large"
    assert "4 KB" in response.json()["error"]["message"]


def test_streamed_body_over_the_cap_is_cut_off(tmp_path: Path) -> None:
    """No Content-Length (chunked): the cap is enforced while the body arrives."""
    boundary = "feocscreenboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="workbook"; filename="big.xlsx"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(64):
            sent.append(1)
            yield b"x" * 1024

    with client_for(tmp_path, max_upload_bytes=8192) as c:
        response = c.post(
            "/api/screen",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        page = c.post(
            "/screen",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload-too-large"
    assert page.status_code == 413
    assert "larger than the 8 KB limit" in page.text
    assert not any((tmp_path / "web" / "uploads").iterdir())


def test_every_response_carries_the_strict_headers(client: TestClient) -> None:
    for response in (
        client.get("/"),
        client.get("/healthz"),
        client.get("/nope"),
        client.post("/api/screen", content=b"{}", headers={"Content-Type": "application/json"}),
        client.get("/healthz", headers={"Host": "evil.example"}),
    ):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


def test_page_has_no_inline_script_or_style(client: TestClient) -> None:
    html = client.get("/").text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " on" + 'click="' not in html
    assert '<script src="/static/app.js" defer></script>' in html


@pytest.mark.parametrize(
    "path",
    [
        "/static/index.html",  # templates are not assets
        "/static/_result.html",
        "/static/..%2f..%2fweb%2fapp.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/reports/../../etc/passwd",
        "/reports/%2e%2e%2f%2e%2e/report.xlsx",
        "/reports/" + "A" * 43 + "/..%2f..%2fweb%2fapp.py",
        "/reports/" + "A" * 43 + "/report.xlsx",
        "/reports/short/report.xlsx",
    ],
)
def test_no_path_reaches_outside_the_served_files(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "import " not in response.text and "root:" not in response.text


def test_static_assets_are_served(client: TestClient) -> None:
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_store_expires_reports_after_the_ttl(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = ReportStore(tmp_path / "reports", ttl_seconds=3600, clock=lambda: now[0])
    entry = store.reserve()
    (entry.directory / "report.xlsx").write_bytes(b"PK")
    assert store.file(entry.report_id, "report.xlsx") == entry.directory / "report.xlsx"
    assert store.file(entry.report_id, "../report.xlsx") is None
    assert store.file(entry.report_id, "other.txt") is None
    now[0] += 3599
    assert store.get(entry.report_id) is not None
    now[0] += 2
    assert store.get(entry.report_id) is None
    assert not entry.directory.exists()


def test_store_ids_are_unguessable_and_distinct(tmp_path: Path) -> None:
    store = ReportStore(tmp_path / "reports", ttl_seconds=60)
    ids = {store.reserve().report_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 43 for i in ids)
    store.close()
    assert not any((tmp_path / "reports").iterdir())


def test_shutdown_removes_the_servers_working_directory() -> None:
    app = create_app(WebSettings())
    with TestClient(app, base_url="http://127.0.0.1", client=LOOPBACK) as c:
        assert c.get("/healthz").status_code == 200
        root = app.state.web.root
        assert root.exists()
    assert not root.exists()


@given(st.text(alphabet=string.printable + "éü中/\\\x00..", max_size=80))
def test_upload_names_cannot_climb_or_hide(name: str) -> None:
    safe = safe_filename(name, "upload.xlsx")
    assert safe
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".")
    assert safe not in (".", "..")
    assert len(safe) <= 120
    assert safe_filename(safe, "upload.xlsx") == safe  # idempotent


def test_upload_names_keep_what_is_harmless() -> None:
    assert (
        safe_filename("C:\\Users\\me\\Lieferanten 2026 (Q4).xlsx", "x")
        == "Lieferanten 2026 (Q4).xlsx"
    )
    assert safe_filename("../../etc/passwd", "x") == "passwd"
    assert safe_filename("供应商.xlsx", "x") == "供应商.xlsx"
    assert safe_filename("..", "upload.xlsx") == "upload.xlsx"

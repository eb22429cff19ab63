"""The upload page and its JSON API: a Starlette app over the same screening API as the CLI.

Routes (see ``web_static/openapi.json`` for the API's contract):

* ``GET /`` the upload form; ``POST /screen`` the same form's answer, rendered
  on the server (the page's script only swaps that answer in and shows progress);
* ``POST /api/screen`` the JSON result; ``GET /api/rules`` the shipped rulesets;
  ``GET /healthz``; ``GET /openapi.json``;
* ``GET /reports/{id}/report.xlsx|result.json`` downloads, until they expire.

Each upload is written into its own temporary directory, screened in a child
process (``runner``) under the time limit, and the directory is removed when the
request ends, whatever happened. Bad files give the CLI's messages with a 4xx.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..models import SEVERITIES, ScreenConfig
from . import rulesets as shipped
from .runner import ScreeningOutcome, run_screening, warm_up
from .security import RequestGuard, UploadTooLarge, format_bytes
from .store import REPORT_FILES, ReportStore, StoredReport
from .view import page_view

log = logging.getLogger("feocscreen.web")

ISSUE_URL = "https://github.com/feocscreen/feocscreen/issues"
STATIC_FILES: dict[str, str] = {  # the only assets served; templates are not among them
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
}
MAX_WORKBOOKS = 10  # a portfolio split over more files than this is a batch job, not an upload
MAX_FORM_PARTS = 40  # files and fields together: workbooks + rules + lists + 3 settings
FILE_CHUNK = 1024 * 1024  # copy uploads in 1 MB pieces: bounded memory whatever the file size
FORM_FIELDS = ("workbook", "rules", "lists", "as_of", "fail_on", "horizon")


@dataclass(frozen=True)
class WebSettings:
    """How the server is exposed and bounded; ``feocscreen serve`` fills it from its options."""

    token: str | None = None
    max_upload_bytes: int = 25 * 1024 * 1024
    time_limit_seconds: float = 120.0
    report_ttl_seconds: float = 3600.0
    max_concurrent: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    # Host names the server answers to; None = loopback names only (any name with a token).
    allowed_hosts: tuple[str, ...] | None = None
    work_root: Path | None = None  # parent of upload and report directories; None = system temp
    clock: Callable[[], float] = time.time


class WebError(Exception):
    """A request that cannot be screened, with the status and the message the user sees."""

    def __init__(
        self, status: int, code: str, message: str, issues: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues or []

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "issues": self.issues}}


@dataclass
class Screened:
    """A finished run: where its downloads live, the result dict, and the gate when asked for."""

    report: StoredReport
    data: dict[str, Any]
    gate: dict[str, Any] | None = None


def static_path(name: str) -> Path:
    """A file shipped in ``feocscreen/web_static``."""
    return Path(str(resources.files("feocscreen").joinpath("web_static", name)))


def safe_filename(name: str | None, default: str) -> str:
    """The last path component of an uploaded name, reduced to characters safe on any file system.

    The name matters: intake decides xlsx/csv by it and quotes it in messages,
    so it is kept as far as it is harmless (letters of any script, digits,
    space, ``._-()``); anything that could climb directories is gone.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c if (c.isalnum() or c in " ._-()") else "_" for c in base)
    base = base.strip(" .")[:120]
    return base or default


def _unique(directory: Path, name: str) -> Path:
    path = directory / name
    counter = 2
    while path.exists():
        stem, dot, suffix = name.rpartition(".")
        path = directory / (f"{stem} ({counter}).{suffix}" if dot else f"{name} ({counter})")
        counter += 1
    return path


async def _save(upload: UploadFile, directory: Path, default: str) -> Path:
    """Write an uploaded file under ``directory``; returns its path relative to the upload dir."""
    directory.mkdir(exist_ok=True)
    path = _unique(directory, safe_filename(upload.filename, default))
    with path.open("wb") as out:
        while chunk := await upload.read(FILE_CHUNK):
            out.write(chunk)
    return Path(directory.name) / path.name


def _is_file(value: Any) -> TypeGuard[UploadFile]:
    return isinstance(value, UploadFile)


def _blank(value: Any) -> bool:
    """A browser sends an empty, nameless part for a file input left empty."""
    if _is_file(value):
        return not value.filename
    return not str(value).strip()


def _parse_as_of(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise WebError(
            400, "bad-as-of", f"as_of must be a date written YYYY-MM-DD, not {text!r}."
        ) from None


async def _build_config(form: FormData, workdir: Path) -> ScreenConfig:
    """Turn the multipart form into the ScreenConfig the CLI would build from the same choices."""
    unknown = sorted({key for key in form if key not in FORM_FIELDS})
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise WebError(
            400,
            "unknown-field",
            f"Unknown form field(s) {names}; expected {', '.join(FORM_FIELDS)}.",
        )
    inputs: list[Path] = []
    rules: list[str] = []
    lists: list[Path] = []
    known_rulesets = shipped.names()
    for key, value in form.multi_items():
        if _blank(value):
            continue  # a file input or checkbox group left empty
        if key in ("workbook", "lists"):
            if not _is_file(value):
                raise WebError(400, "bad-field", f"{key} must be an uploaded file.")
            if key == "workbook":
                inputs.append(await _save(value, workdir / "inputs", "suppliers.xlsx"))
            else:
                lists.append(await _save(value, workdir / "lists", "watchlist.csv"))
        elif key == "rules" and _is_file(value):
            rules.append(str(await _save(value, workdir / "rules", "rules.yaml")))
        elif key == "rules":
            name = str(value).strip().removeprefix("builtin:")
            if name not in known_rulesets:
                choices = ", ".join(known_rulesets) or "none installed"
                raise WebError(
                    400,
                    "unknown-ruleset",
                    f"Unknown ruleset {name!r}; shipped rulesets: {choices}.",
                )
            rules.append(f"builtin:{name}")
        elif _is_file(value):
            raise WebError(400, "bad-field", f"{key} must be a text field, not a file.")
    if not inputs:
        raise WebError(400, "no-workbook", "Choose a supplier workbook (.xlsx or .csv) to screen.")
    if len(inputs) > MAX_WORKBOOKS:
        raise WebError(400, "too-many-files", f"At most {MAX_WORKBOOKS} workbooks per upload.")
    as_of_text = str(form.get("as_of") or "").strip()
    as_of = _parse_as_of(as_of_text) if as_of_text else date.today()
    fail_on = str(form.get("fail_on") or "").strip().lower() or None
    if fail_on is not None and fail_on not in SEVERITIES:
        raise WebError(400, "bad-fail-on", f"fail_on must be one of {', '.join(SEVERITIES)}.")
    horizon_text = str(form.get("horizon") or "").strip()
    if horizon_text and not (horizon_text.isdigit() and int(horizon_text) <= 600):
        raise WebError(
            400, "bad-horizon", "horizon must be a whole number of months from 0 to 600."
        )
    horizon = int(horizon_text) if horizon_text else 24
    command_line = "feocscreen serve: " + " ".join(
        [str(p) for p in inputs]
        + [f"-r {r}" for r in rules]
        + [f"-l {p}" for p in lists]
        + [f"--as-of {as_of.isoformat()}", f"--horizon {horizon}"]
        + ([f"--fail-on {fail_on}"] if fail_on else [])
    )
    return ScreenConfig(
        inputs=tuple(inputs),
        rules=tuple(rules),
        lists=tuple(lists),
        as_of=as_of,
        horizon_months=horizon,
        fail_on=fail_on,
        command_line=command_line,
    )


class WebApp:
    """State shared by the routes: settings, report store, concurrency slots, templates."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._own_root = settings.work_root is None
        root = settings.work_root or Path(tempfile.mkdtemp(prefix="feocscreen-web-"))
        self.uploads_root = root / "uploads"
        self.uploads_root.mkdir(parents=True, exist_ok=True)
        self.store = ReportStore(root / "reports", settings.report_ttl_seconds, settings.clock)
        self.root = root
        self.slots = anyio.Semaphore(settings.max_concurrent)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(static_path(""))),
            autoescape=True,  # every template is HTML: no user text goes out unescaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def close(self) -> None:
        """Delete every stored report and, when the server made it, its working directory."""
        self.store.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- screening, shared by the page and the API ---------------------------------------

    async def screen(self, request: Request) -> Screened:
        """Save the upload, screen it under the limits, and clean up whatever happens."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise WebError(415, "not-multipart", "Send the workbook as multipart/form-data.")
        workdir = Path(tempfile.mkdtemp(prefix="req-", dir=self.uploads_root))
        try:
            try:
                async with request.form(
                    max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS
                ) as form:
                    config = await _build_config(form, workdir)
            except MultiPartException as exc:
                raise WebError(
                    400, "bad-form", f"The upload could not be read: {exc.message}"
                ) from None
            return await self._run(config, workdir, request)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _run(self, config: ScreenConfig, workdir: Path, request: Request) -> Screened:
        limit = self.settings.time_limit_seconds
        with anyio.move_on_after(limit) as waiting:
            await self.slots.acquire()
        if waiting.cancelled_caught:
            raise WebError(
                503, "busy", "The server is busy with other screenings; try again shortly."
            )
        try:
            report = self.store.reserve()
            outcome: ScreeningOutcome | None = None
            async with anyio.create_task_group() as group:
                # A client that leaves stops its screening: the child is killed, not left running.
                group.start_soon(_cancel_on_disconnect, request, group.cancel_scope)
                outcome = await run_screening(config, workdir, report.directory, limit)
                group.cancel_scope.cancel()
            if outcome is None:
                self.store.discard(report.report_id)
                raise WebError(400, "client-gone", "The client disconnected; screening stopped.")
            if outcome.status != "ok":
                self.store.discard(report.report_id)
                raise _outcome_error(outcome)
            data = json.loads((report.directory / "result.json").read_text(encoding="utf-8"))
            return Screened(report, data, outcome.gate)
        finally:
            self.slots.release()

    # -- routes ----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return self._page(request, 200)

    async def screen_page(self, request: Request) -> Response:
        try:
            screened = await self.screen(request)
        except WebError as exc:
            return self._page(request, exc.status, error=exc)
        return self._page(
            request,
            200,
            result=screened.data,
            report=screened.report,
            gate=_gate_view(screened.gate),
        )

    async def api_screen(self, request: Request) -> Response:
        try:
            screened = await self.screen(request)
        except WebError as exc:
            return JSONResponse(exc.to_json(), status_code=exc.status)
        report_id = screened.report.report_id
        links = ", ".join(
            f'</reports/{report_id}/{name}>; rel="{name.split(".")[1]}"' for name in REPORT_FILES
        )
        headers = {
            "X-Report-Id": report_id,
            "X-Report-Expires": _http_time(screened.report.expires_at),
            "Link": links,
        }
        if screened.gate is not None:
            headers["X-Gate"] = "tripped" if screened.gate["tripped"] else "passed"
        return JSONResponse(screened.data, headers=headers)

    async def api_rules(self, request: Request) -> Response:
        return JSONResponse({"rulesets": shipped.describe()})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def report_file(self, request: Request) -> Response:
        report_id = request.path_params["report_id"]
        name = request.path_params["name"]
        path = self.store.file(report_id, name)
        if path is None:
            raise HTTPException(404, "No such report: it never existed or has expired.")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(path.stat().st_mtime))
        download = f"feocscreen-{stamp}{Path(name).suffix}"
        return FileResponse(path, media_type=REPORT_FILES[name], filename=download)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise HTTPException(404, "Not found.")
        return FileResponse(static_path(name), media_type=STATIC_FILES[name])

    async def openapi(self, request: Request) -> Response:
        return FileResponse(static_path("openapi.json"), media_type="application/json")

    def _page(
        self,
        request: Request,
        status: int,
        *,
        error: WebError | None = None,
        result: dict[str, Any] | None = None,
        report: StoredReport | None = None,
        gate: dict[str, Any] | None = None,
    ) -> HTMLResponse:
        try:
            rulesets = shipped.describe()
        except Exception:  # the page still loads (and says so) if the rules cannot be listed
            log.exception("listing shipped rulesets failed")
            rulesets = []
        html = self.templates.get_template("index.html").render(
            version=__version__,
            rulesets=rulesets,
            severities=SEVERITIES,
            today=date.today().isoformat(),
            max_upload=format_bytes(self.settings.max_upload_bytes),
            max_upload_bytes=self.settings.max_upload_bytes,
            time_limit=f"{self.settings.time_limit_seconds:g}",
            ttl_minutes=round(self.settings.report_ttl_seconds / 60),
            error=error,
            result=result,
            view=page_view(result) if result else None,
            gate=gate,
            report=report,
            expires=_clock_time(report.expires_at) if report else "",
        )
        return HTMLResponse(html, status_code=status)


async def _cancel_on_disconnect(request: Request, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` when the client disconnects (the body has been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


def _gate_view(gate: dict[str, Any] | None) -> dict[str, Any] | None:
    if gate is None:
        return None
    reasons = gate.get("reasons") or []
    return {"tripped": bool(gate.get("tripped")), "text": reasons[0] if reasons else ""}


def _outcome_error(outcome: ScreeningOutcome) -> WebError:
    if outcome.status == "input-error":
        code = outcome.issues[0]["code"] if outcome.issues else "invalid-input"
        return WebError(422, code, outcome.message, outcome.issues)
    if outcome.status == "timeout":
        return WebError(422, "time-limit", outcome.message)
    log.error("internal error while screening: %s\n%s", outcome.message, outcome.details)
    return WebError(
        500,
        "internal-error",
        f"internal error: {outcome.message}. This is a bug in feocscreen {__version__}, "
        f"not a problem with your input. Please report it at {ISSUE_URL}; the server's log "
        "has the details.",
    )


def _http_time(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def _clock_time(epoch: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(epoch))


def _wants_html(request: Request) -> bool:
    """A browser asking for a page (not the JSON API) gets the error rendered in the page."""
    accepts_html = "text/html" in request.headers.get("accept", "")
    return accepts_html and not request.url.path.startswith("/api/")


def create_app(settings: WebSettings | None = None) -> Starlette:
    """The ASGI application: routes behind the request guard (token/loopback, cap, headers)."""
    settings = settings or WebSettings()
    web = WebApp(settings)

    async def too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UploadTooLarge)
        error = WebError(413, "upload-too-large", str(exc))
        if request.url.path.startswith("/api/"):
            return JSONResponse(error.to_json(), status_code=413, headers={"Connection": "close"})
        return web._page(request, 413, error=error)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = WebError(
            exc.status_code,
            "not-found" if exc.status_code == 404 else "http-error",
            str(exc.detail),
        )
        if _wants_html(request):
            return web._page(request, exc.status_code, error=error)
        return JSONResponse(error.to_json(), status_code=exc.status_code, headers=exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        error = WebError(
            500,
            "internal-error",
            f"internal error: {type(exc).__name__}. This is a bug in feocscreen {__version__}, "
            f"not a problem with your input. Please report it at {ISSUE_URL}.",
        )
        if _wants_html(request):
            try:
                return web._page(request, 500, error=error)
            except Exception:  # the page itself is broken: fall back to JSON
                log.exception("rendering the error page failed")
        return JSONResponse(error.to_json(), status_code=500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(warm_up)
        try:
            yield
        finally:
            web.close()

    routes = [
        Route("/", web.index, methods=["GET"]),
        Route("/screen", web.screen_page, methods=["POST"]),
        Route("/api/screen", web.api_screen, methods=["POST"]),
        Route("/api/rules", web.api_rules, methods=["GET"]),
        Route("/healthz", web.healthz, methods=["GET"]),
        Route("/openapi.json", web.openapi, methods=["GET"]),
        Route("/reports/{report_id}/{name}", web.report_file, methods=["GET"]),
        Route("/static/{name}", web.static, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            UploadTooLarge: too_large,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app.state.web = web
    app.add_middleware(
        RequestGuard,
        token=settings.token,
        max_body_bytes=settings.max_upload_bytes,
        allowed_hosts=settings.allowed_hosts,
    )
    return app

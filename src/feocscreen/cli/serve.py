"""``feocscreen serve``: start the upload page on this machine (or, with a token, the network)."""

from __future__ import annotations

import os

import click

from ..errors import FeocscreenError

TOKEN_ENV = "FEOCSCREEN_TOKEN"
MIN_TOKEN_CHARS = 16  # a shorter shared secret is guessable over a network


def _is_loopback(host: str) -> bool:
    from ipaddress import ip_address

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback needs --token.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 = any free port).",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"Access token every request must carry (or set {TOKEN_ENV}).",
)
@click.option(
    "--max-upload-mb",
    default=25.0,
    show_default=True,
    type=click.FloatRange(0.01, 2048),
    help="Largest accepted upload, in MB.",
)
@click.option(
    "--time-limit",
    default=120.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds a screening may take before it is stopped.",
)
@click.option(
    "--report-expiry",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 7 * 24 * 60),
    help="Minutes a generated report stays downloadable.",
)
@click.option(
    "--max-concurrent",
    default=None,
    type=click.IntRange(1, 64),
    help="Screenings run at once (default: one per CPU).",
)
def serve(
    host: str,
    port: int,
    token: str | None,
    max_upload_mb: float,
    time_limit: float,
    report_expiry: float,
    max_concurrent: int | None,
) -> None:
    """Start the upload page: drop a workbook, read the verdict, download the report.

    Binds 127.0.0.1 by default. Binding any other address exposes supplier data
    to the network, so it needs --token (or FEOCSCREEN_TOKEN); every request then
    carries it. Informational only; not legal advice.
    """
    token = token or None
    if not _is_loopback(host) and not token:
        raise click.UsageError(
            f"--host {host} is reachable from other machines; give --token or set {TOKEN_ENV} "
            "so that only people with the token can upload."
        )
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise click.UsageError(f"the token must have at least {MIN_TOKEN_CHARS} characters.")
    try:
        import uvicorn

        from ..web import WebSettings, create_app
    except ImportError as exc:
        raise FeocscreenError(
            f"the web page needs the 'web' extra ({exc.name} is missing): pip install 'feocscreen[web]'"
        ) from None
    settings = WebSettings(
        token=token,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        time_limit_seconds=time_limit,
        report_ttl_seconds=report_expiry * 60,
        max_concurrent=max_concurrent or max(1, os.cpu_count() or 1),
    )
    shown_host = f"[{host}]" if ":" in host else host
    if port == 0:
        click.echo("feocscreen page on a free port: see uvicorn's address below", err=True)
    else:
        where = f"http://{shown_host}:{port}/" + ("?token=…" if token else "")
        click.echo(f"feocscreen page on {where}  (Ctrl+C stops it)", err=True)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )


def register(group: click.Group) -> None:
    """Add ``serve`` to the CLI."""
    group.add_command(serve)

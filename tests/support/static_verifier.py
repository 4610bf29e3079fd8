"""The static verifier (`altan verifier export`) in a browser: the exported directory served
on one port, a ledger on another (a stub answering synthetic answers, or a proxy in front of
the real service that may lie), a fake camera showing a printed certificate, and reading
what the page concluded.

Shared by tests/clients/test_verifier_browser.py (synthetic and real-service runs).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from PIL import Image
from playwright.sync_api import Page

from clients.verifier_export import export, pinned_config

Answer = tuple[int, bytes]


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """The files of ``directory`` over HTTP on a free loopback port (a static host)."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(directory))
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as base:
        yield base


class LedgerStub:
    """Answers `GET /api/c/{token}` with whatever ``respond(token)`` gives, with
    `Access-Control-Allow-Origin: *` as the service does; keeps every request's headers."""

    def __init__(self) -> None:
        self.respond: Callable[[str], Answer] = lambda token: (404, b"{}")
        self.requests: list[dict[str, str]] = []
        stub = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                stub.requests.append({k.lower(): v for k, v in self.headers.items()})
                if not self.path.startswith("/api/c/"):
                    self.send_error(404)
                    return
                status, body = stub.respond(self.path.removeprefix("/api/c/"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def answer(self, answer: dict[str, Any]) -> None:
        """Answer every token with ``answer`` (200, JSON)."""
        body = json.dumps(answer).encode()
        self.respond = lambda token: (200, body)

    @contextmanager
    def running(self) -> Iterator[str]:
        with _serving(self.server) as base:
            yield base


class LyingProxy:
    """A proxy in front of a real ledger: every GET goes to ``upstream``; the JSON answers of
    `/api/c/{token}` pass through ``rewrite(answer)`` (None: as they are). Headers other than
    the body's type and CORS are not copied."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        proxy = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                with httpx.Client(timeout=10) as client:
                    got = client.get(proxy.upstream + self.path)
                body = got.content
                if self.path.startswith("/api/c/") and proxy.rewrite is not None:
                    body = json.dumps(proxy.rewrite(got.json())).encode()
                self.send_response(got.status_code)
                self.send_header("Content-Type", got.headers.get("content-type", "text/plain"))
                allow = got.headers.get("access-control-allow-origin")
                if allow is not None:  # as the service said, so a missing header shows
                    self.send_header("Access-Control-Allow-Origin", allow)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @contextmanager
    def running(self) -> Iterator[str]:
        with _serving(self.server) as base:
            yield base


def export_site(
    directory: Path,
    keys: list[str],
    ledger: str | None,
    witnesses: list[str] | None = None,
    min_cosignatures: int = 0,
    max_age: int = 3600,
) -> Path:
    """`altan verifier export` into ``directory`` (through the function the command calls)."""
    export(directory, pinned_config(keys, witnesses or [], min_cosignatures, max_age, ledger))
    return directory


def open_with(page: Page, site: str, text: str, lang: str = "en") -> dict[str, Any]:
    """Open the verifier with ``text`` (a QR text or token) given as `?c=` and read it."""
    page.goto(f"{site}/?lang={lang}&c={quote(text, safe='')}", wait_until="load")
    return read_result(page)


RESULT_JS = """() => {
  const result = document.getElementById('result');
  const checks = {};
  for (const li of document.querySelectorAll('#checks li')) {
    checks[li.dataset.check] = li.dataset.state;
  }
  const facts = {};
  for (const dd of document.querySelectorAll('#facts dd[data-fact]')) {
    facts[dd.dataset.fact] = dd.textContent;
  }
  const visible = (id) => !document.getElementById(id).hidden;
  return {
    verdict: result.dataset.verdict,
    reason: result.dataset.reason,
    checks: checks,
    failed: visible('first-failure') ? document.getElementById('first-failure').dataset.step : null,
    word: document.querySelector('#verdict .word').textContent,
    reason_text: document.getElementById('reason').textContent,
    as_of: visible('as-of') ? document.getElementById('as-of').textContent : null,
    as_of_size: document.getElementById('as-of').dataset.size || null,
    ledger_said: visible('ledger-said') ? document.getElementById('ledger-said').textContent : null,
    facts: facts,
  };
}"""


def read_result(page: Page, timeout_ms: int = 15_000) -> dict[str, Any]:
    """Wait until the page has concluded; its verdict, reason, check lines and texts."""
    page.wait_for_selector("#result[data-state='done']", timeout=timeout_ms)
    result: dict[str, Any] = page.evaluate(RESULT_JS)
    return result


def y4m_from_image(image: Image.Image, out: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """A short Y4M video (4:2:0) of a printed page on a grey table, filmed as a phone held
    over its upper part (the QR code) films it: the page across 85% of the frame's width,
    its lower part out of the picture. What `--use-file-for-fake-video-capture` plays."""
    width, height = size
    frame = Image.new("RGB", size, (120, 120, 118))
    sheet = image.convert("RGB")
    scale = width * 0.85 / sheet.width
    sheet = sheet.resize((round(sheet.width * scale), round(sheet.height * scale)))
    frame.paste(sheet, ((width - sheet.width) // 2, 24))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(10):
            f.write(b"FRAME\n")
            f.write(planes)
    return out

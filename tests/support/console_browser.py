"""The console in a real browser: a free local port, the app served by uvicorn in a thread
on a fresh database, pages at a phone or tablet viewport, the check that nothing scrolls
sideways, and the wait for the offline delivery form (service worker, device key).

Shared by tests/services/console/test_console_*browser.py and test_season_walk_browser.py
(the browser itself comes from tests/support/browser.py).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import create_engine, make_url, text

from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.settings import Settings
from support.browser import TIMEOUT_MS
from support.certificates import World
from support.console import cast_for_console
from support.db import postgres_base
from support.domain import Api

T = TypeVar("T")

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """`app` served by uvicorn on 127.0.0.1:`port` (a daemon thread) until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the service did not start"
            assert thread.is_alive(), "the service stopped while starting"
            time.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def console_service(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    seed: Callable[[Api, World], T] | None = None,
    *,
    host: str = "127.0.0.1",
) -> Iterator[tuple[str, Any, T | None]]:
    """The app on a fresh SQLite database in its own data dir (`name`), served on a free
    port of `host`, its administrator bootstrapped and the console's cast registered
    (`cast_for_console`), then `seed(api, world)`: the base URL, the app, and what `seed`
    returned, until the block ends."""
    port = free_port()
    base = f"http://{host}:{port}"
    data = Path(tmp_path_factory.mktemp(name)) / "data"
    app: Any = create_app(Settings(data_dir=data, public_url=base, access_log=False))
    with serving(app, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            token = bootstrap_administrator(app.state.events)
            assert token is not None
            api = Api(client, token)  # type: ignore[arg-type]
            world = cast_for_console(api)
            seeded = seed(api, world) if seed is not None else None
        yield base, app, seeded


def new_context(browser: Browser, size: str = "phone") -> BrowserContext:
    """A fresh context (its own cookies and storage) at the `size` viewport, in Mongolian
    and Ulaanbaatar time, as a phone or tablet would be."""
    context = browser.new_context(
        viewport=VIEWPORTS[size],  # type: ignore[arg-type]
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="mn-MN",
        timezone_id="Asia/Ulaanbaatar",
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def new_page(browser: Browser, size: str = "phone") -> Page:
    """A page in a fresh context at the `size` viewport (the caller closes its context)."""
    return new_context(browser, size).new_page()


WIDER_THAN_SCREEN = """() => {
  const inner = window.innerWidth;
  // inside a scroller of its own that fits (the phone's menu strip): swiped, not cut off
  const scrolled = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") return p.getBoundingClientRect().right <= inner + 1;
    }
    return false;
  };
  return [document.documentElement.scrollWidth, inner,
    [...document.querySelectorAll("body *")].filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 1 && r.right > inner + 1 && !e.closest(".visually-hidden") && !scrolled(e);
    }).map((e) => e.tagName + "." + e.className).slice(0, 5)];
}"""


def wider_than_screen(page: Page) -> str | None:
    """What makes the page scroll sideways (None when nothing does): the page's width, the
    screen's, and the first elements reaching past its right edge."""
    wide = page.evaluate(WIDER_THAN_SCREEN)
    return None if wide[0] <= wide[1] and not wide[2] else f"{page.url}: {wide}"


def no_sideways_scroll(page: Page) -> None:
    """Nothing wider than the screen: the page does not scroll sideways."""
    found = wider_than_screen(page)
    assert found is None, f"wider than the screen: {found}"


@contextmanager
def fresh_database(database: str) -> Iterator[str | None]:
    """A `database_url` for the app: None for SQLite (a file in the app's data_dir), or
    a PostgreSQL schema of its own, dropped afterwards (skips when none is reachable)."""
    if database == "sqlite":
        yield None
        return
    base = postgres_base()
    if base is None:
        pytest.skip("PostgreSQL not reachable")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# -- offline first: the service worker and the device key ------------------------------------

WORKER_READY = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const kept = await (await caches.open("altan-console-v1")).match("/app/centre/deliveries/new");
  return Boolean(registration.active && navigator.serviceWorker.controller && kept);
}"""

DEVICE_KEYS = """async () => {
  const db = await new Promise((ok, no) => {
    const r = indexedDB.open("altan-offline", 1);
    r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
  });
  const rows = await new Promise((ok) => {
    const r = db.transaction("keys").objectStore("keys").getAll();
    r.onsuccess = () => ok(r.result);
  });
  return rows.map((k) => ({actor: k.actor, key_id: k.key_id, registered: k.registered}));
}"""


def ready_for_offline(page: Page, form_url: str) -> dict[str, Any]:
    """Open the delivery form online until the service worker controls the page and keeps
    the form, and the device key is registered; the key as the browser keeps it."""
    page.goto(form_url)
    deadline = time.monotonic() + 15
    while not page.evaluate(WORKER_READY):
        assert time.monotonic() < deadline, "the service worker did not take over"
        page.wait_for_timeout(200)
        page.reload()
    deadline = time.monotonic() + 15
    while True:
        keys = page.evaluate(DEVICE_KEYS)
        if keys and keys[0]["registered"]:
            return dict(keys[0])
        assert time.monotonic() < deadline, f"the device key was not registered: {keys}"
        page.wait_for_timeout(200)

"""The administrator's list of actors pages by id, `ACTOR_PAGE` at a time (keyset:
`/app/admin?after=<id>`): following the "next" links from the first page shows every
registered actor exactly once, in the database's order, and the last page has no link.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import select

from services.actors.models import Actor
from services.console.admin import ACTOR_PAGE
from support.console import running_console
from support.console_officers import SYS_ADMIN, add_officer_staff
from support.db import Database, database_url

ROW = re.compile(r'<tr id="actor-([^"]+)">')
NEXT = re.compile(r'<a class="button" href="/app/admin\?after=([^"]+)">')


def test_every_actor_appears_exactly_once_across_the_pages(
    database: Database, tmp_path: Path
) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_officer_staff(c.api)
        for n in range(ACTOR_PAGE + 7):  # ids that sort among the cast's: "miner:" < "miner:a"
            c.api.ok(
                "admin:root", "actor.registered", {"actor": f"miner:a{n:03d}", "role": "miner"}
            )
        engine = c.api.client.app.state.log.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            registered = set(conn.execute(select(Actor.id)).scalars())
        assert len(registered) > ACTOR_PAGE
        assert c.sign_in(SYS_ADMIN).status_code == 303

        seen: list[str] = []
        path, pages = "/app/admin", 0
        while True:
            resp = c.client.get(path)
            assert resp.status_code == 200, resp.text
            rows = ROW.findall(resp.text)
            pages += 1
            assert 0 < len(rows) <= ACTOR_PAGE
            seen += rows
            more = NEXT.search(resp.text)
            if more is None:
                break
            assert len(rows) == ACTOR_PAGE
            assert unquote(more.group(1)) == rows[-1]
            path = f"/app/admin?after={more.group(1)}"
            assert pages < 10
        assert len(seen) == len(set(seen))
        assert set(seen) == registered
        assert pages == -(-len(registered) // ACTOR_PAGE)

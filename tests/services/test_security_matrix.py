"""The authorisation matrix over every route, and what must never leave the service (issue 6).

- Every route the app serves (listed from `app.routes`, so a new route without an entry
  here fails `test_every_route_has_an_entry`) is called by every principal: nobody,
  each role, and for records that belong to someone a party and a stranger (the centre
  that holds a lot, the other centre, the buyer it was offered to, another buyer...).
  Each answer must be the entry's success status for those it lists, 403 for every other
  holder of a token, 401 without one; except that a record a token holder may not read
  (`hidden`) answers it 404, exactly as an absent record does (issue 11), unless it is an
  officer (officers read every record, so they only ever meet a 403 for an action).
- A revoked token, or the token of a revoked actor, fails at the very next request.
- A centre's stolen token does nothing to another centre's lots: no offer, split, merge,
  cancel or certificate request; no read.
- Across a full scenario (the matrix, the refusals, error bodies), no response carries a
  bearer token other than the one it issued, the log's private key (PEM or raw), the key
  passphrase, or a person's name, national ID or phone number (except the personal-data
  route, to those allowed it); nor does any entry of the log.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ledger.commitment import commit, new_salt
from services.staff.sessions import SESSION_COOKIE
from support.domain import WHEN, Api
from support.roles import StaffSession, sign_in_staff
from support.staff import DATABASES, staff_api

PASSPHRASE = "altan-test-passphrase-Төв-7391"
PERSON = {"name": "Батбаяр Дорж", "national_id": "УБ90010112", "phone": "+976 9900 4455"}
PRICE = {"amount": "215000.00", "currency": "MNT"}
STAFF_PASSWORD = "altan-matrix-password-1"  # every staff member's, in this test

# principal name -> actor id (None: no token at all)
PRINCIPALS: dict[str, str | None] = {
    "anonymous": None,
    "administrator": "admin:root",
    "regulator": "regulator:tov",
    "auditor": "auditor:mrpam",
    "centre": "centre:bornuur",  # holds AU-1 (offered to the buyer), AU-2 (certified)
    "other_centre": "centre:mandal",  # holds AU-3 (certified)
    "buyer": "buyer:mongolbank",  # AU-1 was offered to it
    "other_buyer": "buyer:stranger",
    "laboratory": "lab:darkhan",
    "partnership": "partnership:tuul",  # its ore ORE-1 from SITE-1 went to the centre
    "miner": "miner:bat",  # a person (personal data); its ore ORE-2 from SITE-2 to mandal
}
EVERYONE = frozenset(PRINCIPALS)
AUTHENTICATED = EVERYONE - {"anonymous"}
OFFICERS = frozenset({"administrator", "regulator", "auditor"})

# The console's principals (services/console, services/staff): a signed-in staff member of
# each actor above (the administrator's is an administrator staff member of admin:root),
# and an administrator staff member of the centre (manages its own actor only).
SESSION_PRINCIPALS: dict[str, tuple[str | None, bool]] = {
    name: (actor, name == "administrator") for name, actor in PRINCIPALS.items()
} | {"centre_admin": ("centre:bornuur", True)}
SIGNED_IN = frozenset(SESSION_PRINCIPALS) - {"anonymous"}
CENTRES = frozenset({"centre", "other_centre", "centre_admin"})


@dataclass(frozen=True)
class Probe:
    """One call of a route: who gets `ok`; every other token holder 403, nobody 401."""

    method: str
    url: str | Callable[[World, str], str]  # a callable gets the world and the principal
    allowed: frozenset[str]
    ok: int = 200
    json: Any = None
    content: bytes | None = None
    denied: int = 403  # what a token holder outside `allowed` gets
    hidden: bool = False  # non-officers outside `allowed` get the 404 of an absent record
    # the console: called with a session cookie (SESSION_PRINCIPALS) instead of a token
    session: bool = False
    anon: int = 401  # what nobody gets (a session probe's page: 303 to the sign-in page)
    expect: Mapping[str, int] = field(default_factory=dict)  # per principal, overrides
    csrf: bool = False  # send the session's CSRF token (form field, or JSON's header)
    data: dict[str, str] | None = None  # a form
    only: frozenset[str] | None = None  # call only these (a write that would succeed)


def probe(
    method: str, url: Any, allowed: frozenset[str] | set[str], ok: int = 200, **kw: Any
) -> Probe:
    return Probe(method, url, frozenset(allowed), ok, **kw)


@dataclass
class World:
    api: Api
    data_dir: Path
    certificates: dict[str, str] = field(default_factory=dict)  # lot -> certificate id
    tokens: dict[str, str] = field(default_factory=dict)  # lot -> certificate token
    responses: list[tuple[str, str, int, bytes, str]] = field(default_factory=list)
    sessions: dict[str, StaffSession] = field(default_factory=dict)  # signed-in browsers
    staff: str = ""  # a staff member of the centre's, for others to try to disable
    token: str = ""  # a token of the centre's, for others to try to revoke

    def call(self, who: str, p: Probe, **extra_headers: str) -> httpx.Response:
        url = p.url(self, who) if callable(p.url) else p.url
        headers = dict(extra_headers)
        kw: dict[str, Any] = {"headers": headers, "follow_redirects": False}
        if p.session:
            browser = self.sessions[who]
            browser.client.cookies.clear()  # the session's own cookie, nothing picked up
            if browser.cookie:
                headers["Cookie"] = f"{SESSION_COOKIE}={browser.cookie}"
            if p.csrf and p.json is not None:
                headers["X-CSRF-Token"] = browser.csrf
            if p.data is not None:
                kw["data"] = p.data | ({"csrf_token": browser.csrf} if p.csrf else {})
            client = browser.client
        else:
            if p.data is not None:
                kw["data"] = p.data
            actor = PRINCIPALS[who]
            if actor is not None:
                headers["Authorization"] = f"Bearer {self.api.tokens[actor]}"
            client = self.api.client
        if p.json is not None:
            kw["json"] = p.json
        if p.content is not None:
            kw["content"] = p.content
        return client.request(p.method, url, **kw)

    def size(self) -> int:
        return self.api.size()


def _record(world: World) -> Callable[[httpx.Response], None]:
    def hook(resp: httpx.Response) -> None:
        resp.read()
        req = resp.request
        auth = req.headers.get("authorization", "")
        headers = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
        world.responses.append((req.method, str(req.url), resp.status_code, resp.content, auth))
        world.responses.append((req.method, str(req.url), resp.status_code, headers.encode(), auth))

    return hook


def _site(api: Api, site: str, owner: str) -> None:
    region = {"aimag": "Төв", "soum": "Борнуур"}
    api.ok(
        "regulator:tov",
        "site.registered",
        {"site": site, "owner": owner, "region": region, "lat": "48.5", "lon": "106.2"},
    )


def _gold(
    api: Api, centre: str, ore: str, miner: str, site: str, run: str, lots: list[str]
) -> None:
    api.ok(
        centre,
        "ore.delivered",
        {"lot": ore, "miner": miner, "site": site, "mass_g": 2_000_000, "mined_on": "2026-09-01"},
    )
    api.ok(
        centre,
        "processing.recorded",
        {
            "run": run,
            "inputs": [{"lot": ore, "mass_g": 2_000_000}],
            "outputs": [{"lot": lot, "form": "dore", "mass_mg": 15_000} for lot in lots],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-02",
            "finished_on": "2026-09-02",
        },
    )


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = Path(tmp_path_factory.mktemp("security"))
    # every probe mints tokens in one shared world: the per-actor cap has its own tests
    # (on SQLite or a fresh PostgreSQL schema; both centres come registered)
    with staff_api(
        tmp, request.param, key_passphrase=PASSPHRASE, max_tokens_per_actor=1000
    ) as staffed:
        api = staffed.api
        w = World(api, tmp / "data")
        api.client.event_hooks["response"] = [_record(w)]
        for name, actor in PRINCIPALS.items():
            if actor is None or name == "administrator":
                continue
            role = {"centre": "processing_centre", "other_centre": "processing_centre"}.get(
                name, {"other_buyer": "buyer"}.get(name, name)
            )
            if name == "miner":
                salt = new_salt()
                api.ok(
                    "admin:root",
                    "actor.registered",
                    {"actor": actor, "role": "miner", "personal_commitment": commit(salt, PERSON)},
                    private={"personal": PERSON, "salt": salt.hex()},
                )
                resp = api.client.post(
                    f"/actors/{actor}/tokens",
                    json={"label": "t"},
                    headers=api.headers("admin:root"),
                )
                api.tokens[actor] = resp.json()["token"]
            elif actor not in api.tokens:
                api.register(actor, role)
        _site(api, "SITE-1", "partnership:tuul")
        _site(api, "SITE-2", "miner:bat")
        _gold(
            api, "centre:bornuur", "ORE-1", "partnership:tuul", "SITE-1", "RUN-1", ["AU-1", "AU-2"]
        )
        _gold(api, "centre:mandal", "ORE-2", "miner:bat", "SITE-2", "RUN-2", ["AU-3"])
        salt = new_salt()
        api.ok(
            "centre:bornuur",
            "transfer.offered",
            {
                "offer": "OFFER-1",
                "lot": "AU-1",
                "to": "buyer:mongolbank",
                "price_commitment": commit(salt, PRICE),
            },
            private={"price": PRICE, "salt": salt.hex()},
        )
        for centre, lot in (("centre:bornuur", "AU-2"), ("centre:mandal", "AU-3")):
            api.ok(centre, "certificate.requested", {"lot": lot})
            certs = api.client.get(
                f"/lots/{lot}/certificates", headers=api.headers("admin:root")
            ).json()["certificates"]
            w.certificates[lot] = certs[0]["id"]
            w.tokens[lot] = certs[0]["token"]
        for case, lot in (("CASE-1", "AU-2"), ("CASE-2", "AU-3")):
            api.ok(
                "auditor:mrpam",
                "case.opened",
                {
                    "case": case,
                    "kind": "red_flag",
                    "target": {"kind": "lot", "id": lot},
                    "category": "other",
                    "description": "assay pending",
                },
            )
        for name, (actor, is_admin) in SESSION_PRINCIPALS.items():
            username = name.replace("_", ".") + ".staff"
            w.sessions[name] = sign_in_staff(
                api, actor, username, STAFF_PASSWORD, is_admin=is_admin
            )
            w.sessions[name].client.event_hooks["response"] = [_record(w)]
        w.staff = sign_in_staff(api, "centre:bornuur", "victim.staff", STAFF_PASSWORD).staff_id
        w.token = _fresh_centre_token(w, "the console").removeprefix("/tokens/")
        yield w


def _fresh_centre_token(world: World, who: str) -> str:
    """A new token of the centre's for `who` to try to revoke; returns its URL."""
    resp = world.api.client.post(
        "/actors/centre:bornuur/tokens",
        json={"label": f"to be revoked by {who}"},
        headers=world.api.headers("admin:root"),
    )
    assert resp.status_code == 201, resp.text
    return f"/tokens/{resp.json()['token_id']}"


def _cert(lot: str, suffix: str = "") -> Callable[[World, str], str]:
    return lambda w, _who: f"/certificates/{w.certificates[lot]}{suffix}"


def _verdict(prefix: str, lot: str) -> Callable[[World, str], str]:
    return lambda w, _who: f"{prefix}{w.tokens[lot]}"


def hidden_probe(
    method: str, url: Any, allowed: frozenset[str] | set[str], ok: int = 200, **kw: Any
) -> Probe:
    """A probe of a record: strangers get the 404 an absent record gets."""
    return Probe(method, url, frozenset(allowed), ok, hidden=True, **kw)


def page(
    url: Any, allowed: frozenset[str] | set[str], ok: int = 200, anon: int = 303, **kw: Any
) -> Probe:
    """A console page: nobody is sent to the sign-in page (303), a staff member of a
    role the page is not for gets the 403 page."""
    return Probe("GET", url, frozenset(allowed), ok, session=True, anon=anon, **kw)


def form(
    url: Any,
    allowed: frozenset[str] | set[str],
    ok: int = 422,
    data: dict[str, str] | None = None,
    **kw: Any,
) -> list[Probe]:
    """A console form's POST: without the CSRF token the 403 page for every signed-in
    staff member; with it (and a form that records nothing), `ok` for `allowed`."""
    fields = data or {}
    return [
        Probe("POST", url, frozenset(), session=True, anon=303, data=fields),
        Probe(
            "POST",
            url,
            frozenset(allowed),
            ok,
            session=True,
            anon=303,
            data=fields,
            csrf=True,
            **kw,
        ),
    ]


def console_json(url: str, allowed: frozenset[str] | set[str], ok: int = 422) -> list[Probe]:
    """A console JSON write (session and X-CSRF-Token): 401 problem for nobody, 403 for
    every signed-in staff member without the header; with it, `ok` for `allowed`."""
    return [
        Probe("POST", url, frozenset(), session=True, json={}),
        Probe("POST", url, frozenset(allowed), ok, session=True, json={}, csrf=True),
    ]


def _staff(suffix: str) -> Callable[[World, str], str]:
    return lambda w, _who: f"/app/admin/staff/{w.staff}{suffix}"


def _console_cert(lot: str) -> Callable[[World, str], str]:
    return lambda w, _who: f"/app/centre/certificates/{w.certificates[lot]}/print"


CENTRE_READERS = OFFICERS | {"centre", "partnership", "buyer"}
AU1_READERS = OFFICERS | {"centre", "buyer"}
AU2_READERS = OFFICERS | {"centre"}
AU3_READERS = OFFICERS | {"other_centre"}

# route ("METHOD /path") -> the calls that test it (own and other's record where it matters)
MATRIX: dict[str, list[Probe]] = {
    # documentation and the auditor API: public
    "GET /openapi.json": [probe("GET", "/openapi.json", EVERYONE)],
    "GET /docs": [probe("GET", "/docs", EVERYONE)],
    "GET /docs/oauth2-redirect": [probe("GET", "/docs/oauth2-redirect", EVERYONE)],
    "GET /redoc": [probe("GET", "/redoc", EVERYONE)],
    "GET /healthz": [probe("GET", "/healthz", EVERYONE)],
    "GET /readyz": [probe("GET", "/readyz", EVERYONE)],
    "GET /livez": [probe("GET", "/livez", EVERYONE)],
    "GET /log/checkpoint": [probe("GET", "/log/checkpoint", EVERYONE)],
    "GET /log/keys": [probe("GET", "/log/keys", EVERYONE)],
    "GET /log/entries": [probe("GET", "/log/entries?start=0&end=50", EVERYONE)],
    "GET /log/proof/inclusion": [
        probe("GET", "/log/proof/inclusion?index=1&tree_size=3", EVERYONE)
    ],
    "GET /log/proof/consistency": [
        probe("GET", "/log/proof/consistency?first=1&second=3", EVERYONE)
    ],
    "GET /log/proof/bundle": [probe("GET", "/log/proof/bundle?index=1", EVERYONE)],
    # C2SP tlog-tiles: the read side any CDN may serve, public like the rest of /log
    "GET /log/tile/{path}": [probe("GET", "/log/tile/0/000.p/1", EVERYONE)],
    "GET /log/witnesses": [probe("GET", "/log/witnesses", EVERYONE)],
    # a witness proves itself by its cosignature, not a token: garbage is a 400 for all
    "POST /log/cosignatures": [
        probe("POST", "/log/cosignatures", EVERYONE, 400, content=b"not a note")
    ],
    "GET /c/{token}": [probe("GET", _verdict("/c/", "AU-2"), EVERYONE)],
    "GET /api/c/{token}": [probe("GET", _verdict("/api/c/", "AU-3"), EVERYONE)],
    # public like /c/: a lot's state is what the log commits to, for every verifier
    "GET /lots/{lot_id}/status-proof": [probe("GET", "/lots/AU-3/status-proof", EVERYONE)],
    # staff accounts (services/staff): by token for administrators and the actor itself
    "POST /staff": [
        hidden_probe(
            "POST",
            "/staff",
            {"administrator", "centre"},
            422,  # the body's username is refused, after the caller was let through
            json={
                "actor": "centre:bornuur",
                "username": "a b",
                "display_name": "x",
                "password": "short",
            },
        )
    ],
    "GET /staff": [hidden_probe("GET", "/staff?actor=centre:bornuur", OFFICERS | {"centre"})],
    "POST /staff/{staff_id}/disable": [
        probe("POST", "/staff/stf_0000000000000000/disable", AUTHENTICATED, 404)
    ],
    # the console's session routes: a token is no session (401 for all), and the public
    # sign-in steps answer everyone alike
    "POST /app/session": [probe("POST", "/app/session", EVERYONE, 422, json={})],
    # (and with a session: its writes want the X-CSRF-Token header, 403 without it)
    "GET /app/session": [
        probe("GET", "/app/session", set(), denied=401),
        Probe("GET", "/app/session", SIGNED_IN, session=True),
    ],
    "DELETE /app/session": [
        probe("DELETE", "/app/session", set(), denied=401),
        Probe("DELETE", "/app/session", frozenset(), session=True),
    ],
    "POST /app/staff": [
        probe("POST", "/app/staff", set(), json={}, denied=401),
        Probe("POST", "/app/staff", frozenset(), session=True, json={}),
    ],
    "POST /app/staff/{staff_id}/disable": [
        probe("POST", "/app/staff/stf_0000000000000000/disable", set(), denied=401),
        Probe("POST", "/app/staff/stf_0000000000000000/disable", frozenset(), session=True),
    ],
    "POST /app/passkeys/registration/options": [
        probe("POST", "/app/passkeys/registration/options", set(), denied=401),
        Probe("POST", "/app/passkeys/registration/options", frozenset(), session=True),
    ],
    "POST /app/passkeys/registration/verify": [
        probe("POST", "/app/passkeys/registration/verify", set(), json={}, denied=401),
        Probe("POST", "/app/passkeys/registration/verify", frozenset(), session=True, json={}),
    ],
    "POST /app/passkeys/authentication/options": [
        probe("POST", "/app/passkeys/authentication/options", EVERYONE)
    ],
    "POST /app/passkeys/authentication/verify": [
        probe("POST", "/app/passkeys/authentication/verify", EVERYONE, 422, json={"id": "x"})
    ],
    # -- the console (services/console): pages by session cookie, forms with the CSRF token
    "GET /": [page("/", SIGNED_IN, anon=200)],
    "GET /app/sw.js": [page("/app/sw.js", SIGNED_IN, anon=200)],
    "GET /app/sign-in": [page("/app/sign-in", SIGNED_IN, 303, anon=200)],  # signed in: to /app
    # without the sign-in form's token (its cookie's twin) nobody signs in: the form again, 403
    "POST /app/sign-in": [
        Probe(
            "POST",
            "/app/sign-in",
            frozenset(),
            session=True,
            anon=403,
            data={"username": "centre.staff", "password": STAFF_PASSWORD},
        )
    ],
    "POST /app/sign-out": form("/app/sign-out", set())[:1],  # with the token it would sign out
    "GET /app": [page("/app", SIGNED_IN, 303)],  # to the role's first page
    "GET /app/account": [page("/app/account", SIGNED_IN)],
    # the offline outbox: a centre's staff, session and CSRF header (a JSON problem)
    "POST /app/device-key": console_json("/app/device-key", CENTRES),
    "POST /app/outbox": console_json("/app/outbox", CENTRES),
    # a centre's pages; another centre's records are absent (404), as in the API
    "GET /app/centre": [page("/app/centre", CENTRES)],
    "GET /app/centre/deliveries": [page("/app/centre/deliveries", CENTRES)],
    "GET /app/centre/deliveries/new": [page("/app/centre/deliveries/new", CENTRES)],
    "POST /app/centre/deliveries/new": form("/app/centre/deliveries/new", CENTRES),
    "GET /app/centre/deliveries/{lot_id}/receipt": [
        page("/app/centre/deliveries/ORE-1/receipt", CENTRES, expect={"other_centre": 404}),
        page(
            "/app/centre/deliveries/ORE-2/receipt",
            CENTRES,
            expect={"centre": 404, "centre_admin": 404},
        ),
    ],
    "GET /app/centre/stock": [page("/app/centre/stock", CENTRES)],
    "GET /app/centre/register": [page("/app/centre/register", CENTRES)],
    "GET /app/centre/runs/new": [page("/app/centre/runs/new", CENTRES)],
    "POST /app/centre/runs/new": form("/app/centre/runs/new", CENTRES),
    "GET /app/centre/lots/{lot_id}/certificates": [
        page("/app/centre/lots/AU-2/certificates", CENTRES, expect={"other_centre": 404}),
        page(
            "/app/centre/lots/AU-3/certificates",
            CENTRES,
            expect={"centre": 404, "centre_admin": 404},
        ),
    ],
    # with the token, another centre's lot is absent; its own would get a certificate
    "POST /app/centre/lots/{lot_id}/certificates": form(
        "/app/centre/lots/AU-2/certificates",
        {"other_centre"},
        404,
        only=SIGNED_IN - {"centre", "centre_admin"},
    ),
    "GET /app/centre/certificates/{certificate_id}/print": [
        page(_console_cert("AU-2"), CENTRES, expect={"other_centre": 404}),
        page(_console_cert("AU-3"), CENTRES, expect={"centre": 404, "centre_admin": 404}),
    ],
    "GET /app/centre/offers": [page("/app/centre/offers", CENTRES)],
    "GET /app/centre/offers/new": [page("/app/centre/offers/new", CENTRES)],
    "POST /app/centre/offers/new": form("/app/centre/offers/new", CENTRES),
    # another centre cancelling bornuur's offer: refused by the rules, nothing recorded
    "POST /app/centre/offers/{offer_id}/cancel": form(
        "/app/centre/offers/OFFER-1/cancel",
        {"other_centre"},
        403,
        only=SIGNED_IN - {"centre", "centre_admin"},
    ),
    "GET /app/centre/cases": [page("/app/centre/cases", CENTRES)],
    "GET /app/centre/cases/{case_id}": [
        page("/app/centre/cases/CASE-1", CENTRES, expect={"other_centre": 404}),
        page("/app/centre/cases/CASE-2", CENTRES, expect={"centre": 404, "centre_admin": 404}),
    ],
    # an empty answer is a mistake on the page (422); another centre's case is absent
    "POST /app/centre/cases/{case_id}": form(
        "/app/centre/cases/CASE-1", CENTRES, expect={"other_centre": 404}
    ),
    # a buyer's pages: AU-1 was offered to mongolbank, not to the stranger
    "GET /app/buyer": [page("/app/buyer", {"buyer", "other_buyer"})],
    "GET /app/buyer/lots": [page("/app/buyer/lots", {"buyer", "other_buyer"})],
    "GET /app/buyer/lots/{lot_id}": [
        page("/app/buyer/lots/AU-1", {"buyer", "other_buyer"}, expect={"other_buyer": 404})
    ],
    # another buyer answering mongolbank's offer: refused by the rules, nothing recorded
    "POST /app/buyer/offers/{offer}/accept": form(
        "/app/buyer/offers/OFFER-1/accept", {"other_buyer"}, 403, only=SIGNED_IN - {"buyer"}
    ),
    "POST /app/buyer/offers/{offer}/reject": form(
        "/app/buyer/offers/OFFER-1/reject", {"other_buyer"}, 403, only=SIGNED_IN - {"buyer"}
    ),
    # a miner's and a partnership's pages: ORE-1 is the partnership's, ORE-2 the miner's
    "GET /app/miner": [page("/app/miner", {"partnership", "miner"})],
    "GET /app/miner/deliveries/{lot_id}/receipt": [
        page("/app/miner/deliveries/ORE-1/receipt", {"partnership"}, expect={"miner": 404}),
        page("/app/miner/deliveries/ORE-2/receipt", {"miner"}, expect={"partnership": 404}),
    ],
    # a laboratory's pages
    "GET /app/lab": [page("/app/lab", {"laboratory"})],
    "GET /app/lab/assay": [page("/app/lab/assay", {"laboratory"})],
    "POST /app/lab/assay": form("/app/lab/assay", {"laboratory"}),
    # the officers' pages (regulator, auditor, administrator)
    "GET /app/officer": [page("/app/officer", OFFICERS)],
    "GET /app/officer/reports": [page("/app/officer/reports", OFFICERS)],
    "GET /app/officer/cases/new": [page("/app/officer/cases/new", OFFICERS)],
    "POST /app/officer/cases/new": form("/app/officer/cases/new", OFFICERS),
    "GET /app/officer/cases/{case_id}": [page("/app/officer/cases/CASE-1", OFFICERS)],
    "POST /app/officer/cases/{case_id}/{action}": [
        *form("/app/officer/cases/CASE-1/resolve", OFFICERS),
        # an action there is not: absent for officers (before the token is looked at)
        *[
            replace(q, allowed=OFFICERS, ok=404)
            for q in form("/app/officer/cases/CASE-1/delete", OFFICERS)
        ],
    ],
    # administration: the system administrator everything, an actor's administrator its
    # own actor's staff and tokens
    "GET /app/admin": [  # an actor's administrator: to its own actor's page
        page("/app/admin", {"administrator", "centre_admin"}, expect={"centre_admin": 303})
    ],
    "GET /app/admin/actors/new": [page("/app/admin/actors/new", {"administrator"})],
    "POST /app/admin/actors/new": form("/app/admin/actors/new", {"administrator"}),
    "GET /app/admin/sites/new": [page("/app/admin/sites/new", {"administrator"})],
    "POST /app/admin/sites/new": form("/app/admin/sites/new", {"administrator"}),
    "GET /app/admin/actors/{actor_id}": [
        page("/app/admin/actors/centre:bornuur", {"administrator", "centre_admin"}),
        page("/app/admin/actors/centre:mandal", {"administrator"}),
    ],
    "POST /app/admin/actors/{actor_id}/staff": [
        *form("/app/admin/actors/centre:bornuur/staff", {"administrator", "centre_admin"}),
        *form("/app/admin/actors/centre:mandal/staff", {"administrator"}),
    ],
    # issuing, disabling, revoking would succeed for those allowed: the others try
    "POST /app/admin/actors/{actor_id}/tokens": form(
        "/app/admin/actors/centre:bornuur/tokens",
        set(),
        only=SIGNED_IN - {"administrator", "centre_admin"},
    ),
    "POST /app/admin/staff/{staff_id}/disable": [
        *form(_staff("/disable"), set(), only=SIGNED_IN - {"administrator", "centre_admin"}),
        # (a staff id nobody has: the 403 page to staff who manage no actor, and to those
        # who do the same 404 as another actor's staff id, so ids cannot be probed)
        Probe(
            "POST",
            "/app/admin/staff/stf_0000000000000000/disable",
            {"administrator", "centre_admin"},
            404,
            session=True,
            anon=303,
            data={},
        ),
    ],
    "POST /app/admin/tokens/{token_id}/revoke": form(
        lambda w, _who: f"/app/admin/tokens/{w.token}/revoke",
        set(),
        only=SIGNED_IN - {"administrator", "centre_admin"},
    ),
    # writes: who passes authentication (the role x type matrix is test_authorization's,
    # the relationships test_stolen_centre_token_cannot_touch_another_centres_lots')
    "POST /events": [
        probe("POST", "/events", AUTHENTICATED, 404, json={"type": "nope", "body": {}})
    ],
    "POST /events/batch": [
        probe(
            "POST",
            "/events/batch",
            AUTHENTICATED,
            200,
            json={"items": [{"type": "nope", "body": {}}]},
        )
    ],
    "POST /actors/{actor_id}/tokens": [
        hidden_probe(
            "POST",
            "/actors/centre:bornuur/tokens",
            {"administrator", "regulator", "centre"},
            201,
            json={"label": "x"},
        ),
        hidden_probe(
            "POST",
            "/actors/auditor:mrpam/tokens",
            {"administrator", "auditor"},
            201,
            json={"label": "x"},
        ),
    ],
    "DELETE /tokens/{token_id}": [
        probe("DELETE", _fresh_centre_token, {"administrator", "centre"}, 204)
    ],
    # the record to officers and itself, the public minimum to those it trades with
    # (bornuur: the partnership whose ore it took, the buyer it offered gold to)
    "GET /actors/{actor_id}": [
        hidden_probe("GET", "/actors/centre:bornuur", CENTRE_READERS),
        hidden_probe("GET", "/actors/miner:bat", OFFICERS | {"miner", "other_centre"}),
    ],
    "GET /actors/{actor_id}/personal": [
        probe("GET", "/actors/miner:bat/personal", {"administrator", "regulator", "miner"}),
        # allowed, but there is none: 404 past the permission check
        probe(
            "GET", "/actors/centre:bornuur/personal", {"administrator", "regulator", "centre"}, 404
        ),
    ],
    "POST /actors/{actor_id}/personal/erasure": [
        # an actor without personal data, so the administrator's call erases nothing
        probe(
            "POST",
            "/actors/centre:bornuur/personal/erasure",
            {"administrator"},
            404,
            json={"reason": "lawful request"},
        )
    ],
    "GET /sites/{site_id}": [
        hidden_probe("GET", "/sites/SITE-1", OFFICERS | {"partnership"}),
        hidden_probe("GET", "/sites/SITE-2", OFFICERS | {"miner"}),
    ],
    "GET /sites/{site_id}/history": [
        hidden_probe("GET", "/sites/SITE-1/history", OFFICERS | {"partnership"})
    ],
    "GET /sites/{site_id}/downstream": [
        hidden_probe("GET", "/sites/SITE-1/downstream", OFFICERS | {"partnership"}),
        hidden_probe("GET", "/sites/SITE-2/downstream", OFFICERS | {"miner"}),
    ],
    "GET /actors/{actor_id}/downstream": [
        hidden_probe("GET", "/actors/partnership:tuul/downstream", OFFICERS | {"partnership"}),
        hidden_probe("GET", "/actors/miner:bat/downstream", OFFICERS | {"miner"}),
    ],
    # a miner's deliveries: itself, the centres it delivered to (their own), officers
    "GET /actors/{actor_id}/deliveries": [
        hidden_probe(
            "GET", "/actors/partnership:tuul/deliveries", OFFICERS | {"partnership", "centre"}
        ),
        hidden_probe("GET", "/actors/miner:bat/deliveries", OFFICERS | {"miner", "other_centre"}),
    ],
    # lists: anyone with a token, each seeing only the records it may read
    # (tests/services/lots/test_lists.py)
    "GET /lots": [probe("GET", "/lots?kind=gold&limit=5", AUTHENTICATED)],
    "GET /offers": [probe("GET", "/offers?to=buyer:mongolbank", AUTHENTICATED)],
    "GET /actors": [probe("GET", "/actors?role=buyer", AUTHENTICATED)],
    "GET /sites": [probe("GET", "/sites?status=active", AUTHENTICATED)],
    "GET /lots/{lot_id}": [
        hidden_probe("GET", "/lots/AU-1", AU1_READERS),
        hidden_probe("GET", "/lots/AU-3", AU3_READERS),
        hidden_probe("GET", "/lots/ORE-1", OFFICERS | {"centre", "partnership"}),
        hidden_probe("GET", "/lots/ORE-2", OFFICERS | {"other_centre", "miner"}),
    ],
    "GET /lots/{lot_id}/history": [
        hidden_probe("GET", "/lots/AU-1/history", AU1_READERS),
        hidden_probe("GET", "/lots/AU-3/history", AU3_READERS),
    ],
    "GET /lots/{lot_id}/provenance": [
        hidden_probe("GET", "/lots/AU-1/provenance", AU1_READERS),
        hidden_probe("GET", "/lots/AU-3/provenance", AU3_READERS),
    ],
    "GET /lots/{lot_id}/downstream": [
        hidden_probe("GET", "/lots/AU-1/downstream", AU1_READERS),
        hidden_probe("GET", "/lots/AU-3/downstream", AU3_READERS),
    ],
    "GET /offers/{offer_id}": [
        hidden_probe("GET", "/offers/OFFER-1", OFFICERS | {"centre", "buyer"})
    ],
    "GET /cases": [probe("GET", "/cases", AUTHENTICATED)],
    "GET /cases/{case_id}": [
        hidden_probe("GET", "/cases/CASE-1", AU2_READERS),
        hidden_probe("GET", "/cases/CASE-2", AU3_READERS),
    ],
    "GET /lots/{lot_id}/certificates": [
        hidden_probe("GET", "/lots/AU-2/certificates", AU2_READERS),
        hidden_probe("GET", "/lots/AU-3/certificates", AU3_READERS),
    ],
    "GET /certificates/{certificate_id}": [
        hidden_probe("GET", _cert("AU-2"), AU2_READERS),
        hidden_probe("GET", _cert("AU-3"), AU3_READERS),
    ],
    "GET /certificates/{certificate_id}/qr.png": [
        hidden_probe("GET", _cert("AU-2", "/qr.png"), AU2_READERS),
        hidden_probe("GET", _cert("AU-3", "/qr.png"), AU3_READERS),
    ],
    "GET /certificates/{certificate_id}/qr.svg": [
        hidden_probe("GET", _cert("AU-2", "/qr.svg"), AU2_READERS),
        hidden_probe("GET", _cert("AU-3", "/qr.svg"), AU3_READERS),
    ],
    "GET /certificates/{certificate_id}/print": [
        hidden_probe("GET", _cert("AU-2", "/print"), AU2_READERS),
        hidden_probe("GET", _cert("AU-3", "/print"), AU3_READERS),
    ],
    "GET /epcis/events": [probe("GET", "/epcis/events", OFFICERS)],
    "GET /epcis/lots/{lot_id}": [
        hidden_probe("GET", "/epcis/lots/AU-1", AU1_READERS),
        hidden_probe("GET", "/epcis/lots/AU-3", AU3_READERS),
    ],
    "GET /reports/mass-balance": [
        # without `centre` a centre reads its own; with another centre's id it may not
        probe("GET", "/reports/mass-balance", OFFICERS | {"centre", "other_centre"}),
        probe("GET", "/reports/mass-balance?centre=centre:bornuur", OFFICERS | {"centre"}),
    ],
    "GET /reports/custody/{lot_id}": [probe("GET", "/reports/custody/AU-1", OFFICERS)],
    "GET /reports/red-flags": [probe("GET", "/reports/red-flags", OFFICERS)],
    "GET /reports/charts/{chart}.svg": [
        probe("GET", "/reports/charts/recovery.svg?centre=centre:bornuur", OFFICERS | {"centre"}),
        probe("GET", "/reports/charts/stock.svg?centre=centre:mandal", OFFICERS | {"other_centre"}),
    ],
    "GET /reports": [probe("GET", "/reports", OFFICERS)],
}


def served_routes(world: World) -> set[str]:
    """Every route the running app serves, as "METHOD /path" (HEAD aside)."""
    from fastapi.routing import iter_route_contexts

    app = world.api.client.app
    return {
        f"{method} {route.path_format}"
        for route in iter_route_contexts(app.routes)  # type: ignore[attr-defined]
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_has_an_entry(world: World) -> None:
    served = served_routes(world)
    assert served - set(MATRIX) == set(), "routes without an entry in MATRIX"
    assert set(MATRIX) - served == set(), "MATRIX entries for routes the app does not serve"


def _expected(p: Probe, who: str) -> int:
    if who in p.expect:
        return p.expect[who]
    if who in p.allowed:
        return p.ok
    if who == "anonymous":
        return p.anon
    return 404 if p.hidden and who not in OFFICERS else p.denied


def _answer_wrong(p: Probe, who: str, resp: httpx.Response) -> str:
    """What is wrong with an answer of the expected status, beyond its status."""
    kind = resp.headers.get("content-type", "")
    if resp.status_code in (301, 302, 303, 307, 308):
        where = resp.headers.get("location", "")
        if who == "anonymous" and p.session and not where.startswith("/app/sign-in"):
            return f"redirected to {where!r}, not to the sign-in page"
    elif (
        resp.status_code >= 400
        and not kind.startswith("application/problem+json")
        # the console's pages answer with the error page, its JSON with a problem
        and not (p.session and p.json is None and kind.startswith("text/html"))
    ):
        return f"a {resp.status_code} as {kind!r}"
    return ""


def run_probes(world: World, route: str) -> list[str]:
    """Call the route's probes as every principal; the differences from the matrix."""
    wrong = []
    for p in MATRIX[route]:
        cast = SESSION_PRINCIPALS if p.session else PRINCIPALS
        for who in cast:
            if p.only is not None and who not in p.only:
                continue
            resp = world.call(who, p)
            want = _expected(p, who)
            if resp.status_code != want:
                wrong.append(f"{who}: {p.method} {resp.request.url.path} -> "
                             f"{resp.status_code}, expected {want}: {resp.text[:200]}")  # fmt: skip
            elif problem := _answer_wrong(p, who, resp):
                wrong.append(f"{who}: {p.method} {resp.request.url.path}: {problem}")
        if p.session:
            # a bearer token is no session: the console answers it as it answers nobody
            resp = world.call("administrator", replace(p, session=False, csrf=False))
            if resp.status_code != p.anon:
                path = resp.request.url.path
                wrong.append(f"a token: {p.method} {path} -> {resp.status_code}, expected {p.anon}")
    return wrong


# Cells where the product answers wrongly (reported to the lead): route -> the reason.
PRODUCT_WRONG: dict[str, str] = {}


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(r, marks=pytest.mark.xfail(strict=True, reason=PRODUCT_WRONG[r]))
        if r in PRODUCT_WRONG
        else r
        for r in sorted(MATRIX)
    ],
)
def test_matrix(world: World, route: str) -> None:
    before = world.size()
    wrong = run_probes(world, route)
    assert not wrong, "\n".join(wrong)
    assert world.size() == before  # no probe records anything


def test_revoked_token_fails_at_once(world: World) -> None:
    api = world.api
    issued = api.client.post(
        "/actors/centre:bornuur/tokens", json={"label": "laptop"}, headers=api.headers("admin:root")
    ).json()
    own = {"Authorization": f"Bearer {issued['token']}"}
    assert api.client.get("/lots/AU-1", headers=own).status_code == 200
    unknown = {"type": "nope", "body": {}}
    assert api.client.post("/events", json=unknown, headers=own).status_code == 404
    # the centre revokes its own token with that very token; the next request fails
    assert api.client.delete(f"/tokens/{issued['token_id']}", headers=own).status_code == 204
    for resp in (
        api.client.get("/lots/AU-1", headers=own),
        api.client.post("/events", json=unknown, headers=own),
        api.client.post("/events/batch", json={"items": [unknown]}, headers=own),
        api.client.delete(f"/tokens/{issued['token_id']}", headers=own),
    ):
        assert resp.status_code == 401, resp.text
        assert resp.json()["type"].endswith("/bad-token")
        assert resp.headers["www-authenticate"] == "Bearer"

    # an actor revoked through the log: all its tokens stop at once
    api.register("buyer:leaving", "buyer")
    token = {"Authorization": f"Bearer {api.tokens['buyer:leaving']}"}
    assert api.client.get("/actors/buyer:leaving", headers=token).status_code == 200
    api.ok(
        "regulator:tov",
        "actor.status_changed",
        {"actor": "buyer:leaving", "status": "revoked", "reason": "licence withdrawn"},
    )
    assert api.client.get("/actors/buyer:leaving", headers=token).status_code == 401
    assert api.client.post("/events", json=unknown, headers=token).status_code == 401


def test_stolen_centre_token_cannot_touch_another_centres_lots(world: World) -> None:
    api = world.api
    thief = "centre:mandal"  # a real, active centre's token, used on bornuur's lots
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("transfer.offered", {"offer": "STOLEN-1", "lot": "AU-2", "to": "buyer:stranger"}),
        (
            "lot.split",
            {
                "lot": "AU-2",
                "into": [{"lot": "AU-2a", "mass_mg": 7_500}, {"lot": "AU-2b", "mass_mg": 7_500}],
            },
        ),
        ("lots.merged", {"lots": ["AU-1", "AU-2"], "into": "AU-12"}),
        ("certificate.requested", {"lot": "AU-2"}),
        ("transfer.cancelled", {"offer": "OFFER-1", "reason": "mine now"}),
    ]
    before = world.size()
    for type_, body in attempts:
        resp = api.post(thief, type_, body)
        assert resp.status_code == 403, (type_, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    resp = api.post("buyer:stranger", "transfer.accepted", {"offer": "OFFER-1"})
    assert resp.status_code == 403, resp.text
    for path in ("/lots/AU-2", "/offers/OFFER-1", "/lots/AU-2/certificates", "/cases/CASE-1"):
        # not hers: the same 404 as a record that does not exist (issue 11)
        assert api.client.get(path, headers=api.headers(thief)).status_code == 404, path
    assert world.size() == before
    lot = api.client.get("/lots/AU-2", headers=api.headers("admin:root")).json()
    assert lot["custodian"] == "centre:bornuur"
    offer = api.client.get("/offers/OFFER-1", headers=api.headers("admin:root")).json()
    assert offer["status"] == "open"


def test_a_centre_sees_only_its_own_cases(world: World) -> None:
    api = world.api
    listed = api.client.get("/cases", headers=api.headers("centre:mandal")).json()["cases"]
    assert [c["case"] for c in listed] == ["CASE-2"]


# -- what never leaves the service --------------------------------------------------------


def _secrets(world: World) -> dict[str, str]:
    """What must not appear in responses: the log's private key in every form, its
    passphrase, and the raw bearer tokens (each allowed only in the answer issuing it)."""
    out: dict[str, str] = {"passphrase": PASSPHRASE, "pem header": "PRIVATE KEY-----"}
    for pem_path in sorted((world.data_dir / "keys").glob("*.pem")):
        pem = pem_path.read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in pem  # the passphrase is in use
        for i, line in enumerate(pem.decode().splitlines()[1:-1]):
            out[f"{pem_path.name} line {i}"] = line
        key = load_pem_private_key(pem, password=PASSPHRASE.encode())
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        out[f"{pem_path.name} raw b64"] = base64.b64encode(raw).decode()
        out[f"{pem_path.name} raw b64url"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        out[f"{pem_path.name} raw hex"] = raw.hex()
        plain = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        out[f"{pem_path.name} plain PEM body"] = "".join(plain.splitlines()[1:-1])
    return out


def _issued_tokens(body: bytes) -> set[str]:
    return {t.decode() for t in re.findall(rb"altan_[A-Za-z0-9_\-]{20,}", body)}


def _forms(value: str) -> list[bytes]:
    """A string as it may appear in a body: UTF-8, or JSON-escaped to ASCII."""
    return [value.encode(), json.dumps(value)[1:-1].encode()]


def _decoded(body: bytes) -> bytes:
    """A /log/entries answer with its base64 entries decoded (personal data is searched in
    the log's own bytes, too)."""
    extra = b""
    for chunk in re.findall(rb'"entry":"([A-Za-z0-9+/=]+)"', body):
        extra += b"\n" + base64.b64decode(chunk)
    return body + extra


def _error_scenario(world: World) -> None:
    """Refusals whose bodies might echo what they were sent."""
    api = world.api
    salt = new_salt()
    # personal data with a commitment that does not open: 422
    resp = api.post(
        "admin:root",
        "actor.registered",
        {"actor": "miner:echo", "role": "miner", "personal_commitment": commit(salt, {"x": 1})},
        private={"personal": PERSON, "salt": salt.hex()},
    )
    assert resp.status_code == 422
    # personal data where none is taken: 422
    resp = api.post(
        "admin:root",
        "actor.registered",
        {"actor": "miner:echo", "role": "miner"},
        private={"personal": PERSON, "salt": salt.hex()},
    )
    assert resp.status_code == 422
    # personal data in a body that fails validation, and in the idempotency key
    resp = api.client.post(
        "/events",
        json={"type": "actor.registered", "body": {"occurred_at": WHEN, "actor": PERSON}},
        headers=api.headers("admin:root", **{"Idempotency-Key": "x" * 201}),
    )
    assert resp.status_code == 422
    # (an error may name an id the caller sent, its own input, but nothing else it sent)
    resp = api.client.post(
        "/events", json={"type": "nope", "body": PERSON}, headers=api.headers("admin:root")
    )
    assert resp.status_code == 404
    # a real token with one character changed, and a real token in the wrong scheme
    token = api.tokens["centre:bornuur"]
    for auth in (f"Bearer {token}x", f"Basic {token}", f"Bearer {token} {token}"):
        resp = api.client.get("/lots/AU-1", headers={"Authorization": auth})
        assert resp.status_code == 401
    # the personal-data route as a stranger, and an erasure by one
    api.client.get("/actors/miner:bat/personal", headers=api.headers("buyer:stranger"))
    api.client.post(
        "/actors/miner:bat/personal/erasure",
        json={"reason": PERSON["name"]},
        headers=api.headers("centre:bornuur"),
    )
    api.client.get("/log/entries?start=0&end=1000")
    api.client.get(f"/log/proof/bundle?index={api.size() - 1}")
    api.client.get("/epcis/events", headers=api.headers("admin:root"))
    api.client.get("/reports", headers=api.headers("auditor:mrpam"))


def test_no_secret_or_personal_data_in_any_response(world: World) -> None:
    for route in sorted(MATRIX):
        run_probes(world, route)
    _error_scenario(world)
    secrets = _secrets(world)
    known_tokens = set(world.api.tokens.values())
    personal_route = re.compile(r"/actors/miner:bat/personal$")
    allowed_personal = {
        f"Bearer {world.api.tokens[PRINCIPALS[w] or '']}"
        for w in ("administrator", "regulator", "miner")
    }
    leaks: list[str] = []
    for method, url, status, body, auth in world.responses:
        where = f"{method} {url} -> {status}"
        issued = _issued_tokens(body) if method == "POST" and url.endswith("/tokens") else set()
        known_tokens |= issued
        for token in known_tokens - issued:
            if token.encode() in body:
                leaks.append(f"{where}: a bearer token")
        for name, secret in secrets.items():
            if any(form in body for form in _forms(secret)):
                leaks.append(f"{where}: {name}")
        reads_personal = (
            method == "GET"
            and personal_route.search(url)
            and status == 200
            and auth in allowed_personal
        )
        if not reads_personal:
            text = _decoded(body)
            for what, value in PERSON.items():
                if any(form in text for form in _forms(value)):
                    leaks.append(f"{where}: personal {what}")
    assert len(world.responses) > 500
    # the search finds what is there: the allowed personal reads and the issued tokens
    shown = [b for m, u, st, b, a in world.responses if personal_route.search(u) and st == 200]
    assert shown and all(PERSON["national_id"].encode() in b for b in shown[::2])
    assert len(known_tokens) > len(world.api.tokens)
    assert not leaks, "\n".join(sorted(set(leaks)))

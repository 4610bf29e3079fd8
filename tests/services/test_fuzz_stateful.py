"""A negative, stateful fuzz run over every operation (issue 11, "Done means").

A hypothesis state machine drives the real app through HTTP (the ASGI app in process, and
once under a real uvicorn server) over a log that grows as it goes: the administrator and
the regulator register actors (miners with personal data) and sites, centres record
deliveries and processing runs, the laboratory assays, centres offer gold at a price kept
off the log, buyers accept or reject, lots are split and merged, cases are opened and
answered, certificates requested; tokens are minted and revoked, personal data read and
erased, staff accounts created, listed and disabled (a few: argon2 is slow); every read
route is called with ids that exist and ids that are hostile.

Each step sends its request as a role drawn from everyone (the right one most of the time;
administrator, regulator, auditor, centres, miner, partnership, buyers, laboratory, no token,
a random token, a malformed header), and a good share of the requests are mutated: a field
dropped, replaced by junk (NUL and control characters, 10 kB strings, impossible times and
dates, huge or negative numbers, wrong types, deep nesting), an unknown field or type, a
body that is not JSON, not UTF-8, has duplicate keys, or an Idempotency-Key that is junk.

After every request, whatever it was:

- no 5xx;
- every 4xx is application/problem+json;
- a refusal (4xx) and every read change nothing: the log's size, the tokens (issued and
  revoked), the personal records and the staff accounts (made and disabled) are what they
  were before;
- a batch appends no more than its recorded items (and the certificates they give rise to).

At the end, everything the server logged (every line on stderr, where the app's JSON handler
writes, and every record any logger emitted, caught at DEBUG) is searched for every secret it
was sent: each bearer token (issued or made up), national ID, phone number and name of the
personal data, each price and price note, each salt and each staff password. None may be
there.

The counts (operations exercised, requests, status classes, refusals) are printed as one
line starting `stateful fuzz:` (run pytest with `-s` to see it) and kept as the test's
`fuzz_counts` property (in the JUnit XML). ALTAN_FUZZ_STATEFUL_EXAMPLES and
ALTAN_FUZZ_STATEFUL_STEPS make the run longer.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import secrets
import string
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from ledger.commitment import commit, new_salt
from ledger.entry import Entry
from ledger.sql import storage
from services.actors.bootstrap import bootstrap_administrator
from services.actors.models import ApiToken, PersonalRecord
from services.app import create_app
from services.settings import Settings
from services.staff.models import Staff
from support.db import Database, database_url
from support.domain import ActorKeyPair
from support.ops import serving

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

EXAMPLES = int(os.environ.get("ALTAN_FUZZ_STATEFUL_EXAMPLES", "40"))
STEPS = int(os.environ.get("ALTAN_FUZZ_STATEFUL_STEPS", "40"))
WHEN = "2026-09-14T10:12:00+08:00"
PROBLEM = "application/problem+json"

# The cast, registered before the run: caller name -> (actor id, role)
CAST: dict[str, tuple[str, str]] = {
    "administrator": ("admin:root", "administrator"),
    "regulator": ("regulator:fz", "regulator"),
    "auditor": ("auditor:fz", "auditor"),
    "centre": ("centre:fz-a", "processing_centre"),
    "other_centre": ("centre:fz-b", "processing_centre"),
    "buyer": ("buyer:fz-a", "buyer"),
    "other_buyer": ("buyer:fz-b", "buyer"),
    "laboratory": ("lab:fz", "laboratory"),
    "partnership": ("partnership:fz", "partnership"),
    "miner": ("miner:fz", "miner"),
}
# Callers without a valid token: none at all, a made-up one, a malformed header.
NOBODY = ("anonymous", "random_token", "malformed")
CALLERS = (*CAST, *NOBODY)
RANK = {"administrator": 3, "regulator": 2, "auditor": 1}
# Staff accounts a run creates at most (each hashes its password with argon2, ~0.5 s); past
# it, creations send a taken username, refused (409) before any hashing.
MAX_STAFF = 4

# -- hostile values -------------------------------------------------------------------------

BAD_MOMENTS = [
    "2026-09-14T23:59:60+08:00",
    "2026-09-14T24:00:00+08:00",
    "2026-09-14T25:12:00+08:00",
    "2026-09-14T10:12:00+99:99",
    "2026-13-45T99:99+99:99",
    "2030-09-14T10:12:00+08:00",
    "1970-01-01T00:00:00Z",
    "2026-09-14T10:12:00",
    "2026-02-30T10:00:00+08:00",
    "0000-00-00T00:00:00Z",
    "2026-09-14 10:12:00+08:00",
    "９９９９-09-14T10:12:00+08:00",
    "",
]
BAD_DAYS = ["2026-02-30", "2026-13-01", "1899-12-31", "2300-01-01", "26-09-01", "2030-01-01"]
BAD_TEXTS = [
    "\x00",
    "nul\x00inside",
    "line\nbreak\r\n",
    "\x1b[31mred",
    "\u202eright-to-left",
    "\ud800",
    "x" * 10_000,
    "Ө" * 3_000,
    "' OR 1=1 --",
    "../../etc/passwd",
    "%0A%0D",
    " ",
    "",
]
BAD_NUMBERS: list[Any] = [0, -1, 2**63, 2**70, -(2**63) - 1, 1.5, 1e308, True, "12", None]
BAD_IDS = ["%00", "a" * 300, "..%2F..%2F", "ЛОТ-1", "x y", "%0Aforged", "%FF%FE", "-", "_"]


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, small (what schemathesis' negative mode sends for a field)."""
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
    )
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


HOSTILE = st.one_of(
    st.sampled_from(BAD_MOMENTS),
    st.sampled_from(BAD_DAYS),
    st.sampled_from(BAD_TEXTS),
    st.sampled_from(BAD_NUMBERS),
    st.sampled_from(BAD_IDS),
    json_values(),
)


def deep(n: int) -> bytes:
    """An event whose body nests `n` lists deep (~450 reached a RecursionError once)."""
    return b'{"type":"assay.recorded","body":{"x":' + b"[" * n + b"1" + b"]" * n + b"}}"


# -- the world: one app, its cast, what it holds, what it was told --------------------------


@dataclass
class Proposal:
    """One event as the model would send it: its type, body, private part, the caller
    the rules expect, and what to remember when it is recorded."""

    type: str
    body: dict[str, Any]
    by: str
    private: dict[str, Any] | None = None
    on_success: Callable[[], None] | None = None


@dataclass
class Stats:
    requests: int = 0
    mutated: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    by_type: Counter[str] = field(default_factory=Counter)  # "type status" of /events
    refusals: int = 0
    refusal_changes: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self, label: str, ops: set[str], total_types: int) -> str:
        """The counts for the closing note, on one line."""
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.classes.items()))
        return (
            f"stateful fuzz [{label}]: {len(self.operations & ops)}/{len(ops)} operations, "
            f"{len(self.event_types)}/{total_types} event types, {self.requests} requests "
            f"({self.mutated} mutated): {classes}; {self.refusals} refusals, "
            f"{self.refusal_changes} changed the log, {self.classes.get('5xx', 0)} 5xx"
        )


class World:
    """The app under test and what the model knows of it (kept across hypothesis examples:
    each example goes on from where the last one left the log)."""

    def __init__(self, client: Any, app: Any, admin_token: str) -> None:
        self.client = client
        self.app = app
        self.engine = app.state.events.engine
        self.tag = secrets.token_hex(3)
        self.counter = 0
        self.steps = 0
        self.tokens: dict[str, str] = {"administrator": admin_token}
        self.secrets: dict[str, str] = {"admin token": admin_token}
        self.stats = Stats()
        # the model: what exists (only what a valid, accepted request made)
        self.actors: dict[str, list[str]] = {}
        for actor, role in CAST.values():
            self.actors.setdefault(role, []).append(actor)
        self.sites: list[tuple[str, str]] = []  # (site, owner)
        self.ore: list[tuple[str, str, int]] = []  # (lot, centre, grams)
        self.gold: dict[str, tuple[str, int]] = {}  # lot -> (custodian, mg)
        self.offers: dict[str, tuple[str, str, str]] = {}  # open offer -> (lot, from, to)
        self.cases: list[str] = []
        self.minted: list[tuple[str, str]] = []  # (token id, actor) minted by the fuzz
        self.personal: list[str] = []  # actors with personal data
        self.staff: list[tuple[str, str]] = []  # (staff id, actor) created by the fuzz
        self.usernames: list[str] = []

    def rnd(self, step: Step) -> random.Random:
        """The choices among what exists: hypothesis' seed and the step's number (hypothesis
        repeats small seeds often; the world has moved on since)."""
        self.steps += 1
        return random.Random(f"{step.seed}/{self.steps}")

    # ids and secrets

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.tag}-{self.counter}"

    def secret(self, label: str, value: str) -> str:
        self.secrets[f"{label} #{len(self.secrets)}"] = value
        return value

    def person(self, rnd: random.Random) -> dict[str, str]:
        """Personal data whose every value is unique to this run (so a grep means something)."""
        digits = "".join(rnd.choices(string.digits, k=8))
        name = "Батбаяр" + "".join(rnd.choices("абвгдежзийклмнопрстуфхцчшыэюяөү", k=8))
        phone = f"+976 {rnd.randint(8000, 9999)} {rnd.randint(1000, 9999)}"
        for label, value in (("name", name), ("national id", f"УБ{digits}"), ("phone", phone)):
            self.secret(label, value)
        return {"name": name, "national_id": f"УБ{digits}", "phone": phone}

    def price(self, rnd: random.Random) -> dict[str, str]:
        amount = f"{rnd.randint(10**8, 10**9)}.{rnd.randint(10, 99)}"
        note = f"Үнэ {rnd.randint(10**6, 10**7)} төгрөг/кг"
        self.secret("price", amount)
        self.secret("price note", note)
        return {"amount": amount, "currency": "MNT", "note": note}

    def staff_body(self, actor: str) -> dict[str, Any]:
        """A valid new staff account of `actor` (a taken username once MAX_STAFF exist)."""
        username = self.next_id("staff")
        if len(self.staff) >= MAX_STAFF and self.usernames:
            username = self.usernames[0]
        password = self.secret("staff password", "pw-" + secrets.token_urlsafe(12))
        return {"actor": actor, "username": username, "display_name": "Бат", "password": password}

    # state and requests

    def state(self) -> tuple[int, ...]:
        """What a refusal must leave alone: the log's size, tokens issued and revoked,
        personal records still holding data, staff accounts made and disabled."""
        with storage.read_transaction(self.engine) as conn:
            size = storage.read_size(conn)
            tokens = conn.execute(select(func.count()).select_from(ApiToken.__table__)).scalar()
            revoked = conn.execute(
                select(func.count())
                .select_from(ApiToken.__table__)
                .where(ApiToken.__table__.c.revoked_at.is_not(None))
            ).scalar()
            personal = conn.execute(
                select(func.count())
                .select_from(PersonalRecord.__table__)
                .where(PersonalRecord.__table__.c.data.is_not(None))
            ).scalar()
            staff = conn.execute(select(func.count()).select_from(Staff.__table__)).scalar()
            disabled = conn.execute(
                select(func.count())
                .select_from(Staff.__table__)
                .where(Staff.__table__.c.disabled_at.is_not(None))
            ).scalar()
        counts = (tokens, revoked, personal, staff, disabled)
        return size, *(int(n or 0) for n in counts)

    def unexplained(self, answer: dict[str, Any], start: int, end: int) -> list[int]:
        """Entries appended by a write that neither its recorded items (201) nor the
        certificates the system issues in answer to them explain: a refused item of a
        batch must append nothing."""
        results = answer.get("results", [{"status": 201, "recorded": answer}])
        recorded = {
            r["recorded"]["index"] for r in results if r["status"] == 201 and r.get("recorded")
        }
        with storage.read_transaction(self.engine) as conn:
            stored = storage.read_entries(conn, start, end)
        wrong = [
            e.index
            for e in stored
            if e.index not in recorded
            and not (
                recorded
                # what a recorded item gives rise to: its certificate, and the state.root
                # that ends every append
                and Entry.from_bytes(e.entry).event.type in ("certificate.issued", "state.root")
            )
        ]
        return wrong + sorted(i for i in recorded if not start <= i < end)

    def auth(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        if caller == "random_token":
            made_up = "altan_" + secrets.token_urlsafe(32)
            return {"Authorization": f"Bearer {self.secret('made-up token', made_up)}"}
        if caller == "malformed":
            return {"Authorization": random.choice(["Bearer", "Basic Zm9vOmJhcg==", "Bearer  x y"])}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    def send(
        self,
        op: str,
        caller: str,
        method: str,
        url: str,
        *,
        mutated: bool = False,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """Send one request and check the invariants; the response (None if the client
        itself refused to send it)."""
        all_headers = {**self.auth(caller), **(headers or {})}
        kw: dict[str, Any] = {"headers": all_headers}
        if json_body is not None:
            kw["json"] = json_body
        if content is not None:
            kw["content"] = content
        before = self.state()
        try:
            resp: httpx.Response = self.client.request(method, url, **kw)
        except (httpx.InvalidURL, UnicodeEncodeError, ValueError):
            return None  # not sendable over HTTP at all (httpx's own check)
        after = self.state()
        st_ = self.stats
        st_.requests += 1
        st_.mutated += mutated
        st_.operations.add(op)
        status = resp.status_code
        st_.classes[f"{status // 100}xx"] += 1
        what = f"{caller} {method} {url[:200]} -> {status}: {resp.text[:300]!r}"
        if op == "POST /events" and isinstance(json_body, dict):
            rule_ = ""
            if status >= 400 and not mutated:
                rule_ = " " + str(resp.json().get("type", "")).rsplit("/", 1)[-1]
                if os.environ.get("ALTAN_FUZZ_VERBOSE") == "2":
                    rule_ += f" {caller} {resp.text[:300]} {json.dumps(json_body)[:300]}"
            st_.by_type[f"{json_body.get('type')!s:.40} {status}{rule_}"] += 1
        if isinstance(json_body, dict) and op.startswith("POST /events"):
            what += f"\n  sent: {json.dumps(json_body, ensure_ascii=False)[:600]}"
        elif content is not None:
            what += f"\n  sent {all_headers.get('Content-Type')}: {content[:200]!r}"
        if status >= 500:
            st_.failures.append(f"5xx: {what}")
        if status >= 400:
            st_.refusals += 1
            if not resp.headers.get("content-type", "").startswith(PROBLEM):
                st_.failures.append(f"not problem+json: {what}")
            if after != before:
                st_.refusal_changes += 1
                st_.failures.append(f"refusal changed {before} -> {after}: {what}")
        elif method == "GET" and after != before:
            st_.failures.append(f"a read changed {before} -> {after}: {what}")
        if op.startswith("POST /events") and status in (200, 201):
            wrong = self.unexplained(resp.json(), before[0], after[0])
            if wrong:
                st_.failures.append(f"entries nobody asked for {wrong}: {what}")
        return resp


# -- the builders of valid events -----------------------------------------------------------


def _pick(rnd: random.Random, items: list[Any]) -> Any:
    return rnd.choice(items) if items else None


def build_actor(w: World, rnd: random.Random) -> Proposal | None:
    role = rnd.choice(["miner", "partnership", "buyer", "processing_centre", "laboratory"])
    prefix = {"processing_centre": "centre", "laboratory": "lab"}.get(role, role)
    actor = w.next_id(f"{prefix}:fz")
    body: dict[str, Any] = {"actor": actor, "role": role}
    private = None
    if role == "buyer":
        body["buyer_kind"] = "trader"
    if role == "partnership":
        body["members"] = 5
    if role == "miner":
        salt, person = new_salt(), w.person(rnd)
        w.secret("salt", salt.hex())
        body["personal_commitment"] = commit(salt, person)
        private = {"personal": person, "salt": salt.hex()}

    def done() -> None:
        w.actors.setdefault(role, []).append(actor)
        if private is not None:
            w.personal.append(actor)

    by = rnd.choice(["administrator", "regulator"])
    return Proposal("actor.registered", body, by, private, done)


def build_site(w: World, rnd: random.Random) -> Proposal | None:
    owner = _pick(rnd, w.actors["miner"] + w.actors["partnership"])
    site = w.next_id("SITE")
    body = {
        "site": site,
        "owner": owner,
        "region": {"aimag": "Төв", "soum": "Борнуур"},
        "lat": "48.5",
        "lon": "106.2",
    }
    return Proposal(
        "site.registered", body, "regulator", None, lambda: w.sites.append((site, owner))
    )


def build_status(w: World, rnd: random.Random) -> Proposal | None:
    cast_ids = {a for a, _ in CAST.values()}
    mine = [a for role in w.actors.values() for a in role if a not in cast_ids]
    target = _pick(rnd, mine)
    if target is None:
        return None
    status = rnd.choice(["suspended", "active", "revoked"])
    body = {"actor": target, "status": status, "reason": "fuzz"}

    def done() -> None:
        if status == "revoked":
            for role in w.actors.values():
                if target in role:
                    role.remove(target)

    return Proposal("actor.status_changed", body, "regulator", None, done)


def build_depose(w: World, rnd: random.Random) -> Proposal | None:
    """A hostile status change of the cast: an officer of lower or equal rank (never
    allowed), or a trading role (never allowed)."""
    target_name = rnd.choice(["administrator", "regulator", "auditor"])
    target = CAST[target_name][0]
    callers = [c for c in CAST if RANK.get(c, 0) <= RANK[target_name]]
    by = rnd.choice(callers)
    status = rnd.choice(["suspended", "revoked"])
    return Proposal("actor.status_changed", {"actor": target, "status": status, "reason": "x"}, by)


def build_delivery(w: World, rnd: random.Random) -> Proposal | None:
    if not w.sites:
        return None
    site, owner = rnd.choice(w.sites)
    centre = rnd.choice(["centre", "other_centre"])
    lot = w.next_id("ORE")
    grams = rnd.randint(500_000, 3_000_000)
    body = {"lot": lot, "miner": owner, "site": site, "mass_g": grams, "mined_on": "2026-09-01"}
    actor = CAST[centre][0]
    return Proposal("ore.delivered", body, centre, None, lambda: w.ore.append((lot, actor, grams)))


def _caller_of(actor: str) -> str:
    return next((c for c, (a, _) in CAST.items() if a == actor), "administrator")


def build_run(w: World, rnd: random.Random) -> Proposal | None:
    if not w.ore:
        return None
    lot, centre, grams = rnd.choice(w.ore)
    outs = [w.next_id("AU") for _ in range(rnd.randint(1, 2))]
    mg = max(1, grams * 10 // 1000)
    body = {
        "run": w.next_id("RUN"),
        "inputs": [{"lot": lot, "mass_g": grams}],
        "outputs": [{"lot": o, "form": "dore", "mass_mg": mg} for o in outs],
        "method": "gravity",
        "mercury_free": True,
        "started_on": "2026-09-02",
        "finished_on": "2026-09-02",
    }

    def done() -> None:
        w.ore.remove((lot, centre, grams))
        for o in outs:
            w.gold[o] = (centre, mg)

    return Proposal("processing.recorded", body, _caller_of(centre), None, done)


def build_assay(w: World, rnd: random.Random) -> Proposal | None:
    lot = _pick(rnd, sorted(w.gold))
    if lot is None:
        return None
    body = {"lot": lot, "fineness_ppt": rnd.randint(600, 999), "sample": w.next_id("S")}
    return Proposal("assay.recorded", body, "laboratory")


def build_offer(w: World, rnd: random.Random) -> Proposal | None:
    lot = _pick(rnd, sorted(w.gold))
    if lot is None:
        return None
    custodian, _ = w.gold[lot]
    buyer = _pick(rnd, w.actors["buyer"])
    offer = w.next_id("OFFER")
    body: dict[str, Any] = {"offer": offer, "lot": lot, "to": buyer}
    private = None
    if rnd.random() < 0.5:
        salt, price = new_salt(), w.price(rnd)
        w.secret("salt", salt.hex())
        body["price_commitment"] = commit(salt, price)
        private = {"price": price, "salt": salt.hex()}

    def done() -> None:
        w.offers[offer] = (lot, custodian, buyer)

    return Proposal("transfer.offered", body, _caller_of(custodian), private, done)


def build_answer(w: World, rnd: random.Random) -> Proposal | None:
    offer = _pick(rnd, sorted(w.offers))
    if offer is None:
        return None
    lot, seller, buyer = w.offers[offer]
    kind = rnd.choice(["accepted", "rejected", "cancelled"])
    body: dict[str, Any] = {"offer": offer}
    if kind != "accepted":
        body["reason"] = "fuzz"

    def done() -> None:
        w.offers.pop(offer, None)
        if kind == "accepted" and lot in w.gold:
            w.gold[lot] = (buyer, w.gold[lot][1])

    by = _caller_of(seller if kind == "cancelled" else buyer)
    return Proposal(f"transfer.{kind}", body, by, None, done)


def build_split(w: World, rnd: random.Random) -> Proposal | None:
    lot = _pick(rnd, sorted(w.gold))
    if lot is None:
        return None
    custodian, mg = w.gold[lot]
    if mg < 2:
        return None
    parts = [(w.next_id("AU"), mg // 2), (w.next_id("AU"), mg - mg // 2)]
    body = {"lot": lot, "into": [{"lot": p, "mass_mg": m} for p, m in parts]}

    def done() -> None:
        w.gold.pop(lot, None)
        for p, m in parts:
            w.gold[p] = (custodian, m)

    return Proposal("lot.split", body, _caller_of(custodian), None, done)


def build_merge(w: World, rnd: random.Random) -> Proposal | None:
    lots = sorted(w.gold)
    if len(lots) < 2:
        return None
    a, b = rnd.sample(lots, 2)
    into = w.next_id("AU")
    body = {"lots": [a, b], "into": into}
    custodian = w.gold[a][0]

    def done() -> None:
        total = w.gold.pop(a)[1] + w.gold.pop(b)[1]
        w.gold[into] = (custodian, total)

    return Proposal("lots.merged", body, _caller_of(custodian), None, done)


def build_case(w: World, rnd: random.Random) -> Proposal | None:
    lot = _pick(rnd, sorted(w.gold))
    case = w.next_id("CASE")
    kind = rnd.choice(["hold", "red_flag", "dispute"])
    if kind == "dispute":  # a dispute is over a site
        target = {"kind": "site", "id": rnd.choice(w.sites)[0]}
    elif lot is not None and rnd.random() < 0.5:
        target = {"kind": "lot", "id": lot}
    else:
        target = {"kind": "actor", "id": rnd.choice(w.actors["partnership"])}
    body = {
        "case": case,
        "kind": kind,
        "target": target,
        "category": "other",
        "description": "fuzz",
    }
    by = rnd.choice(["auditor", "regulator"])
    return Proposal("case.opened", body, by, None, lambda: w.cases.append(case))


def build_case_step(w: World, rnd: random.Random) -> Proposal | None:
    case = _pick(rnd, w.cases)
    if case is None:
        return None
    kind = rnd.choice(["responded", "resolved", "escalated"])
    body: dict[str, Any] = {"case": case}
    if kind == "responded":
        body["response"] = "we answer"
        return Proposal("case.responded", body, rnd.choice(list(CAST)))
    if kind == "resolved":
        body["resolution"] = "done"
        return Proposal("case.resolved", body, "auditor", None, lambda: w.cases.remove(case))
    body.update({"to": "MRPAM", "reason": "serious"})
    return Proposal("case.escalated", body, "auditor")


def build_certificate(w: World, rnd: random.Random) -> Proposal | None:
    lot = _pick(rnd, sorted(w.gold))
    if lot is None:
        return None
    return Proposal("certificate.requested", {"lot": lot}, _caller_of(w.gold[lot][0]))


def build_correction(w: World, rnd: random.Random) -> Proposal | None:
    index = rnd.randint(0, 40)
    return Proposal("correction.recorded", {"corrects": index, "reason": "typo"}, "centre")


def build_witness(w: World, rnd: random.Random) -> Proposal | None:
    name = w.next_id("witness.example.mn/w")
    key = base64.b64encode(b"\x04" + rnd.randbytes(32)).decode()
    vkey = f"{name}+{rnd.randbytes(4).hex()}+{key}"
    body = {"witness": name, "key": vkey}
    return Proposal("witness.registered", body, "administrator")


def build_leaving(w: World, rnd: random.Random) -> Proposal | None:
    """A buyer exports or refines gold it holds."""
    held = sorted(lot for lot, (who, _) in w.gold.items() if who.startswith("buyer:"))
    lot = _pick(rnd, held)
    if lot is None:
        return None
    destination = {"country": "CH", "party": "Refinery SA"}
    if rnd.random() < 0.5:
        body: dict[str, Any] = {"lot": lot, "destination": destination}
        type_ = "lot.exported"
    else:
        body, type_ = {"lot": lot, "refinery": "Mongolbank refinery"}, "lot.refined"

    def done() -> None:
        w.gold.pop(lot, None)

    return Proposal(type_, body, _caller_of(w.gold[lot][0]), None, done)


def build_site_status(w: World, rnd: random.Random) -> Proposal | None:
    site, _ = rnd.choice(w.sites)
    status = rnd.choice(["suspended", "active"])
    return Proposal(
        "site.status_changed", {"site": site, "status": status, "reason": "x"}, "regulator"
    )


def build_key(w: World, rnd: random.Random) -> Proposal | None:
    """An actor adds a key of its own (or revokes one it never had)."""
    name = rnd.choice(["centre", "buyer", "laboratory", "partnership"])
    actor = CAST[name][0]
    if rnd.random() < 0.5:
        pair = ActorKeyPair(actor)
        return Proposal("actor.key_added", {"actor": actor, "key": pair.wire()}, name)
    body = {"actor": actor, "key_id": rnd.randbytes(4).hex(), "reason": "lost"}
    return Proposal("actor.key_revoked", body, name)


def build_revocations(w: World, rnd: random.Random) -> Proposal | None:
    """Revoking what does not exist: a certificate, a witness."""
    if rnd.random() < 0.5:
        body = {"certificate": rnd.randbytes(16).hex(), "reason": "wrong lot"}
        return Proposal("certificate.revoked", body, "regulator")
    return Proposal(
        "witness.removed", {"witness": "witness.example.mn/none", "reason": "x"}, "administrator"
    )


BUILDERS: dict[str, Callable[[World, random.Random], Proposal | None]] = {
    "leaving": build_leaving,
    "site_status": build_site_status,
    "key": build_key,
    "revocations": build_revocations,
    "actor": build_actor,
    "site": build_site,
    "status": build_status,
    "depose": build_depose,
    "delivery": build_delivery,
    "run": build_run,
    "assay": build_assay,
    "offer": build_offer,
    "answer": build_answer,
    "split": build_split,
    "merge": build_merge,
    "case": build_case,
    "case_step": build_case_step,
    "certificate": build_certificate,
    "correction": build_correction,
    "witness": build_witness,
}


# -- mutations ------------------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (keys of objects, indexes of lists)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if delete:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


# Every step draws the same shape of choices from hypothesis, whatever the world holds (a
# world that outlives hypothesis' examples must not change what hypothesis is asked to
# draw, or it reports flaky generation): a seed for the choices among what exists, who
# calls, whether and how to mutate, and hostile values ready to put in.
MUTATIONS = ["replace", "replace", "replace", "drop", "extra", "type", "time", "secret", "sig"]
WRONG_TYPES = [
    "nope",
    "certificate.issued",
    "",
    "ORE.DELIVERED",
    "x" * 100,
    "ore.delivered",
    "assay.recorded",
    "transfer.accepted",
    "actor.registered",
]
EXTRA_KEYS = ["extra", "note", "__proto__", "", "occurred_at ", "private"]


@dataclass(frozen=True)
class Step:
    seed: int
    caller_roll: int
    caller: str
    mutate_roll: int
    mutation: str
    hostile: Any
    junk: Any
    bad_id: str
    text: Any
    flag: bool


STEP = st.builds(
    Step,
    seed=st.integers(0, 2**32 - 1),
    caller_roll=st.integers(0, 9),
    caller=st.sampled_from(CALLERS),
    mutate_roll=st.integers(0, 9),
    mutation=st.sampled_from(MUTATIONS),
    hostile=HOSTILE,
    junk=json_values(),
    bad_id=st.sampled_from(BAD_IDS),
    text=st.sampled_from(BAD_TEXTS) | st.text(max_size=40),
    flag=st.booleans(),
)


def mutate(w: World, step: Step, rnd: random.Random, payload: dict[str, Any]) -> dict[str, Any]:
    """One negative change to an event payload (type, body, private)."""
    doc: dict[str, Any] = json.loads(json.dumps(payload))
    places = list(_paths(doc))
    how = step.mutation
    if how == "replace" and places:
        _set(doc, rnd.choice(places), step.hostile)
    elif how == "drop" and places:
        _set(doc, rnd.choice(places), None, delete=True)
    elif how == "extra":
        target = doc["body"] if isinstance(doc.get("body"), dict) else doc
        target[rnd.choice(EXTRA_KEYS)] = step.junk
    elif how == "type":
        doc["type"] = rnd.choice(WRONG_TYPES)
    elif how == "time" and isinstance(doc.get("body"), dict):
        doc["body"]["occurred_at"] = rnd.choice(BAD_MOMENTS)
    elif how == "secret":
        # personal data or a price where it does not belong: in a refused body field, in
        # a private part no event takes, with a salt that is not hex
        person = w.person(rnd)
        where = rnd.choice(["body", "private", "salt", "price"])
        if where == "body":
            doc["body"]["notes"] = f"{person['name']} \x00 {person['national_id']}"
        elif where == "private":
            doc["private"] = {"personal": person, "salt": w.secret("salt", new_salt().hex())}
        elif where == "salt":
            salt = w.secret("salt", " ".join(new_salt().hex()[i : i + 8] for i in range(0, 64, 8)))
            doc["private"] = {"personal": person, "salt": salt}
        else:
            doc["private"] = {"price": w.price(rnd), "salt": w.secret("salt", "zz" * 32)}
    else:  # a signature that is junk
        doc["signature"] = {
            "key_id": rnd.choice(["00000000", "zz", "1234567", "deadbeef"]),
            "signature": rnd.choice(["", "A" * 86 + "==", "!!", "A" * 100, step.text]),
        }
    return doc


BUILDER_TYPES = {
    "actor.registered",
    "site.registered",
    "ore.delivered",
    "processing.recorded",
    "transfer.offered",
    "lot.split",
    "case.opened",
}

RAW_BODIES: list[tuple[str, bytes, str]] = [
    ("duplicate keys", b'{"type":"assay.recorded","type":"ore.delivered","body":{}}', "json"),
    ("utf-16", '{"type":"nope","body":{}}'.encode("utf-16"), "json"),
    ("not utf-8", b'{"type":"\xff\xfe","body":{}}', "json"),
    ("deep", deep(3000), "json"),
    ("deep 500", deep(500), "json"),
    ("truncated", b'{"type":"ore.delivered","body":{"lot":', "json"),
    ("not an object", b"[1,2,3]", "json"),
    ("a string", b'"ore.delivered"', "json"),
    ("empty", b"", "json"),
    ("NaN", b'{"type":"assay.recorded","body":{"fineness_ppt":NaN}}', "json"),
    ("huge int", b'{"type":"assay.recorded","body":{"fineness_ppt":' + b"9" * 5000 + b"}}", "json"),
    ("form", b"type=ore.delivered&body=1", "application/x-www-form-urlencoded"),
    ("text", b"hello", "text/plain"),
    ("big", b'{"type":"nope","body":{"x":"' + b"a" * 3_000_000 + b'"}}', "json"),
    ("atomic yes", b'{"items":[{"type":"nope","body":{}}],"atomic":"yes"}', "json"),
    ("batch of junk", b'{"items":[1,"x",null,[]]}', "json"),
    ("no items", b'{"items":[]}', "json"),
]

_NUM = ["0", "1", "3", "-1", "abc", "99999999999999999999", "1e3", "%00", "", "2"]
_DATE = ["2026-09-01", "2026-13-01", "x", "2026-09-01T00:00:00Z", "%00", "2026-12-31"]
# list routes' pages: a cursor the service never gave out is a 422
_PAGE = {
    "cursor": ["", "x", "%00", "eyJ4IjoxfQ", "W10", "WzEsIngiXQ", "a" * 500],
    "limit": ["1", "0", "101", "abc", "50", "-1", "99999999999999999999"],
}
_WHO = ["centre:fz-a", "buyer:fz-a", "miner:fz", "x", "%00", "a" * 100]
# read routes -> their query parameters and the values to try (hostile or not)
READS: dict[str, dict[str, list[str]]] = {
    "/log/checkpoint": {},
    "/log/keys": {},
    "/log/entries": {"start": _NUM, "end": _NUM},
    "/log/proof/inclusion": {"index": _NUM, "tree_size": _NUM},
    "/log/proof/consistency": {"first": _NUM, "second": _NUM},
    "/log/proof/bundle": {"index": _NUM, "tree_size": _NUM},
    "/log/witnesses": {},
    "/actors": {"role": ["miner", "buyer", "x", "%00"], **_PAGE},
    "/actors/{actor_id}": {},
    "/actors/{actor_id}/downstream": {},
    "/actors/{actor_id}/deliveries": _PAGE,
    "/sites": {"owner": _WHO, "status": ["active", "suspended", "x"], **_PAGE},
    "/sites/{site_id}": {},
    "/sites/{site_id}/history": {},
    "/sites/{site_id}/downstream": {},
    "/lots": {
        "custodian": _WHO,
        "owner": _WHO,
        "status": ["active", "closed", "x", "%00"],
        "kind": ["ore", "gold", "x" * 20],
        **_PAGE,
    },
    "/lots/{lot_id}": {},
    "/lots/{lot_id}/history": {},
    "/lots/{lot_id}/provenance": {},
    "/lots/{lot_id}/downstream": {},
    "/lots/{lot_id}/certificates": {},
    "/lots/{lot_id}/status-proof": {},
    "/log/tile/{path}": {},
    "/offers": {
        "to": _WHO,
        "from": _WHO,
        "status": ["open", "accepted", "x"],
        **_PAGE,
    },
    "/offers/{offer_id}": {},
    "/staff": {"actor": [*_WHO, "admin:root"]},
    "/cases": {"status": ["open", "x", "%00"]},
    "/cases/{case_id}": {},
    "/c/{token}": {},
    "/api/c/{token}": {},
    "/certificates/{certificate_id}": {},
    "/certificates/{certificate_id}/qr.png": {},
    "/certificates/{certificate_id}/qr.svg": {},
    "/certificates/{certificate_id}/print": {},
    "/epcis/events": {"start": _NUM, "limit": _NUM},
    "/epcis/lots/{lot_id}": {},
    "/reports/mass-balance": {
        "centre": ["centre:fz-a", "x", "%00"],
        "start": _DATE,
        "end": _DATE,
    },
    "/reports/custody/{lot_id}": {},
    "/reports/red-flags": {"start": _DATE, "end": _DATE},
    "/reports/charts/{chart}.svg": {"centre": ["centre:fz-a", "%00"]},
    "/reports": {"start": _DATE, "end": _DATE},
    "/livez": {},
    "/readyz": {},
    "/healthz": {},
    "/openapi.json": {},
}


def read_url(w: World, route: str, rnd: random.Random, bad_id: str | None) -> str:
    """The route with ids that exist (or `bad_id`) and some of its query parameters."""
    some = ["0" * 32, "1", "-5", "99999999999999999999"]
    fill = {
        "lot_id": sorted(w.gold) + [lot for lot, _, _ in w.ore] or ["AU-none"],
        "actor_id": [a for r in w.actors.values() for a in r],
        "site_id": [s for s, _ in w.sites] or ["SITE-none"],
        "offer_id": sorted(w.offers) or ["OFFER-none"],
        "case_id": w.cases or ["CASE-none"],
        "certificate_id": some,
        # a bearer token in a path: the log must redact it
        "token": [*some, w.tokens["centre"]],
        "chart": ["recovery", "stock", "nope"],
        # C2SP tlog-tiles paths, canonical or not
        "path": ["0/000", "0/000.p/1", "entries/000.p/2", "0/x001", "1/000.p/0", "9/%00", "a/b"],
    }
    url = route
    for name, values in fill.items():
        if "{" + name + "}" in url:
            url = url.replace(
                "{" + name + "}", bad_id if bad_id is not None else rnd.choice(values)
            )
    params = {k: rnd.choice(v) for k, v in READS[route].items() if rnd.random() < 0.5}
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


# -- the machine ----------------------------------------------------------------------------


class FuzzMachine(RuleBasedStateMachine):
    """Rules without preconditions or bundles: what exists lives in the world (see Step)."""

    world: World  # set by the test before it runs

    @staticmethod
    def _caller(step: Step, right: str) -> str:
        """The right caller six times in ten, else anyone (the right one included)."""
        return right if step.caller_roll < 6 else step.caller

    @staticmethod
    def _payload(p: Proposal) -> dict[str, Any]:
        payload: dict[str, Any] = {"type": p.type, "body": {"occurred_at": WHEN, **p.body}}
        if p.private is not None:
            payload["private"] = p.private
        return payload

    def _proposal(self, rnd: random.Random) -> Proposal | None:
        return BUILDERS[rnd.choice(sorted(BUILDERS))](self.world, rnd)

    @rule(step=STEP)
    def event(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        p = self._proposal(rnd)
        if p is None:
            return
        caller = self._caller(step, p.by)
        payload = self._payload(p)
        mutated = step.mutate_roll < 4
        if mutated:
            payload = mutate(w, step, rnd, payload)
        headers = {}
        if step.flag:
            key = rnd.choice([w.next_id("key"), "x" * 500, "a b", "../..", "%00", "k\ty", "same"])
            headers["Idempotency-Key"] = key
            mutated = mutated or not key.startswith("key-")
        if isinstance(payload.get("type"), str):
            w.stats.event_types.add(payload["type"])
        resp = w.send(
            "POST /events",
            caller,
            "POST",
            "/events",
            mutated=mutated,
            json_body=payload,
            headers=headers,
        )
        if resp is not None and resp.status_code == 201 and not mutated and p.on_success:
            p.on_success()

    @rule(steps=st.lists(STEP, min_size=1, max_size=4), atomic=st.sampled_from([True, False, None]))
    def batch(self, steps: list[Step], atomic: bool | None) -> None:
        w = self.world
        items, proposals = [], []
        for step in steps:
            rnd = w.rnd(step)
            p = self._proposal(rnd)
            if p is None:
                continue
            payload = self._payload(p)
            mutated = step.mutate_roll < 3
            if mutated:
                payload = mutate(w, step, rnd, payload)
            if step.flag:
                key = rnd.choice([w.next_id("k"), "same-key", "\x00", "x" * 300, step.text])
                payload["idempotency_key"] = key
                mutated = mutated or not key.startswith("k-")
            items.append(payload)
            proposals.append((p, mutated))
            if isinstance(payload.get("type"), str):
                w.stats.event_types.add(payload["type"])
        if not items:
            return
        doc: dict[str, Any] = {"items": items}
        if atomic is not None:
            doc["atomic"] = atomic
        # one caller for the batch: the first item's
        caller = self._caller(steps[0], proposals[0][0].by)
        mutated = any(m for _, m in proposals)
        resp = w.send(
            "POST /events/batch", caller, "POST", "/events/batch", mutated=mutated, json_body=doc
        )
        if resp is None or resp.status_code != 200:
            return
        for (p, mutated), result in zip(proposals, resp.json()["results"], strict=True):
            if result["status"] == 201 and not mutated and p.on_success and p.by == caller:
                p.on_success()

    @rule(step=STEP)
    def mint_token(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        cast_ids = [a for a, _ in CAST.values()]
        others = [a for r in w.actors.values() for a in r]
        actor = rnd.choice([rnd.choice(cast_ids), rnd.choice(others), step.bad_id])
        body: Any = {"label": rnd.choice(["laptop", "phone"])}
        mutated = step.mutate_roll < 4
        if mutated:
            body = rnd.choice(
                [
                    {"label": step.text},
                    {"label": step.hostile},
                    step.junk,
                    {"label": "x", "extra": 1},
                    {},
                ]
            )
        caller = self._caller(step, "administrator")
        resp = w.send(
            "POST /actors/{actor_id}/tokens",
            caller,
            "POST",
            f"/actors/{actor}/tokens",
            mutated=mutated,
            json_body=body,
        )
        if resp is not None and resp.status_code == 201:
            out = resp.json()
            w.secret("issued token", out["token"])
            w.minted.append((out["token_id"], actor))

    @rule(step=STEP)
    def revoke_token(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        token_id = rnd.choice([t for t, _ in w.minted] or ["0" * 32])
        if step.mutate_roll < 3:
            token_id = step.bad_id
        caller = self._caller(step, rnd.choice(["administrator", "centre"]))
        resp = w.send("DELETE /tokens/{token_id}", caller, "DELETE", f"/tokens/{token_id}")
        if resp is not None and resp.status_code == 204:
            w.minted = [(t, a) for t, a in w.minted if t != token_id]

    @rule(step=STEP)
    def personal(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        actor = rnd.choice(w.personal or ["miner:none"])
        if step.mutate_roll < 3:
            actor = step.bad_id
        if step.flag:
            caller = self._caller(step, "administrator")
            reason: Any = "lawful request" if step.mutate_roll >= 6 else step.hostile
            w.send(
                "POST /actors/{actor_id}/personal/erasure",
                caller,
                "POST",
                f"/actors/{actor}/personal/erasure",
                mutated=reason != "lawful request",
                json_body={"reason": reason},
            )
        else:
            caller = self._caller(step, rnd.choice(["regulator", "miner"]))
            w.send("GET /actors/{actor_id}/personal", caller, "GET", f"/actors/{actor}/personal")

    @rule(step=STEP)
    def read(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        route = rnd.choice(sorted(READS))
        hostile = step.mutate_roll < 3
        url = read_url(w, route, rnd, step.bad_id if hostile else None)
        w.send(f"GET {route}", step.caller, "GET", url, mutated=hostile)

    @rule(step=STEP)
    def staff(self, step: Step) -> None:
        """Create (a few), list or disable staff accounts; a password is a secret."""
        w, rnd = self.world, self.world.rnd(step)
        owner = rnd.choice(["centre", "buyer", "laboratory"])
        actor = CAST[owner][0]
        what = rnd.choice(["create", "list", "disable"])
        if what == "create":
            body: Any = w.staff_body(actor)
            mutated = step.mutate_roll < 4
            if mutated:
                variants: list[Any] = [
                    {**body, "password": step.text},
                    {**body, "display_name": step.hostile},
                    {**body, "actor": step.bad_id},
                    {**body, "is_admin": step.hostile},
                    {**body, "extra": 1},
                    {k: v for k, v in body.items() if k != "password"},
                    step.junk,
                ]
                if len(w.staff) < MAX_STAFF:  # a hostile username may be a valid new one
                    variants.append({**body, "username": step.hostile})
                body = rnd.choice(variants)
            caller = self._caller(step, owner if step.flag else "administrator")
            resp = w.send("POST /staff", caller, "POST", "/staff", mutated=mutated, json_body=body)
            if resp is not None and resp.status_code == 201:
                w.staff.append((resp.json()["id"], resp.json()["actor"]))
                w.usernames.append(resp.json()["username"])
        elif what == "list":
            hostile = step.mutate_roll < 3
            url = f"/staff?actor={step.bad_id if hostile else actor}"
            if hostile and step.flag:
                url = "/staff"
            w.send("GET /staff", self._caller(step, owner), "GET", url, mutated=hostile)
        else:
            staff_id, of = rnd.choice(w.staff or [("0" * 32, actor)])
            hostile = step.mutate_roll < 3
            if hostile:
                staff_id = step.bad_id
            caller = self._caller(step, rnd.choice(["administrator", _caller_of(of)]))
            w.send(
                "POST /staff/{staff_id}/disable",
                caller,
                "POST",
                f"/staff/{staff_id}/disable",
                mutated=hostile,
            )

    @rule(step=STEP)
    def raw(self, step: Step) -> None:
        w, rnd = self.world, self.world.rnd(step)
        _name, content, kind = rnd.choice(RAW_BODIES)
        path = rnd.choice(
            ["/events", "/events/batch"] * 3
            + [
                f"/actors/{CAST['miner'][0]}/tokens",
                f"/actors/{CAST['miner'][0]}/personal/erasure",
                "/log/cosignatures",
                "/staff",
            ]
        )
        ctype = "application/json" if kind == "json" else kind
        caller = self._caller(step, "centre")
        op = path.replace(CAST["miner"][0], "{actor_id}")
        w.send(
            f"POST {op}",
            caller,
            "POST",
            path,
            mutated=True,
            content=content,
            headers={"Content-Type": ctype},
        )

    @rule(step=STEP, content=st.binary(max_size=300))
    def cosignature(self, step: Step, content: bytes) -> None:
        w, rnd = self.world, self.world.rnd(step)
        if step.flag:
            content = rnd.choice([b"not a note", b"", b"\x00" * 100, b"a\n\n\xe2\x80\x94 x y\n"])
        w.send(
            "POST /log/cosignatures",
            step.caller,
            "POST",
            "/log/cosignatures",
            mutated=True,
            content=content,
        )


# -- setting up and running -----------------------------------------------------------------


def _setup_cast(w: World, rnd: random.Random) -> None:
    admin = {"Authorization": f"Bearer {w.tokens['administrator']}"}
    for name, (actor, role) in CAST.items():
        if name == "administrator":
            continue
        body: dict[str, Any] = {"occurred_at": WHEN, "actor": actor, "role": role}
        payload: dict[str, Any] = {"type": "actor.registered", "body": body}
        if role == "buyer":
            body["buyer_kind"] = "bank"
        if role == "miner":
            salt, person = new_salt(), w.person(rnd)
            w.secret("salt", salt.hex())
            body["personal_commitment"] = commit(salt, person)
            payload["private"] = {"personal": person, "salt": salt.hex()}
            w.personal.append(actor)
        resp = w.client.post("/events", json=payload, headers=admin)
        assert resp.status_code == 201, resp.text
        resp = w.client.post(f"/actors/{actor}/tokens", json={"label": "fuzz"}, headers=admin)
        assert resp.status_code == 201, resp.text
        w.tokens[name] = w.secret("cast token", resp.json()["token"])
    for owner in ("partnership:fz", "miner:fz"):
        site = w.next_id("SITE")
        body = {
            "occurred_at": WHEN,
            "site": site,
            "owner": owner,
            "region": {"aimag": "Төв", "soum": "Борнуур"},
            "lat": "48.5",
            "lon": "106.2",
        }
        resp = w.client.post(
            "/events", json={"type": "site.registered", "body": body}, headers=admin
        )
        assert resp.status_code == 201, resp.text
        w.sites.append((site, owner))


TOUR = [
    "actor",
    "actor",
    "site",
    "delivery",
    "delivery",
    "run",
    "run",
    "assay",
    "offer",
    "answer",
    "offer",
    "split",
    "merge",
    "case",
    "case",
    "case_step",
    "certificate",
    "leaving",
    "site_status",
    "key",
    "key",
    "revocations",
    "revocations",
    "correction",
    "witness",
    "status",
    "depose",
]


def _tour(w: World) -> None:
    """One pass over every builder and route before the random walk, so that every run
    exercises every operation and most event types whatever hypothesis draws (the same
    invariants hold: these go through `World.send`)."""
    for i, name in enumerate(TOUR):
        p = BUILDERS[name](w, random.Random(i))
        if p is None:
            continue
        w.stats.event_types.add(p.type)
        resp = w.send("POST /events", p.by, "POST", "/events", json_body=FuzzMachine._payload(p))
        if resp is not None and resp.status_code == 201 and p.on_success:
            p.on_success()
    items = [
        FuzzMachine._payload(p)
        for p in (build_delivery(w, random.Random(i)) for i in (1, 2))
        if p is not None
    ]
    w.send("POST /events/batch", "centre", "POST", "/events/batch", json_body={"items": items})
    for i, route in enumerate(sorted(READS)):
        for caller in ("administrator", CALLERS[i % len(CALLERS)]):
            w.send(f"GET {route}", caller, "GET", read_url(w, route, random.Random(i), None))
    miner = CAST["miner"][0]
    resp = w.send(
        "POST /actors/{actor_id}/tokens",
        "administrator",
        "POST",
        f"/actors/{miner}/tokens",
        json_body={"label": "tour"},
    )
    assert resp is not None and resp.status_code == 201, resp and resp.text
    w.secret("issued token", resp.json()["token"])
    w.send("DELETE /tokens/{token_id}", "miner", "DELETE", f"/tokens/{resp.json()['token_id']}")
    w.send("GET /actors/{actor_id}/personal", "miner", "GET", f"/actors/{miner}/personal")
    w.send(
        "POST /actors/{actor_id}/personal/erasure",
        "regulator",
        "POST",
        f"/actors/{miner}/personal/erasure",
        json_body={"reason": "not yours"},
    )
    w.send("POST /log/cosignatures", "anonymous", "POST", "/log/cosignatures", content=b"x")
    centre = CAST["centre"][0]
    body = w.staff_body(centre)
    resp = w.send("POST /staff", "centre", "POST", "/staff", json_body=body)
    assert resp is not None and resp.status_code == 201, resp and resp.text
    w.staff.append((resp.json()["id"], centre))
    w.usernames.append(resp.json()["username"])
    taken = {**w.staff_body(centre), "username": body["username"]}
    w.send("POST /staff", "administrator", "POST", "/staff", json_body=taken)  # 409
    w.send("POST /staff", "buyer", "POST", "/staff", json_body=w.staff_body(centre))  # 404
    w.send("GET /staff", "centre", "GET", f"/staff?actor={centre}")
    staff_id = w.staff[0][0]
    w.send("POST /staff/{staff_id}/disable", "buyer", "POST", f"/staff/{staff_id}/disable")
    w.send("POST /staff/{staff_id}/disable", "centre", "POST", f"/staff/{staff_id}/disable")


def _operations(app: Any) -> set[str]:
    spec = app.openapi()
    return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}


def _everything_logged(err: str, caplog: pytest.LogCaptureFixture) -> str:
    """Every server-side line: stderr (the app's JSON handler) and every record of every
    logger, message and traceback, caught at DEBUG."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [formatter.format(r) for r in caplog.records if not r.name.startswith("httpx")]
    return err + "\n" + "\n".join(records)


def _forms(value: str) -> set[str]:
    """A value as a log line may hold it: as is, JSON-escaped, percent-encoded."""
    from urllib.parse import quote

    return {value, json.dumps(value)[1:-1], quote(value), quote(value, safe="")}


def run_fuzz(
    label: str,
    client: Any,
    app: Any,
    examples: int,
    steps: int,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    admin = bootstrap_administrator(app.state.events)
    assert admin is not None
    w = World(client, app, admin)
    _setup_cast(w, random.Random(2009))
    _tour(w)
    FuzzMachine.world = w
    run_state_machine_as_test(
        FuzzMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
    logged = _everything_logged(capsys.readouterr().err, caplog)
    leaks = sorted(
        label for label, value in w.secrets.items() if any(f in logged for f in _forms(value))
    )
    ops = _operations(app)
    w.stats.event_types &= set(_all_types())
    line = w.stats.line(label, ops, len(_all_types()))
    line += f"; {len(w.secrets)} secrets sent, {len(leaks)} in the server's log"
    record_property("fuzz_counts", line)
    with capsys.disabled():
        print("\n" + line)
        if os.environ.get("ALTAN_FUZZ_VERBOSE"):
            for key, n in sorted(w.stats.by_type.items()):
                print(f"  {n:5d} {key}")
    failures = Counter(f.split("\n")[0][:160] for f in w.stats.failures)
    assert not w.stats.failures, (
        f"{len(w.stats.failures)} broken promises:\n"
        + "\n".join(sorted(set(w.stats.failures))[:30])
        + f"\n{failures.most_common(10)}"
    )
    assert not leaks, f"secrets in the server's log: {leaks}"
    # the grep searched the server's log indeed: its access lines, one a request
    assert logged.count('"logger": "altan.access"') >= w.stats.requests, "log not captured"
    assert w.stats.requests > examples * steps // 2  # the run did run
    assert ops <= w.stats.operations, sorted(ops - w.stats.operations)


def _all_types() -> list[str]:
    from schemas.events import EVENT_BODIES

    return list(EVENT_BODIES)


@contextmanager
def _app(database: Database, tmp_path: Path) -> Iterator[Any]:
    url, _ = database_url(database)
    cfg = Settings(data_dir=tmp_path / "data", database_url=url, log_format="json", access_log=True)
    yield create_app(cfg)


@pytest.mark.slow
def test_stateful_negative_fuzz(
    database: Database,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    """Through the ASGI app in process (PostgreSQL runs a shorter walk)."""
    caplog.set_level(logging.DEBUG)
    postgres = "postgresql" in request.node.callspec.id
    examples = max(2, EXAMPLES // 2) if postgres else EXAMPLES
    with _app(database, tmp_path) as app, TestClient(app, raise_server_exceptions=False) as c:
        run_fuzz(request.node.callspec.id, c, app, examples, STEPS, capsys, caplog, record_property)


@pytest.mark.slow
def test_stateful_negative_fuzz_under_uvicorn(
    database: Database,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    """Through a real uvicorn server (its own error log included), a shorter walk."""
    caplog.set_level(logging.DEBUG)
    with (
        _app(database, tmp_path) as app,
        serving(app) as base,
        httpx.Client(base_url=base, timeout=60) as c,
    ):
        label = f"uvicorn-{request.node.callspec.id}"
        run_fuzz(label, c, app, max(2, EXAMPLES // 4), STEPS, capsys, caplog, record_property)

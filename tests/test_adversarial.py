"""The threat matrix (issue 10): a lying server that holds the REAL log key, in front of the
real server, against every verifier a buyer, bank or regulator runs.

The liar (tests/support/liars.py) rebuilds whatever log a lie needs in memory — entries, receipts,
Merkle tree, checkpoint — and signs it with the real log key wherever a dishonest operator
could; the verifiers talk to it through their own HTTP seams, exactly as to a server:

    audit       `altan audit URL --key K --state S`: a first audit of the honest log at
                size N, then the lie (the log has grown to M since)
    no-state    `altan audit URL --key K --no-state`: the lie from the start
    online      `altan verify QR --key K --online` for a real gold certificate
    bundle      `altan proof URL I` through the liar, then `altan verify FILE --bundle --key K`
    witness     `altan witness run URL --key K`: a first honest round at N, then the lie

Outcomes: OK (0), FAIL (1: refused, the reason named), EVIDENCE (4: two checkpoints signed
by the log that cannot both hold — only ever where that is provable), NO_VERDICT (2: an
answer that cannot be read, e.g. one that never ends). BLIND marks a lie that a verifier
without memory cannot see by design (an old or forked but self-consistent log, signed by the
real key, shown to someone who remembers nothing): it must then accept what it was shown
(0), and the row says which verifier with memory catches it. NA (None): the lie does not
touch what that verifier reads.

Where the reason's name is not settled yet the cell asks for a keyword in what the verifier
said (`words=`) instead of a name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import clients.proof
import clients.witness as witness_client
import ledger.audit
from clients import cli
from clients.remote import RemoteLog
from clients.witness import generate_key
from ledger.encoding import b64decode
from ledger.keys import LogSigner
from support.certificates import PUBLIC_URL, REGULATOR, populate
from support.domain import Api, running_api
from support.liars import (
    HUGE_LIMIT,
    Attacker,
    LogView,
    LyingServer,
    duplicate_key,
    insert_body_line,
    rechain,
    with_note,
)

URL = "http://ledger.test"  # what the verifiers are told; every host goes to the liar
ORIGIN = "altan.localhost/ledger"  # running_api's log
OLD = 5  # the old entry that forks and rewrites change (before the certificate's)


# --- the real log ------------------------------------------------------------------------------


@dataclass
class Scene:
    """The real server and its log: M entries, a gold certificate at `certificate`, and the
    size N (`trusted`) that the verifiers with memory saw first."""

    api: Api
    signer: LogSigner
    entries: list[bytes]
    keys: dict[str, Any]
    vkey: str
    qr_text: str
    certificate: int
    trusted: int

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def changed(self) -> int:
        """The entry that the non-canonical lie changes (after the trusted size)."""
        return self.trusted + 1

    def view(self, entries: list[bytes] | None = None, **kw: Any) -> LogView:
        """A log signed with the real key (unless `signer=`), of `entries` (default: the
        real ones)."""
        signer = kw.pop("signer", self.signer)
        origin = kw.pop("origin", ORIGIN)
        keys = kw.pop("keys", self.keys)
        return LogView(self.entries if entries is None else entries, signer, origin, keys, **kw)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with running_api(tmp_path_factory.mktemp("adversarial"), public_url=PUBLIC_URL) as api:
        world = populate(api)
        world.gold("AU-1", 50_000)
        world.request("AU-1")
        [record] = world.certificates("AU-1")
        for i in range(10):  # the log grows after the certificate
            api.ok("admin:root", "actor.registered", {"actor": f"auditor:x{i}", "role": "auditor"})
        size = api.size()
        rows = api.client.get("/log/entries", params={"start": 0, "end": size}).json()["entries"]
        keys = api.client.get("/log/keys").json()
        app = api.client.app
        yield Scene(
            api=api,
            signer=app.state.runtime.keystore.active(),  # type: ignore[attr-defined]
            entries=[b64decode(r["entry"]) for r in rows],
            keys=keys,
            vkey=keys["keys"][0]["verifier_key"],
            qr_text=record["qr_text"],
            certificate=int(record["entry"]),
            trusted=size - 4,
        )


@pytest.fixture
def liar(scene: Scene, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LyingServer:
    """The liar, installed in every verifier's HTTP seam."""
    server = LyingServer(scene.api.client)
    real_fetch = clients.proof.fetch_bundle

    def fetch_bundle(url: str, index: int, client: httpx.Client | None = None) -> str:
        with httpx.Client(base_url=url, transport=server) as http:
            return real_fetch(url, index, client=http)

    monkeypatch.setattr(cli, "_remote_log", lambda url: RemoteLog(url, transport=server))
    monkeypatch.setattr(cli, "_http_client", lambda: httpx.Client(transport=server))
    monkeypatch.setattr(
        witness_client,
        "new_http_client",
        lambda base: httpx.Client(base_url=base, transport=server),
    )
    monkeypatch.setattr(clients.proof, "fetch_bundle", fetch_bundle)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return server


# --- the lies ---------------------------------------------------------------------------------


Install = Callable[[Scene, LyingServer], None]


def honest(s: Scene, liar: LyingServer) -> None:
    """No lie: the real server answers (the proxy only passes it through)."""
    liar.honest()


def attacker_key(s: Scene, liar: LyingServer) -> None:
    """The log, signed by the attacker's own key (and listed in /log/keys beside the real)."""
    evil = Attacker("evil.example/log")
    liar.view = s.view(signer=evil, keys={"keys": [*s.keys["keys"], evil.listing()]})


def same_name_key(s: Scene, liar: LyingServer) -> None:
    """The log, signed by an attacker's key that bears the log's own name."""
    evil = Attacker(ORIGIN)
    liar.view = s.view(signer=evil, keys={"keys": [evil.listing()]})


def extension_line(s: Scene, liar: LyingServer) -> None:
    """An extension line in the checkpoint, signed by the real key. C2SP extension lines are
    opaque and the tree they come with is the true one: nothing to refuse, nobody to accuse."""
    liar.view = s.view(extensions=(f"{ORIGIN} 1 AAAA this is not an origin",))


def unsigned_line(s: Scene, liar: LyingServer) -> None:
    """A line added to the checkpoint's text after the log signed it."""
    liar.view = s.view(note_edit=lambda note: insert_body_line(note, "status genuine"))


def origin_only(s: Scene, liar: LyingServer) -> None:
    """The true log re-signed with the real key under the origin + '/': nothing but the
    origin differs, so only the origin rule can refuse it."""
    liar.view = s.view(origin=ORIGIN + "/")


def origin_switch(s: Scene, liar: LyingServer) -> None:
    """A rewritten history re-signed with the real key under the origin + '/' (hole 1)."""
    liar.view = s.view(rechain(s.entries, OLD, with_note), origin=ORIGIN + "/")


def rollback(s: Scene, liar: LyingServer) -> None:
    """An older tree (a genuine old checkpoint, or a restore from an old backup)."""
    liar.view = s.view(s.entries[: s.trusted - 6])


def fork(s: Scene, liar: LyingServer) -> None:
    """The trusted size with one old entry changed: chain, receipts, checkpoint re-signed."""
    liar.view = s.view(rechain(s.entries[: s.trusted], OLD, with_note))


def rewritten(s: Scene, liar: LyingServer) -> None:
    """A larger tree with an old entry changed, everything re-signed, and a forged
    consistency proof from the trusted size (the true one of the honest tree: right for the
    trusted root, wrong for the new one; no proof can be right for both). Every other proof
    is the lying tree's own, so that the lying log is consistent in itself."""
    true_proof = s.view().consistency
    lying = rechain(s.entries, OLD, with_note)
    own_proof = s.view(lying).consistency

    def forged(first: int, second: int) -> list[bytes]:
        return (true_proof if first == s.trusted else own_proof)(first, second)

    liar.view = s.view(lying, consistency=forged)


def _page(change: Callable[[list[dict[str, Any]], int], None]) -> Install:
    """A lie about /log/entries pages: `change(rows, at)` edits the rows of the page that
    holds the entry at position `at` (the trusted size + 1: read by every audit)."""

    def install(s: Scene, liar: LyingServer) -> None:
        def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
            if request.url.path != "/log/entries":
                return resp
            rows = resp.json()["entries"]
            at = [int(r["index"]) for r in rows].index(s.changed) if rows else -1
            if 0 <= at < len(rows) - 1:
                change(rows, at)
            return httpx.Response(200, json={"entries": rows})

        liar.edit = edit

    return install


def _skip(rows: list[dict[str, Any]], at: int) -> None:
    del rows[at]


def _duplicate(rows: list[dict[str, Any]], at: int) -> None:
    # In place of the next one: a page longer than asked for is refused as unreadable (2)
    # before any entry is judged, which tests the bound, not the audit.
    rows[at + 1] = dict(rows[at])


def _reorder(rows: list[dict[str, Any]], at: int) -> None:
    rows[at], rows[at + 1] = rows[at + 1], rows[at]


def _relabel(rows: list[dict[str, Any]], at: int) -> None:
    rows[at]["index"], rows[at + 1]["index"] = rows[at + 1]["index"], rows[at]["index"]


def non_canonical(s: Scene, liar: LyingServer) -> None:
    """An entry with a duplicate key in its body, receipt and checkpoint re-signed (hole 2)."""
    liar.view = s.view(rechain(s.entries, s.changed, duplicate_key))


def flipped_inclusion(s: Scene, liar: LyingServer) -> None:
    """The honest log; one bit flipped in every inclusion proof (a broken cache)."""
    liar.view = s.view(flip_inclusion=True)


def flipped_consistency(s: Scene, liar: LyingServer) -> None:
    """The honest log; one bit flipped in every consistency proof (hole 4: not evidence)."""
    liar.view = s.view(flip_consistency=True)


def _endless(request: httpx.Request, liar: LyingServer) -> httpx.Response:
    if request.url.path in ("/log/checkpoint", "/log/proof/bundle"):
        return liar.endless(b"altan.localhost/ledger\n", b"9", "text/plain")
    return liar.endless(b'{"entries": [{"entry": "', b"A", "application/json")


def oversized(s: Scene, liar: LyingServer) -> None:
    """Every answer a body that never ends (hole 5)."""
    liar.edit = lambda request, resp: _endless(request, liar)


def oversized_entries(s: Scene, liar: LyingServer) -> None:
    """Only the pages of entries never end: the 400 MiB answer of hole 5."""

    def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        return _endless(request, liar) if request.url.path == "/log/entries" else resp

    liar.edit = edit


def size_2_64(s: Scene, liar: LyingServer) -> None:
    """A checkpoint of size 2^64-1 signed by the real key (hole 5: a named verdict)."""
    liar.view = s.view(size=(1 << 64) - 1)


# --- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """An expected outcome: the exit status (or any of several), the reason's name (any of
    `names`, when given) and a word the verifier must say (any of `words`, when given)."""

    code: int | tuple[int, ...]
    names: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    blind: bool = False


def fail(*names: str, words: tuple[str, ...] = ()) -> Expect:
    """Refused (1), the reason one of `names`."""
    return Expect(1, names, words)


def evidence(*names: str) -> Expect:
    """Evidence (4): two log-signed checkpoints that cannot both hold."""
    return Expect(4, names)


TOO_BIG = ("larg", "exceed", "limit", "too big", "bytes", "mib")


def no_verdict(*names: str) -> Expect:
    """No verdict (2): the answer could not be read (and the verifier says it was too big)."""
    return Expect(2, names, TOO_BIG)


OK = Expect(0)
BLIND = Expect(0, blind=True)  # cannot be seen without memory: accepted (module docstring)
NA = None  # the lie does not touch what this verifier reads
SIG = fail("checkpoint_signature_invalid")
PROOF = fail("proof_invalid")
KEY = fail("unknown_key", "bad_signature")  # verify --bundle's names
BAD_CP = fail("bad_checkpoint")  # the witness's
ORIGIN_WORDS = ("origin",)
ORIG = fail(words=ORIGIN_WORDS)
ORIG_PROOF = fail("proof_invalid", words=ORIGIN_WORDS)
ENTRIES = fail("entry_missing", "order_broken")
OTHER_LOG = fail("other_log")
NOT_IN_LOG = fail("not_in_log")
MALFORMED = fail("malformed", words=("canonical",))
HUGE_TREE = fail("not_in_log", "malformed")
BAD_CONSISTENCY = fail("consistency_proof_invalid")  # "the server served a bad proof"
NAMED = fail()  # any named failure (1), not "no verdict"
REFUSED = fail()  # the witness refuses, whatever it calls it
NOT_DONE = Expect((1, 2))  # refused, or the round not done: nothing cosigned either way
ROLLBACK, FORK, REWRITE = fail("rollback"), fail("fork"), fail("inconsistent")
ORIGIN_EV = evidence("origin_changed")
ROLLBACK_EV, FORK_EV, REWRITE_EV = evidence("rollback"), evidence("fork"), evidence("inconsistent")
BAD_ANSWER = no_verdict("bad_answer")
CANON = fail("non_canonical")
# the lie changes an old entry, so the map recomputed from the entries no longer gives the
# root a later state.root committed: even an audit without memory names it (issue 14)
STATE = fail("state_root_mismatch")
BIG = no_verdict()
VERIFIERS = ("audit", "no-state", "online", "bundle", "witness")

LIES: dict[str, Install] = {
    "honest": honest,
    "extension_line": extension_line,
    "attacker_key": attacker_key,
    "same_name_key": same_name_key,
    "unsigned_line": unsigned_line,
    "origin_only": origin_only,
    "origin_switch": origin_switch,
    "rollback": rollback,
    "fork": fork,
    "rewritten": rewritten,
    "skipped_entry": _page(_skip),
    "duplicated_entry": _page(_duplicate),
    "reordered_entries": _page(_reorder),
    "relabelled_entries": _page(_relabel),
    "non_canonical": non_canonical,
    "flipped_inclusion": flipped_inclusion,
    "flipped_consistency": flipped_consistency,
    "oversized": oversized,
    "oversized_entries": oversized_entries,
    "size_2_64": size_2_64,
}

# fmt: off
MATRIX: dict[str, tuple[Expect | None, ...]] = {
    # lie                  audit (state)     no-state  online      bundle      witness
    "honest":              (OK,              OK,       OK,         OK,         OK),
    "extension_line":      (OK,              OK,       OK,         OK,         OK),
    "attacker_key":        (SIG,             SIG,      PROOF,      KEY,        BAD_CP),
    "same_name_key":       (SIG,             SIG,      PROOF,      KEY,        BAD_CP),
    "unsigned_line":       (SIG,             SIG,      PROOF,      KEY,        BAD_CP),
    "origin_only":         (ORIGIN_EV,       ORIG,     ORIG_PROOF, OTHER_LOG,  ORIG),
    "origin_switch":       (ORIGIN_EV,       ORIG,     ORIG_PROOF, OTHER_LOG,  ORIG),
    "rollback":            (ROLLBACK_EV,     BLIND,    BLIND,      BLIND,      ROLLBACK),
    "fork":                (FORK_EV,         STATE,    PROOF,      BLIND,      FORK),
    "rewritten":           (REWRITE_EV,      STATE,    PROOF,      BLIND,      REWRITE),
    "skipped_entry":       (ENTRIES,         ENTRIES,  NA,         NA,         NA),
    "duplicated_entry":    (ENTRIES,         ENTRIES,  NA,         NA,         NA),
    "reordered_entries":   (ENTRIES,         ENTRIES,  NA,         NA,         NA),
    "relabelled_entries":  (ENTRIES,         ENTRIES,  NA,         NA,         NA),
    "non_canonical":       (CANON,           CANON,    NA,         MALFORMED,  NA),
    "flipped_inclusion":   (PROOF,           PROOF,    PROOF,      NOT_IN_LOG, NA),
    "flipped_consistency": (BAD_CONSISTENCY, PROOF,    NA,         NA,         REFUSED),
    "oversized":           (BIG,             BIG,      BAD_ANSWER, BIG,        BIG),
    "oversized_entries":   (BIG,             BIG,      NA,         NA,         NA),
    "size_2_64":           (NAMED,           NAMED,    PROOF,      HUGE_TREE,  NOT_DONE),
}
# fmt: on
"""Why each cell, beyond the names:

- BLIND cells: a verifier without memory shown an older tree (rollback) or a fork that is
  consistent in itself sees a log the real key signed and nothing to compare it with; the
  audit with a trusted state and the witness in the same row catch it, and `verify
  --min-cosignatures` (witnessed checkpoints) is what carries that to buyers.
- verify --online catches fork, rewrite and origin switch only because they re-chain the
  certificate's own entry (the token names its leaf hash); a lie after the certificate is
  BLIND to it, as above.
- flipped proofs and oversized answers come from an honest log: exit 1 "bad proof" or 2,
  never 4 (no evidence without two contradicting signed checkpoints).
- the witness checks checkpoints and consistency only: entries, inclusion proofs and
  canonical form are the auditor's.
"""

CELLS = [
    pytest.param(lie, verifier, expect, id=f"{lie}-{verifier}")
    for lie, row in MATRIX.items()
    for verifier, expect in zip(VERIFIERS, row, strict=True)
    if expect is not None
]


# --- running a verifier ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a verifier did: its exit status, the reason it named, and all it said."""

    code: int
    reason: str | None
    said: str


def altan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _json(out: str) -> dict[str, Any]:
    """The JSON object a verifier printed (one line, or indented like the witness's)."""
    try:
        doc = json.loads(out)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _audit_reason(doc: dict[str, Any]) -> str | None:
    for part in ("evidence", "failure"):
        if isinstance(doc.get(part), dict):
            return str(doc[part]["kind"])
    return None


def run_audit(s: Scene, liar: LyingServer, lie: Install, tmp: Path) -> Outcome:
    state = tmp / "audit-state.json"
    args = ("audit", URL, "--key", s.vkey, "--state", str(state), "--json")
    liar.view = s.view(s.entries[: s.trusted])  # the honest log as it was at size N
    code, out, err = altan(*args)
    assert code == 0, out + err
    assert _json(out)["tree_size"] == s.trusted
    before = state.read_bytes()
    liar.honest()
    lie(s, liar)
    code, out, err = altan(*args)
    if code != 0:
        assert state.read_bytes() == before  # a refused log never moves the trusted state
    doc = _json(out)
    return Outcome(code, _audit_reason(doc), out + err)


@contextmanager
def proof_sample(
    include: frozenset[int] = frozenset(), exclude: frozenset[int] = frozenset()
) -> Iterator[None]:
    """The sizes a whole-log audit asks consistency proofs from (step 6), partly pinned.

    The audit draws them at random (`secrets`, so that a server cannot tell which proofs
    will be checked). A lie that forges only the proof from the trusted size is seen
    exactly when the draw hits that size (3 random sizes of 22 here: one run in seven),
    so a cell that depends on it pins the draw rather than leaving its verdict to chance.
    """
    real = ledger.audit._ProofSample.choose

    def choose(start: int, end: int, count: int) -> ledger.audit._ProofSample:
        sample = real(start, end, count)
        sizes = (sample.sizes | include) - exclude
        return dataclasses.replace(sample, sizes=frozenset(s for s in sizes if 0 < s < end))

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ledger.audit._ProofSample, "choose", choose)
        yield


def run_audit_no_state(s: Scene, liar: LyingServer, lie: Install, tmp: Path) -> Outcome:
    lie(s, liar)
    # Without memory the audit is blind to a forged proof from the trusted size only as
    # long as it does not happen to ask for that one
    # (test_a_no_state_audit_that_samples_the_forged_size_sees_the_rewrite).
    with proof_sample(exclude=frozenset({s.trusted})):
        code, out, err = altan("audit", URL, "--key", s.vkey, "--no-state", "--json")
    return Outcome(code, _audit_reason(_json(out)), out + err)


def run_online(s: Scene, liar: LyingServer, lie: Install, tmp: Path) -> Outcome:
    lie(s, liar)
    code, out, err = altan("verify", s.qr_text, "--key", s.vkey, "--online", "--json")
    return Outcome(code, _json(out).get("reason"), out + err)


def run_bundle(s: Scene, liar: LyingServer, lie: Install, tmp: Path, index: int) -> Outcome:
    lie(s, liar)
    path = tmp / "entry.tlog-proof"
    code, out, err = altan("proof", URL, str(index), "--out", str(path))
    if code != 0:  # no bundle to check: `altan proof`'s own verdict stands
        return Outcome(code, None, out + err)
    code, out, err = altan("verify", str(path), "--bundle", "--key", s.vkey, "--json")
    return Outcome(code, _json(out).get("reason"), out + err)


def run_witness(s: Scene, liar: LyingServer, lie: Install, tmp: Path) -> Outcome:
    key = tmp / "witness.key"
    generate_key("witness.example.mn/w1", key)
    state = tmp / "witness-state.json"
    args = ("witness", "run", URL, "--key", s.vkey, "--witness-key", str(key))
    liar.view = s.view(s.entries[: s.trusted])  # the honest log as it was at size N
    code, out, err = altan(*args, "--state", str(state))
    assert code == 0 and out.startswith("COSIGNED"), out + err
    before, handed_in = state.read_bytes(), len(liar.cosignatures)
    liar.honest()
    lie(s, liar)
    code, out, err = altan(*args, "--state", str(state))
    if code != 0:  # refused or not done: nothing cosigned, nothing remembered
        assert len(liar.cosignatures) == handed_in
        assert state.read_bytes() == before
    return Outcome(code, _json(out).get("reason"), out + err)


def run(verifier: str, lie_name: str, s: Scene, liar: LyingServer, tmp: Path) -> Outcome:
    lie = LIES[lie_name]
    if verifier == "audit":
        return run_audit(s, liar, lie, tmp)
    if verifier == "no-state":
        return run_audit_no_state(s, liar, lie, tmp)
    if verifier == "online":
        return run_online(s, liar, lie, tmp)
    if verifier == "bundle":
        index = s.changed if lie_name == "non_canonical" else s.certificate
        return run_bundle(s, liar, lie, tmp, index)
    assert verifier == "witness"
    return run_witness(s, liar, lie, tmp)


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("lie", "verifier", "expect"), CELLS)
def test_the_threat_matrix(
    scene: Scene, liar: LyingServer, tmp_path: Path, lie: str, verifier: str, expect: Expect
) -> None:
    got = run(verifier, lie, scene, liar, tmp_path)
    said = " ".join(got.said.split())
    codes = expect.code if isinstance(expect.code, tuple) else (expect.code,)
    assert got.code in codes, f"{lie} against {verifier}: exit {got.code}, expected {codes}: {said}"
    if expect.names:
        assert got.reason in expect.names, f"reason {got.reason!r}, expected {expect.names}: {said}"
    if expect.words:
        assert any(w in said.lower() for w in expect.words), f"expected {expect.words}: {said}"
    if got.code in (1, 4):  # a refusal names its reason
        assert got.reason, f"{lie} against {verifier}: no reason named: {said}"
    # An answer that never ends is never read to its end (nor held whole in memory).
    assert liar.pulled[0] < HUGE_LIMIT, f"read {liar.pulled[0]:,} bytes of an endless answer"


def test_the_matrix_covers_every_verifier_and_accuses_no_honest_log() -> None:
    assert set(LIES) == set(MATRIX)
    for lie, row in MATRIX.items():
        assert len(row) == len(VERIFIERS), lie
    assert all(e is not None and e.code == 0 for e in MATRIX["honest"])
    # Evidence (4) only ever against two contradicting signed checkpoints: never from a
    # verifier without memory, never for a bad proof or a broken answer of an honest log.
    for lie, row in MATRIX.items():
        for verifier, e in zip(VERIFIERS, row, strict=True):
            if e is not None and e.code == 4:
                assert verifier == "audit", (lie, verifier)
                assert lie in ("rollback", "fork", "rewritten", "origin_only", "origin_switch"), lie


def test_a_no_state_audit_that_samples_the_forged_size_sees_the_rewrite(
    scene: Scene, liar: LyingServer
) -> None:
    """The other side of the `rewritten` x `no-state` cell: when the audit's random sample
    of consistency proofs includes the trusted size, the forged proof fails against the
    roots it computed (1, proof_invalid); never evidence (4), which needs two checkpoints."""
    rewritten(scene, liar)
    with proof_sample(include=frozenset({scene.trusted})):
        code, out, _err = altan("audit", URL, "--key", scene.vkey, "--no-state", "--json")
    doc = _json(out)
    # since the state map, the re-chained entry already breaks a committed state.root
    assert code == 1 and _audit_reason(doc) in ("proof_invalid", "state_root_mismatch"), out
    if _audit_reason(doc) == "proof_invalid":
        assert f"from size {scene.trusted} to {scene.size}" in doc["failure"]["message"]


def test_an_honest_view_is_the_real_server(scene: Scene) -> None:
    """The liar's machinery, checked: a view of the real entries signed by the real key
    answers byte for byte what the real server answers, so a verifier that tells a lying view
    from the real log can only be seeing the lie."""
    client, view, size, c = scene.api.client, scene.view(), scene.size, scene.certificate
    assert view.note == client.get("/log/checkpoint").text
    assert view.note == scene.view(scene.entries).note  # deterministic signatures
    page = client.get("/log/entries", params={"start": 0, "end": size}).json()["entries"]
    assert [view._entry(i) for i in range(size)] == page
    for params, path in (
        ({"index": c, "tree_size": size}, "/log/proof/inclusion"),
        ({"first": scene.trusted, "second": size}, "/log/proof/consistency"),
    ):
        real = client.get(path, params=params).json()
        fake = view.answer(client.build_request("GET", path, params=params), lambda: real)
        assert fake.json() == real
    assert view.bundle(c) == client.get("/log/proof/bundle", params={"index": c}).text
    token = scene.qr_text.rsplit("/", 1)[1]
    verdict = client.get(f"/api/c/{token}").json()
    assert view.verdict(verdict) == verdict


def test_a_revoked_certificate_shown_as_genuine_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lie the status map closes (issue 14): the server answers `genuine` for a
    certificate a regulator revoked. Its checkpoint and proof are the real ones (the
    certificate IS in the log); only its words are false, and the status proof it must carry
    (the map the checkpoint's last entry commits to) says revoked."""
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        world = populate(api)
        world.gold("AU-1", 50_000)
        world.request("AU-1")
        [record] = world.certificates("AU-1")
        world.api.ok(REGULATOR, "certificate.revoked", {"certificate": record["id"], "reason": "x"})
        server = LyingServer(api.client)

        def genuine(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
            if not request.url.path.startswith("/api/c/"):
                return resp
            doc = resp.json()
            assert doc["verdict"] == "not_genuine" and doc["reason"] == "revoked"
            lie = {**doc, "verdict": "genuine", "reason": None, "revocation": None}
            return httpx.Response(200, json=lie)

        server.edit = genuine
        monkeypatch.setattr(cli, "_http_client", lambda: httpx.Client(transport=server))
        [vkey] = world.vkeys()
        code, out, _ = altan("verify", record["qr_text"], "--key", vkey, "--online", "--json")
        assert code == 1, out
        doc = _json(out)
        assert (doc["verdict"], doc["reason"]) == ("not_genuine", "revoked"), out
        assert doc["status"] == "proven" and doc["status_proof"]["proven"], out
        # and without its status proof, the lie is only the server's word, and says so
        server.edit = lambda request, resp: (
            resp
            if not request.url.path.startswith("/api/c/")
            else httpx.Response(200, json={**genuine(request, resp).json(), "status_proof": None})
        )
        code, out, _ = altan("verify", record["qr_text"], "--key", vkey, "--online", "--json")
        doc = _json(out)
        assert doc["status"] == "server_word" and not doc["status_checked"], out

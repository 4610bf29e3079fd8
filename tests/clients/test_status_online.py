"""`altan verify --online` takes a certificate's status from the status proof, never from
the server's words: synthetic server answers (tests/support/status_vectors.py) that tell
the truth, lie in their words, or carry a changed proof; older servers without a proof;
the witness policy's step from a cosigned checkpoint to the latest one.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from clients import cli
from clients.verify import OnlineVerdict, verify_online
from ledger.certificate import certificate_id
from ledger.cosignature import WitnessSigner
from ledger.encoding import b64encode
from ledger.entry import Event
from support.status_vectors import BANK, CENTRE, SyntheticLog, serving

Answer = Callable[[bytes], dict[str, Any]]


def check(
    log: SyntheticLog, token: bytes, answer: Answer | None = None, **kw: Any
) -> OnlineVerdict:
    """verify_online of ``token``'s QR against the log's pinned key, the server answering
    with ``answer`` (the honest answer by default)."""
    return verify_online(log.qr(token), [log.vkey], client=serving(answer or log.answer, log), **kw)


def lying(log: SyntheticLog, lie: Callable[[dict[str, Any]], dict[str, Any]]) -> Answer:
    return lambda token: lie(log.answer(token))


def genuine_words(view: dict[str, Any]) -> dict[str, Any]:
    """A proxy that says genuine and current, whatever the truth, and hides the rest."""
    return {**view, "verdict": "genuine", "reason": None, "revocation": None, "successors": []}


@pytest.fixture
def log() -> SyntheticLog:
    out = SyntheticLog()
    out.gold("AU-1")
    return out


# --- the status is the proof's ------------------------------------------------------------


def test_a_current_certificate_is_proven_current(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    v = check(log, token)
    assert (v.verdict, v.reason, v.exit_code) == ("genuine", None, 0)
    assert v.status is not None and v.status.tree_size == log.size
    assert v.status.state == log.lots.state("AU-1")
    assert v.message().endswith(f"; status proven as of checkpoint {log.size}")
    doc = v.to_json()
    assert (doc["status"], doc["status_checked"]) == ("proven", True)
    assert doc["status_proof"] == {
        "proven": True,
        "as_of": log.size,
        "lot": "AU-1",
        "state": log.lots.state("AU-1").to_json(),  # type: ignore[union-attr]
    }


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ("revoke", ("not_genuine", "revoked", 1)),
        ("reissue", ("not_current", "superseded", 3)),
        ("transfer", ("not_current", "transferred", 3)),
        ("split", ("not_current", "consumed", 3)),
        ("hold", ("not_current", "held", 3)),
    ],
)
def test_a_proxy_saying_genuine_is_not_believed(
    log: SyntheticLog, history: str, expected: tuple[str, str, int]
) -> None:
    """The review's attack: an answer from the real history whose words say "genuine"."""
    token = log.certify("AU-1")
    if history == "revoke":
        log.revoke(token)
    elif history == "reissue":
        log.certify("AU-1")
    elif history == "transfer":  # a transfer without a new certificate
        log.transfer("AU-1", BANK)
    elif history == "split":
        log.split("AU-1", [("AU-1a", 20_000), ("AU-1b", 30_000)])
    else:
        log.hold("AU-1")
    honest = check(log, token)
    lied = check(log, token, lying(log, genuine_words))
    for v in (honest, lied):
        assert (v.verdict, v.reason, v.exit_code) == expected
        assert v.status_source == "proof"
    code, out = cli_verify(log, token, lying(log, genuine_words))
    assert code == expected[2]
    assert out.startswith(f"NOT {'GENUINE' if expected[2] == 1 else 'CURRENT'} ({expected[1]})")
    assert out.endswith(f"status proven as of checkpoint {log.size}\n")


def test_the_servers_revocation_details_are_shown_as_its_account(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    log.revoke(token)

    def details(view: dict[str, Any]) -> dict[str, Any]:
        rev = {"reason": "false assay", "by": "regulator:mrpam", "index": 9, "time": "t"}
        return {**view, "revocation": rev}

    v = check(log, token, lying(log, details))
    assert v.reason == "revoked" and v.revocation is not None
    assert "revoked by regulator:mrpam at entry 9 (t) (the server's account): false assay" in (
        v.message()
    )
    assert v.to_json()["revocation"]["proven"] is False
    # details of a revocation the proof does not show are not shown at all
    current = log.certify("AU-1")
    v = check(log, current, lying(log, details))
    assert (v.verdict, v.revocation) == ("genuine", None)


def test_a_lot_the_map_does_not_hold_is_not_in_log() -> None:
    """A token signed by the log key for a lot the log never created (a stolen key)."""
    log = SyntheticLog()
    log.gold("AU-1")
    token = log.certify("AU-1")
    other = SyntheticLog()  # the same key, another history: AU-1 never existed there
    other.gold("AU-9")
    other.gold("AU-8")
    lie = lambda t: {**other.answer(t), "proof": None}  # noqa: E731
    v = verify_online(log.qr(token), [log.vkey], client=serving(lie, other))
    assert (v.verdict, v.reason) == ("not_genuine", "not_in_log")
    assert v.status is not None and v.status.state is None


def test_a_server_saying_not_in_log_keeps_its_refusal_only_where_the_proof_cannot_tell(
    log: SyntheticLog,
) -> None:
    old = log.certify("AU-1")
    new = log.certify("AU-1")

    def refuse(view: dict[str, Any]) -> dict[str, Any]:
        return {**view, "verdict": "not_genuine", "reason": "not_in_log"}

    # superseded or never issued: the map cannot tell, the server's refusal stands
    assert check(log, old, lying(log, refuse)).reason == "not_in_log"
    # the lot's current certificate: proven issued and current, whatever the server says
    v = check(log, new, lying(log, refuse))
    assert (v.verdict, v.reason) == ("genuine", None)
    # ... and then the entry it reflects must be proven as well
    v = check(log, new, lying(log, lambda view: {**refuse(view), "proof": None}))
    assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid")


# --- a proof that does not hold up is refused ---------------------------------------------


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return b64encode(bytes(raw))


def _entry(p: dict[str, Any]) -> None:
    p["root"]["entry"] = _flip(p["root"]["entry"])


def _inclusion(p: dict[str, Any]) -> None:
    p["root"]["inclusion"][0] = _flip(p["root"]["inclusion"][0])


def _sibling(p: dict[str, Any]) -> None:
    p["map_proof"]["siblings"][0] = _flip(p["map_proof"]["siblings"][0])


def _bitmap(p: dict[str, Any]) -> None:
    p["map_proof"]["bitmap"] = _flip(p["map_proof"]["bitmap"])


def _not_revoked(p: dict[str, Any]) -> None:
    p["state"]["revoked"] = []


def _other_custodian(p: dict[str, Any]) -> None:
    p["state"]["custodian"] = BANK


def _no_state(p: dict[str, Any]) -> None:
    p["state"] = None


def _not_a_proof(p: dict[str, Any]) -> None:
    p["root"] = "nothing"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_entry, "root_not_in_log"),
        (_inclusion, "root_not_in_log"),
        (_sibling, "map_proof"),
        (_bitmap, "map_proof"),
        (_not_revoked, "map_proof"),
        (_other_custodian, "map_proof"),
        (_no_state, "map_proof"),
        (_not_a_proof, "malformed"),
    ],
)
def test_a_changed_status_proof_is_refused(
    log: SyntheticLog, change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    token = log.certify("AU-1")
    log.revoke(token)

    def lie(view: dict[str, Any]) -> dict[str, Any]:
        out = genuine_words(copy.deepcopy(view))
        change(out["status_proof"])
        return out

    v = check(log, token, lying(log, lie))
    assert (v.verdict, v.reason, v.exit_code) == ("not_genuine", "proof_invalid", 1)
    assert f"status proof ({reason})" in v.detail
    assert v.status is None and v.to_json()["status"] == "not_checked"


def test_an_older_state_is_not_the_latest(log: SyntheticLog) -> None:
    """The status as it was before the revocation, from the real log."""
    token = log.certify("AU-1")
    before = log.size
    log.revoke(token)
    older_root = lambda view: {  # noqa: E731
        **genuine_words(view),
        "status_proof": log.status_proof("AU-1", root=before - 1),
    }
    older_checkpoint = lambda view: {  # noqa: E731
        **genuine_words(view),
        "status_proof": log.status_proof("AU-1", size=before),
    }
    for lie in (older_root, older_checkpoint):
        v = check(log, token, lying(log, lie))
        assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid")
        assert "status proof (not_latest_root)" in v.detail
    # the whole answer as of the older checkpoint is an honest, older view (no witnesses
    # asked for: freshness is what --min-cosignatures adds)
    then = log.notes[before]
    whole = lambda view: {  # noqa: E731
        **genuine_words(view),
        "checkpoint": then,
        "proof": log.entry_proof(log.facts(token).ledger_index, before),
        "status_proof": log.status_proof("AU-1", size=before),
    }
    v = check(log, token, lying(log, whole))
    assert (v.verdict, v.status.tree_size if v.status else None) == ("genuine", before)


def test_a_proof_of_another_lot_is_refused(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    log.revoke(token)
    log.gold("AU-2")
    log.certify("AU-2")

    def other(view: dict[str, Any]) -> dict[str, Any]:
        return {**genuine_words(view), "status_proof": log.status_proof("AU-2")}

    v = check(log, token, lying(log, other))
    assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid")
    assert "status proof (map_proof)" in v.detail


def test_a_status_proof_naming_another_checkpoint_is_refused(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    before = log.size
    log.append(Event("assay.recorded", CENTRE, {"lot": "AU-1"}))

    def other(view: dict[str, Any]) -> dict[str, Any]:
        proof = {**view["status_proof"], "checkpoint": log.notes[before]}
        return {**view, "status_proof": proof}

    v = check(log, token, lying(log, other))
    assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid")


# --- an older server ----------------------------------------------------------------------


def test_an_older_server_without_a_status_proof_is_its_word(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    log.revoke(token)
    old = lambda t: genuine_words(log.answer(t, status=False))  # noqa: E731
    v = check(log, token, old)
    # what an older server says is what the verifier can say: genuine, marked unproven
    assert (v.verdict, v.status_source, v.status) == ("genuine", "server_word", None)
    assert v.message().endswith("; status not proven: the server's word (it sent no status proof)")
    doc = v.to_json()
    assert (doc["status"], doc["status_checked"]) == ("server_word", False)
    assert doc["status_proof"] == {"proven": False, "as_of": None, "lot": "AU-1", "state": None}
    honest_old = check(log, token, lambda t: log.answer(t, status=False))
    assert (honest_old.verdict, honest_old.reason) == ("not_genuine", "revoked")
    assert honest_old.to_json()["status_checked"] is False


# --- the witness policy: a cosigned checkpoint, the status at the latest --------------------


def witnessed_answer(
    log: SyntheticLog, w: WitnessSigner, size: int, at: int
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def add(view: dict[str, Any]) -> dict[str, Any]:
        token = log.tokens[view["certificate"]["id"]]
        item = log.witnessed(token, size, log.cosigned(size, w, at=at))
        return {**view, "witnessed": [item]}

    return add


def test_the_status_at_the_latest_extends_the_cosigned_checkpoint(log: SyntheticLog) -> None:
    w = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example/w1")
    token = log.certify("AU-1")
    cosigned = log.size
    log.revoke(token)  # after the cosignature: the latest has none yet
    policy = {"witnesses": [w.key.vkey], "min_cosignatures": 1}
    now = int(time.time())
    v = check(log, token, lying(log, witnessed_answer(log, w, cosigned, now)), **policy)
    assert (v.verdict, v.reason) == ("not_genuine", "revoked")
    assert v.checkpoint is not None and v.checkpoint.size == cosigned
    assert v.status is not None and v.status.tree_size == log.size
    assert v.cosigned_by == ("witness.example/w1",)
    assert (
        f"status proven as of checkpoint {log.size}, which extends the cosigned checkpoint "
        f"{cosigned}"
    ) in v.message()

    def no_consistency(view: dict[str, Any]) -> dict[str, Any]:
        out = witnessed_answer(log, w, cosigned, now)(view)
        del out["witnessed"][0]["consistency"]
        return out

    def bad_consistency(view: dict[str, Any]) -> dict[str, Any]:
        out = witnessed_answer(log, w, cosigned, now)(view)
        out["witnessed"][0]["consistency"][0] = _flip(out["witnessed"][0]["consistency"][0])
        return out

    def not_base64(view: dict[str, Any]) -> dict[str, Any]:
        out = witnessed_answer(log, w, cosigned, now)(view)
        out["witnessed"][0]["consistency"] = ["?"]
        return out

    for lie in (no_consistency, bad_consistency, not_base64):
        v = check(log, token, lying(log, lie), **policy)
        assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid"), lie.__name__
        assert "does not extend" in v.detail or "does not show to extend" in v.detail

    # cosigned too long ago: stale, whatever the proofs
    v = check(log, token, lying(log, witnessed_answer(log, w, cosigned, now - 7200)), **policy)
    assert v.reason == "stale"


def test_a_split_view_after_the_cosigned_checkpoint_is_believed_within_max_age(
    log: SyntheticLog,
) -> None:
    """What the witness policy does not cover (README threat model): the operator, holding
    the log key, shows this verifier alone a history that extends the cosigned checkpoint
    but in which the revocation never happened. Its status is proven at a checkpoint no
    witness saw; --max-age bounds how long after the cosignature that can last. A proof
    from the real log does not pass for the fork's, nor the other way round."""
    w = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example/w1")
    token = log.certify("AU-1")
    cosigned = log.size
    fork = SyntheticLog()  # the same key and clock: the same entries, the same prefix
    fork.gold("AU-1")
    assert fork.certify("AU-1") == token and fork.notes[cosigned] == log.notes[cosigned]
    log.revoke(token)
    fork.append(Event("assay.recorded", CENTRE, {"lot": "AU-1"}))  # the fork's own entry
    note = log.cosigned(cosigned, w, at=int(time.time()))
    policy = {"witnesses": [w.key.vkey], "min_cosignatures": 1}

    def split_view(view: dict[str, Any]) -> dict[str, Any]:
        return {**view, "witnessed": [fork.witnessed(token, cosigned, note)]}

    v = check(fork, token, lying(fork, split_view), **policy)
    assert (v.verdict, v.checkpoint.size if v.checkpoint else 0) == ("genuine", cosigned)
    assert v.status is not None and v.status.tree_size == fork.size

    def mixed(view: dict[str, Any]) -> dict[str, Any]:
        item = log.witnessed(token, cosigned, note)
        item["consistency"] = fork.witnessed(token, cosigned, note)["consistency"]
        return {**genuine_words(view), "witnessed": [item]}

    v = check(log, token, lying(log, mixed), **policy)
    assert (v.verdict, v.reason) == ("not_genuine", "proof_invalid")


# --- the CLI ------------------------------------------------------------------------------


def cli_verify(log: SyntheticLog, token: bytes, answer: Answer, *args: str) -> tuple[int, str]:
    """`altan verify QR --key K --online ARGS`, the server answering with ``answer``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_http_client", lambda: serving(answer, log))
        result = CliRunner().invoke(
            cli.app, ["verify", log.qr(token), "--key", log.vkey, "--online", *args]
        )
    return result.exit_code, result.stdout


def test_the_cli_json_says_where_the_status_came_from(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    code, out = cli_verify(log, token, log.answer, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["status"], doc["status_checked"], doc["status_proof"]["as_of"]) == (
        "proven",
        True,
        log.size,
    )
    assert doc["status_proof"]["state"]["certificate"] == certificate_id(token)
    code, out = cli_verify(log, token, lambda t: log.answer(t, status=False), "--json")
    assert code == 0
    assert (json.loads(out)["status"], json.loads(out)["status_checked"]) == ("server_word", False)
    code, out = cli_verify(log, token, lambda t: log.answer(t, status=False))
    assert out.rstrip().endswith("status not proven: the server's word (it sent no status proof)")


def test_server_text_in_a_proven_answer_cannot_reach_the_terminal(log: SyntheticLog) -> None:
    token = log.certify("AU-1")
    log.revoke(token)

    def lie(view: dict[str, Any]) -> dict[str, Any]:
        rev = {"reason": "\x1b[2Jok\r\nGENUINE", "by": "\x1b]0;x\x07", "index": 1, "time": "t"}
        return {**view, "revocation": rev}

    code, out = cli_verify(log, token, lying(log, lie))
    assert code == 1
    assert "\x1b" not in out and "\r" not in out and out.count("\n") == 1

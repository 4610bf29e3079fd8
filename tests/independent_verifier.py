"""An auditor's verifier for an Altan Ledger, written only from public specifications.

Sources, and nothing else:

- RFC 9162 (Certificate Transparency v2) §2.1: the Merkle Tree Hash (MTH), and the
  verification algorithms for inclusion proofs (§2.1.3.2) and consistency proofs (§2.1.4.2);
- C2SP signed-note: a note is text ending in a newline, a blank line, then signature lines
  ``— <name> <base64(4-byte key id || signature)>``; an Ed25519 key id is the first four bytes
  of ``SHA-256(name || 0x0A || 0x01 || public key)``; a verifier key is written
  ``<name>+<8 hex key id>+<base64(0x01 || public key)>``;
- C2SP tlog-checkpoint: the note text is the origin line, the tree size in decimal, the base64
  root hash, then optional extension lines;
- DESIGN.md, "The log": the `/log/*` endpoints and their JSON, the entry fields, the hash chain
  (``prev`` is the base64 leaf hash of the previous entry, 32 zero bytes for the first) and
  the receipt (Ed25519 by the log key over ``b"altan/entry/v1\\n" + leaf hash``).

It deliberately imports nothing from the project (``ledger``, ``services``, ``clients``,
``schemas``): only the standard library (``urllib.request``, ``json``, ``base64``, ``hashlib``)
and ``cryptography`` for Ed25519. A second implementation that agrees with the server on every
byte is the point: if both shared a bug, this module would not.

Limitation (canonical JSON): RFC 8785 (JCS) is checked by re-serialising the parsed entry
with ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` and
comparing bytes. That equals JCS only for the JSON our entries use: strings of characters in
the Basic Multilingual Plane (JCS sorts keys by UTF-16 code units, Python by code points; they
differ only for characters beyond U+FFFF) and numbers that are integers up to 2**53 or floats
Python and ECMAScript print alike (no exponent form: JCS writes ``1e-7`` and ``1e+21`` where
Python writes ``1e-07`` and ``1e+21``; ``1e21`` onwards and below ``1e-6`` are not covered), and
no NaN or infinities. An entry outside that subset is reported as not canonical (a false
alarm, never a false pass).

It also keeps every leaf hash in memory (32 bytes per entry), which is fine for a test-sized
log; a production auditor would fold them into a compact range instead.

Usage::

    result = verify_log("http://127.0.0.1:8000")   # raises VerificationFailed with a reason
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "VerificationFailed",
    "VerifiedLog",
    "consistency_ok",
    "inclusion_root",
    "merkle_tree_hash",
    "verify_log",
]

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
RECEIPT_CONTEXT = b"altan/entry/v1\n"
ENTRY_FIELDS_REQUIRED = {"v", "index", "prev", "time", "type", "actor", "body"}
ENTRY_FIELDS_OPTIONAL = {"actor_key_id", "actor_sig", "staff"}
ROW_FIELDS = {"index", "entry", "leaf_hash", "key_id", "signature"}
KEY_FIELDS_REQUIRED = {"key_id", "verifier_key", "public_key", "algorithm", "status"}
_HEX8 = re.compile(r"[0-9a-f]{8}")
_STAFF = re.compile(r"stf_[0-9a-f]{16}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_SIG_PREFIX = "\u2014 "  # em dash and a space


class VerificationFailed(Exception):
    """The log does not verify; `reason` says what, `index` which entry (when one is at fault)."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        self.reason = reason
        self.index = index
        super().__init__(reason if index is None else f"entry {index}: {reason}")


@dataclass
class VerifiedLog:
    """What was verified."""

    origin: str
    size: int
    root: bytes
    key_ids: list[str]
    entries_verified: int = 0
    inclusion_proofs_verified: int = 0
    consistency_proofs_verified: int = 0
    checked_indices: list[int] = field(default_factory=list)


# -- hashing (RFC 9162 §2.1) ---------------------------------------------------------------


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_tree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (RFC 9162 §2.1.1), by the definition's recursion:
    MTH({}) = SHA-256(); MTH({d0}) = leaf hash; otherwise split at the largest power of two
    smaller than n."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _node(merkle_tree_hash(leaf_hashes[:k]), merkle_tree_hash(leaf_hashes[k:]))


def inclusion_root(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-5, without the final
    comparison); raises VerificationFailed when the proof cannot be a valid one."""
    if not 0 <= leaf_index < tree_size:
        raise VerificationFailed(f"inclusion: leaf index {leaf_index} not below size {tree_size}")
    if len(leaf_hash) != HASH_SIZE or any(len(p) != HASH_SIZE for p in path):
        raise VerificationFailed("inclusion: every hash must be 32 bytes")
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise VerificationFailed("inclusion: proof longer than the path to the root")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailed("inclusion: proof shorter than the path to the root")
    return r


def consistency_ok(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises VerificationFailed unless `path` proves that the tree of
    `second` leaves with root `second_hash` extends the one of `first` leaves (`first_hash`).

    Equal sizes need an empty proof and equal roots (§2.1.4.1: the proof for m = n is empty).
    """
    hashes = [first_hash, second_hash, *path]
    if any(len(h) != HASH_SIZE for h in hashes):
        raise VerificationFailed("consistency: every hash must be 32 bytes")
    if not 0 < first <= second:
        raise VerificationFailed(f"consistency: need 0 < first <= second, got {first}, {second}")
    if first == second:
        if path or first_hash != second_hash:
            raise VerificationFailed("consistency: equal sizes need an empty proof, equal roots")
        return
    # 1. An empty path fails.
    if not path:
        raise VerificationFailed("consistency: empty proof between different sizes")
    # 2. If first is an exact power of 2, prepend first_hash.
    p = list(path)
    if first & (first - 1) == 0:
        p.insert(0, first_hash)
    # 3.-4.
    fn, sn = first - 1, second - 1
    if fn & 1:
        while fn & 1:
            fn >>= 1
            sn >>= 1
    # 5.
    fr = sr = p[0]
    # 6.
    for c in p[1:]:
        if sn == 0:
            raise VerificationFailed("consistency: proof longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    if fr != first_hash:
        raise VerificationFailed(f"consistency {first}->{second}: first root does not match")
    if sr != second_hash:
        raise VerificationFailed(f"consistency {first}->{second}: second root does not match")
    if sn != 0:
        raise VerificationFailed(f"consistency {first}->{second}: proof too short")


# -- wire helpers --------------------------------------------------------------------------


def _b64(text: object, what: str, size: int | None = None) -> bytes:
    """Standard base64 with padding, canonical spelling only (DESIGN.md)."""
    if not isinstance(text, str):
        raise VerificationFailed(f"{what}: expected a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationFailed(f"{what}: not standard padded base64: {text[:40]!r}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise VerificationFailed(f"{what}: base64 not in canonical form")
    if size is not None and len(raw) != size:
        raise VerificationFailed(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw


class _Http:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, **params: int) -> tuple[bytes, str]:
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, headers={"User-Agent": "independent-verifier/1"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            exc.close()
            raise VerificationFailed(f"GET {url}: HTTP {exc.code}") from exc

    def json(self, path: str, **params: int) -> dict[str, object]:
        body, ctype = self.get(path, **params)
        if not ctype.startswith("application/json"):
            raise VerificationFailed(f"GET {path}: expected application/json, got {ctype!r}")
        obj = json.loads(body)
        if not isinstance(obj, dict):
            raise VerificationFailed(f"GET {path}: expected a JSON object")
        return obj


# -- keys and signed notes (C2SP signed-note, tlog-checkpoint) -----------------------------


@dataclass(frozen=True)
class _Key:
    name: str
    key_id: bytes
    public: Ed25519PublicKey


def _note_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + b"\x01" + public_key).digest()[:4]


def _parse_keys(body: dict[str, object]) -> list[_Key]:
    rows = body.get("keys")
    if set(body) != {"keys"} or not isinstance(rows, list) or not rows:
        raise VerificationFailed('/log/keys: expected {"keys": [...]} with at least one key')
    keys = []
    for row in rows:
        if not isinstance(row, dict) or not set(row) >= KEY_FIELDS_REQUIRED:
            raise VerificationFailed(f"/log/keys: key lacks {KEY_FIELDS_REQUIRED}: {row!r}")
        hex_id = row["key_id"]
        if not isinstance(hex_id, str) or not _HEX8.fullmatch(hex_id):
            raise VerificationFailed(f"/log/keys: key_id must be 8 lower-case hex, got {hex_id!r}")
        if row["algorithm"] != "Ed25519":
            raise VerificationFailed(f"/log/keys: unsupported algorithm {row['algorithm']!r}")
        if row["status"] not in ("active", "retired"):
            raise VerificationFailed(f"/log/keys: unknown status {row['status']!r}")
        public = _b64(row["public_key"], "public_key", 32)
        vkey = row["verifier_key"]
        if not isinstance(vkey, str):
            raise VerificationFailed("/log/keys: verifier_key must be a string")
        name, plus1, rest = vkey.partition("+")
        vid, plus2, v64 = rest.partition("+")
        if not (plus1 and plus2) or not name:
            raise VerificationFailed(f"/log/keys: malformed verifier key {vkey!r}")
        typed = _b64(v64, "verifier key", 33)
        if typed[0] != 0x01 or typed[1:] != public:
            raise VerificationFailed("/log/keys: verifier key and public_key disagree")
        kid = _note_key_id(name, public)
        if vid != hex_id or kid.hex() != hex_id:
            raise VerificationFailed(
                f"/log/keys: key id should be {kid.hex()} (SHA-256 of name, 0x0A, 0x01, key), "
                f"listed as {hex_id} / {vid}"
            )
        keys.append(_Key(name, kid, Ed25519PublicKey.from_public_bytes(public)))
    return keys


def _open_note(note: str, keys: Iterable[_Key]) -> tuple[str, list[_Key]]:
    """The note's text and the known keys that signed it; raises on any bad known signature."""
    if not note.endswith("\n"):
        raise VerificationFailed("checkpoint: note must end in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationFailed("checkpoint: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split("\n") if block else []
    if not lines:
        raise VerificationFailed("checkpoint: no signature lines")
    known = {(k.name, k.key_id): k for k in keys}
    signed: list[_Key] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise VerificationFailed(f"checkpoint: bad signature line {line[:40]!r}")
        name, _, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
        raw = _b64(sig64, "signature line")
        if len(raw) < 5:
            raise VerificationFailed("checkpoint: signature line too short")
        key = known.get((name, raw[:4]))
        if key is None:
            continue  # an unknown signer (a witness, say) is ignored
        try:
            key.public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature as exc:
            raise VerificationFailed(f"checkpoint: signature by {name} does not verify") from exc
        signed.append(key)
    if not signed:
        raise VerificationFailed("checkpoint: not signed by any published log key")
    return text, signed


def _parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise VerificationFailed("checkpoint: expected origin, size and root lines")
    origin, size_text, root64 = lines[0], lines[1], lines[2]
    if not origin:
        raise VerificationFailed("checkpoint: empty origin line")
    if not _DECIMAL.fullmatch(size_text):
        raise VerificationFailed(f"checkpoint: tree size must be decimal, got {size_text!r}")
    if any(not ext for ext in lines[3:]):
        raise VerificationFailed("checkpoint: empty extension line")
    return origin, int(size_text), _b64(root64, "checkpoint root", HASH_SIZE)


# -- entries -------------------------------------------------------------------------------


def _check_entry(row: object, expected_index: int, prev: bytes, keys: dict[str, _Key]) -> bytes:
    """Check one `/log/entries` row; return its leaf hash."""
    if not isinstance(row, dict) or set(row) != ROW_FIELDS:
        raise VerificationFailed(f"row must have exactly {sorted(ROW_FIELDS)}", expected_index)
    if row["index"] != expected_index:
        raise VerificationFailed(f"server returned index {row['index']!r}", expected_index)
    data = _b64(row["entry"], "entry")
    leaf = _leaf(data)
    if _b64(row["leaf_hash"], "leaf_hash", HASH_SIZE) != leaf:
        raise VerificationFailed("leaf_hash is not SHA-256(0x00 || entry bytes)", expected_index)
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationFailed(f"entry is not UTF-8 JSON: {exc}", expected_index) from exc
    if not isinstance(obj, dict):
        raise VerificationFailed("entry is not a JSON object", expected_index)
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if canonical.encode("utf-8") != data:
        raise VerificationFailed("entry bytes are not canonical JSON (RFC 8785)", expected_index)
    fields = set(obj)
    if not ENTRY_FIELDS_REQUIRED <= fields <= ENTRY_FIELDS_REQUIRED | ENTRY_FIELDS_OPTIONAL:
        raise VerificationFailed(f"entry fields {sorted(fields)}", expected_index)
    if obj["v"] != 1 or type(obj["v"]) is not int:
        raise VerificationFailed(f"entry version {obj['v']!r}", expected_index)
    if type(obj["index"]) is not int or obj["index"] != expected_index:
        raise VerificationFailed(f"entry says index {obj['index']!r}", expected_index)
    if _b64(obj["prev"], "prev", HASH_SIZE) != prev:
        raise VerificationFailed("prev is not the previous entry's leaf hash", expected_index)
    if not isinstance(obj["time"], str) or not _TIME.fullmatch(obj["time"]):
        raise VerificationFailed(f"time {obj['time']!r} is not RFC 3339 UTC", expected_index)
    if not isinstance(obj["type"], str) or not isinstance(obj["actor"], str):
        raise VerificationFailed("type and actor must be strings", expected_index)
    if not isinstance(obj["body"], dict):
        raise VerificationFailed("body must be an object", expected_index)
    if "staff" in obj and not (isinstance(obj["staff"], str) and _STAFF.fullmatch(obj["staff"])):
        raise VerificationFailed(f"staff {obj['staff']!r} is not stf_<16 hex>", expected_index)
    key = keys.get(row["key_id"]) if isinstance(row["key_id"], str) else None
    if key is None:
        raise VerificationFailed(f"receipt key {row['key_id']!r} is not a log key", expected_index)
    signature = _b64(row["signature"], "signature", 64)
    try:
        key.public.verify(signature, RECEIPT_CONTEXT + leaf)
    except InvalidSignature as exc:
        raise VerificationFailed("receipt signature does not verify", expected_index) from exc
    return leaf


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _proof_hashes(body: dict[str, object], what: str) -> list[bytes]:
    hashes = body.get("hashes")
    if not isinstance(hashes, list):
        raise VerificationFailed(f"{what}: hashes must be a list")
    return [_b64(h, f"{what} hash", HASH_SIZE) for h in hashes]


# -- the whole audit -----------------------------------------------------------------------


def _sample(size: int) -> list[int]:
    """A few indices or sizes worth checking: both ends, powers of two, the middle."""
    picks = {0, 1, size // 2, size - 2, size - 1}
    p = 1
    while p < size:
        picks.update({p - 1, p})
        p *= 2
    return sorted(i for i in picks if 0 <= i < size)


def verify_log(base_url: str, *, origin: str | None = None, timeout: float = 10.0) -> VerifiedLog:
    """Verify the log served at `base_url`; raise VerificationFailed with the reason."""
    http = _Http(base_url, timeout)
    keys = _parse_keys(http.json("/log/keys"))
    by_hex = {k.key_id.hex(): k for k in keys}

    note_bytes, ctype = http.get("/log/checkpoint")
    if not ctype.startswith("text/plain"):
        raise VerificationFailed(f"/log/checkpoint: expected text/plain, got {ctype!r}")
    try:
        note = note_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationFailed("checkpoint: not UTF-8") from exc
    text, _signed = _open_note(note, keys)
    cp_origin, size, root = _parse_checkpoint(text)
    if origin is not None and cp_origin != origin:
        raise VerificationFailed(f"checkpoint origin {cp_origin!r}, expected {origin!r}")
    result = VerifiedLog(cp_origin, size, root, sorted(by_hex))

    # Every entry up to the checkpoint's size, page by page as the server chooses.
    leaves: list[bytes] = []
    prev = ZERO_HASH
    while len(leaves) < size:
        page = http.json("/log/entries", start=len(leaves), end=size)
        rows = page.get("entries")
        if set(page) != {"entries"} or not isinstance(rows, list):
            raise VerificationFailed('/log/entries: expected {"entries": [...]}')
        if not rows:
            raise VerificationFailed("/log/entries returned nothing below the size", len(leaves))
        if len(leaves) + len(rows) > size:
            raise VerificationFailed("/log/entries returned entries past `end`", size)
        for row in rows:
            prev = _check_entry(row, len(leaves), prev, by_hex)
            leaves.append(prev)
    result.entries_verified = len(leaves)

    calculated = merkle_tree_hash(leaves)
    if calculated != root:
        raise VerificationFailed(
            f"checkpoint root {root.hex()} but the entries give {calculated.hex()} at size {size}"
        )
    if size == 0:
        return result

    # Inclusion proofs against the checkpoint root, and in one smaller tree.
    for index in _sample(size):
        for tree_size in {size, index + 1}:
            body = http.json("/log/proof/inclusion", index=index, tree_size=tree_size)
            if body.get("index") != index or body.get("tree_size") != tree_size:
                raise VerificationFailed("inclusion proof answers another question", index)
            path = _proof_hashes(body, "inclusion")
            want = root if tree_size == size else merkle_tree_hash(leaves[:tree_size])
            if inclusion_root(index, tree_size, leaves[index], path) != want:
                raise VerificationFailed(f"inclusion proof in tree {tree_size} fails", index)
            result.inclusion_proofs_verified += 1
            result.checked_indices.append(index)

    # Consistency proofs from smaller trees to the checkpoint.
    for first in sorted({m + 1 for m in _sample(size)}):
        body = http.json("/log/proof/consistency", first=first, second=size)
        if body.get("first") != first or body.get("second") != size:
            raise VerificationFailed("consistency proof answers another question")
        path = _proof_hashes(body, "consistency")
        consistency_ok(first, size, merkle_tree_hash(leaves[:first]), root, path)
        result.consistency_proofs_verified += 1
    return result

"""Errors raised by the ledger core.

Every message says what was expected and what was found. The tree::

    LedgerError
    ├── MalformedInput            bytes or text that cannot be parsed (base64, note, entry)
    │   └── MalformedProof        a proof with hashes of the wrong size or count, bad indices
    ├── KeyProblem                a key that cannot be generated, loaded or used
    ├── VerificationError         something parsed but does not verify
    │   ├── InvalidSignature      an Ed25519 signature does not verify
    │   ├── UnknownKey            a signature by a key id nobody trusts
    │   ├── RootMismatch          a proof or a recomputed tree gives another root
    │   ├── ConsistencyError      two tree heads that cannot both be true (a fork or a rewrite)
    │   ├── OriginMismatch        a checkpoint that verifies but names another log
    │   ├── CertificateInvalid    a certificate token that fails a check (ledger.certificate)
    │   ├── StatusProofInvalid    a lot's status proof that fails a check (ledger.status)
    │   ├── ChainBroken           an entry whose index or previous hash does not follow
    │   └── BackupInvalid         a backup file that is unreadable, truncated, changed, or
    │                             whose log does not verify (ledger.sql.backup)
    ├── OutOfRange                an index or tree size beyond what the log holds
    ├── BatcherClosed             the group committer stopped; the event was not appended
    └── StorageError              the store cannot do what was asked (no head row, missing node)
        └── NotEmpty              a restore into a database that already holds data
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error the ledger core raises; `field` names the input at fault."""

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class MalformedInput(LedgerError):
    """Input that cannot be parsed into a valid value."""


class MalformedProof(MalformedInput):
    """A proof that is malformed before any hashing: wrong sizes, counts or indices."""


class KeyProblem(LedgerError):
    """A key that cannot be generated, loaded or used."""


class VerificationError(LedgerError):
    """Something well formed that does not verify."""


class InvalidSignature(VerificationError):
    """An Ed25519 signature that does not verify."""


class UnknownKey(VerificationError):
    """A signature by a key that the verifier does not know."""


class NotWitnessed(VerificationError):
    """A checkpoint without the cosignatures a verifier's policy demands."""


class RootMismatch(VerificationError):
    """A calculated root hash differs from the expected one."""

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(
            f"{what} mismatch: expected {expected.hex()}, calculated {calculated.hex()}"
        )


class ConsistencyError(VerificationError):
    """Two tree heads that cannot both describe one append-only log."""


class OriginMismatch(VerificationError):
    """A checkpoint that verifies but names another log (origin line) than expected."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"checkpoint origin: expected {expected!r}, found {found!r}")


class StatusProofInvalid(VerificationError):
    """A lot's status proof that does not hold up (ledger.status): `reason` names the check
    that failed: ``not_latest_root``, ``root_not_in_log``, ``not_a_state_root``,
    ``map_proof`` or ``malformed``."""

    def __init__(
        self, message: str, *, reason: str = "malformed", field: str | None = None
    ) -> None:
        self.reason = reason
        super().__init__(f"status proof ({reason}): {message}", field=field)


class ChainBroken(VerificationError):
    """An entry whose index or previous-hash link does not follow its predecessor."""


class StateProjectionError(VerificationError):
    """An entry the pure lot projection (`ledger.lotstate`) cannot apply: the log says
    something its service could not have recorded. `index` is the entry's."""

    def __init__(self, *args: object, index: int = -1, field: str | None = None) -> None:
        super().__init__(*args, field=field)
        self.index = index


class BackupInvalid(VerificationError):
    """A backup file refused: `what` names the part at fault (``entry 17``, ``checkpoint at
    size 40``, ``trailer``, ``line 3``), `kind` the failure (an audit failure kind such as
    ``content_changed``, or ``malformed``, ``truncated``, ``digest_mismatch``...)."""

    def __init__(
        self, message: str, *, what: str = "", kind: str = "", field: str | None = None
    ) -> None:
        self.what = what
        self.kind = kind
        super().__init__(f"{what} ({kind}): {message}" if what else message, field=field)


class OutOfRange(LedgerError):
    """An index or tree size the log does not (yet) hold."""


class BatcherClosed(LedgerError):
    """The group committer was closed; the event was not appended."""


class StorageError(LedgerError):
    """The store cannot answer: out-of-range sizes, an empty log, a missing node."""


class NotEmpty(StorageError):
    """A restore refused because the database already holds data (`tables` names where)."""

    def __init__(
        self, message: str, *, tables: tuple[str, ...] = (), field: str | None = None
    ) -> None:
        self.tables = tables
        super().__init__(message, field=field)

"""Checkpoints as in c2sp.org/tlog-checkpoint: a log's signed tree head as a signed note.

The note text is at least three non-empty lines, each ending in a newline::

    <origin>                 the log's identity, e.g. example.com/altan
    <tree size>              ASCII decimal, no sign, no leading zeros (0 for the empty tree)
    <base64 root hash>       standard padded base64 of the 32-byte RFC 9162 root
    [<extension line>...]    optional, opaque, non-empty

:func:`open_checkpoint` verifies the signed note first (ledger.note), then parses the text
and, when asked, checks the origin. The log's key name need not equal the origin (for
example sum.golang.org signs "go.sum database tree").
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.errors import KeyProblem, MalformedInput, OriginMismatch
from ledger.note import NoteSigner, NoteVerifier, open_note

__all__ = [
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "OriginMismatch",
    "open_checkpoint",
    "pinned_origin",
    "sign_checkpoint",
]

HASH_SIZE = 32
"""Size of a SHA-256 root hash in bytes."""

MAX_TREE_SIZE = (1 << 64) - 1
"""The largest tree size accepted (an unsigned 64-bit integer, as in the Go and C2SP tools)."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise MalformedInput(f"{what}: expected a string, found {type(value).__name__}")
    if not value:
        raise MalformedInput(f"{what}: expected a non-empty line, found an empty one")
    for index, char in enumerate(value):
        code = ord(char)
        if code < 0x20:
            raise MalformedInput(
                f"{what}: expected no newline or ASCII control character, "
                f"found U+{code:04X} at offset {index}"
            )
        if 0xD800 <= code <= 0xDFFF:
            raise MalformedInput(
                f"{what}: expected valid UTF-8 text, found a lone surrogate at offset {index}"
            )


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, tree size, 32-byte root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedInput(
                f"checkpoint size: expected an integer, found {type(self.size).__name__}"
            )
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedInput(
                f"checkpoint size: expected 0 to {MAX_TREE_SIZE}, found {self.size}"
            )
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            found = (
                f"{len(self.root_hash)} bytes"
                if isinstance(self.root_hash, bytes | bytearray)
                else type(self.root_hash).__name__
            )
            raise MalformedInput(f"checkpoint root hash: expected {HASH_SIZE} bytes, found {found}")
        if not isinstance(self.extensions, tuple):
            raise MalformedInput(
                "checkpoint extensions: expected a tuple of lines, "
                f"found {type(self.extensions).__name__}"
            )
        for number, line in enumerate(self.extensions):
            _check_line(line, f"checkpoint extension line {number + 1}")

    def to_text(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` then one line per extension."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the note text, signatures already removed). Strict."""
        if not isinstance(text, str):
            raise MalformedInput(f"checkpoint: expected text, found {type(text).__name__}")
        if not text.endswith("\n"):
            raise MalformedInput("checkpoint: expected text ending in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedInput(
                f"checkpoint: expected at least 3 lines (origin, size, root), found {len(lines)}"
            )
        for number, line in enumerate(lines):
            if not line:
                raise MalformedInput(
                    f"checkpoint: expected non-empty lines, found line {number + 1} empty"
                )
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise MalformedInput(
                "checkpoint size: expected ASCII decimal without sign or leading zeros, "
                f"found {size_text[:40]!r}"
            )
        if len(size_text) > len(str(MAX_TREE_SIZE)):
            raise MalformedInput(
                f"checkpoint size: expected at most {MAX_TREE_SIZE}, found {size_text[:40]!r}"
            )
        try:
            root_hash = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
            raise MalformedInput(
                f"checkpoint root hash: expected standard padded base64, found {root_text[:60]!r}"
            ) from exc
        if base64.b64encode(root_hash).decode("ascii") != root_text:
            raise MalformedInput(
                "checkpoint root hash: expected canonical standard padded base64, "
                f"found {root_text[:60]!r}"
            )
        if len(root_hash) != HASH_SIZE:
            raise MalformedInput(
                f"checkpoint root hash: expected {HASH_SIZE} bytes, found {len(root_hash)}"
            )
        return cls(
            origin=origin, size=int(size_text), root_hash=root_hash, extensions=tuple(extensions)
        )


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note for ``checkpoint`` (text, blank line, ``signer``'s signature line)."""
    return signer.sign(checkpoint.to_text())


def open_checkpoint(
    note: str | bytes,
    verifiers: Iterable[NoteVerifier],
    origin: str | None = None,
) -> tuple[Checkpoint, list[NoteVerifier]]:
    """Verify a signed checkpoint and parse it.

    1. the note verifies against ``verifiers`` (ledger.note.open_note: MalformedInput,
       InvalidSignature, UnknownKey);
    2. its text parses as a checkpoint (MalformedInput);
    3. when ``origin`` is given, the origin line equals it (OriginMismatch).

    Returns the checkpoint and the verifiers whose signatures verified.
    """
    parsed, signed_by = open_note(note, verifiers)
    checkpoint = Checkpoint.from_text(parsed.text)
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatch(expected=origin, found=checkpoint.origin)
    return checkpoint, signed_by


def pinned_origin(names: Iterable[str]) -> str:
    """The origin a set of pinned log keys names: their common key name.

    A verifier's trust anchor is what it pinned, so the origin it expects comes from the
    pinned keys, never from a checkpoint a server sent (c2sp.org/tlog-checkpoint: the key
    name SHOULD match the origin; Altan Ledger's always does). Keys of one log share its
    name across rotations; pinned keys with different names are refused (KeyProblem), as
    is an empty set.
    """
    distinct = sorted(set(names))
    if not distinct:
        raise KeyProblem("expected at least one pinned log key, found none")
    if len(distinct) > 1:
        raise KeyProblem(
            "the pinned log keys name different logs "
            f"({', '.join(repr(n) for n in distinct)}): pin the keys of one log"
        )
    return distinct[0]

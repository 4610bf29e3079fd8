"""RFC 9162 (RFC 6962) Merkle tree hashing with named domain separation.

A leaf hash and an interior node hash can never be confused because each is prefixed by its
own byte before hashing (RFC 9162 §2.1.1)::

    leaf  = SHA-256(0x00 || data)
    node  = SHA-256(0x01 || left || right)
    empty = SHA-256("")
"""

from __future__ import annotations

import hashlib

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32

_EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """Return the root hash of the empty tree, ``SHA-256("")``."""
    return _EMPTY_ROOT

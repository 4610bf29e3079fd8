"""Where things are, for test modules at any depth of the test tree."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent  # tests/
VECTORS = TESTS / "vectors"  # published test vectors (RFC 6962, RFC 8785, C2SP, ...)
REPO = TESTS.parent  # the project's root: README.md, deploy/, pyproject.toml

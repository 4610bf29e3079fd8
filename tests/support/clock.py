"""A settable clock for the rate limiter and other monotonic-time users.

Shared by several test modules (moved from tests/services/test_security_headers.py).
"""

from __future__ import annotations


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

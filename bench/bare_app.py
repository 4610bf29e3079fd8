"""The baseline of bench/http_append.py: a bare FastAPI endpoint taking the same JSON.

It parses the request into the same model as `POST /events` and answers with a receipt-
shaped body, and does nothing else: no auth, no rules, no database, no signature.
"""

from __future__ import annotations

from fastapi import FastAPI

from schemas.api import EventIn, RecordedOut

app = FastAPI()
_count = 0


@app.post("/events", status_code=201, response_model=RecordedOut)
def record(item: EventIn) -> RecordedOut:
    global _count
    _count += 1
    return RecordedOut(index=_count, leaf_hash="", key_id="00000000", signature="")

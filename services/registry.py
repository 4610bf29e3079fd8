"""Imports every domain module so that its handlers and projectors register themselves."""

from __future__ import annotations

import services.actors.models
import services.actors.service
import services.cases.models
import services.cases.service
import services.certificates.models
import services.certificates.service
import services.events.models
import services.lots.models
import services.lots.service
import services.witnesses.models
import services.witnesses.service  # noqa: F401
from schemas.events import EVENT_BODIES
from services.events.service import HANDLERS
from services.projection import PROJECTORS

# Every event type has rules and a projector (a test holds it so).
MISSING_HANDLERS = set(EVENT_BODIES) - set(HANDLERS)
MISSING_PROJECTORS = set(EVENT_BODIES) - set(PROJECTORS)

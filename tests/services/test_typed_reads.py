"""Reads return typed models (issue 12): no route of a domain answers a bare `dict` or
`Any`, so every JSON answer has a published schema and a type a reader can follow."""

from __future__ import annotations

import typing
from typing import Any

from fastapi.routing import APIRoute

from services.domains import DOMAINS


def test_no_domain_route_returns_a_bare_dict_or_any() -> None:
    routes = [
        route
        for domain in DOMAINS
        if domain.router is not None
        for route in domain.router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 20  # the domains' routes were found at all
    untyped = []
    for route in routes:
        returns = typing.get_type_hints(route.endpoint).get("return")
        if returns is Any or returns is dict or typing.get_origin(returns) is dict:
            untyped.append(f"{sorted(route.methods)} {route.path} -> {returns}")
    assert not untyped, "\n".join(untyped)

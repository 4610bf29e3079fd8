"""The service's shape (issue 12): no import circle anywhere in services/, and the event
pipeline, identity and roles import no domain.

The graph is grimp's (what import-linter reads): every `import` of every module, at the
top or inside a function, and under `if TYPE_CHECKING` too, so a circle cannot hide in a
deferred import. `make lint` checks the layer contract of pyproject.toml besides.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grimp
import pytest

from schemas.events import Body

# Packages of services/ that are domains, and the composition that lists them.
DOMAINS = (
    "services.actors",
    "services.cases",
    "services.certificates",
    "services.console",
    "services.epcis",
    "services.lots",
    "services.reports",
    "services.staff",
    "services.witnesses",
    "services.log",
)
COMPOSITION = ("services.domains", "services.app", "services.cli", "services.runtime")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("services", include_external_packages=False)


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = []
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root)))))
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    imported = sorted(graph.find_modules_directly_imported_by(child))
                    work.append((child, iter(imported)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The finder itself, on a graph with one circle (a -> b -> c -> a) and a tail."""
    g = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        g.add_module(name)
    for importer, imported in [("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")]:
        g.add_import(importer=importer, imported=imported)
    g.add_import(importer="pkg.d", imported="pkg.a")
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_circle_in_services(graph: grimp.ImportGraph) -> None:
    found = cycles(graph)
    details = []
    for component in found:
        members = set(component)
        edges = [
            f"  {m} -> {w}"
            for m in component
            for w in sorted(graph.find_modules_directly_imported_by(m))
            if w in members
        ]
        details.append(f"{len(component)} modules:\n" + "\n".join(edges))
    assert not found, "import circles in services/:\n" + "\n".join(details)


@pytest.mark.parametrize("package", ["services.pipeline", "services.identity", "services.roles"])
def test_the_kernel_imports_no_domain(graph: grimp.ImportGraph, package: str) -> None:
    """The pipeline, identity and roles know no domain and not the list of domains."""
    modules = {package} | graph.find_descendants(package)
    bad = sorted(
        f"{m} -> {w}"
        for m in modules
        for w in graph.find_modules_directly_imported_by(m)
        if any(w == d or w.startswith(d + ".") for d in DOMAINS + COMPOSITION)
    )
    assert not bad, "the kernel imports a domain:\n" + "\n".join(bad)


def test_every_domain_is_listed_once() -> None:
    """The one list (services/domains.py) names each domain package with a `domain.py`
    once, and its registry holds rules and a projector for every event type."""
    from pathlib import Path

    import services
    from services import domains

    root = Path(services.__file__).parent
    packages = sorted(p.parent.name for p in root.glob("*/domain.py"))
    assert sorted(d.name for d in domains.DOMAINS) == packages
    assert not domains.MISSING_HANDLERS
    assert not domains.MISSING_PROJECTORS


def test_projectors_of_one_type_from_several_domains_run_in_domain_order() -> None:
    """A type may have a projector in several domains (a case about a lot: cases projects
    the case, lots the lot's history, so cases need not import lots); the registry runs
    them in the order of the domains. Two handlers of one type stay an error."""
    from typing import cast

    from sqlalchemy.orm import Session

    from services.pipeline import Applied, Domain, Rules
    from services.pipeline.registration import Handler, Registry

    ran: list[str] = []

    def projector(name: str) -> Any:
        return lambda session, entry: ran.append(f"{name}:{entry.type}")

    lower = Domain("lower", Rules(projectors={"x.done": projector("lower")}))
    upper = Domain(
        "upper", Rules(projectors={"x.done": projector("upper"), "y.done": projector("upper")})
    )
    registry = Registry.of([lower, upper])
    session = cast(Session, None)
    for type_ in ("x.done", "y.done", "z.noted"):
        registry.apply(session, Applied(0, "2025-01-01T00:00:00Z", type_, "a", {}))
    assert ran == ["lower:x.done", "upper:x.done", "upper:y.done"]

    handler = Handler("x.done", Body, frozenset(), lambda ctx, body: None)
    twice = [Domain(n, Rules(handlers={"x.done": handler})) for n in ("a", "b")]
    with pytest.raises(RuntimeError, match=r"two handlers for x\.done"):
        Registry.of(twice)


def _domain_of(module: str) -> str | None:
    return next((d for d in DOMAINS if module == d or module.startswith(d + ".")), None)


def test_no_import_circle_between_domain_packages(graph: grimp.ImportGraph) -> None:
    """Each domain package taken as one node, no circle among them: what a lower domain
    needs of a higher one is passed in by services/domains.py (issue 12)."""
    packages = grimp.ImportGraph()
    for domain in DOMAINS:
        packages.add_module(domain)
    edges: dict[tuple[str, str], list[str]] = {}
    for module in sorted(graph.modules):
        source = _domain_of(module)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = _domain_of(imported)
            if target is None or target == source:
                continue
            packages.add_import(importer=source, imported=target)
            edges.setdefault((source, target), []).append(f"{module} -> {imported}")
    found = cycles(packages)
    details = [
        "  " + line
        for component in found
        for (a, b), lines in sorted(edges.items())
        if a in component and b in component
        for line in lines
    ]
    assert not found, "package circles between domains:\n" + "\n".join(details)

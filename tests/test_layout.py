"""The test tree's shape: helpers live in tests/support, and no test imports another test module.

A test module importing another (`from test_api import database_url`) runs the other's
module-level code and fixtures in its own namespace, hides which helpers are shared, and
ties the two modules' collection together; conftest.py is for fixtures, not for imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (top level or inside a function), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return top.startswith("test_") or top == "conftest"


def offenders(root: Path) -> list[str]:
    """`file:line module` for each import of a test module or of conftest under `root`."""
    return [
        f"{path.relative_to(root)}:{line} {module}"
        for path in sorted(root.rglob("*.py"))
        for line, module in _imported_modules(path)
        if _forbidden(module)
    ]


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    assert offenders(TESTS) == [], "move the shared helper into tests/support/"


def test_the_check_sees_top_level_function_level_and_aliased_imports(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text(
        "import test_b as b\n"
        "from support.db import Database\n"
        "def test_x():\n"
        "    from test_c import helper\n"
        "    from conftest import T0\n",
        encoding="utf-8",
    )
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "world.py").write_text("from test_d import populate\n")
    assert offenders(tmp_path) == [
        "support/world.py:1 test_d",
        "test_a.py:1 test_b",
        "test_a.py:4 test_c",
        "test_a.py:5 conftest",
    ]


def test_helper_modules_live_in_the_support_package() -> None:
    loose = [
        p.name
        for p in TESTS.glob("*.py")
        if not p.name.startswith("test_") and p.name != "conftest.py"
    ]
    # independent_verifier.py stays where it is: a second implementation written only from
    # the public specifications, which tests/test_independent.py reads by path to check that
    # it shares no code with the project.
    assert sorted(loose) == ["independent_verifier.py"]

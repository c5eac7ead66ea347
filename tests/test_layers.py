"""The import rule of docs/architecture.md, checked on the source.

Every module of the package belongs to a layer, and a layer imports only
itself and the layers it lists here: nothing imports upward, and client code
(the nbgrader plugin, ``ngsharectl``) never imports the server. Imports are
read with ``ast`` from every file, including imports inside functions and
``TYPE_CHECKING`` blocks, so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_independent

PACKAGE = Path(__file__).resolve().parent.parent / "ngshare"

# layer -> the layers it may import (besides itself). The most specific
# prefix names a module's layer. The table is the one in docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    # The package itself and modules of the app's own (configuration): no layer of
    # the server below the app imports them.
    "ngshare.server": set(),
    "ngshare.protocol": set(),
    "ngshare.server.storage": {"ngshare.protocol"},
    "ngshare.server.service": {"ngshare.server.storage", "ngshare.protocol"},
    "ngshare.server.auth": {"ngshare.server.service", "ngshare.server.storage", "ngshare.protocol"},
    "ngshare.server.maintenance": {
        "ngshare.server.service",
        "ngshare.server.storage",
        "ngshare.protocol",
    },
    "ngshare.server.handlers": {
        "ngshare.server.auth",
        "ngshare.server.service",
        "ngshare.protocol",
    },
    "ngshare.server.app": {
        "ngshare.server",
        "ngshare.server.handlers",
        "ngshare.server.auth",
        "ngshare.server.service",
        "ngshare.server.maintenance",
        "ngshare.server.storage",
        "ngshare.protocol",
    },
    "ngshare.server.commands": {
        "ngshare.server",
        "ngshare.server.app",
        "ngshare.server.service",
        "ngshare.server.maintenance",
        "ngshare.server.storage",
        "ngshare.protocol",
    },
    "ngshare.client": {"ngshare.protocol"},
    "ngshare.exchange": {"ngshare.client", "ngshare.protocol"},
    "ngshare.cli": {"ngshare.client", "ngshare.protocol"},
    "ngshare.__main__": {"ngshare.server.app"},
}
# The package's root module holds only the version, which every layer may read.
ROOT = "ngshare"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    matches = [layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ngshare import in the file, relative ones resolved."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every ngshare import of ``source``, a module of ``package``."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # ``from ngshare.x import y`` may import the module ngshare.x.y.
            found.extend((node.lineno, f"{source}.{alias.name}") for alias in node.names)
    return [(line, name) for line, name in found if name == ROOT or name.startswith(ROOT + ".")]


def target_layer(name: str) -> str | None:
    # ``from ngshare.server.service import deleted`` names ngshare.server.service.deleted;
    # ``from ngshare import __version__`` names ngshare.__version__ (the root).
    if name.rpartition(".")[0] == ROOT and layer_of(name) is None:
        return ROOT
    return layer_of(name)


def test_every_module_has_a_layer() -> None:
    modules = [module_name(p) for p in sorted(PACKAGE.rglob("*.py"))]
    orphans = [m for m in modules if m != ROOT and layer_of(m) is None]
    assert not orphans, f"modules outside every layer of docs/architecture.md: {orphans}"


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent))
)
def test_no_import_runs_up_a_layer(path: Path) -> None:
    layer = layer_of(module_name(path))
    if layer is None:
        return  # the root module
    allowed = ALLOWED[layer] | {layer, ROOT}
    wrong = [
        f"line {line}: {name}"
        for line, name in imported_modules(path)
        if target_layer(name) not in allowed
    ]
    assert not wrong, f"{layer} may import only {sorted(allowed)}; found {wrong}"


def test_the_rule_catches_an_upward_import() -> None:
    """The checker itself: imports from storage up into the service layer are found."""
    source = (
        "from ngshare.server.service import runner\n"
        "from . import models\n"
        "def late():\n"
        "    from ..service.quota import COURSE_QUOTA\n"
    )
    names = [name for _, name in imports_in(source, "ngshare.server.storage")]
    assert names == [
        "ngshare.server.service.runner",
        "ngshare.server.storage.models",
        "ngshare.server.service.quota.COURSE_QUOTA",
    ]
    allowed = ALLOWED["ngshare.server.storage"] | {"ngshare.server.storage", ROOT}
    assert [target_layer(n) in allowed for n in names] == [False, True, False]

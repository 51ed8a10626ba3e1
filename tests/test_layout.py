"""The package's layers, checked by walking every import (module level and inside functions).

Data flows one way: hooks -> events -> outcomes -> verdicts -> reports. A lower layer never imports
a higher one, `verdicts/` never imports mitmproxy, and the addon never imports the runner that
drives it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mitm_pincheck"

# Lowest first. A module may import its own layer and the layers before it.
LAYERS = [
    {"errors", "__init__"},  # the package itself holds only __version__
    {"verdicts"},
    {"scenario", "pins"},
    {"device", "report"},
    {"proxy", "backend"},
    {"demo"},
    {"cli", "__main__"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names."""
    tree = ast.parse(path.read_text(), str(path))
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from mitm_pincheck.proxy import runner` imports the module runner
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "mitm_pincheck":
        return None
    top = parts[1] if len(parts) > 1 else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS in {__file__}")


def _internal(names: set[str]) -> set[str]:
    """The package's own modules among `names` (dropping names that are attributes)."""
    out = set()
    for name in names:
        if not name.startswith("mitm_pincheck"):
            continue
        path = PACKAGE.parent / Path(*name.split("."))
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            out.add(name)
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path):
    here = _layer(_module_name(path))
    higher = sorted(m for m in _internal(_imports(path)) if (_layer(m) or 0) > here)
    assert not higher, f"{path.relative_to(PACKAGE)} imports higher layers: {higher}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "verdicts").glob("*.py")), ids=lambda p: p.name)
def test_verdicts_never_import_mitmproxy_or_tls(path: Path):
    names = _imports(path)
    assert not {n for n in names if n.split(".")[0] in ("mitmproxy", "OpenSSL", "socket", "ssl")}
    internal = _internal(names)
    assert all(m.startswith(("mitm_pincheck.verdicts", "mitm_pincheck.errors")) for m in internal)


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = PACKAGE.parent / Path(*name.split("."))
        file = (
            path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
        )
        todo.extend(_internal(_imports(file)) - seen)
    return seen


def test_the_addon_never_imports_the_runner():
    reached = _closure("mitm_pincheck.proxy.addon")
    assert "mitm_pincheck.proxy.runner" not in reached
    assert "mitm_pincheck.proxy.standalone" not in reached


def test_the_layer_check_sees_function_level_imports(tmp_path: Path):
    """The walk must not miss a lazy import inside a function: that is how cycles hide."""
    sample = PACKAGE / "proxy" / "standalone.py"
    assert "mitm_pincheck.proxy.runner" in _internal(_imports(sample))
    lazy = PACKAGE / "cli" / "run.py"
    assert "mitm_pincheck.proxy.runner" in _internal(_imports(lazy))

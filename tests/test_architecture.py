"""The house plan, enforced: imports point one way, and only the core reaches the store.

Layers (docs/architecture.md): domain ← core ← {store, bus, http, connectors} ← app.
connectors may use the HTTP layer's shared web plumbing (socket senders, security checks,
metrics), never the console. Checked by walking every module's AST, so a reverse import
anywhere (even inside a function) fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUMBING = {"gateway.http.sockets", "gateway.http.security", "gateway.http.metrics", "gateway.http.frame_schema"}

# package → the packages of ours it may import (its own included)
ALLOWED = {
    "gateway.domain": {"gateway.domain"},
    "gateway.core": {"gateway.domain", "gateway.core"},
    "gateway.store": {"gateway.domain", "gateway.core", "gateway.store"},
    "gateway.bus": {"gateway.domain", "gateway.core", "gateway.bus"},
    "gateway.http": {"gateway.domain", "gateway.core", "gateway.http"},
    "connectors": {"gateway.domain", "gateway.core", "connectors", *PLUMBING},
    "gateway.app": {"gateway", "connectors"},
}
OURS = ("gateway", "connectors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module of ours that `path` imports, with the line, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or node.level:  # `from . import x`: x may be a module
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def allowed(importer_layer: str, target: str) -> bool:
    for entry in ALLOWED[importer_layer]:
        if target == entry or target.startswith(entry + "."):
            return True
    # `from gateway import x` style parents are not a dependency on a layer by themselves
    return target in ("gateway",) and importer_layer == "gateway.app"


def sources() -> list[Path]:
    return sorted(p for top in OURS for p in (ROOT / top).rglob("*.py"))


def test_the_layers_exist_and_the_top_of_gateway_is_small():
    top = sorted(p.name for p in (ROOT / "gateway").glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]
    for layer in ("domain", "core", "store", "bus", "http", "app"):
        assert (ROOT / "gateway" / layer / "__init__.py").exists(), layer


def test_imports_point_one_way_only():
    wrong = []
    for path in sources():
        layer = layer_of(module_name(path))
        if layer is None:
            continue  # gateway/__init__ and __main__ (the entry point calls the app)
        for line, target in imports_of(path):
            if layer_of(target) is None and target not in ("gateway",):
                continue  # e.g. `gateway.__main__`: not a layer
            if not allowed(layer, target):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({layer}) imports {target}")
    assert wrong == []


def test_a_reverse_import_is_caught(tmp_path):
    """The walker itself can fail: a domain module importing the core is reported."""
    bad = ROOT / "gateway" / "domain" / "_probe_reverse_import.py"
    bad.write_text("from gateway.core.helpline import Helpline\n")
    try:
        found = [t for _, t in imports_of(bad)]
        assert "gateway.core.helpline" in found
        assert not allowed(layer_of(module_name(bad)), "gateway.core.helpline")
        assert not allowed("connectors", "gateway.http.console")
    finally:
        bad.unlink()


STORE_OWNERS = ("gateway/core/", "gateway/store/", "gateway/app/")


def store_reaches(path: Path) -> list[int]:
    """Lines where `path` reads an attribute called `store` (`helpline.store`, `self.store`…)."""
    tree = ast.parse(path.read_text(), str(path))
    return sorted({node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "store"})


def test_no_adapter_reaches_the_store():
    """The store is the core's: adapters (http, connectors, bus) go through core use cases.
    The composition root (gateway/app) may hold it: it opens and closes it."""
    wrong = []
    for path in sources():
        rel = str(path.relative_to(ROOT))
        if rel.startswith(STORE_OWNERS):
            continue
        wrong += [f"{rel}:{line}" for line in store_reaches(path)]
    assert wrong == []


@pytest.mark.parametrize("snippet", ["helpline.store.get(1)", "self.helpline.store"])
def test_the_store_check_sees_an_attribute_reach(tmp_path, snippet):
    probe = tmp_path / "probe.py"
    probe.write_text(f"def f(self, helpline):\n    return {snippet}\n")
    assert store_reaches(probe) == [2]

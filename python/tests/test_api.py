"""The public surface: every name documented, and the type stubs in step with the module."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import watchtower
from watchtower import Economy, _watchtower

STUBS = Path(watchtower.__file__).with_name("_watchtower.pyi")


def public(obj) -> set:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_every_public_name_has_a_docstring():
    for name in watchtower.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(watchtower, name)
        assert inspect.getdoc(obj), name
    for name in public(Economy):
        assert inspect.getdoc(getattr(Economy, name)), f"Economy.{name}"


def test_signatures_read_like_python():
    assert str(inspect.signature(Economy.step)) == "(self, /, n=1)"
    sig = inspect.signature(Economy)
    assert sig.parameters["households"].default == 10000
    assert sig.parameters["preset"].default == "watchtower"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig.parameters.values())
    assert str(inspect.signature(Economy.from_run)) == "(path, run='latest')"


def test_the_stubs_cover_the_compiled_module():
    tree = ast.parse(STUBS.read_text())
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    compiled = {n for n in dir(_watchtower) if not n.startswith("__")}
    assert compiled <= top | {"Value", "Settings"}, compiled - top
    stub_economy = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Economy")
    stubbed = {n.name for n in stub_economy.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
    assert stubbed == public(Economy)
    assert (STUBS.parent / "py.typed").exists()

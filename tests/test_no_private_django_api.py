"""Our code uses no private API of Django, DRF or django-oauth-toolkit (issue 12).

Every .py file of the apps (migrations excluded) is parsed and refused when it
- imports an underscore name, or from an underscore module, of django, rest_framework or
  oauth2_provider (`from django.db.models.query import _x`, `import django._x`);
- reaches a private attribute of the ORM: a model's `_state`, a queryset's `_update`,
  `_raw_delete`, `_insert`, `_prepare_for_bulk_create`, `_check_bulk_create_options` and their
  like (also through getattr/setattr with the name as a string);
- swaps an object's class (`x.__class__ = ...`), as a query compiled into another kind would.

`Model._meta` and `Model._base_manager` are documented API and allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("baskets", "partners", "subscriptions", "checkout_project", "bench")
LIBRARIES = ("django", "rest_framework", "oauth2_provider")
PRIVATE_ORM_ATTRIBUTES = frozenset(
    {
        "_state",
        "_update",
        "_raw_delete",
        "_insert",
        "_batched_insert",
        "_prepare_for_bulk_create",
        "_check_bulk_create_options",
        "_clone",
        "_chain",
        "_fetch_all",
        "_result_cache",
        "_prefetch_related_lookups",
        "_do_insert",
        "_do_update",
        "_save_table",
        "_save_parents",
        "_prepare_related_fields_for_save",
    }
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_module(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def _names_a_private_attribute(node: ast.AST) -> bool:
    """`getattr(obj, "_state")`, `setattr(...)`: a private ORM attribute named by a string."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "setattr"}
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value in PRIVATE_ORM_ATTRIBUTES
    )


def violations(source: str, filename: str = "<source>") -> Iterator[str]:
    """`file:line: what` for every use of a private name in `source`."""
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _library_module(node.module):
            if any(_private(part) for part in node.module.split(".")):
                yield f"{where}: imports from the private module {node.module}"
            for alias in node.names:
                if _private(alias.name):
                    yield f"{where}: imports the private name {alias.name} from {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _library_module(alias.name) and any(_private(part) for part in alias.name.split(".")):
                    yield f"{where}: imports the private module {alias.name}"
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ORM_ATTRIBUTES:
            yield f"{where}: uses the private ORM attribute .{node.attr}"
        elif _names_a_private_attribute(node):
            yield f"{where}: uses the private ORM attribute {node.args[1].value!r} through {node.func.id}"
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Attribute) and target.attr == "__class__" for target in targets):
                yield f"{where}: assigns __class__"


def our_python_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or ".venv" in parts:
                continue
            files.append(path)
    return files


def test_our_code_uses_no_private_django_api():
    files = our_python_files()
    assert len(files) > 20, "the apps' files were not found"
    found = [
        problem
        for path in files
        for problem in violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == [], "private Django / DRF / OAuth toolkit API:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from django.db.models.deletion import _collector",
        "from django.db.models._private import Thing",
        "import django._internal",
        "from rest_framework.fields import _UnvalidatedField",
        "from oauth2_provider.oauth2_validators import _private_helper",
        "obj._state.adding = False",
        "queryset._update(values)",
        "queryset._raw_delete(using)",
        "Customer._base_manager._insert([customer], fields=fields)",
        "queryset._prepare_for_bulk_create(objs)",
        "queryset._check_bulk_create_options(False, True, None, None)",
        "getattr(obj, '_state').db = 'default'",
        "query.__class__ = sql.UpdateQuery",
    ],
)
def test_each_kind_of_private_use_is_found(source):
    assert list(violations(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "from django.db.models import F, Q",
        "from django.db import transaction",
        "fields = Basket._meta.concrete_fields",
        "Customer._base_manager.db",
        "self._cache = {}",
        "def _state(basket): ...",
        "_state(basket)",
        "from baskets.services.completion import _pay",
        "name = obj.__class__.__name__",
    ],
)
def test_public_api_and_our_own_private_names_pass(source):
    assert list(violations(source)) == []

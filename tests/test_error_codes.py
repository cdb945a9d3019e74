"""One error-code registry per app, no code in two of them, no code written anywhere else (issue 12).

The registries: the plumbing's (checkout_project.api.errors.ApiCodes), baskets'
(baskets.errors.BasketCodes) and partners' (partners.errors.PartnerCodes). Every other module
names a code through one of them: the apps' source is parsed with `ast` and refused where a
string literal is passed as `code=...`, assigned as an exception class's `code = ...`, or given
as the code of a Finding or a PromoCodeRefused.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from baskets.errors import BasketCodes
from checkout_project.api.errors import ApiCodes
from partners.errors import PartnerCodes

ROOT = Path(__file__).resolve().parent.parent
APPS = ("checkout_project", "subscriptions", "baskets", "partners")
REGISTRIES = {
    "checkout_project/api/errors.py": ApiCodes,
    "baskets/errors.py": BasketCodes,
    "partners/errors.py": PartnerCodes,
}
# Calls whose first argument is an error code.
CODE_FIRST = {"Finding", "PromoCodeRefused"}


def test_no_code_is_in_two_registries():
    values = Counter(code.value for registry in REGISTRIES.values() for code in registry)
    assert len(values) > 60, "the registries were not read"
    assert {value: count for value, count in values.items() if count > 1} == {}


def test_codes_are_stable_snake_case():
    for registry in REGISTRIES.values():
        for code in registry:
            assert code.value.isascii() and code.value == code.value.lower(), code
            assert code.value.replace("_", "").isalpha(), code


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _written_codes(node: ast.AST) -> list[ast.AST | None]:
    """The expressions `node` gives as an error code."""
    if isinstance(node, ast.Call):
        given: list[ast.AST | None] = [keyword.value for keyword in node.keywords if keyword.arg == "code"]
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name in CODE_FIRST and node.args:
            given.append(node.args[0])
        return given
    if isinstance(node, ast.ClassDef):
        assigned: list[ast.AST | None] = []
        for statement in node.body:
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            else:
                continue
            if any(isinstance(target, ast.Name) and target.id == "code" for target in targets):
                assigned.append(statement.value)
        return assigned
    return []


def literal_codes(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: code` for every error code written as a string literal in `source`."""
    return [
        f"{filename}:{getattr(code, 'lineno', node.lineno)}: {literal}"
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, ast.Call | ast.ClassDef)
        for code in _written_codes(node)
        if (literal := _string(code)) is not None
    ]


def test_no_code_is_written_as_a_literal_outside_the_registries():
    files = [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and path.relative_to(ROOT).as_posix() not in REGISTRIES
    ]
    assert len(files) > 40, "the apps' files were not found"
    found = [line for path in files for line in literal_codes(path.read_text(encoding="utf-8"), str(path))]
    assert found == [], "error codes written outside the registries:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'raise ApplicationError("Nope.", code="nope")',
        'raise errors.ApplicationError("Nope.", code="nope", status=409)',
        'class Refused(Conflict):\n    code = "refused"',
        'class Refused(Conflict):\n    code: str = "refused"',
        'yield Finding("basket_empty", "The basket has no order items.")',
        'raise PromoCodeRefused("promo_code_unknown", "There is no such promo code.")',
    ],
)
def test_each_literal_code_is_found(source):
    assert literal_codes(source) != []


@pytest.mark.parametrize(
    "source",
    [
        'raise ApplicationError("Nope.", code=BasketCodes.BASKET_EMPTY)',
        "class Refused(Conflict):\n    code = BasketCodes.BASKET_COMPLETED",
        'yield Finding(BasketCodes.BASKET_EMPTY, "The basket has no order items.")',
        'promo_code_apply(actor=actor, basket_id=basket_id, code=call.data["code"])',
        'data = {"code": promo.code}',
    ],
)
def test_codes_from_a_registry_pass(source):
    assert literal_codes(source) == []

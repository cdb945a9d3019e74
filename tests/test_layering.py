"""Which app may use which (HOUSE_STYLE.md; issue 12), checked over the apps' own source.

Every .py file of the apps is parsed with `ast`: absolute imports (`import x`, `from x import y`)
and relative ones resolved against the file's package, at any depth (inside functions and
`if TYPE_CHECKING:` blocks too). `from package import submodule` counts as importing the
submodule. Each failure lists `file:line → imported module` (or the name used).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("checkout_project", "subscriptions", "baskets", "partners")
DOMAIN_APPS = ("subscriptions", "baskets", "partners")

# checkout_project's project-level wiring may import the apps; the rest of it is plumbing.
PROJECT_WIRING = ("checkout_project/urls.py", "checkout_project/wsgi.py", "checkout_project/asgi.py")
PROJECT_WIRING_DIRS = ("checkout_project/management/",)

# What partners may use of baskets: its services, selectors (modules or packages), models,
# errors, hooks, and its API (the partner endpoints subclass the public viewsets).
PARTNERS_MAY_IMPORT_FROM_BASKETS = (
    "baskets.services",
    "baskets.selectors",
    "baskets.models",
    "baskets.errors",
    "baskets.hooks",
    "baskets.api",
)

# Whose models an app may not query through the ORM (their owner has selectors for them).
FOREIGN_MODELS = {"baskets": ("subscriptions", "partners"), "partners": ("subscriptions",)}


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the repository root, e.g. "baskets/services/completion.py"
    module: str  # e.g. "baskets.services.completion"; a package's __init__.py is the package
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.module if self.path.endswith("__init__.py") else self.module.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    module: str  # the module imported: a submodule when `from package import submodule`
    name: str | None = None  # the name taken from it, when it is not a submodule

    def __str__(self) -> str:
        target = f"{self.module}.{self.name}" if self.name else self.module
        return f"{self.path}:{self.line} → {target}"


def is_module(dotted: str) -> bool:
    """Whether `dotted` names a module or package of this repository."""
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def parse(path: Path) -> SourceFile:
    relative = path.relative_to(ROOT).as_posix()
    parts = relative.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return SourceFile(relative, ".".join(parts), ast.parse(path.read_text(encoding="utf-8"), filename=relative))


@cache
def source_files() -> tuple[SourceFile, ...]:
    return tuple(parse(path) for app in APPS for path in sorted((ROOT / app).rglob("*.py")))


def files_of(app: str) -> list[SourceFile]:
    return [file for file in source_files() if file.module == app or file.module.startswith(f"{app}.")]


def from_module(file: SourceFile, node: ast.ImportFrom) -> str:
    """The absolute module of `from ... import`, relative imports resolved against the file's package."""
    if node.level == 0:
        return node.module or ""
    package = file.package.split(".")
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(file: SourceFile) -> Iterator[Import]:
    for node in ast.walk(file.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file.path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = from_module(file, node)
            for alias in node.names:
                if alias.name != "*" and is_module(f"{module}.{alias.name}"):
                    yield Import(file.path, node.lineno, f"{module}.{alias.name}")
                else:
                    yield Import(file.path, node.lineno, module, None if alias.name == "*" else alias.name)


def bindings(file: SourceFile) -> dict[str, str]:
    """Local name → the dotted thing it was imported as ("Offer" → "subscriptions.models.Offer")."""
    bound: dict[str, str] = {}
    for node in ast.walk(file.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom):
            module = from_module(file, node)
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = f"{module}.{alias.name}"
    return bound


def dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """`models.Offer.objects` → "subscriptions.models.Offer.objects" when `models` is imported."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = dotted(node.value, bound)
        return f"{owner}.{node.attr}" if owner else None
    return None


def references(file: SourceFile) -> Iterator[tuple[int, str]]:
    """(line, dotted name) for every imported name and every attribute of an imported module."""
    bound = bindings(file)
    for node in ast.walk(file.tree):
        if isinstance(node, ast.ImportFrom):
            module = from_module(file, node)
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Attribute) and (name := dotted(node, bound)):
            yield node.lineno, name


def within(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def offending_imports(files: list[SourceFile], refused: Callable[[Import], bool]) -> list[str]:
    return [str(imported) for file in files for imported in imports(file) if refused(imported)]


def report(rule: str, violations: list[str]) -> str:
    return f"{rule}:\n  " + "\n  ".join(sorted(set(violations), key=natural_order))


def natural_order(line: str) -> tuple[str, int]:
    path, _, rest = line.partition(":")
    return path, int(re.match(r"\d+", rest).group())


def is_plumbing(file: SourceFile) -> bool:
    name = file.path.removeprefix("checkout_project/")
    return not (
        file.path in PROJECT_WIRING
        or file.path.startswith(PROJECT_WIRING_DIRS)
        or ("/" not in name and name.startswith("settings"))
    )


@cache
def request_handling_functions(module: str) -> frozenset[str]:
    """The top-level functions of `module` that handle a request: they take `request` or return a
    Response (what a view does; the partner views subclass the public viewsets instead)."""
    path = ROOT.joinpath(*module.split("."))
    path = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
    if not path.is_file():
        return frozenset()
    handlers = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            returns = ast.unparse(node.returns) if node.returns else ""
            if any(argument.arg == "request" for argument in arguments) or re.search(r"\bResponse\b", returns):
                handlers.add(node.name)
    return frozenset(handlers)


# --- The parser itself -----------------------------------------------------------------------------


def test_every_app_is_parsed():
    for app in APPS:
        assert len(files_of(app)) > 3, app
    assert {"baskets/services/completion.py", "partners/api.py", "checkout_project/api/auth.py"} <= {
        file.path for file in source_files()
    }


def test_relative_and_submodule_imports_are_resolved():
    source = (
        "from ..selectors import visible_baskets\n"
        "from . import render\n"
        "from .. import services as s\n"
        "import partners.models\n"
        "def f():\n"
        "    from baskets.models import Basket\n"
        "    return s.basket_create, partners.models.Partner.objects\n"
    )
    file = SourceFile("baskets/api/views.py", "baskets.api.views", ast.parse(source))
    assert [str(imported) for imported in imports(file)] == [
        "baskets/api/views.py:1 → baskets.selectors.visible_baskets",
        "baskets/api/views.py:2 → baskets.api.render",
        "baskets/api/views.py:3 → baskets.services",
        "baskets/api/views.py:4 → partners.models",
        "baskets/api/views.py:6 → baskets.models.Basket",
    ]
    package = SourceFile("baskets/api/__init__.py", "baskets.api", ast.parse("from .views import X\n"))
    assert [imported.module for imported in imports(package)] == ["baskets.api.views"]
    names = {name for _, name in references(file)}
    assert {"baskets.services.basket_create", "partners.models.Partner.objects"} <= names


# --- The rules ---------------------------------------------------------------------------------------


def test_subscriptions_imports_neither_baskets_nor_partners():
    violations = offending_imports(files_of("subscriptions"), lambda i: within(i.module, "baskets", "partners"))
    assert not violations, report("subscriptions imports baskets or partners", violations)


def test_project_plumbing_imports_no_app():
    plumbing = [file for file in files_of("checkout_project") if is_plumbing(file)]
    assert "checkout_project/api/auth.py" in {file.path for file in plumbing}
    violations = offending_imports(plumbing, lambda i: within(i.module, *DOMAIN_APPS))
    assert not violations, report("checkout_project plumbing imports an app", violations)


def test_baskets_never_imports_partners():
    violations = offending_imports(files_of("baskets"), lambda i: within(i.module, "partners"))
    assert not violations, report("baskets imports partners", violations)


def test_partners_uses_only_baskets_services_selectors_models_errors_hooks_and_api():
    violations = offending_imports(
        files_of("partners"),
        lambda i: within(i.module, "baskets") and not within(i.module, *PARTNERS_MAY_IMPORT_FROM_BASKETS),
    )
    assert not violations, report(
        f"partners imports baskets outside {', '.join(PARTNERS_MAY_IMPORT_FROM_BASKETS)}", violations
    )


def test_partners_reuse_baskets_views_by_subclassing_not_by_importing_their_functions():
    violations = []
    for file in files_of("partners"):
        for line, name in references(file):
            module, _, function = name.rpartition(".")
            if within(module, "baskets.api") and function in request_handling_functions(module):
                violations.append(f"{file.path}:{line} → {name}")
    assert not violations, report("partners uses a request-handling function of baskets.api", violations)


def test_no_app_queries_another_apps_models_through_the_orm():
    violations = []
    for app, owners in FOREIGN_MODELS.items():
        for file in files_of(app):
            name = file.path.rpartition("/")[2]
            if name in {"models.py", "admin.py"} or "/migrations/" in file.path:
                continue
            bound = bindings(file)
            for node in ast.walk(file.tree):
                if isinstance(node, ast.Attribute) and node.attr == "objects":
                    model = dotted(node.value, bound)
                    if model and any(model.startswith(f"{owner}.models.") for owner in owners):
                        violations.append(f"{file.path}:{node.lineno} → {model}.objects")
    assert not violations, report("ORM query on another app's models (use its selectors)", violations)

"""The documentation: one configuration page listing every variable, a short README whose links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where a variable's name is read: settings.py's env_*() helpers and os.environ.get, gunicorn.conf.py's.
READS = re.compile(r"""(?:\benv_[a-z]+|\bos\.environ\.get|\b_int)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def variables_read(path: Path) -> set[str]:
    source = path.read_text(encoding="utf-8")
    names = set(READS.findall(source))
    if "dj_database_url.config(" in source:
        names.add("DATABASE_URL")  # dj-database-url reads it itself
    return names


def test_the_reader_finds_the_variables():
    names = variables_read(ROOT / "checkout_project" / "settings.py")
    assert {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DATABASE_URL", "BASKET_MAX_ITEMS", "THROTTLE_RATE_LOGIN"} <= names
    assert len(names) >= 40
    assert {"GUNICORN_BIND", "GUNICORN_WORKERS", "FORWARDED_ALLOW_IPS"} <= variables_read(ROOT / "gunicorn.conf.py")


def test_configuration_lists_every_variable_the_settings_read():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = "\n".join(line for line in page.splitlines() if line.startswith("| `"))
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", rows))
    read = variables_read(ROOT / "checkout_project" / "settings.py") | variables_read(ROOT / "gunicorn.conf.py")
    assert sorted(read - documented) == []


def test_the_readme_is_a_short_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 170  # five minutes; the reference lives in docs/
    for page in ("api", "configuration", "deployment", "payments", "admin", "architecture", "benchmark"):
        assert f"(docs/{page}.md)" in readme, page


def test_every_relative_link_of_the_docs_resolves():
    broken = []
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = target.split("#", 1)[0]
            if not (document.parent / path).exists():
                broken.append(f"{document.relative_to(ROOT)} → {target}")
    assert broken == []

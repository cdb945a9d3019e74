"""`make run` / `make test` with a Python older than 3.12 say so, before pip fails in its own words."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def older_python() -> str | None:
    """A Python 3.11 (pyenv provides one on the project's machine), or None."""
    for name in ("python3.11", "python3.10"):
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] < (3, 12))"],
                               capture_output=True, text=True, timeout=30)  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return path
    return None


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    # A failing check stops make within a second; the timeout only guards a broken check.
    return subprocess.run(
        ["make", "--no-print-directory", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def old_python() -> str:
    found = older_python()
    if found is None:
        pytest.skip("no Python older than 3.12 on PATH (python3.11 / python3.10)")
    return found


@pytest.mark.parametrize("target", ["run", "test"])
def test_make_with_an_old_python_says_it_needs_3_12(tmp_path, old_python, target):
    venv = tmp_path / "venv"
    result = make(target, f"PYTHON={old_python}", f"VENV={venv}")
    assert result.returncode != 0
    assert "needs Python 3.12" in result.stderr, result.stderr
    assert "make run PYTHON=python3.12" in result.stderr
    # Stopped before making the venv or asking pip anything.
    assert not venv.exists()
    assert "No matching distribution" not in result.stdout + result.stderr


def test_a_venv_made_by_an_old_python_is_refused_too(tmp_path, old_python):
    venv = tmp_path / "venv"
    subprocess.run([old_python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    result = make("venv", f"PYTHON={sys.executable}", f"VENV={venv}")
    assert result.returncode != 0
    assert "needs Python 3.12" in result.stderr, result.stderr
    assert f"remove {venv}" in result.stderr


def test_python_3_12_passes_the_check(tmp_path):
    assert sys.version_info[:2] >= (3, 12)
    result = make("python-version", f"PYTHON={sys.executable}", f"VENV={tmp_path / 'venv'}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_missing_interpreter_is_named():
    result = make("python-version", "PYTHON=python3-does-not-exist", "VENV=/nonexistent/venv")
    assert result.returncode != 0
    assert "needs Python 3.12" in result.stderr
    assert "python3-does-not-exist" in result.stderr

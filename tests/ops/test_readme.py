"""The README's tour and docs/api.md run as written against a live server (issue 14).

A server like `make run`'s (migrate, seed_demo, `manage.py runserver`, DJANGO_DEBUG=1) is started on
a free port with a throwaway SQLite database; each document's ```sh / ```bash blocks then run with
bash, in order, each as its own script, from a scratch directory laid out like the repository
root (`manage.py`, and `.venv` pointing at the interpreter running the tests). `BASE` points the
blocks at that server (a block says `BASE=${BASE:-http://127.0.0.1:8000}`: the server of
`make run` when unset). What a block assigns (variables, functions) is carried to the next ones,
as in a reader's terminal. Every block must exit 0; the tour's `curl` calls use `--fail-with-body`,
so an error answer fails its block.

A block that is not meant to run says so in its fence: ```` ```sh not-run (why) ````. Nothing
else is left out.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The documents whose shell blocks run, in the order a reader meets them.
RUN = ("README.md", "docs/api.md")
SHELLS = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"^not-run \((?P<reason>[^)]+)\)$")
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
# A placeholder for the reader to fill in (`<offer id>`, `<orderItems[0].id …>`) breaks bash.
PLACEHOLDER = re.compile(r"<[A-Za-z][^<>]*[ .][^<>]*>")
# Variables of the tests' own environment that must not reach the server or the blocks.
TEST_ONLY_VARIABLES = ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "RECAPTCHA_VERIFIER", "DATABASE_URL")


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # of the opening fence, 1-based
    language: str
    marker: str  # the info string after the language
    body: str

    @property
    def not_run_reason(self) -> str | None:
        found = NOT_RUN.match(self.marker)
        return found["reason"] if found else None

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def code_blocks(document: str) -> list[Block]:
    """The fenced code blocks of a Markdown document (indented fences too, dedented)."""
    blocks = []
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^(?P<indent> *)```(?P<info>[^`]*)$", lines[index])
        if opening is None:
            index += 1
            continue
        indent, info = opening["indent"], opening["info"].strip()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        language, _, marker = info.partition(" ")
        blocks.append(Block(document, index + 1, language, marker.strip(), body + "\n"))
        index = end + 1
    return blocks


def shell_blocks(document: str) -> list[Block]:
    return [block for block in code_blocks(document) if block.language in SHELLS]


def documents() -> list[str]:
    return ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md"))]


# --- The markers ---------------------------------------------------------------------------------


def test_the_readme_starts_with_its_two_commands():
    first = shell_blocks("README.md")[0]
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    assert first.line == 3, "the README's first lines give the two commands"
    assert [line.split()[:2] for line in first.body.splitlines()] == [["make", "run"], ["make", "test"]]
    assert first.not_run_reason  # they start everything: the test runs what comes after


@pytest.mark.parametrize("document", documents())
def test_every_shell_block_runs_or_says_why_not(document):
    for block in shell_blocks(document):
        assert block.marker == "" or block.not_run_reason, f"{block}: unknown fence marker {block.marker!r}"
        if document not in RUN:
            assert block.not_run_reason, f"{block}: {document} is not run; mark the block `not-run (why)`"


def test_the_documents_run_have_their_tour():
    runnable = {document: [b for b in shell_blocks(document) if not b.not_run_reason] for document in RUN}
    assert len(runnable["README.md"]) >= 9
    assert len(runnable["docs/api.md"]) >= 12
    for blocks in runnable.values():
        for block in blocks:
            assert not PLACEHOLDER.findall(block.body), f"{block}: a placeholder breaks bash"


# --- Running them ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(database: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in TEST_ONLY_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="checkout_project.settings",
        DJANGO_DEBUG="1",  # as under make run
        DATABASE_URL=f"sqlite:///{database}",
        PYTHONUNBUFFERED="1",
    )
    return env


def repository_like(directory: Path) -> Path:
    """A scratch directory where `.venv/bin/python manage.py …` works as at the repository root."""
    directory.mkdir()
    (directory / "manage.py").symlink_to(ROOT / "manage.py")  # Python puts the real file's directory first
    if sys.prefix != sys.base_prefix:
        (directory / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    else:
        (directory / ".venv" / "bin").mkdir(parents=True)
        (directory / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return directory


@dataclass(frozen=True)
class LiveServer:
    base: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("readme")
    env = server_environment(scratch / "db.sqlite3")
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--no-input"], ["seed_demo"]):  # as `make run` does
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    port = free_port()
    log = (scratch / "server.log").open("wb")
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{(scratch / 'server.log').read_text()}") from None
                time.sleep(0.2)
        yield LiveServer(base=base, env=env)
    finally:
        # Only the server this fixture started (its own session), by its id.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=15)
        log.close()


def run_block(block: Block, *, workdir: Path, env: dict[str, str], carried: list[str]) -> subprocess.CompletedProcess:
    """Run one block with bash after the state the blocks before it left; save the state after it."""
    state = workdir / ".readme-state.sh"
    names = carried + [name for name in ASSIGNMENT.findall(block.body) if name not in carried]
    script = "\n".join(
        [
            "set -euo pipefail",
            f'if [ -f "{state}" ]; then source "{state}"; fi',
            block.body,
            # What a reader's terminal would still hold for the next block: variables and functions.
            f'{{ declare -p {" ".join(names)} 2>/dev/null || true; declare -f; }} > "{state}"' if names else "",
        ]
    )
    carried[:] = names
    return subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("document", RUN)
def test_the_shell_blocks_run_as_written(readme_server, tmp_path, document):
    workdir = repository_like(tmp_path / "repository")
    env = {**readme_server.env, "BASE": readme_server.base}
    carried: list[str] = []
    ran = 0
    for block in shell_blocks(document):
        if block.not_run_reason:
            continue
        result = run_block(block, workdir=workdir, env=env, carried=carried)
        assert result.returncode == 0, (
            f"{block} exited {result.returncode}\n--- block\n{block.body}--- stdout\n{result.stdout}"
            f"--- stderr\n{result.stderr}"
        )
        ran += 1
    assert ran >= 9

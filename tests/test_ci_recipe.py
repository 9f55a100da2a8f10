"""The README's CI recipe runs: its build commands, taken from the GitHub Actions and GitLab
CI blocks as written, are run on the README's example tap2pkg.toml in a fresh git checkout,
and leave every artifact the recipe uploads.  The set-up lines (apt-get, venv, pip) are not
run here; they are checked to install what this project's own CI installs."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, require_tool

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = re.compile(r"^(apt-get |python3 -m venv |\S*pip install )")


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def github_commands(block: str) -> list[str]:
    """The lines of every `run:` step (one-line or `run: |` blocks)."""
    commands: list[str] = []
    lines = block.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*(?:- )?)run: (.*)$", line)
        if not match:
            continue
        if match.group(2) != "|":
            commands.append(match.group(2))
            continue
        indent = len(match.group(1))  # the column of "run:"
        for body in lines[i + 1:]:
            if body.strip() and len(body) - len(body.lstrip()) <= indent:
                break
            commands.append(body.strip())
    return [c for c in commands if c]


def gitlab_commands(block: str) -> list[str]:
    """The items of before_script and script, in that order."""
    commands: list[str] = []
    current = None
    for line in block.splitlines():
        key = re.match(r"^  (\w+):", line)
        if key:
            current = key.group(1)
            continue
        item = re.match(r"^    - (.*)$", line)
        if item and current in ("before_script", "script"):
            commands.append(item.group(1))
    return commands


def uploaded(block: str) -> list[str]:
    """What the recipe keeps as artifacts."""
    paths = re.findall(r"^\s+- (\.build/|[\w.-]+\.json)$", block, re.M)
    paths += re.findall(r"^\s{12}(\S+)$", block, re.M)  # actions/upload-artifact's path: |
    return sorted(set(paths))


def recipe(kind: str) -> tuple[list[str], list[str]]:
    (github, gitlab) = blocks(section("CI recipe"), "yaml")
    assert "runs-on:" in github
    assert "image: debian:12" in gitlab
    if kind == "github":
        return github_commands(github), uploaded(github)
    return gitlab_commands(gitlab), uploaded(gitlab)


def sample_project(tmp_path: Path) -> Path:
    """A git checkout holding the README's example tap2pkg.toml and the apps it names."""
    (config,) = blocks(section("Many apps"), "toml")
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "tap2pkg.toml").write_text(config, encoding="utf-8")
    for app in re.findall(r'^tapfile = "([^"]+)"', config, re.M):
        (root / app).parent.mkdir(parents=True, exist_ok=True)
        (root / app).write_bytes((FIXTURES / "echo.tac").read_bytes())
    git = ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.org"]
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "services"]):
        subprocess.run([*git, *argv], cwd=root, check=True,
                       env={**os.environ, "GIT_COMMITTER_DATE": "1700000000 +0000",
                            "GIT_AUTHOR_DATE": "1700000000 +0000"})
    return root


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_ci_recipe_builds_and_leaves_its_artifacts(kind: str, tmp_path: Path) -> None:
    require_tool("git", "dpkg-deb", "rpmbuild")
    commands, artifacts = recipe(kind)
    setup = [c for c in commands if SETUP.match(c)]
    build = [c for c in commands if not SETUP.match(c)]
    assert any("tap2pkg build" in c for c in build)
    # the set-up installs the tools this project's own CI installs
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    for line in setup:
        if line.startswith("apt-get install"):
            for package in shlex.split(line)[2:]:
                assert package.startswith("-") or package in bootstrap or package == "git", \
                    package
    assert artifacts == [".build/", "tap2pkg-report.json"]

    root = sample_project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "CI": "true", "HOME": str(home),
           "GITHUB_PATH": str(tmp_path / "github_path"),
           # tap2pkg as installed by the set-up lines: this checkout's
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("SOURCE_DATE_EPOCH", None)  # the recipe sets it from the commit
    script = "set -eu\n" + "\n".join(build) + "\n"
    proc = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for path in artifacts:
        assert (root / path).exists(), path
    report = json.loads((root / "tap2pkg-report.json").read_text(encoding="utf-8"))
    assert report["ok"] is True
    assert len(report["jobs"]) == 4
    built = sorted(p.relative_to(root / ".build").as_posix()
                   for p in (root / ".build").glob("*/*/*") if p.suffix in (".deb", ".rpm"))
    assert built == [
        "debian-12/deb/twisted-chat_1.0_all.deb", "debian-12/deb/twisted-echo_1.2_all.deb",
        "el9/rpm/twisted-chat-1.0-1.noarch.rpm", "el9/rpm/twisted-chat-1.0-1.src.rpm",
        "el9/rpm/twisted-echo-1.2-1.noarch.rpm", "el9/rpm/twisted-echo-1.2-1.src.rpm",
    ]
    # SOURCE_DATE_EPOCH came from the commit: the changelog carries its date
    changelog = root / ".build/debian-12/deb/twisted-echo-1.2/debian/changelog"
    assert "Tue, 14 Nov 2023 22:13:20 +0000" in changelog.read_text(encoding="utf-8")

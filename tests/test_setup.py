"""The README's commands set the machine up themselves: scripts/system-deps.sh, which `make demo` and
`make test` run, installs what is missing (as root, or through sudo) and says in one line what to do where
it cannot. CI runs on a machine without LibreOffice, so `make test` there is the full proof."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from support import ROOT

SCRIPT = ROOT / "scripts" / "system-deps.sh"


def _run(*args: str, env: dict[str, str] | None = None, script: Path = SCRIPT,
         user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(script), *args]
    if user is not None:
        command = [shutil.which("runuser") or "runuser", "-u", user, "--", *command]
    return subprocess.run(command, cwd=script.parent, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=300, check=False)


def test_nothing_missing_is_quiet_and_changes_nothing() -> None:
    for profile in ("demo", "test"):
        result = _run(profile)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""  # every package is here (the suite needs them): nothing to install
    assert shutil.which("soffice") and shutil.which("pdftoppm")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as another user")
def test_without_root_or_sudo_it_says_what_to_install_in_one_line() -> None:
    user = "nobody"
    pwd.getpwnam(user)
    # A copy the unprivileged user can read (the checkout and pytest's folders may be private to root).
    folder = Path(tempfile.mkdtemp(prefix="congvan-setup-"))
    folder.chmod(0o755)
    script = folder / SCRIPT.name
    shutil.copy2(SCRIPT, script)
    script.chmod(0o755)
    env = {"CONGVAN_ASSUME_MISSING": "libreoffice-writer-nogui python3-uno", "PATH": "/usr/bin:/bin"}
    if shutil.which("sudo"):  # a sudo that would ask for a password: not on a terminal, so not used
        env["SUDO_ASKPASS"] = "/bin/false"
    try:
        result = _run("demo", env=env, script=script, user=user)
    finally:
        shutil.rmtree(folder)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: congvan needs system packages and cannot install them without root or sudo: run "
        "'sudo apt-get install libreoffice-writer-nogui python3-uno' and try again"]


def test_the_makefile_runs_it_before_the_demo_and_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target, profile in (("demo", "demo"), ("test", "test")):
        recipe = makefile.split(f"\n{target}: ", 1)[1].split("\n\n", 1)[0]
        assert f"scripts/system-deps.sh {profile}" in recipe.splitlines()[1], recipe
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get" not in ci and "make test" in ci  # CI sets up nothing the README's command does not

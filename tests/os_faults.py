"""Real operating-system faults for tests: a full disk, a read-only folder, an unreadable one.

Root ignores permission bits, so as root (CI) the faults are real mounts: a small tmpfs,
or a read-only bind mount, made in a private mount namespace (``unshare``) whenever the
test can run its commands inside one, so nothing outside the test ever sees them. As
another user, plain permissions do the same.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[1]


def _namespace_prefix() -> list[str] | None:
    """How to run a command in a private mount namespace where it may mount, or None."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m", "--propagation", "private"], ["unshare", "-rm", "--propagation", "private"]):
        if IS_ROOT or "-rm" in prefix:
            probe = subprocess.run([*prefix, "true"], capture_output=True)
            if probe.returncode == 0:
                return prefix
    return None


NAMESPACE = _namespace_prefix()


def latentlab_cmd(*args: str | os.PathLike) -> str:
    """A shell-quoted ``python -m latentlab ...`` for scripts."""
    return shlex.join([sys.executable, "-m", "latentlab", *map(str, args)])


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # a shared 2-core machine
    env.pop("DISPLAY", None)
    return env


def run_with_mounts(script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a bash script as root of a private mount namespace: its mounts vanish with it."""
    if NAMESPACE is None:
        pytest.fail("this test needs `unshare` (util-linux) with mount namespaces, as root or with user namespaces")
    return subprocess.run(
        [*NAMESPACE, "bash", "-euo", "pipefail", "-c", script],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=timeout,
    )


def drop_root_file_powers(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions bind: root drops the capabilities that override them."""
    if not IS_ROOT:
        return cmd
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *cmd]


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` cannot be written for the duration, for this very process too.

    As root this is a read-only bind mount of the folder over itself (undone afterwards);
    otherwise the write bits are taken away.
    """
    folder = Path(folder)
    if IS_ROOT:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(mode)

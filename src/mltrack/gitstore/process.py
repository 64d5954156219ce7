"""The git process layer: one-shot commands, background commands, one ``cat-file --batch``.

Every git subprocess mltrack starts goes through here, with the same environment
(no terminal prompts, C locale) and the same one-line errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Generic, TypeVar, cast

from mltrack.exceptions import GitError

__all__ = ["CatFile", "Pending", "PendingGit", "run_git", "test_crash"]

T = TypeVar("T")
NO_GIT = "git is not installed or not on PATH; mltrack needs git >= 2.25"


def git_env() -> dict[str, str]:
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")


def failure(args: list[str], stderr: bytes, returncode: int) -> GitError:
    message = stderr.decode("utf-8", "replace").strip().splitlines()
    first = next((line for line in message if line.strip()), f"exit status {returncode}")
    return GitError(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")


def run_git(
    cwd: Path,
    args: list[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    quiet: bool = False,
    env: Mapping[str, str] | None = None,
) -> bytes:
    environment = git_env() if env is None else {**git_env(), **env}
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, env=environment, check=False
        )
    except FileNotFoundError:
        raise GitError(NO_GIT) from None
    if proc.returncode != 0:
        if check:
            raise failure(args, proc.stderr, proc.returncode)
        return b"" if quiet else proc.stdout
    return proc.stdout


class PendingGit:
    """A git command started now and collected later, with no thread in between.

    Started from the caller's thread, git runs on another core while Python goes
    on; ``output()`` waits for it. stdout goes to a temporary file, not a pipe,
    so a long listing never stalls git until someone reads it.
    """

    def __init__(self, cwd: Path, args: list[str]) -> None:
        self._args = args
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 - closed by output()
        try:
            self._proc = subprocess.Popen(
                ["git", *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=subprocess.PIPE,
                env=git_env(),
            )
        except FileNotFoundError:
            self._stdout.close()
            raise GitError(NO_GIT) from None
        # A run that never ends never asks for its answer: stop git and free the file then.
        self._release = weakref.finalize(self, PendingGit._stop, self._proc, self._stdout)
        self._release.atexit = False  # runs still ending at exit collect their answers then

    def output(self) -> bytes:
        """git's stdout once it has exited (GitError if it failed)."""
        _, stderr = self._proc.communicate()
        self._stdout.seek(0)
        out = self._stdout.read()
        self._release()
        if self._proc.returncode != 0:
            raise failure(self._args, stderr, self._proc.returncode)
        return out

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], stdout: IO[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()  # every command started this way only reads
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        stdout.close()


class Pending(Generic[T]):
    """The parsed answer of a ``PendingGit`` (or a value known without asking git)."""

    def __init__(
        self, call: PendingGit | None, parse: Callable[[bytes], T], known: T | None = None
    ) -> None:
        self._call, self._parse, self._known = call, parse, known

    def result(self) -> T:
        if self._call is None:
            return cast(T, self._known)
        return self._parse(self._call.output())


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Close a cat-file process's pipes and reap it (also when its owner is garbage-collected)."""
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class CatFile:
    """One long-lived ``git cat-file --batch`` process for packed objects."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    def read(self, sha: str) -> tuple[str, bytes] | None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    ["git", "cat-file", "--batch"],
                    cwd=self._root,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
                # A store dropped without close() still reaps its process.
                self._finalizer = weakref.finalize(self, _stop_process, self._proc)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(sha.encode() + b"\n")
            self._proc.stdin.flush()
            header = self._proc.stdout.readline().split()
            if len(header) < 3:
                return None  # "<sha> missing"
            size = int(header[2])
            data = self._proc.stdout.read(size)
            self._proc.stdout.read(1)
            return header[1].decode(), data

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # runs _stop_process once
                self._finalizer = None
            self._proc = None


def test_crash(point: str) -> None:
    """Test hook: ``MLTRACK_TEST_CRASH_AT=<point>`` SIGKILLs this process at ``point``.

    Points: ``pack-written`` (temporary pack files written), ``index-locked`` (index.lock
    held, nothing changed), ``index-written`` (index staged, branch not moved),
    ``branch-moved`` (branch moved, lock not released). The crash tests use it to stop a
    commit exactly between two steps; unset, it costs one lookup.
    """
    if os.environ.get("MLTRACK_TEST_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)

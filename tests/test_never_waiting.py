"""The event loop's locks: taken only when free, else WouldWait before anything changed."""

from __future__ import annotations

import threading

import pytest

from mltrack.store.files import WouldWait, file_lock, holding, never_waiting


def test_a_held_run_lock_is_not_waited_for_inside_never_waiting(tmp_path):
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with file_lock(tmp_path, "run-a"):
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    try:
        with pytest.raises(WouldWait), never_waiting(), file_lock(tmp_path, "run-a"):
            pass
    finally:
        release.set()
        thread.join()
    with never_waiting(), file_lock(tmp_path, "run-a"):  # free again: taken at once
        pass


def test_a_held_thread_lock_raises_would_wait_and_outside_is_waited_for():
    lock = threading.RLock()
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    with pytest.raises(WouldWait), never_waiting(), holding(lock):
        pass
    release.set()
    with holding(lock):  # outside never_waiting: waits for the holder
        pass
    thread.join()

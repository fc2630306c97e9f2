"""Process-tree hygiene: a child of the local cloud never outlives its parent."""

from __future__ import annotations

import os
import signal
import threading


def die_with_parent(poll_seconds: float = 0.5) -> None:
    """Ends this process soon after its parent exits, however the parent ended.

    A watcher thread compares ``getppid()`` with the parent at start (re-parenting means the
    parent died). Linux's PR_SET_PDEATHSIG would be instant, but it fires when the *thread*
    that spawned the child ends, and function instances are spawned from short-lived threads.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                threading.Event().wait(2.0)
                os._exit(1)
            threading.Event().wait(poll_seconds)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the main thread waits on it, then shuts down cleanly."""
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopped

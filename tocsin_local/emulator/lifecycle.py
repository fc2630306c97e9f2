"""Process-tree hygiene: a child of the local cloud never outlives its parent."""

from __future__ import annotations

import os
import signal
import threading
import time


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


SIGNAL_CHECK_SECONDS = 0.05


class SignalEvent(threading.Event):
    """An event the main thread may wait on while a signal handler is to set it.

    The kernel hands a process's signal to any of its threads; CPython runs the handler in the
    main thread only when that thread next executes Python code. A main thread blocked in a
    plain ``Event.wait()`` is not woken when another thread took the signal, and waits on (a
    stop of the moto server then took until the supervisor's SIGKILL, 5 s later). So this
    wait never blocks longer than ``SIGNAL_CHECK_SECONDS`` at a time."""

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = SIGNAL_CHECK_SECONDS
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
                if step <= 0:
                    return self.is_set()
            if super().wait(step):
                return True


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the main thread waits on it, then shuts down cleanly."""
    stopped = SignalEvent()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopped

"""A deadline for code that could hang without ever yielding (a backtracking pattern holds the
interpreter lock, so no thread of the same process can stop it): it runs in a forked child,
which is killed when the deadline passes, and the test fails instead of stalling the suite."""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection


def _run[T](call: Callable[[], T], conn: Connection) -> None:
    try:
        conn.send(("ok", call()))
    except BaseException as error:  # the parent re-raises it
        conn.send(("error", repr(error)))
    finally:
        conn.close()


def within[T](seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result, computed in a forked child within ``seconds``."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    with warnings.catch_warnings():
        # Forking a process that runs threads: the child only runs ``call``.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = context.Process(target=_run, args=(call, sending), daemon=True)
        child.start()
    sending.close()
    try:
        if not receiving.poll(seconds):
            raise AssertionError(f"no answer within {seconds} s")
        kind, value = receiving.recv()
    finally:
        child.kill()
        child.join()
        receiving.close()
    if kind != "ok":
        raise AssertionError(f"the call raised {value}")
    result: T = value
    return result

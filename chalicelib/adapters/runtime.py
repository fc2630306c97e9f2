"""Clock and fault injection."""

from __future__ import annotations

import json
import logging
import os
import random
from datetime import UTC, datetime

log = logging.getLogger(__name__)


class SystemClock:
    def now(self) -> datetime:
        # Millisecond precision: what is stored and compared is what was computed.
        moment = datetime.now(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class NoFaults:
    def crash_point(self, point: str, subject: str) -> None:
        return None

    def publish_fails(self, subject: str) -> bool:
        return False

    def witness(self, event: str, subject: str) -> None:
        return None


class LocalFaults:
    """Injected failures for the local stage's fault tests (never wired outside ``local``).

    A crash ends the process at once, with no cleanup, as a Lambda that runs out of memory or
    is killed would: the queue-trigger runner sees the invocation fail and the batch returns to
    the queue after its visibility timeout.
    """

    EXIT_CODE = 70

    def __init__(
        self,
        *,
        crash_before_send: float,
        crash_after_send: float,
        publish_failure: float,
        journal: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._crash = {"before_send": crash_before_send, "after_send": crash_after_send}
        self._publish_failure = publish_failure
        self._journal = journal
        self._rng = rng or random.Random()

    def crash_point(self, point: str, subject: str) -> None:
        probability = self._crash.get(point, 0.0)
        if probability and self._rng.random() < probability:
            self._note(f"crash_{point}", subject)
            log.warning("injected fault: crash %s (%s)", point, subject)
            logging.shutdown()
            os._exit(self.EXIT_CODE)

    def publish_fails(self, subject: str) -> bool:
        if self._publish_failure and self._rng.random() < self._publish_failure:
            self._note("publish_failure", subject)
            return True
        return False

    def witness(self, event: str, subject: str) -> None:
        self._note(event, subject)

    def _note(self, fault: str, subject: str) -> None:
        """Appends the fault to the journal file, so a test can count what was injected."""
        if self._journal is None:
            return
        line = json.dumps({"fault": fault, "subject": subject}) + "\n"
        fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

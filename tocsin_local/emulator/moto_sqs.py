"""moto's SQS, corrected where the emulated event sources depend on it (moto 5.2.5).

Applied in the local cloud's moto server process (``tocsin_local.moto_server``), before it
serves. What it changes, each found by the conformance suite or the benchmark:

- **FIFO groups.** moto blocks a message group by a set of "pending" messages that it only
  prunes while walking the queue, so when two messages of one group come back after a failed
  batch it skips the first (the second, not yet pruned, still blocks the group) and returns
  the second: order within the group is broken. Here a group is blocked exactly while one of
  its messages is in flight (received, not deleted, visibility timeout not over), and a
  receive returns as many messages of one group as it can before the next group's, as SQS
  documents (moto interleaves them in send order).
- **Concurrent calls.** Receives, sends and deletes of one queue run one at a time (moto's
  receive and delete are not thread-safe in its threaded server: two receives could take
  messages of the same group, and a delete could drop a message sent meanwhile).
- **Long polls.** moto's long poll spins at full CPU while visible messages exist that it may
  not return (a blocked FIFO group); here it sleeps until a send or a short re-check.
- **Cost.** moto checks the retention period of every message it returns by computing every
  queue attribute (each a walk of the whole queue), so a receive costs O(depth) per message
  returned; here the retention period is read once per receive.

Everything else (receipt handles, receive counts, the redrive policy's move to the DLQ on the
receive after ``maxReceiveCount``, attribute filtering) is moto's own code.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models

# How often a waiting long poll looks again for messages whose visibility timeout or delay
# ended (a send wakes it at once).
RECHECK_SECONDS = 0.1


def _take(queue: Any, count: int, visibility_timeout: int, attribute_names: list[str]) -> list[Any]:
    now_ms = unix_time_millis()
    blocked = (
        {m.group_id for m in queue._messages if m.group_id and m.visible_at >= now_ms}
        if queue.fifo_queue
        else set()
    )
    retain_after_ms = (unix_time() - int(queue.message_retention_period)) * 1000
    result: list[Any] = []
    to_dead_letter: list[Any] = []
    for message in _candidates(queue, blocked, now_ms):
        if (
            queue.dead_letter_queue is not None
            and queue.redrive_policy
            and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
        ):
            to_dead_letter.append(message)
            continue
        if message.sent_timestamp <= retain_after_ms:
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        returned = copy.deepcopy(message)
        models._filter_message_attributes(returned, attribute_names)
        result.append(returned)
        if len(result) >= count:
            break
    for message in to_dead_letter:
        queue._messages.remove(message)
        queue.dead_letter_queue.add_message(message)
    return result


def _candidates(queue: Any, blocked: set[str], now_ms: float) -> list[Any]:
    """Receivable messages in the order SQS returns them. A FIFO queue returns as many
    messages of one group as it can, in order, before those of the next group (by each
    group's oldest message)."""
    ready = [
        message
        for message in queue._messages
        if message.visible_at < now_ms
        and message.delayed_until <= now_ms
        and not (queue.fifo_queue and message.group_id in blocked)
    ]
    if not queue.fifo_queue:
        return ready
    groups: dict[str | None, list[Any]] = {}
    for message in ready:
        groups.setdefault(message.group_id, []).append(message)
    return [message for group in groups.values() for message in group]


def receive_message(
    self: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Any]:
    queue = self.get_queue(queue_name)
    deadline = unix_time() + wait_seconds_timeout
    with queue._messages_lock:
        while True:
            result = _take(queue, count, visibility_timeout, message_attribute_names or [])
            remaining = deadline - unix_time()
            if result or remaining <= 0:
                return result
            queue._messages_lock.wait(min(RECHECK_SECONDS, remaining))


def _locked(method: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._messages_lock:
            return method(self, *args, **kwargs)

    locked.__wrapped__ = method  # type: ignore[attr-defined]
    return locked


def correct_sqs() -> None:
    """Installs the corrections (idempotent)."""
    if models.SQSBackend.receive_message is receive_message:
        return
    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    for name in ("add_message", "delete_message"):
        method = getattr(models.Queue, name)
        if not hasattr(method, "__wrapped__"):
            setattr(models.Queue, name, _locked(method))

"""moto's DynamoDB, made safe and fast enough under its threaded server (moto 5.2.5).

Safe: moto serves each request on a thread of its own, and its DynamoDB backend has no locking:

- a conditional write is a check followed by a write, so two concurrent ``PutItem`` calls
  conditioned on the same version can both succeed, which real DynamoDB never allows (Tocsin's
  delivery leases rely on exactly that condition);
- a Query or Scan iterates the table's item dictionaries while another thread adds items,
  and fails with "dictionary changed size during iteration" (a 500 to the caller).

Here every DynamoDB action of the moto server runs under one lock: each is atomic, as on
DynamoDB. moto holds the GIL for nearly all of an action anyway, so little is lost.

Fast: moto answers every Query by sorting every item of the table, then filtering: a query costs
O(table log table), whatever partition it names, so a table of 100,000 deliveries makes each
query take a large part of a second. Here a query of the table reads only its partition (as
DynamoDB does), and a query of an index skips the sort of the whole table (the matches are
sorted afterwards, as before). And moto backs up every table a transaction names, whole (a deep
copy), before each TransactWriteItems, to roll back on failure: O(table) time and garbage per
transaction. Here, with every action serialized, a transaction backs up only the items it names
and restores those. Results are unchanged.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_lock = threading.RLock()
# What the Query being answered reads: ("partition", hash key) or ("index", None).
_scope = threading.local()


def serialize_dynamodb() -> None:
    if getattr(DynamoHandler.call_action, "_tocsin_serialized", False):
        return
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    call_action._tocsin_serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def index_dynamodb_queries() -> None:
    """Queries read their partition only (table) or skip the whole-table sort (index)."""
    if getattr(Table.query, "_tocsin_indexed", False):
        return
    original_query = Table.query
    original_all_items = Table.all_items
    signature = inspect.signature(original_query)

    @functools.wraps(original_query)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None:
            _scope.value = ("index", None)
        else:
            _scope.value = ("partition", hash_key)
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _scope.value = None

    @functools.wraps(original_all_items)
    def all_items(self: Table) -> Any:
        scope = getattr(_scope, "value", None)
        if scope is None:
            return original_all_items(self)
        kind, hash_key = scope
        if kind == "partition":
            found = self.items.get(hash_key)
            if found is None:
                return []
            return list(found.values()) if self.range_key_attr else [found]
        if not self.range_key_attr:
            return list(self.items.values())
        return [item for hash_set in self.items.values() for item in hash_set.values()]

    query._tocsin_indexed = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


class _Snapshot:
    """What a table's deep copy is during a transaction: the table itself, not a copy. If the
    transaction rolls back, moto puts this in the table's place; it is swapped back and the
    items the transaction named are restored from their own backups."""

    def __init__(self, table: Table) -> None:
        self.table = table


def _item_key(table: Table, operation: dict[str, Any]) -> tuple[Any, Any]:
    key = operation.get("Key") or {
        name: value
        for name, value in operation.get("Item", {}).items()
        if name in (table.hash_key_attr, table.range_key_attr)
    }
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _restore(table: Table, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def backup_items_in_transactions() -> None:
    if getattr(DynamoDBBackend.transact_write_items, "_tocsin_backups", False):
        return
    original = DynamoDBBackend.transact_write_items
    original_deepcopy = getattr(Table, "__deepcopy__", None)

    def deepcopy(self: Table, memo: dict[int, Any]) -> Any:
        if getattr(_scope, "transaction", False):
            return _Snapshot(self)
        if original_deepcopy is not None:
            return original_deepcopy(self, memo)
        clone = Table.__new__(Table)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        backups = []
        for entry in transact_items:
            operation: dict[str, Any] = next(iter(entry.values()), {})
            table = self.tables.get(operation.get("TableName", ""))
            if table is None:
                continue
            try:
                hash_key, range_key = _item_key(table, operation)
            except KeyError:
                continue  # moto refuses the malformed operation itself
            current = table.get_item(hash_key, range_key)
            backups.append((table.name, hash_key, range_key, copy.deepcopy(current)))
        _scope.transaction = True
        try:
            return original(self, transact_items)
        finally:
            _scope.transaction = False
            for name, value in list(self.tables.items()):
                if isinstance(value, _Snapshot):
                    self.tables[name] = value.table
                    for table_name, hash_key, range_key, item in backups:
                        if table_name == name:
                            _restore(value.table, hash_key, range_key, item)

    transact_write_items._tocsin_backups = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = deepcopy  # type: ignore[attr-defined]


def correct_dynamodb() -> None:
    """Every correction, for a moto server that Tocsin's stack or tests run against."""
    serialize_dynamodb()
    index_dynamodb_queries()
    backup_items_in_transactions()

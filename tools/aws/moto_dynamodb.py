#!/usr/bin/env python3
"""moto_server for the DynamoDB log's tests, with four fixes to moto 5.2.5's DynamoDB.

Usage:  python moto_dynamodb.py [host] [port]

It exits when the process that started it does (a test binary keeps one server for all its
tests, in a static that is never dropped). Importing it (`import moto_dynamodb`, with this
folder on the path) applies the fixes to a moto server started otherwise, e.g. by another
wrapper script: any test that has several writers share a table needs them.

* Requests are served one at a time (the server is threaded): moto applies a transaction's
  items one by one, so without this a concurrent GetItem or Query could see half of one, and
  two concurrent transactions could both pass their conditions. Real DynamoDB isolates them.
* TransactWriteItems backs up only the items it touches, to roll them back when it is
  cancelled, instead of deep-copying every table it names first (which made each transaction
  cost as much as the whole table: a few thousand records took minutes).
* A Query of the table itself (not of an index) on one hash key reads only that key's items,
  from where its range condition and ExclusiveStartKey put it, in order, up to Limit or 1 MB.
  moto gathers and sorts every item of the table on every page, so paging through a log cost
  the square of its length (migrating 20,000 records took a minute and a half). Each hash
  key's items keep their range keys in order as they are put and deleted, and the answer is
  moto's: Limit, ScanIndexForward, FilterExpression, ProjectionExpression and Select as it
  does them. Two differences: the items are not deep-copied first (nothing changes them before
  they are written out), and a page that reached the end of the range ends there, where moto
  reads on past it and may add a LastEvaluatedKey whose next page is empty. Queries of an
  index, or with a legacy QueryFilter, are still moto's.
* Attribute values are written into answers directly, the JSON moto's serializer writes: it
  walks the service model for every attribute of every item (0.3 s for a page of 1,000
  items, ten times the Query itself).
"""
import base64
import bisect
import copy
import os
import sys
import threading
import time

import moto.dynamodb.models as models
from moto.core import serialize
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoHandler

_lock = threading.RLock()


class _CopyTablesByReference:
    """`copy` for moto.dynamodb.models: a table "copied" for a rollback is the table itself
    (the patched transaction restores the items it touched instead)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


models.copy = _CopyTablesByReference()
_transact = DynamoDBBackend.transact_write_items


def _key_of(table, op):
    attrs = op.get("Key") or op.get("Item") or {}
    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError):
        return None
    return hash_key, range_key


def transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        op = next(iter(entry.values()))
        table = self.tables.get(op.get("TableName"))
        key = _key_of(table, op) if table is not None else None
        if key is None:
            continue
        hash_key, range_key = key
        try:
            current = table.get_item(hash_key, range_key)
        except Exception:  # moto's own validation answers it below
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    try:
        return _transact(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            if item is None:
                table.delete_item(hash_key, range_key)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        raise


DynamoDBBackend.transact_write_items = transact_write_items
_call_action = DynamoHandler.call_action


def call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = call_action


def _order_of(key):
    return key.cast_value


class _Partition(dict):
    """One hash key's items by range key, its range keys kept in moto's order once a query
    asked for them (a copy starts without, and sorts them again when asked)."""

    _order = None

    def ordered(self):
        if self._order is None:
            self._order = sorted(self, key=_order_of)
        return self._order

    def __setitem__(self, key, value):
        order = self._order
        if order is not None and key not in self:
            if not order or _order_of(order[-1]) < _order_of(key):
                order.append(key)
            else:
                bisect.insort(order, key, key=_order_of)
        dict.__setitem__(self, key, value)

    def _forget(self, key):
        order = self._order
        if order is not None:
            at = bisect.bisect_left(order, _order_of(key), key=_order_of)
            if at < len(order) and order[at] == key:
                del order[at]
            else:
                self._order = None

    def __delitem__(self, key):
        dict.__delitem__(self, key)
        self._forget(key)

    def pop(self, key, *default):
        present = key in self
        value = dict.pop(self, key, *default)
        if present:
            self._forget(key)
        return value

    def popitem(self):
        self._order = None
        return dict.popitem(self)

    def clear(self):
        self._order = None
        dict.clear(self)

    def update(self, *args, **kwargs):
        self._order = None
        dict.update(self, *args, **kwargs)

    def setdefault(self, key, default=None):
        self._order = None
        return dict.setdefault(self, key, default)

    def __ior__(self, other):
        self._order = None
        return dict.__ior__(self, other)

    def __reduce_ex__(self, protocol):
        # Copied (a backup, a restore) or pickled as a plain mapping: no order to carry over.
        return _Partition, (dict(self),)


def _bounds(comparison, values, order, forward):
    """Where in `order` the range keys meeting the condition start (forward) or end (backward),
    or None where this does not know. They are contiguous: a scan from there stops at the
    first key that fails the condition."""
    first, last = 0, len(order) - 1
    if comparison == "BEGINS_WITH":
        prefix = values[0]
        if not isinstance(prefix, (str, bytes)):
            return None

        def head(key):
            return key.cast_value[: len(prefix)]

        if forward:
            return bisect.bisect_left(order, prefix, key=head)
        return bisect.bisect_right(order, prefix, key=head) - 1

    def before(value):
        return bisect.bisect_left(order, value, key=_order_of)

    def after(value):
        return bisect.bisect_right(order, value, key=_order_of)

    if comparison is None:
        return first if forward else last
    if forward:
        if comparison in ("=", ">=", "BETWEEN"):
            return before(values[0])
        if comparison == ">":
            return after(values[0])
        if comparison in ("<", "<="):
            return first
    else:
        if comparison in ("=", "<="):
            return after(values[0]) - 1
        if comparison == "BETWEEN":
            return after(values[1]) - 1
        if comparison == "<":
            return before(values[0]) - 1
        if comparison in (">", ">="):
            return last
    return None


_query = Table.query


def query(
    self,
    hash_key,
    range_comparison,
    range_objs,
    limit,
    exclusive_start_key,
    scan_index_forward,
    projection_expressions,
    index_name=None,
    consistent_read=False,
    filter_expression=None,
    hash_key_conditions=None,
    range_key_conditions=None,
    **filter_kwargs,
):
    answer = None
    if not index_name and not filter_kwargs and hash_key is not None:
        answer = _query_partition(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward is not False,
            range_key_conditions,
        )
    if answer is None:
        return _query(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )
    results, last_evaluated_key = answer
    scanned_count = len(results)
    # No copy of the items (moto deep-copies them, more than half of what a page cost it):
    # filtering only reads them, projecting builds new ones, and the answer is turned into
    # plain data before the next request runs.
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned_count, last_evaluated_key


def _query_partition(self, hash_key, comparison, range_objs, limit, start_key, forward, conditions):
    """The items of a base-table Query on `hash_key` and the LastEvaluatedKey, as moto's own
    Table.query finds them, or None where this does not know moto's answer."""
    if len(conditions or []) > 1 or (conditions and conditions[-1][0] != self.range_key_attr):
        return None
    if start_key is not None:
        try:
            if DynamoType(start_key[self.hash_key_attr]) != hash_key:
                return None
            start = DynamoType(start_key[self.range_key_attr]) if self.range_key_attr else None
        except (KeyError, TypeError, AttributeError):
            return None
    if not self.range_key_attr:
        if comparison:
            return None
        # One item at most, which moto skips when it is the start key.
        item = self.items.get(hash_key)
        if not isinstance(item, Item) or start_key is not None:
            return [], None
        return [item], None
    partition = self.items.get(hash_key)
    if partition is None:
        return [], None
    if not isinstance(partition, _Partition):
        partition = self.items[hash_key] = _Partition(partition)
    order = partition.ordered()
    values = [v.cast_value for v in range_objs]
    at = _bounds(comparison, values, order, forward)
    if at is None:
        return None
    if start_key is not None:
        if forward:
            at = max(at, bisect.bisect_right(order, start.cast_value, key=_order_of))
        else:
            at = min(at, bisect.bisect_left(order, start.cast_value, key=_order_of) - 1)
    results = []
    size = 0
    step = 1 if forward else -1
    while 0 <= at < len(order):
        item = partition[order[at]]
        item_size = item.size()
        # moto checks the limits before the range condition, so the first key past the range
        # can still end the page with a LastEvaluatedKey.
        if len(results) == limit or size + item_size > RESULT_SIZE_LIMIT:
            return results, self._get_last_evaluated_key(results[-1], None)
        if comparison and not item.range_key.compare(comparison, range_objs):
            break
        results.append(item)
        size += item_size
        at += step
    return results, None


Table.query = query


def _blob(value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).strip().decode("utf-8")


_SCALARS = {"S": str, "N": str, "B": _blob, "NULL": None, "BOOL": None}
_SETS = {"SS": str, "NS": str, "BS": _blob}


def _attribute_value(value):
    """An AttributeValue as moto's serializer writes it, or None where this does not know."""
    out = {}
    for kind, inner in value.items():
        if inner is None:
            continue
        if kind in _SCALARS:
            encode = _SCALARS[kind]
            out[kind] = inner if encode is None or inner in ({}, []) else encode(inner)
        elif kind in _SETS and isinstance(inner, list):
            out[kind] = [_SETS[kind](v) for v in inner]
        elif kind == "M" and isinstance(inner, dict):
            members = {k: _attribute_value(v) if isinstance(v, dict) else None for k, v in inner.items()}
            if None in members.values():
                return None
            out[kind] = members
        elif kind == "L" and isinstance(inner, list):
            members = [_attribute_value(v) if isinstance(v, dict) else None for v in inner]
            if None in members:
                return None
            out[kind] = members
        else:
            return None
    return out


_structure = serialize.BaseJSONSerializer._serialize_type_structure


def _serialize_type_structure(self, serialized, value, shape, key):
    if key and shape.name == "AttributeValue" and isinstance(value, dict):
        encoded = _attribute_value(value)
        if encoded is not None:
            serialized[self.get_serialized_name(shape, key)] = encoded
            return
    _structure(self, serialized, value, shape, key)


serialize.BaseJSONSerializer._serialize_type_structure = _serialize_type_structure


def _exit_with_parent():
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    from moto.server import main

    threading.Thread(target=_exit_with_parent, daemon=True).start()

    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = sys.argv[2] if len(sys.argv) > 2 else "5000"
    main(["-H", host, "-p", port])

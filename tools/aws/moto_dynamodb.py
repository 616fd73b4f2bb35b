#!/usr/bin/env python3
"""moto_server for the DynamoDB log's tests, with two fixes to moto 5.2.5's DynamoDB.

Usage:  python moto_dynamodb.py [host] [port]

It exits when the process that started it does (a test binary keeps one server for all its
tests, in a static that is never dropped). Importing it (`import moto_dynamodb`, with this
folder on the path) applies both fixes to a moto server started otherwise, e.g. by another
wrapper script: any test that has several writers share a table needs them.

* Requests are served one at a time (the server is threaded): moto applies a transaction's
  items one by one, so without this a concurrent GetItem or Query could see half of one, and
  two concurrent transactions could both pass their conditions. Real DynamoDB isolates them.
* TransactWriteItems backs up only the items it touches, to roll them back when it is
  cancelled, instead of deep-copying every table it names first (which made each transaction
  cost as much as the whole table: a few thousand records took minutes).
"""
import copy
import os
import sys
import threading
import time

import moto.dynamodb.models as models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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

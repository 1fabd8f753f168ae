"""moto_server with its DynamoDB calls taken one at a time, and transactions that copy only
the items they touch.

moto's in-memory DynamoDB is not safe under threads: TransactWriteItems deep-copies every
table it touches (to roll back on failure) while other request threads change them, which
fails with "dictionary changed size during iteration" (an HTML 500 the SDK cannot read)
once a few hundred devices create clients at once (docs/soak.md). That copy also makes each
transaction cost time in proportion to the table's size. Real DynamoDB has neither problem,
so the emulator is made to behave:

- one lock around the DynamoDB handler (SQS and S3 stay concurrent);
- a transaction snapshots only the items it names, and on failure puts exactly those back
  (an item of a transaction can only change its own key, so that is the same rollback).

The second patch leans on moto's internals; when they are not what it expects, it is left
out (the lock alone keeps the emulator correct, only slower) and a line on stderr says so.
Started by `infra/lib/moto-server` with moto_server's own arguments.
"""

import copy
import sys
import threading

from moto import server
from moto.dynamodb.responses import DynamoHandler

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action


def _patch_transactions():
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(models, "copy", None) is not copy or not hasattr(DynamoDBBackend, "transact_write_items"):
        raise RuntimeError("moto.dynamodb.models has changed")
    original = DynamoDBBackend.transact_write_items

    class _TablesNotCopied:
        """`copy` as moto's transaction sees it: tables are not copied (the snapshot below
        replaces that), everything else is."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def key_of(self, op):
        table = self.get_table(op["TableName"])
        if "Key" in op:
            return dict(op["Key"])
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key

    def transact_write_items(self, transact_items):
        try:
            snapshot = []
            for entry in transact_items:
                _, op = next(iter(entry.items()))
                key = key_of(self, op)
                current = self.get_item(op["TableName"], key)
                snapshot.append((op["TableName"], key, current.to_json()["Attributes"] if current else None))
        except Exception:
            # A malformed transaction: moto's own code gives the right error.
            return original(self, transact_items)
        models.copy = _TablesNotCopied()
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attrs in reversed(snapshot):
                if attrs is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attrs)
            raise
        finally:
            models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items


try:
    _patch_transactions()
except Exception as err:  # noqa: BLE001 - any mismatch means: run moto as it is
    print(f"moto_server.py: transactions copy whole tables ({err})", file=sys.stderr)

if __name__ == "__main__":
    server.main()

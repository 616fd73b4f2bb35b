#!/usr/bin/env python3
"""Checks an export of Pacer's event log (`GET /api/audit/export`) without Pacer.

    python3 check-export.py EXPORT.jsonl      (or the export on stdin)

Each line is one record: its `seq`, `at`, `actor`, `action`, `request_id` and `payload`, its
chain hash `hash` and the hash it follows, `prev` (both hex). A record's hash is SHA-256 of the
32 bytes of `prev` followed by its canonical form: the line without `hash` and `prev`, written
as JSON with sorted keys, no whitespace and non-ASCII characters as they are. Each `prev` is the
line before's `hash` (32 zero bytes for the chain's first record); records written before the
chain existed have null hashes. Exits 0 and prints the last hash when every record chains to
the one before, else 1 naming the first that does not.

Compare the printed head with one noted earlier (the console's Audit page, an export kept
elsewhere): whoever could rewrite the log could rewrite every hash after their change too.
"""

import hashlib
import json
import sys

GENESIS = "0" * 64


def check(lines):
    """None when every line chains to the one before, else why not."""
    seq = head = None
    chained = 0
    for line in lines:
        record = json.loads(line)
        hash_, prev = record.pop("hash"), record.pop("prev")
        if seq is not None and record["seq"] != seq + 1:
            return f"seq {record['seq']} follows seq {seq}"
        # What `prev` must be: the hash before (unknown for the first line, unless it is seq 1).
        before = head if head is not None else (GENESIS if seq is not None or record["seq"] == 1 else None)
        seq = record["seq"]
        if hash_ is None:
            if head is not None:
                return f"seq {seq} has no hash, but the record before has one"
            continue
        if before is not None and prev != before:
            return f"seq {seq} does not follow the record before"
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if hashlib.sha256(bytes.fromhex(prev) + canonical.encode()).hexdigest() != hash_:
            return f"seq {seq}: its hash is not that of its content after the record before"
        head = hash_
        chained += 1
    print(f"ok: {chained} chained records; head seq {seq} hash {head}")
    return None


def main():
    source = open(sys.argv[1], encoding="utf-8") if len(sys.argv) > 1 else sys.stdin
    with source:
        failure = check(source)
    if failure is not None:
        print(f"BROKEN: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An independent Kafka client for govstream's end-to-end tests (kafka-python, pure Python).

    kafka_client.py produce BROKERS TOPIC FILE [CODEC] one message per non-empty line (bytes as is),
                                                      compressed with CODEC (gzip, snappy, lz4, zstd);
                                                      creates TOPIC (3 partitions) if it is missing
    kafka_client.py final-json BROKERS TOPIC IDLE_S   latest value per key of a compacted JSON
                                                      topic, tombstones removed, one per line
    kafka_client.py count BROKERS TOPIC IDLE_S        number of messages in a topic
    kafka_client.py origins BROKERS NORMALIZED DLQ IDLE_S
                                                      distinct source positions in both topics
    kafka_client.py committed-origins BROKERS NORMALIZED DLQ IDLE_S
                                                      as a read-committed reader: "<records> <distinct>"
    kafka_client.py accounting BROKERS NORMALIZED DLQ IDLE_S
                                                      per source: distinct positions normalized,
                                                      rejected, and in both (JSON)
    kafka_client.py dump BROKERS TOPIC IDLE_S FILE    every key, value and header, raw bytes, one
                                                      record per line, into FILE (for byte searches)

Security settings (kafka-python keyword arguments) come from $KAFKA_CLIENT_SECURITY as JSON, e.g.
{"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", ...}.

Proves govstream's wire formats against a Kafka implementation that is not librdkafka.
"""
import json
import os
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

SECURITY = json.loads(os.environ.get("KAFKA_CLIENT_SECURITY") or "{}")


def ensure_topic(brokers, topic, partitions=3):
    """Raw topics belong to upstream systems; the test broker does not auto-create topics."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError
    a = KafkaAdminClient(bootstrap_servers=brokers, **SECURITY)
    try:
        a.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    a.close()


def produce(brokers, topic, path, codec=None):
    ensure_topic(brokers, topic)
    p = KafkaProducer(bootstrap_servers=brokers, acks="all", linger_ms=5, batch_size=262144,
                      compression_type=codec, max_request_size=8 << 20, **SECURITY)
    n = 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            p.send(topic, value=line)
            n += 1
    p.flush()
    p.close()
    print(n)


def produce_rows(brokers, topic, path):
    """The data rows of a CSV file (after its header row), one message each, as a connector
    forwarding an export would send them: a row ends at a line break outside quotes (a quoted
    field may hold line breaks), its own terminator is not sent; a row whose quote never closes
    runs to the end of the file."""
    ensure_topic(brokers, topic)
    p = KafkaProducer(bootstrap_servers=brokers, acks="all", **SECURITY)
    rows, row, quoted = [], b"", False
    with open(path, "rb") as f:
        for line in f:
            row += line
            if line.count(b'"') % 2 == 1:
                quoted = not quoted
            if not quoted:
                rows.append(row)
                row = b""
    if row:
        rows.append(row)
    n = 0
    for r in rows[1:]:
        r = r[:-1] if r.endswith(b"\n") else r
        r = r[:-1] if r.endswith(b"\r") else r
        if r:
            p.send(topic, value=r)
            n += 1
    p.flush()
    p.close()
    print(n)


def read_all(brokers, topic, idle_s, isolation="read_uncommitted"):
    """Every record of `topic` up to the end offsets taken when reading starts (the last stable
    offsets for a read-committed reader). IDLE_S is only a safety net: reading fails if no
    record arrives for that long (at least 30 s) before the end is reached."""
    c = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False,
                      isolation_level=isolation, max_partition_fetch_bytes=8 << 20,
                      fetch_max_bytes=64 << 20, **SECURITY)
    parts = c.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    remaining = {tp for tp in tps if ends[tp] > c.position(tp)}
    stall = max(float(idle_s), 30.0)
    import time
    last = time.monotonic()
    while remaining:
        batch = c.poll(timeout_ms=500)
        if batch:
            last = time.monotonic()
        for tp, msgs in batch.items():
            for m in msgs:
                if m.offset < ends[tp]:
                    yield m
        for tp in list(remaining):
            if c.position(tp) >= ends[tp]:
                remaining.discard(tp)
        if time.monotonic() - last > stall:
            raise SystemExit(f"{topic}: no record for {stall} s before the end offsets {ends}")
    c.close()


def final_json(brokers, topic, idle_s):
    latest = {}
    for m in read_all(brokers, topic, idle_s):
        if m.value is None:
            latest.pop(m.key, None)
        else:
            latest[m.key] = m.value
    for v in latest.values():
        sys.stdout.buffer.write(v + b"\n")


def origins(brokers, normalized, dlq, idle_s):
    """Distinct upstream positions (govstream-origin header) in the normalized topic and DLQ."""
    seen = set()
    for topic in (normalized, dlq):
        for m in read_all(brokers, topic, idle_s):
            for k, v in m.headers or []:
                if k == "govstream-origin":
                    seen.add(v)
    print(len(seen))


def committed_origins(brokers, normalized, dlq, idle_s):
    """Records and distinct upstream positions that a read-committed reader sees."""
    seen, n = set(), 0
    for topic in (normalized, dlq):
        for m in read_all(brokers, topic, idle_s, "read_committed"):
            n += 1
            for k, v in m.headers or []:
                if k == "govstream-origin":
                    seen.add(v)
    print(n, len(seen))


def accounting(brokers, normalized, dlq, idle_s):
    """Per source: distinct upstream positions in the normalized topic and in the DLQ, and how
    many positions appear in both (must be none), as JSON."""
    seen = {}
    for kind, topic in (("normalized", normalized), ("rejected", dlq)):
        for m in read_all(brokers, topic, idle_s):
            h = {k: v for k, v in m.headers or []}
            src = h.get("govstream-source", b"?").decode()
            seen.setdefault(src, {"normalized": set(), "rejected": set()})[kind].add(h.get("govstream-origin"))
    out = {src: {"normalized": len(v["normalized"]), "rejected": len(v["rejected"]),
                 "both": len(v["normalized"] & v["rejected"])} for src, v in seen.items()}
    print(json.dumps(out, sort_keys=True))


def dump(brokers, topic, idle_s, path):
    out = open(path, "wb")
    for m in read_all(brokers, topic, idle_s):
        for part in [m.key or b"", m.value or b""] + [k.encode() + b"=" + (v or b"") for k, v in m.headers or []]:
            out.write(part.replace(b"\n", b" ") + b"\t")
        out.write(b"\n")
    out.close()


def count(brokers, topic, idle_s):
    print(sum(1 for _ in read_all(brokers, topic, idle_s)))


def keys(brokers, topic, idle_s):
    """The keys of `topic` whose latest value is not a tombstone, one per line (UTF-8)."""
    latest = {}
    for m in read_all(brokers, topic, idle_s):
        latest[m.key] = m.value
    for k, v in sorted(latest.items()):
        if v is not None:
            print(k.decode("utf-8", "replace"))


def put(brokers, topic, partition, key, value_hex):
    """Writes one record (hex value) to a given partition."""
    p = KafkaProducer(bootstrap_servers=brokers, **SECURITY)
    p.send(topic, key=key.encode(), value=bytes.fromhex(value_hex), partition=int(partition))
    p.flush()
    p.close()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"produce": produce, "produce-rows": produce_rows, "final-json": final_json, "count": count, "origins": origins,
     "committed-origins": committed_origins, "dump": dump, "accounting": accounting,
     "keys": keys, "put": put}[cmd](*args)

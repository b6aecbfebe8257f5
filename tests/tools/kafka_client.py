#!/usr/bin/env python3
"""An independent Kafka client for govstream's end-to-end tests (kafka-python, pure Python).

    kafka_client.py produce BROKERS TOPIC FILE        one message per non-empty line (bytes as is)
    kafka_client.py final-json BROKERS TOPIC IDLE_S   latest value per key of a compacted JSON
                                                      topic, tombstones removed, one per line
    kafka_client.py count BROKERS TOPIC IDLE_S        number of messages in a topic
    kafka_client.py origins BROKERS NORMALIZED DLQ IDLE_S
                                                      distinct source positions in both topics

Proves govstream's wire formats against a Kafka implementation that is not librdkafka.
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(brokers, topic, path):
    p = KafkaProducer(bootstrap_servers=brokers, acks="all", linger_ms=5, batch_size=262144)
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


def read_all(brokers, topic, idle_s):
    c = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False,
                      consumer_timeout_ms=int(float(idle_s) * 1000))
    parts = c.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    for m in c:
        yield m
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


def count(brokers, topic, idle_s):
    print(sum(1 for _ in read_all(brokers, topic, idle_s)))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"produce": produce, "final-json": final_json, "count": count, "origins": origins}[cmd](*args)

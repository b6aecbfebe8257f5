#!/usr/bin/env python3
"""Looks for the personal data of generated inputs in govstream's outputs.

    pii_scan.py INPUT_DIR OUTPUT_FILE...

INPUT_DIR holds hotline.ndjson, onenet.ndjson and bdc.txt (GB18030) as `govstream generate` writes
them. Collects every caller/applicant/right-holder name, phone number and ID number, then searches
each output file (topic dumps, logs, /metrics scrapes) for them: digit runs are compared whole
(phones, ID numbers), runs of CJK text by every substring that could be a name. Prints one line
per leak ("FILE: kind value-length") and exits 1 if any; never prints the values themselves.
"""
import json
import re
import sys
from pathlib import Path


def collect(input_dir):
    names, numbers = set(), set()
    d = Path(input_dir)
    for line in (d / "hotline.ndjson").read_bytes().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        c = r.get("caller") if isinstance(r, dict) else None
        if isinstance(c, dict):
            if isinstance(c.get("name"), str):
                names.add(c["name"])
            if isinstance(c.get("phone"), str):
                numbers.add(c["phone"])
    for line in (d / "onenet.ndjson").read_bytes().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict):
            for k in ("CERTNO", "PHONE"):
                if isinstance(r.get(k), str):
                    numbers.add(r[k])
            if isinstance(r.get("APPLICANT"), str):
                names.add(r["APPLICANT"])
    for line in (d / "bdc.txt").read_bytes().splitlines():
        f = line.decode("gb18030", errors="replace").split("|")
        if len(f) >= 9:
            names.add(f[6])
            numbers.update((f[7], f[8]))
    names = {n for n in names if len(n) >= 2 and "\ufffd" not in n}
    numbers = {n for n in numbers if len(n) >= 7}
    return names, numbers


CJK = re.compile("[\u3400-\u9fff\u00b7]{2,}")
DIGITS = re.compile(rb"[0-9X]{7,}")


def scan(path, names, numbers):
    data = Path(path).read_bytes()
    leaks = []
    for m in DIGITS.finditer(data):
        if m.group().decode() in numbers:
            leaks.append(("number", len(m.group())))
    longest = max((len(n) for n in names), default=0)
    # Every output of govstream is UTF-8 (or protobuf with UTF-8 strings): a leaked name would be
    # UTF-8 there, whatever the source's encoding was.
    text = data.decode("utf-8", errors="replace")
    for m in CJK.finditer(text):
        run = m.group()
        for i in range(len(run)):
            for j in range(i + 2, min(len(run), i + longest) + 1):
                if run[i:j] in names:
                    leaks.append(("name", j - i))
    return leaks


def main():
    names, numbers = collect(sys.argv[1])
    if not names or not numbers:
        print("no personal data found in the inputs: the scan would prove nothing", file=sys.stderr)
        sys.exit(2)
    bad = 0
    for out in sys.argv[2:]:
        for kind, n in scan(out, names, numbers):
            bad += 1
            if bad <= 20:
                print(f"{out}: {kind} of length {n}")
    print(f"scanned {len(sys.argv) - 2} outputs for {len(names)} names and {len(numbers)} numbers: {bad} leaks", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

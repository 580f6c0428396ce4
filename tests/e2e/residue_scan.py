#!/usr/bin/env python3
"""Helpers of test_residue.sh.

  residue_scan.py patterns OUT.tsv FILE.ndjson...
      Every identifier and name of the input records that is long enough to
      mean something (>= 5 characters): "kind<TAB>value" lines, one per
      distinct value.

  residue_scan.py scan PATTERNS OUT.json PATH...
      Searches the raw bytes of every file under PATH (grep -a -F, as root)
      for the patterns (one per line) and writes the hits as JSON:
      {"hits": {pattern: {"count": n, "where": [[file, offset], ...]}},
       "exempt": n}. A numeric pattern found inside a longer run of
      lowercase hex digits (a pseudonym, a hash, a signature) is not a hit:
      a 9-digit LANR occurs by chance in that much hex.
"""
import json
import os
import subprocess
import sys

FIELDS = {
    "insured": {"kvnr": "kvnr", "last_name": "last_name", "first_name": "first_name",
                "street": "street", "city": "city", "birth_date": "birth_date"},
    "provider": {"lanr": "lanr", "bsnr": "bsnr", "ik": "ik", "name": "provider_name"},
    # the linkage profiles (DESIGN.md §13): names and birth dates of children
    "child": {"given_names": "child_given", "family_names": "child_family",
              "birth_name": "child_birth", "birth_date": "birth_date"},
}
MIN_LEN = 5
HEX = set(b"0123456789abcdef")


def patterns(out, files):
    seen = {}
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                for part, fields in FIELDS.items():
                    obj = rec.get(part)
                    if not isinstance(obj, dict):
                        continue
                    for field, kind in fields.items():
                        v = obj.get(field)
                        if isinstance(v, str):
                            v = v.strip()
                            if len(v) >= MIN_LEN and "\n" not in v and v not in seen:
                                seen[v] = kind
    with open(out, "w", encoding="utf-8") as fh:
        for v, kind in seen.items():
            fh.write(f"{kind}\t{v}\n")


def scan(pattern_file, out, paths):
    pats = [p for p in open(pattern_file, encoding="utf-8").read().split("\n") if p]
    numeric = {p.encode() for p in pats if p.isdigit()}
    cmd = ["grep", "-a", "-o", "-b", "-r", "-s", "-Z", "-D", "skip", "-F",
           "-f", pattern_file, "--"] + paths
    hits, exempt = {}, 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    for raw in proc.stdout:
        raw = raw.rstrip(b"\n")
        name, _, rest = raw.partition(b"\0")
        off, _, match = rest.partition(b":")
        try:
            off = int(off)
        except ValueError:
            continue
        if match in numeric:
            try:
                with open(name, "rb") as fh:
                    fh.seek(max(off - 1, 0))
                    ctx = fh.read(len(match) + 2)
                if off > 0 and len(ctx) == len(match) + 2 and ctx[0] in HEX and ctx[-1] in HEX:
                    exempt += 1
                    continue
            except OSError:
                pass
        key = match.decode("utf-8", "replace")
        h = hits.setdefault(key, {"count": 0, "where": []})
        h["count"] += 1
        if len(h["where"]) < 5:
            h["where"].append([name.decode("utf-8", "replace"), off])
    proc.wait()
    if proc.returncode not in (0, 1):
        print(f"grep failed ({proc.returncode})", file=sys.stderr)
        return 2
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"hits": hits, "exempt": exempt}, fh)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "scan":
        sys.exit(scan(sys.argv[2], sys.argv[3], sys.argv[4:]))
    if len(sys.argv) >= 4 and sys.argv[1] == "patterns":
        patterns(sys.argv[2], sys.argv[3:])
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(64)

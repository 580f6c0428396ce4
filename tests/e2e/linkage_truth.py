#!/usr/bin/env python3
"""The true overlap of two generated collections (vst-gen --truth), for
tests/e2e/test_linkage.sh and the linkage benchmark.

    linkage_truth.py A.nd A.tsv [COL=VALUE|-] B.nd B.tsv [COL=VALUE|-]

prints "a b overlap": the records of each side that pass its filter (a
stratum of the side's json object, compared as text) and the number of
children both filtered sides share. The truth files name the child of each
line (`line<TAB>child`); they are test input, never loaded into the store.
"""
import json
import sys


def side(nd, tsv, flt):
    col, _, val = flt.partition("=") if flt != "-" else ("", "", "")
    child = {}
    with open(tsv) as fh:
        next(fh)  # header
        for row in fh:
            line, cid = row.rstrip("\n").split("\t")
            child[int(line)] = cid
    ids = []
    with open(nd) as fh:
        for n, row in enumerate(fh, 1):
            rec = json.loads(row)
            obj = rec.get("case") or rec.get("exam")
            if col:
                v = obj.get(col)
                text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                if text != val:
                    continue
            ids.append(child[n])
    return ids


def main():
    a = side(*sys.argv[1:4])
    b = side(*sys.argv[4:7])
    print(len(a), len(b), len(set(a) & set(b)))


if __name__ == "__main__":
    main()

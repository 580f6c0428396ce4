#!/usr/bin/env python3
"""Checks of tests/e2e/test_release.sh (issue 11, DESIGN.md §11).

Every figure of a `vst-admin cells --json` report is recomputed here by
queries of the test's own (psql as the superuser, straight GROUP BYs over the
store table) and compared; release tables are checked the same way. Prints
"PASS name" / "FAIL name: detail" lines for py_checks.

  release_check.py cells REPORT.json STORE_DB K QI,QI,...
  release_check.py release STORE_DB NAME K QI,QI,... OTHER_RELEASE|'' [KEPT_WHERE]
"""
import json
import subprocess
import sys


def q(db, sql):
    out = subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-d", db,
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def one(db, sql):
    return int(q(db, sql)[0][0])


def check(name, got, want):
    if got == want:
        print(f"PASS {name}")
    else:
        print(f"FAIL {name}: got {got!r}, want {want!r}")


def bucket(n):
    return ("1" if n == 1 else "2" if n == 2 else "3" if n == 3 else "4" if n == 4 else
            "5-9" if n < 10 else "10-49" if n < 50 else "50+")


def cells(path, db, k, qi):
    rep = json.load(open(path, encoding="utf-8"))
    cols = ", ".join(qi)
    t = "sgb5.records"
    classes = q(db, f"SELECT {cols}, count(DISTINCT pseudonym), count(*) FROM {t} GROUP BY {cols}")
    sizes = [int(c[len(qi)]) for c in classes]
    small = [c for c in classes if int(c[len(qi)]) < k]
    check("rows", rep["rows"], one(db, f"SELECT count(*) FROM {t}"))
    check("persons", rep["persons"], one(db, f"SELECT count(DISTINCT pseudonym) FROM {t}"))
    check("classes", rep["classes"], len(classes))
    check("classes_below_k", rep["classes_below_k"], len(small))
    check("rows_below_k", rep["rows_below_k"], sum(int(c[len(qi) + 1]) for c in small))
    check("persons_below_k (distinct persons in any class below k)", rep["persons_below_k"],
          one(db, f"""SELECT count(DISTINCT pseudonym) FROM {t} r JOIN
                      (SELECT {cols} FROM {t} GROUP BY {cols}
                        HAVING count(DISTINCT pseudonym) < {k}) s USING ({cols})"""))
    want_hist = {}
    for n in sizes:
        b = want_hist.setdefault(bucket(n), [0, 0])
        b[0] += 1
        b[1] += n
    got_hist = {h["size"]: [h["classes"], h["persons"]] for h in rep["histogram"]}
    check("histogram buckets", [h["size"] for h in rep["histogram"]],
          ["1", "2", "3", "4", "5-9", "10-49", "50+"])
    check("histogram counts", got_hist,
          {b: want_hist.get(b, [0, 0]) for b in ["1", "2", "3", "4", "5-9", "10-49", "50+"]})
    want_small = sorted((int(c[len(qi)]), tuple(c[:len(qi)])) for c in small)[:20]
    got_small = sorted((s["persons"], tuple(s["values"][c] for c in qi)) for s in rep["smallest"])
    check("smallest: the classes below k with their person counts", got_small, want_small)
    for e in rep["per_quasi_identifier"]:
        c = e["column"]
        vals = q(db, f"SELECT {c}, count(DISTINCT pseudonym) FROM {t} GROUP BY {c}")
        check(f"per_quasi_identifier {c}: values", e["values"], len(vals))
        check(f"per_quasi_identifier {c}: persons_below_k", e["persons_below_k"],
              one(db, f"""SELECT count(DISTINCT pseudonym) FROM {t} WHERE {c} IN
                          (SELECT {c} FROM {t} GROUP BY {c}
                            HAVING count(DISTINCT pseudonym) < {k})"""))
    rules = {"band:5": "(birth_year / 5 * 5)", "prefix:1": "left(postal_prefix, 1)"}
    for s in rep["suggestions"]:
        exprs = [c for c in qi if c != s["column"]]
        if s["rule"] != "drop":
            exprs.append(rules[s["rule"]])
        g = ", ".join(exprs)
        check(f"suggestion {s['column']} {s['rule']}: persons_below_k", s["persons_below_k"],
              one(db, f"""SELECT count(DISTINCT pseudonym) FROM {t}
                           WHERE ({g}) IN (SELECT {g} FROM {t} GROUP BY {g}
                                            HAVING count(DISTINCT pseudonym) < {k})"""))
    check("suggestions for every quasi-identifier with a ladder step",
          sorted(s["column"] for s in rep["suggestions"]), sorted(qi))
    if "rare_codes" in rep:
        want = q(db, f"""SELECT 'icd10', c, count(DISTINCT pseudonym) FROM {t},
                           jsonb_array_elements_text(coalesce(service->'icd10', '[]')) c
                          GROUP BY c HAVING count(DISTINCT pseudonym) < {k}""")
        check("rare_codes (icd10) equal the test's own count",
              sorted((r["list"], r["code"], r["persons"]) for r in rep["rare_codes"]
                     if r["list"] == "icd10"),
              sorted((a, b, int(c)) for a, b, c in want))
    pseudonyms = {r[0] for r in q(db, f"""SELECT pseudonym FROM {t} UNION
                                          SELECT provider_pseudonym FROM {t} UNION
                                          SELECT practice_pseudonym FROM {t}""")}
    text = open(path, encoding="utf-8").read()
    check("the report holds no store pseudonym", [p for p in pseudonyms if p and p in text], [])


def release(db, name, k, qi, other, kept_where):
    r = f"release.{name}"
    cols = ", ".join(qi)
    check(f"{name}: no class below k (the test's own GROUP BY)",
          one(db, f"""SELECT count(*) FROM (SELECT {cols} FROM {r} GROUP BY {cols}
                                              HAVING count(DISTINCT pseudonym) < {k}) s"""), 0)
    check(f"{name}: no release pseudonym equals a store pseudonym",
          one(db, f"""SELECT count(*) FROM (SELECT pseudonym FROM {r} UNION
                                              SELECT provider_pseudonym FROM {r}) a
                       WHERE pseudonym IN (SELECT pseudonym FROM sgb5.records UNION
                                           SELECT provider_pseudonym FROM sgb5.records)"""), 0)
    cat = q(db, f"SELECT rows, persons FROM release.catalog WHERE name = '{name}'")
    check(f"{name}: catalog rows and persons equal the table's",
          [int(x) for x in cat[0]] if cat else None,
          [one(db, f"SELECT count(*) FROM {r}"),
           one(db, f"SELECT count(DISTINCT pseudonym) FROM {r}")])
    # Same person, same release pseudonym: the multiset of rows per person
    # equals the store's for the persons kept (kept_where selects them; each
    # planted person has its own row count, so a split or merged person
    # changes the multiset).
    if kept_where:
        check(f"{name}: rows per release pseudonym equal rows per kept store person",
              sorted(int(x[0]) for x in q(db, f"SELECT count(*) FROM {r} GROUP BY pseudonym")),
              sorted(int(x[0]) for x in q(db, f"""SELECT count(*) FROM sgb5.records
                                                  WHERE {kept_where} GROUP BY pseudonym""")))
    if other:
        check(f"{name}: shares no pseudonym with release {other}",
              one(db, f"""SELECT count(*) FROM (SELECT pseudonym FROM {r} INTERSECT
                                                SELECT pseudonym FROM release.{other}) x"""), 0)


def main():
    if sys.argv[1] == "cells":
        cells(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","))
    else:
        release(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","),
                sys.argv[6] or None, sys.argv[7] if len(sys.argv) > 7 else None)


main()

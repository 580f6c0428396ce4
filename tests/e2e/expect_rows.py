#!/usr/bin/env python3
"""Helpers of tests/e2e/test_api.sh: compute what the store must hold for an
NDJSON delivery and compare it with the rows, field by field; write the
hand-made delivery files; list the sensitive values of a delivery.

Subcommands (each prints one "PASS name" or "FAIL name: detail" line per
sub-check and exits 1 if any failed, except where noted):

  sgb5 INPUT ROWS REF            rows (JSON lines, in id order) of one sgb5
                                 delivery vs. the profile's transformation
  measles INPUT ROWS REF         the same for profile measles
  same-pseudonyms ROWS_A ROWS_B  two deliveries of the same file: the same
                                 pseudonyms row by row
  disjoint ROWS_SGB5 ROWS_MEAS   sgb5/insured and ph/measles pseudonyms of
                                 the same KVNRs differ
  errors BODY EXPECTED           a 422 problem body vs. the expected errors
  hand-sgb5 OUT                  writes the hand-made sgb5 records
  hand-measles OUT               writes the hand-made measles records
  bad OUT EXPECTED VALUES        writes the file with bad lines, the expected
                                 errors (JSON) and the input's values
  values FILE...                 prints every identifier, name, street, city,
                                 provider name and birth date of the files
                                 (one per line; values shorter than 5
                                 characters are left out: they would match
                                 by chance)
  stems FILE...                  prints the identifying digits 1-7 of every
                                 LANR (the bytes keyd gets): 7 digits occur
                                 by chance inside hashes and times, so the
                                 caller matches them as whole words only
"""
import json
import os
import re
import sys

HEX32 = re.compile(r"^[0-9a-f]{32}$")
SERVICE_KEYS = ("period", "icd10", "ops", "ebm", "atc", "cost_cents", "days")
REPORT_KEYS = ("year", "source", "doses", "vaccines", "immunity")

results = []

# The shipped sgb5 profile's placeholder table: what the store must show for
# a placeholder number is read from the profile, not restated here.
SGB5_PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "server",
                            "profiles", "sgb5.json")


def placeholder_name(kind, value):
    """The placeholder name of a canonical LANR/BSNR/IK, or None."""
    with open(SGB5_PROFILE, encoding="utf-8") as f:
        table = json.load(f).get("placeholders", [])
    for e in table:
        if e["identifier"] != kind:
            continue
        if ("number" in e and value == e["number"]) or \
                ("prefix" in e and value.startswith(e["prefix"]) and len(value) > len(e["prefix"])):
            return e["name"]
    return None


def report(name, problems):
    """Records one sub-check; problems is a list of strings."""
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        results.append(f"FAIL {name}: {shown}{more}")
    else:
        results.append(f"PASS {name}")


def finish():
    for r in results:
        print(r)
    sys.exit(1 if any(r.startswith("FAIL") for r in results) else 0)


def read_ndjson(path):
    out = []
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            if line.strip():
                out.append(json.loads(line.decode("utf-8")))
    return out


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def canon_kvnr(v):
    v = v.strip()
    return v[0].upper() + v[1:]


def strip(v):
    # char(n) columns come back as text; a NULL stays None.
    return v.rstrip() if isinstance(v, str) else v


def mapping_checks(name, pairs, want_repeat=True):
    """pairs: (identifier, pseudonym). Same identifier => same pseudonym,
    different identifiers => different pseudonyms."""
    fwd, back = {}, {}
    same, diff = [], []
    for ident, ps in pairs:
        if ident in fwd and fwd[ident] != ps:
            same.append(f"{ident[:2]}… has 2 pseudonyms")
        fwd.setdefault(ident, ps)
        if ps in back and back[ps] != ident:
            diff.append(f"pseudonym {ps[:6]}… for 2 identifiers")
        back.setdefault(ps, ident)
    repeats = len(pairs) - len(fwd)
    if want_repeat and repeats == 0:
        same.append("no identifier occurs twice: the check would prove nothing")
    if len(fwd) < 2:
        diff.append("fewer than 2 distinct identifiers: the check would prove nothing")
    report(f"{name}: same identifier, same pseudonym ({repeats} repeats)", same)
    report(f"{name}: different identifiers, different pseudonyms ({len(fwd)} distinct)", diff)
    return fwd


def check_sgb5(input_path, rows_path, ref):
    recs = read_ndjson(input_path)
    rows = read_rows(rows_path)
    report("row count equals record count", [] if len(recs) == len(rows) else
           [f"{len(rows)} rows for {len(recs)} records"])
    n = min(len(recs), len(rows))
    p = {k: [] for k in ("ref", "kv", "birth_year", "sex", "insurance_status", "postal_prefix",
                         "provider_group", "provider_region", "provider_postal_prefix",
                         "provider_null", "provider_pseudonym", "practice_pseudonym", "service",
                         "format", "columns", "death_year", "placeholder")}
    ins, lanr, ik, bsnr, lanr_digits = [], [], [], [], []
    want_cols = {"delivery_ref", "key_version", "pseudonym", "birth_year", "sex",
                 "insurance_status", "postal_prefix", "provider_pseudonym", "provider_group",
                 "provider_region", "practice_pseudonym", "provider_postal_prefix", "service",
                 "provider_placeholder", "practice_placeholder", "death_year"}
    for i in range(n):
        rec, row = recs[i], {k: strip(v) for k, v in rows[i].items()}
        ln = f"line {i + 1}"
        if set(row) != want_cols:
            p["columns"].append(f"{ln}: columns {sorted(row)}")
        if row.get("delivery_ref") != ref:
            p["ref"].append(f"{ln}: delivery_ref {row.get('delivery_ref')}")
        if row.get("key_version") != 1:
            p["kv"].append(f"{ln}: key_version {row.get('key_version')}")
        a = rec["insured"]
        if row.get("birth_year") != int(a["birth_date"][:4]):
            p["birth_year"].append(f"{ln}: birth_year {row.get('birth_year')}")
        if row.get("sex") != a["sex"]:
            p["sex"].append(f"{ln}: sex {row.get('sex')}")
        if row.get("insurance_status") != int(a["insurance_status"]):
            p["insurance_status"].append(f"{ln}: insurance_status {row.get('insurance_status')}")
        if row.get("postal_prefix") != a["postal_code"][:2]:
            p["postal_prefix"].append(f"{ln}: postal_prefix {row.get('postal_prefix')}")
        want_dy = int(a["death_date"][:4]) if "death_date" in a else None
        if row.get("death_year") != want_dy:
            p["death_year"].append(f"{ln}: death_year {row.get('death_year')} != {want_dy}")
        for col in ("pseudonym", "provider_pseudonym", "practice_pseudonym"):
            v = row.get(col)
            if v is not None and not HEX32.match(v):
                p["format"].append(f"{ln}: {col} is not 32 lower-case hex")
        if row.get("pseudonym") is None:
            p["format"].append(f"{ln}: pseudonym is NULL")
        ins.append((canon_kvnr(a["kvnr"]), row.get("pseudonym")))
        pv = rec.get("provider")
        pcols = ("provider_pseudonym", "provider_group", "provider_region", "practice_pseudonym",
                 "provider_postal_prefix", "provider_placeholder", "practice_placeholder")
        if pv is None:
            bad = [c for c in pcols if row.get(c) is not None]
            if bad:
                p["provider_null"].append(f"{ln}: no provider but {','.join(bad)} set")
            continue
        # A LANR is pseudonymized by its identifying digits 1-7 (the
        # physician across groups); a placeholder number not at all.
        ph = None
        if "lanr" in pv:
            group, region = pv["lanr"][7:9], (pv["bsnr"][0:2] if "bsnr" in pv else None)
            ph = placeholder_name("lanr", pv["lanr"])
            if ph is None:
                lanr.append((pv["lanr"][:7], row.get("provider_pseudonym")))
                lanr_digits.append(pv["lanr"])
        else:
            group, region = pv["ik"][0:2], pv["ik"][2:4]
            ik.append((pv["ik"], row.get("provider_pseudonym")))
        if row.get("provider_placeholder") != ph:
            p["placeholder"].append(f"{ln}: provider_placeholder {row.get('provider_placeholder')}"
                                    f" != {ph}")
        if (row.get("provider_pseudonym") is None) != (ph is not None):
            p["provider_pseudonym"].append(f"{ln}: provider_pseudonym "
                                           f"{'NULL' if ph is None else 'set for a placeholder'}")
        if row.get("provider_group") != group:
            p["provider_group"].append(f"{ln}: provider_group {row.get('provider_group')} != {group}")
        if row.get("provider_region") != region:
            p["provider_region"].append(
                f"{ln}: provider_region {row.get('provider_region')} != {region}")
        want_pp = pv["postal_code"][:2] if "postal_code" in pv else None
        if row.get("provider_postal_prefix") != want_pp:
            p["provider_postal_prefix"].append(
                f"{ln}: provider_postal_prefix {row.get('provider_postal_prefix')} != {want_pp}")
        bph = placeholder_name("bsnr", pv["bsnr"]) if "bsnr" in pv else None
        if row.get("practice_placeholder") != bph:
            p["placeholder"].append(f"{ln}: practice_placeholder {row.get('practice_placeholder')}"
                                    f" != {bph}")
        if "bsnr" in pv and bph is None:
            if row.get("practice_pseudonym") is None:
                p["practice_pseudonym"].append(f"{ln}: bsnr given, practice_pseudonym NULL")
            bsnr.append((pv["bsnr"], row.get("practice_pseudonym")))
        elif row.get("practice_pseudonym") is not None:
            p["practice_pseudonym"].append(f"{ln}: no bsnr or a placeholder, practice_pseudonym set")
    # service: exactly the kept members, no more, no fewer.
    for i in range(n):
        want = {k: v for k, v in recs[i]["service"].items() if k in SERVICE_KEYS}
        got = rows[i].get("service")
        if got != want:
            p["service"].append(f"line {i + 1}: service {json.dumps(got)[:80]} != input's")
    for k, label in (("columns", "rows have exactly the store columns"),
                     ("ref", "delivery_ref of every row is the receipt's"),
                     ("kv", "key_version 1 on every row"),
                     ("birth_year", "birth_year = year of birth_date"),
                     ("sex", "sex kept"), ("insurance_status", "insurance_status kept as integer"),
                     ("postal_prefix", "postal_prefix = first 2 postal digits"),
                     ("provider_null", "provider columns NULL without provider"),
                     ("provider_pseudonym", "provider_pseudonym set with lanr/ik, NULL for a placeholder"),
                     ("placeholder", "provider/practice_placeholder = the profile's name or NULL"),
                     ("death_year", "death_year = year of death_date or NULL"),
                     ("provider_group", "provider_group = LANR digits 8-9 / IK digits 1-2"),
                     ("provider_region", "provider_region = BSNR digits 1-2 / IK digits 3-4 / NULL"),
                     ("provider_postal_prefix", "provider_postal_prefix = 2 digits or NULL"),
                     ("practice_pseudonym", "practice_pseudonym only with bsnr"),
                     ("service", "service jsonb = exactly the kept service fields"),
                     ("format", "pseudonyms are ^[0-9a-f]{32}$")):
        report(label, p[k])
    m_ins = mapping_checks("KVNR", ins)
    m_lanr = mapping_checks("LANR digits 1-7", lanr)
    m_ik = mapping_checks("IK", ik)
    m_bsnr = mapping_checks("BSNR", bsnr)
    # Domains are separate: no pseudonym of one domain is one of another's,
    # in particular not for the same digits used as LANR, IK and BSNR.
    doms = {"sgb5/insured": m_ins, "sgb5/lanr-stem": m_lanr, "sgb5/ik": m_ik,
            "sgb5/bsnr": m_bsnr}
    cross = []
    names = list(doms)
    for x in range(len(names)):
        for y in range(x + 1, len(names)):
            common = set(doms[names[x]].values()) & set(doms[names[y]].values())
            if common:
                cross.append(f"{names[x]} and {names[y]} share {len(common)} pseudonyms")
    shared_digits = [d for d in lanr_digits if d in m_ik or d in m_bsnr] + \
                    [d for d in m_ik if d in m_bsnr]
    if not shared_digits:
        cross.append("no digits used in two domains: the check would prove nothing")
    report(f"domains disjoint ({len(shared_digits)} identifiers used in 2+ domains)", cross)
    finish()


def check_measles(input_path, rows_path, ref):
    recs = read_ndjson(input_path)
    rows = read_rows(rows_path)
    report("measles: row count equals record count", [] if len(recs) == len(rows) else
           [f"{len(rows)} rows for {len(recs)} records"])
    prob = []
    pairs = []
    for i in range(min(len(recs), len(rows))):
        a, row = recs[i]["person"], {k: strip(v) for k, v in rows[i].items()}
        want = {"delivery_ref": ref, "key_version": 1, "birth_year": int(a["birth_date"][:4]),
                "sex": a["sex"], "postal_prefix": a["postal_code"][:2],
                "report": {k: v for k, v in recs[i]["report"].items() if k in REPORT_KEYS}}
        for k, v in want.items():
            if row.get(k) != v:
                prob.append(f"line {i + 1}: {k} = {row.get(k)!r}, want {v!r}")
        if not HEX32.match(row.get("pseudonym") or ""):
            prob.append(f"line {i + 1}: pseudonym format")
        extra = set(row) - set(want) - {"pseudonym"}
        if extra:
            prob.append(f"line {i + 1}: unexpected columns {sorted(extra)}")
        pairs.append((canon_kvnr(a["kvnr"]), row.get("pseudonym")))
    report("measles: rows equal the profile's transformation", prob)
    mapping_checks("measles KVNR", pairs)
    finish()


def same_pseudonyms(a, b):
    ra, rb = read_rows(a), read_rows(b)
    prob = [] if len(ra) == len(rb) else [f"{len(ra)} vs {len(rb)} rows"]
    for i, (x, y) in enumerate(zip(ra, rb)):
        for col in ("pseudonym", "provider_pseudonym", "practice_pseudonym"):
            if x.get(col) != y.get(col):
                prob.append(f"row {i + 1}: {col} differs")
        if x.get("delivery_ref") == y.get("delivery_ref"):
            prob.append(f"row {i + 1}: same delivery_ref for two deliveries")
    report("the same file delivered twice gives the same pseudonyms, another delivery_ref", prob)
    finish()


def disjoint(sgb5_rows, measles_rows):
    s = {r["pseudonym"] for r in read_rows(sgb5_rows)}
    m = {r["pseudonym"] for r in read_rows(measles_rows)}
    common = s & m
    report("ph/measles pseudonyms differ from sgb5/insured ones for the same KVNRs",
           [f"{len(common)} shared"] if common or not m else [])
    finish()


def check_errors(body_path, expected_path):
    with open(body_path, encoding="utf-8") as f:
        body = json.load(f)
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    got = [(e.get("line"), e.get("field"), e.get("code")) for e in body.get("errors", [])]
    want = [tuple(e) for e in expected]
    missing = [w for w in want if w not in got]
    extra = [g for g in got if g not in want]
    report("422 lists each bad line with field path and code",
           [f"missing {m}" for m in missing] + [f"unexpected {x}" for x in extra])
    report("422 errors_total counts them", [] if body.get("errors_total") == len(want) else
           [f"errors_total {body.get('errors_total')}, want {len(want)}"])
    report("422 code invalid_records", [] if body.get("code") == "invalid_records" else
           [f"code {body.get('code')}"])
    finish()


# ---- hand-made files ----------------------------------------------------------------

# Digits that are a valid LANR (check digit 7), a valid IK (check digit 9) and
# a BSNR at once: the same nine digits in three pseudonym domains.
SHARED = "511122203"


def insured(kvnr, last, first, birth, sex="W", status="1", postal="10115",
            street="Talweg 3", city="Nordhausen"):
    return {"kvnr": kvnr, "last_name": last, "first_name": first, "birth_date": birth,
            "sex": sex, "insurance_status": status, "postal_code": postal, "street": street,
            "city": city}


def dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def hand_sgb5(out):
    svc = {"period": "2024Q1", "icd10": ["J06.9", "I10.-"], "ops": ["5-470.11"],
           "ebm": ["03000"], "atc": ["N02BE01"], "cost_cents": 4250, "days": 1}
    recs = [
        # the same digits as LANR + BSNR, then as IK: three domains
        {"insured": insured("C246813576", "Quorvantel", "Jolinde", "1955-06-17", "M", "3",
                            "80331", "Velmiraweg 12", "Ostervalden"),
         "provider": {"lanr": SHARED, "bsnr": SHARED, "postal_code": "80335",
                      "name": "Praxis Dr. Holmtrupel"},
         "service": svc},
        {"insured": insured("C246813576", "Quorvantel", "Jolinde", "1955-06-17", "M", 3,
                            "80331", "Velmiraweg 12", "Ostervalden"),
         "provider": {"ik": SHARED, "name": "Klinikum Sarnhoffen"},
         "service": {"period": "2023Q4"}},
        # KVNR with blanks and a lower-case letter: the same person as the
        # first record after normalisation (DESIGN.md §4)
        {"insured": insured(" c246813576 ", "Quorvantel", "Jolinde", "1955-06-17", "M", "3",
                            "80331"),
         "provider": {"lanr": SHARED},
         "service": {"period": "2024Q2", "days": 0, "cost_cents": 0, "icd10": []}},
        # LANR without BSNR, IK with postal code, no provider at all
        {"insured": insured("D112233448", "Wendrasolk", "Miravette", "2001-12-31", "X", 5,
                            "01067", "Brunnfeldgasse 7a", "Bad Tessmorde"),
         "provider": {"lanr": "123456601", "postal_code": "01069"},
         "service": {"period": "2019Q3", "ebm": ["03000", "03220A"], "atc": ["A", "N02"]}},
        {"insured": insured("E556677883", "Halvorntrup", "Senebaldine", "1931-02-28", "D", "1",
                            "99084"),
         "provider": {"ik": "260512349", "postal_code": "99089"},
         "service": {"period": "2020Q1", "icd10": ["Z25.8", "U07.1!"]}},
        {"insured": insured("E556677883", "Halvorntrup", "Senebaldine", "1931-02-28", "D", "1",
                            "99084"),
         "service": {"period": "2020Q2", "cost_cents": 100000000000}},
        {"insured": insured("F135792460", "Kestrowinkel", "Adalmerte", "1988-07-04", "W", "1",
                            "20095"),
         "provider": {"lanr": "123456601", "bsnr": "721234500", "name": "MVZ Lindquartel"},
         "service": {"period": "2025Q4", "days": 366}},
        # the IK and the BSNR again, with other partners
        {"insured": insured("F135792460", "Kestrowinkel", "Adalmerte", "1988-07-04", "W", "1",
                            "20095"),
         "provider": {"ik": "260512349"},
         "service": {"period": "2025Q3"}},
        {"insured": insured("G864209751", "Pendravoltis", "Marlisande", "1972-04-21", "W", "1",
                            "50667"),
         "provider": {"lanr": "123456601", "bsnr": SHARED, "postal_code": "50668"},
         "service": {"period": "2025Q2", "ops": ["1-100", "5-470.11"]}},
        # issue 10: the physician of 123456601 under another specialty group
        # (one pseudonym, two groups); placeholder numbers; a year of death
        {"insured": insured("G864209751", "Pendravoltis", "Marlisande", "1972-04-21", "W", "1",
                            "50667"),
         "provider": {"lanr": "123456623", "bsnr": "179999900"},
         "service": {"period": "2025Q3"}},
        {"insured": dict(insured("H975310864", "Ostrelwinde", "Fennaroth", "1940-01-09", "M",
                                 "1", "30159"), death_date="2024-03-02"),
         "provider": {"lanr": "999999900", "bsnr": "721234500"},
         "service": {"period": "2024Q1"}},
        {"insured": insured("H975310864", "Ostrelwinde", "Fennaroth", "1940-01-09", "M", "1",
                            "30159"),
         "provider": {"lanr": "444444401"},
         "service": {"period": "2023Q4"}},
    ]
    with open(out, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(dumps(r) + "\n")


def hand_measles(out):
    recs = [
        {"person": {"kvnr": "C246813576", "birth_date": "2018-03-09", "sex": "M",
                    "postal_code": "80331", "last_name": "Quorvantel", "first_name": "Baltrisko"},
         "report": {"year": 2024, "source": "school_entry", "doses": 2,
                    "vaccines": ["J07BD52"], "immunity": "documented"}},
        {"person": {"kvnr": "H102938478", "birth_date": "2017-11-30", "sex": "W",
                    "postal_code": "04109"},
         "report": {"year": 2023, "source": "gp", "doses": 0}},
        {"person": {"kvnr": "H102938478", "birth_date": "2017-11-30", "sex": "W",
                    "postal_code": "04109", "last_name": "Trendelvask"},
         "report": {"year": 2024, "source": "health_office", "doses": 1, "vaccines": [],
                    "immunity": "titer"}},
    ]
    with open(out, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(dumps(r) + "\n")


def bad(out, expected_out, values_out):
    svc = {"period": "2024Q1", "icd10": ["J06.9"]}

    def line(ins, extra=None, provider=None):
        r = {"insured": ins}
        if provider:
            r["provider"] = provider
        r["service"] = svc
        if extra:
            r.update(extra)
        return dumps(r).encode("utf-8")

    good1 = insured("G864209751", "Pendravoltis", "Marlisande", "1972-04-21", "W", "1",
                    "50667", "Orlenbachstraße 41", "Wiesentrudel")
    good9 = insured("Q314159266", "Ostrandelwik", "Bertholdine", "1964-09-13", "M", "5",
                    "70173", "Kaltermoorweg 5", "Finstergrund")
    chk = insured("A123456781", "Brennwaltsky", "Ulrikanda", "1980-02-28")  # check digit
    date = insured("B987654320", "Tramsfeldner", "Gismundeva", "1980-02-30")  # no 30 Feb
    unk = insured("H102938478", "Voskelbrandt", "Hiltrudane", "1990-01-15")
    keyk = insured("D112233448", "Jorvanstedt", "Wolmarette", "1977-03-03")
    long_ = insured("E556677883", "Langzeilhofer", "Rosamundeline", "1969-05-05")
    utf8 = insured("F135792460", "Utfwechselbaum", "Kunigardis", "1991-08-08")
    dup = insured("C246813576", "Doppelschlussel", "Irmentrauda", "1950-10-10")

    lines = []
    lines.append(line(good1, provider={"lanr": "123456601", "bsnr": "721234500"}))   # 1 ok
    lines.append(line(chk))                                                           # 2
    lines.append(line(date))                                                          # 3
    lines.append(line(unk, extra={"comment": "please call Frau Voskelbrandt"}))       # 4
    # 5: a KVNR used as a key (the error must not echo it)
    kk = dict(keyk)
    kk = {"kvnr": keyk["kvnr"], "A123456780": True,
          **{k: v for k, v in keyk.items() if k != "kvnr"}}
    lines.append(line(kk))
    # 6: longer than max_line_bytes (16384): a long street
    ll = dict(long_)
    ll["street"] = "Uberlangestrassenname" * 800
    lines.append(line(ll))                                                            # 6
    # 7: invalid UTF-8 (a raw 0xFF in the surname)
    lines.append(line(utf8).replace(b"Utfwechselbaum", b"Utfwechsel\xffbaum"))       # 7
    # 8: duplicate key "sex"
    lines.append(line(dup).replace(b'"sex":"W"', b'"sex":"W","sex":"M"'))             # 8
    lines.append(line(good9, provider={"ik": "260512349"}))                           # 9 ok
    # 10: bad LANR check digit (123456601 is valid; 123456701 is not)
    lines.append(line(good9, provider={"lanr": "123456701"}))                         # 10
    with open(out, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    expected = [
        [2, "insured.kvnr", "id_check_digit"],
        [3, "insured.birth_date", "invalid_date"],
        [4, "comment", "unknown_field"],
        [5, "insured.<key #2>", "unknown_field"],
        [6, "", "line_too_long"],
        [7, "", "invalid_utf8"],
        [8, "", "duplicate_key"],
        [10, "provider.lanr", "id_check_digit"],
    ]
    with open(expected_out, "w", encoding="utf-8") as f:
        json.dump(expected, f)
    vals = set()
    for ins in (good1, good9, chk, date, unk, keyk, long_, utf8, dup):
        for k in ("kvnr", "last_name", "first_name", "birth_date", "street", "city"):
            vals.add(ins[k])
    vals |= {"A123456780", "123456601", "721234500", "260512349", "123456701",
             "Voskelbrandt", "Uberlangestrassenname", "Utfwechsel", "Doppelschlussel"}
    with open(values_out, "w", encoding="utf-8") as f:
        for v in sorted(vals):
            f.write(v + "\n")


def string_fields(paths):
    """Yields (key, value) for every string member, at any depth, of the
    records of the NDJSON files."""
    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(v, str):
                    yield k, v
                yield from walk(v)
        elif isinstance(o, list):
            for v in o:
                yield from walk(v)

    for p in paths:
        for r in read_ndjson(p):
            yield from walk(r)


def values(paths):
    vals = set()
    keys = {"kvnr", "lanr", "ik", "bsnr", "last_name", "first_name", "street", "city", "name",
            "birth_date", "death_date"}
    for k, v in string_fields(paths):
        if k in keys:
            vals.add(v)
            if k == "kvnr":
                vals.add(canon_kvnr(v))
    for v in sorted(vals):
        v = v.strip()
        if len(v) >= 5:
            print(v)


def stems(paths):
    out = {v.strip()[:7] for k, v in string_fields(paths) if k == "lanr" and len(v.strip()) == 9}
    for v in sorted(out):
        print(v)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "sgb5":
        check_sgb5(*a)
    elif cmd == "measles":
        check_measles(*a)
    elif cmd == "same-pseudonyms":
        same_pseudonyms(*a)
    elif cmd == "disjoint":
        disjoint(*a)
    elif cmd == "errors":
        check_errors(*a)
    elif cmd == "hand-sgb5":
        hand_sgb5(*a)
    elif cmd == "hand-measles":
        hand_measles(*a)
    elif cmd == "bad":
        bad(*a)
    elif cmd == "values":
        values(a)
    elif cmd == "stems":
        stems(a)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

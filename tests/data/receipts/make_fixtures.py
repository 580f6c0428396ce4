#!/usr/bin/env python3
"""Writes the receipt fixtures of this directory: v1.json (a receipt as
signed before issue 12, "vst-receipt-v1", no withheld_count) and v2.json
(the same delivery as a v2 receipt, "vst-receipt-v2", withheld_count 2),
and signing.pub, the raw Ed25519 public key that signed both (hex).

Independent of the C code: the signed bytes are built here from the layout
in docs/audit.md and server/core/signed.h, so tests/audit/test_audit_unit.c
checks vst_receipt_tbs, the JSON builder and parser against a second
implementation, and a v1 receipt made the old way keeps verifying. The key
is derived from a fixed label: test data, not a secret. Synthetic values
only. Run from this directory; the output is deterministic (Ed25519)."""
import datetime
import hashlib
import json
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY = Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"vst receipt fixtures (tests/data/receipts)").digest())
PUB = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def rfc3339(us):
    d = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    d += datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % (us % 1000000)


def str8(s):
    b = s.encode()
    return bytes([len(b)]) + b


def receipt(version, f):
    enc = (str8(f["delivery_id"]) + str8(f["client"]) + str8(f["profile"])
           + struct.pack(">Q", f["record_count"]) + bytes.fromhex(f["body_sha256"])
           + struct.pack(">I", f["key_version"]) + struct.pack(">q", f["received_us"])
           + struct.pack(">q", f["stored_us"]) + struct.pack(">Q", f["audit_seq"]))
    if version == 2:
        enc += struct.pack(">Q", f["withheld_count"])
    sig = KEY.sign(b"vst-receipt-v%d\0" % version + enc)
    doc = {"delivery_id": f["delivery_id"], "client": f["client"], "profile": f["profile"],
           "record_count": f["record_count"]}
    if version == 2:
        doc["withheld_count"] = f["withheld_count"]
    doc.update({"body_sha256": f["body_sha256"], "key_version": f["key_version"],
                "received_at": rfc3339(f["received_us"]), "stored_at": rfc3339(f["stored_us"]),
                "audit_seq": f["audit_seq"], "signature": sig.hex(), "public_key": PUB.hex()})
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


FIELDS = {"delivery_id": "2025-Q1.part_1", "client": "AOK Baden-Württemberg",
          "profile": "sgb5", "record_count": 998,
          "body_sha256": hashlib.sha256(b"fixture body").hexdigest(), "key_version": 2,
          "received_us": 1740823200000000, "stored_us": 1740823202000001, "audit_seq": 42,
          "withheld_count": 2}

for v in (1, 2):
    with open("v%d.json" % v, "w", encoding="utf-8") as out:
        out.write(receipt(v, FIELDS) + "\n")
with open("signing.pub", "w", encoding="utf-8") as out:
    out.write(PUB.hex() + "\n")

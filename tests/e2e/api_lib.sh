# Helpers of tests/e2e/test_api.sh, sourced after stack.sh (which provides
# api, check, ok, not_ok, sql_trust, sql_store and the stack variables).

E2E_DIR=${E2E_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
EXPECT="$E2E_DIR/expect_rows.py"

# call WHO METHOD PATH [curl args...]: one request. Prints the HTTP status
# (000 when there was no HTTP answer); the body is in $STACK/resp.body, the
# header block in $STACK/resp.hdr.
call() {
    local who=$1 method=$2 path=$3
    shift 3
    rm -f "$STACK/resp.body" "$STACK/resp.hdr"
    api "$who" -o "$STACK/resp.body" -D "$STACK/resp.hdr" -w '%{http_code}' -X "$method" \
        "$@" "$URL$path" 2>>"$STACK/curl.err"
    [ -f "$STACK/resp.body" ] || : >"$STACK/resp.body"
}

# put WHO ID[?QUERY] FILE [curl args...]: a delivery; prints the status.
put() {
    local who=$1 id=$2 file=$3
    shift 3
    call "$who" PUT "/v1/deliveries/$id" -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$file" "$@"
}

# hdr NAME: the value of response header NAME of the last call (last one
# wins after interim responses), without CR.
hdr() {
    grep -i "^$1:" "$STACK/resp.hdr" 2>/dev/null | tail -1 | cut -d: -f2- | tr -d '\r' |
        sed 's/^ *//'
}

# jget FILE KEY: a top-level member of a JSON document (strings raw, other
# values as JSON); empty when FILE is not a JSON object.
jget() {
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
try:
    d = json.load(open(sys.argv[1], encoding="utf-8"))
    v = d[sys.argv[2]]
    print(v if isinstance(v, str) else json.dumps(v))
except Exception:
    pass
PY
}

# jeq FILE KEY VALUE
jeq() { [ "$(jget "$1" "$2")" = "$3" ]; }

# is_problem GOT_STATUS STATUS CODE: the last answer was STATUS, typed
# application/problem+json, with "code": CODE and "status": STATUS.
is_problem() {
    local got=$1 status=$2 code=$3
    if [ "$got" != "$status" ]; then
        echo "#   status $got, want $status; body: $(head -c 300 "$STACK/resp.body")" >&2
        return 1
    fi
    case "$(hdr Content-Type)" in
    application/problem+json*) ;;
    *)
        echo "#   Content-Type '$(hdr Content-Type)', want application/problem+json" >&2
        return 1
        ;;
    esac
    if ! jeq "$STACK/resp.body" code "$code" || ! jeq "$STACK/resp.body" status "$status"; then
        echo "#   body $(head -c 300 "$STACK/resp.body"), want code $code" >&2
        return 1
    fi
}

# snapshot: everything a refused delivery must leave unchanged: store rows
# (both collections), prepared store transactions, receipts and
# delivery.stored audit events.
snapshot() {
    printf '%s/%s/%s/%s\n' \
        "$(sql_store 'SELECT (SELECT count(*) FROM sgb5.records) + (SELECT count(*) FROM measles.records)')" \
        "$(sql_store 'SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()')" \
        "$(sql_trust 'SELECT count(*) FROM vst.receipts')" \
        "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'delivery.stored'")"
}

# same_snapshot BEFORE: snapshot() still equals BEFORE.
same_snapshot() {
    local now
    now=$(snapshot)
    [ "$now" = "$1" ] || {
        echo "#   rows/prepared/receipts/stored-events: before $1, after $now" >&2
        return 1
    }
}

# refused DESC STATUS CODE WHO METHOD PATH [curl args...]: one request that
# must be refused with STATUS/CODE as problem+json and store nothing.
refused() {
    local desc=$1 status=$2 code=$3
    shift 3
    local before got
    before=$(snapshot)
    got=$(call "$@")
    check "$desc -> $status $code (problem+json)" is_problem "$got" "$status" "$code"
    check "$desc: nothing stored" same_snapshot "$before"
}

max_id() { sql_store "SELECT coalesce(max(id), 0) FROM $1"; }

# sgb5_rows AFTER_ID: the sgb5 rows with id > AFTER_ID as JSON lines, in id
# (= input) order.
sgb5_rows() {
    sql_store "SELECT row_to_json(r) FROM (SELECT delivery_ref, pseudonym, key_version,
        birth_year, sex, insurance_status, postal_prefix, provider_pseudonym, provider_group,
        provider_region, practice_pseudonym, provider_postal_prefix, provider_placeholder,
        practice_placeholder, death_year, service
        FROM sgb5.records WHERE id > $1 ORDER BY id) r"
}

measles_rows() {
    sql_store "SELECT row_to_json(r) FROM (SELECT delivery_ref, pseudonym, key_version,
        birth_year, sex, postal_prefix, report FROM measles.records WHERE id > $1 ORDER BY id) r"
}

# receipt_col CLIENT DELIVERY_ID COLUMN: a column of a stored receipt.
receipt_col() {
    sql_trust "SELECT r.$3 FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
               WHERE c.name = '$1' AND r.delivery_id = '$2'"
}

# py_checks PREFIX COMMAND...: runs an expect_rows.py sub-command and turns
# each "PASS name" / "FAIL name: detail" line into one test result.
py_checks() {
    local prefix=$1 out rc line n=0
    shift
    out=$("$@" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case "$line" in
        "PASS "*) ok "$prefix${line#PASS }"; n=$((n + 1)) ;;
        "FAIL "*) not_ok "$prefix${line#FAIL }"; n=$((n + 1)) ;;
        *) [ -n "$line" ] && echo "# $line" ;;
        esac
    done <<<"$out"
    if [ "$n" -eq 0 ] || { [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; }; then
        not_ok "${prefix}checker ran (exit $rc)"
    fi
}

# absent_words PATTERN_FILE FILE...: as absent, but a line of PATTERN_FILE
# counts only as a whole word (not inside a longer run of letters and
# digits): for short digit strings that occur by chance inside hashes.
absent_words() {
    local pats=$1
    shift
    [ -s "$pats" ] || { echo "#   no patterns in $pats" >&2; return 1; }
    local hits
    hits=$(LC_ALL=C grep -a -o -w -F -f "$pats" "$@" 2>/dev/null | head -5)
    [ -z "$hits" ] || {
        echo "#   found: $(tr '\n' ' ' <<<"$hits")" >&2
        return 1
    }
}

# absent PATTERN_FILE FILE...: no line of PATTERN_FILE occurs (as a fixed
# byte string) in any FILE. Shows the first hits, never the whole list.
absent() {
    local pats=$1
    shift
    [ -s "$pats" ] || { echo "#   no patterns in $pats" >&2; return 1; }
    local hits
    hits=$(LC_ALL=C grep -a -o -F -f "$pats" "$@" 2>/dev/null | head -5)
    [ -z "$hits" ] || {
        echo "#   found: $(tr '\n' ' ' <<<"$hits")" >&2
        return 1
    }
}

# tls_ok PORT [openssl s_client args...]: a full handshake with the insurer
# certificate succeeds. The session summary is in $STACK/tls.out.
tls_ok() {
    local port=$1
    shift
    timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        -CAfile "$STACK/certs/ca.pem" -cert "$STACK/certs/insurer.pem" \
        -key "$STACK/certs/insurer.key" "$@" </dev/null >"$STACK/tls.out" 2>&1 &&
        grep -q '^New, TLSv1' "$STACK/tls.out" && ! grep -q 'Cipher is (NONE)' "$STACK/tls.out"
}

# tls_cipher PORT EXPECTED [args...]: handshake succeeds with that cipher.
tls_cipher() {
    local port=$1 want=$2
    shift 2
    tls_ok "$port" "$@" && grep -q "Cipher is $want\$" "$STACK/tls.out"
}

# audit_events ACTION CLIENT DELIVERY_ID [AND ...]: how many audit rows.
audit_events() {
    sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = '$1' AND client = '$2'
               AND details->>'delivery_id' = '$3' ${4:-}"
}

# old_receipt DIR: a receipt of client insurer ("api-old-v1") as vst-httpd
# stored it before issue 12: a v1 receipt (no withheld count), signed, with
# its delivery.stored event (no withheld_count either). keyd signs no v1
# receipt any more, so a key of this test signs it (its public key in
# DIR/old.pub); the times lie in 2100, far from any date of the input.
old_receipt() {
    local dir=$1 sha seq sig
    sha=$(printf 'an old body\n' | sha256sum | cut -d' ' -f1)
    seq=$(sql_trust "SELECT vst.audit_append('vst-httpd', 'delivery.stored', 'insurer',
        '{\"delivery_id\":\"api-old-v1\",\"profile\":\"sgb5\",\"record_count\":2,
          \"body_sha256\":\"$sha\",\"key_version\":1,
          \"received_at\":\"2100-01-01T00:00:00.000000Z\"}')") || return 1
    # The v1 TBS, built from docs/audit.md (not by vst's own encoder).
    sig=$(python3 - "$sha" "$seq" "$dir/old.pub" <<'PY'
import struct, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
sha, seq, pubfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s8 = lambda s: bytes([len(s)]) + s.encode()
tbs = (b"vst-receipt-v1\0" + s8("api-old-v1") + s8("insurer") + s8("sgb5")
       + struct.pack(">Q", 2) + bytes.fromhex(sha) + struct.pack(">I", 1)
       + struct.pack(">q", 4102444800000000) + struct.pack(">q", 4102444801000000)
       + struct.pack(">Q", seq))
k = Ed25519PrivateKey.generate()
pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
open(pubfile, "w").write(pub.hex() + "\n")
print(k.sign(tbs).hex())
PY
    ) || return 1
    sql_trust "INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile,
                 record_count, body_bytes, body_sha256, key_version, received_at, stored_at,
                 audit_seq, signature, sign_key_id, receipt_version)
               SELECT id, 'api-old-v1', gen_random_uuid(), 'sgb5', 2, 12, '\\x$sha', 1,
                 'epoch'::timestamptz + 4102444800000000 * interval '1 microsecond',
                 'epoch'::timestamptz + 4102444801000000 * interval '1 microsecond',
                 $seq, '\\x$sig', sha256('\\x$(cat "$dir/old.pub")'), 1
                 FROM vst.clients WHERE name = 'insurer'" >/dev/null
}

#!/usr/bin/env bash
# Tests `vst-admin client add|revoke|list` against the trust DB of the
# cluster that tests/run.sh starts: the certificate key fingerprint (checked
# against the openssl CLI), refusals (duplicate name, duplicate key, renewed
# certificate of a registered key, bad IK, expired, not yet valid and CA
# certificates), revocation, the audit events, and that a client row and its
# audit event are written in one transaction (a failing audit append leaves
# no client behind).
#
# Environment: PGHOST, PGPORT, PGUSER (a superuser) and VST_ADMIN (the
# vst-admin binary); VST_TEST_TRUST_DB overrides the database (vst_trust).
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed".
set -uo pipefail

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$1"; }
nok() {
    FAIL=$((FAIL + 1))
    printf 'not ok - %s\n' "$1"
    [ -z "${2:-}" ] || printf '#   %s\n' "${2//$'\n'/$'\n#   '}"
}
finish() {
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    [ "$FAIL" -eq 0 ]
    exit
}
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "expected [$2], got [$3]"; fi; }

if [ -z "${PGHOST:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${PGUSER:-}" ] || [ ! -x "${VST_ADMIN:-}" ]; then
    nok "PGHOST, PGPORT, PGUSER and VST_ADMIN are set (run via tests/run.sh)"
    finish
fi
VST_ADMIN=$(realpath "$VST_ADMIN")
DB=${VST_TEST_TRUST_DB:-vst_trust}
export VST_TRUST_DSN="host=$PGHOST port=$PGPORT user=vst_admin dbname=$DB"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-client.XXXXXX")
LOCKER=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    [ -z "$LOCKER" ] || kill "$LOCKER" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
OUT=$TMP/out
ERR=$TMP/err
TAG=t$$x$RANDOM
IK=260326822        # DESIGN.md §4's example: valid check digit

# sql SQL: one value (or rows) from the trust DB, as the superuser.
sql() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# admin ARGS...: runs vst-admin, stdout to $OUT, stderr to $ERR.
admin() { "$VST_ADMIN" "$@" >"$OUT" 2>"$ERR"; }
# refused DESC PATTERN ARGS...: must exit non-zero with one stderr line matching PATTERN.
refused() {
    local desc=$1 pat=$2
    shift 2
    if admin "$@"; then
        nok "$desc" "exit 0: $(cat "$OUT")"
    elif [ "$(wc -l <"$ERR")" -eq 1 ] && grep -qiE "$pat" "$ERR"; then
        ok "$desc"
    else
        nok "$desc" "$(cat "$ERR")"
    fi
}
fpr_of() { openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }

# --- certificates ------------------------------------------------------------
cd "$TMP" || exit 1
mkcert() { # NAME [openssl req args...]: key NAME.key, CSR NAME.csr
    local n=$1
    shift
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" \
        -out "$n.csr" -subj "/O=Test Insurer/CN=$n" "$@" 2>/dev/null
}
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 30 -subj "/CN=vst test CA" 2>/dev/null &&
        mkcert a && mkcert b && mkcert u && mkcert old && mkcert future &&
        for n in a b u; do
            openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                -out $n.pem 2>/dev/null || exit 1
        done &&
        # a renewed certificate of a's key (new serial, other validity)
        openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 60 \
            -out a-renewed.pem 2>/dev/null &&
        # expired and not yet valid: `openssl ca` takes explicit dates
        mkdir -p cadb && : >cadb/index.txt && echo 1000 >cadb/serial &&
        cat >ca.cnf <<'EOF' &&
[ca]
default_ca = test
[test]
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
        openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in old.csr \
            -out old.pem -startdate 20200101000000Z -enddate 20210101000000Z 2>/dev/null &&
        openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in future.csr \
            -out future.pem -startdate 20990101000000Z -enddate 20991231000000Z 2>/dev/null
} || { nok "test certificates generated with openssl"; finish; }
ok "test certificates generated with openssl"
FA=$(fpr_of a.pem)
FB=$(fpr_of b.pem)

# --- help and configuration --------------------------------------------------
for c in add set revoke list; do
    if admin client $c --help && grep -q "^usage: vst-admin client $c" "$OUT"; then
        ok "client $c --help"
    else
        nok "client $c --help" "$(cat "$OUT" "$ERR")"
    fi
done
if admin --help && grep -q "client add" "$OUT" && grep -q "client set" "$OUT" &&
    grep -q "client revoke" "$OUT"; then
    ok "vst-admin --help lists the client commands"
else
    nok "vst-admin --help lists the client commands"
fi
VST_TRUST_DSN='' refused "no trust DSN: refused with one line" "trust-dsn|VST_TRUST_DSN" \
    client list
refused "client add without --cert refused" "required" client add --name "x-$TAG" --ik $IK

# --- add ---------------------------------------------------------------------
NA=alpha-$TAG
if admin client add --name "$NA" --ik $IK --cert a.pem; then
    ok "client add succeeds"
else
    nok "client add succeeds" "$(cat "$ERR")"
fi
expect_eq "client add prints the fingerprint of the DER SubjectPublicKeyInfo" "$FA" \
    "$(sed -n 's/^fingerprint: //p' "$OUT")"
expect_eq "row stored: IK, fingerprint, active, not revoked" "$IK|$FA|active|t" \
    "$(sql "SELECT ik, encode(cert_fingerprint,'hex'), state, revoked_at IS NULL FROM vst.clients WHERE name = '$NA'")"
expect_eq "client.added audit event: actor, DB user and fingerprint in details, no IK (DESIGN §8)" \
    "1|t|vst_admin||$FA" \
    "$(sql "SELECT count(*) OVER (), actor LIKE 'vst-admin:%', db_user, details->>'ik', details->>'cert_fingerprint' FROM vst.audit_log WHERE action = 'client.added' AND client = '$NA'")"

# --- refusals ----------------------------------------------------------------
refused "duplicate name refused" "already exists" client add --name "$NA" --ik $IK --cert b.pem
refused "same certificate under another name refused" "already registered as \"$NA\"" \
    client add --name "other-$TAG" --ik $IK --cert a.pem
refused "renewed certificate of a registered key refused" "already registered" \
    client add --name "renewed-$TAG" --ik $IK --cert a-renewed.pem
refused "IK with a wrong check digit refused" "not a valid IK.*check digit" \
    client add --name "badik-$TAG" --ik 260326823 --cert b.pem
refused "IK with a letter refused" "not a valid IK" \
    client add --name "badik-$TAG" --ik 26032682A --cert b.pem
refused "IK of 8 digits refused" "not a valid IK" \
    client add --name "badik-$TAG" --ik 26032682 --cert b.pem
refused "expired certificate refused" "expired" \
    client add --name "old-$TAG" --ik $IK --cert old.pem
refused "certificate not valid yet refused" "not valid yet" \
    client add --name "future-$TAG" --ik $IK --cert future.pem
refused "CA certificate refused" "CA certificate" \
    client add --name "ca-$TAG" --ik $IK --cert ca.pem
echo "not a certificate" >junk.pem
refused "a file without a certificate refused" "no X.509 certificate" \
    client add --name "junk-$TAG" --ik $IK --cert junk.pem
refused "a missing file refused" "cannot read" \
    client add --name "junk-$TAG" --ik $IK --cert nonexistent.pem
refused "a name with a control character refused" "control" \
    client add --name $'bad\tname' --ik $IK --cert b.pem
# One name grammar (issue 8, finding 7): UTF-8 names of German insurers
# are normal; controls, invisible formatting and blanks at the ends are not.
for bad in $'AOK\xc2\x85' $'AOK\xe2\x80\xae''nreyaB' $'AOK\xe2\x80\x8b''Bayern' 'AOK ' ' AOK' \
    $'AOK W\xfcrttemberg' "$(printf 'x%.0s' $(seq 129))"; do
    refused "a name outside the grammar refused ($(printf %q "$bad" | cut -c1-40))" \
        "the name must be" client add --name "$bad" --ik $IK --cert u.pem
done
NU="AOK Baden-Württemberg $TAG"
if admin client add --name "$NU" --ik $IK --cert u.pem; then
    ok "a UTF-8 name is accepted (AOK Baden-Württemberg)"
else
    nok "a UTF-8 name is accepted (AOK Baden-Württemberg)" "$(cat "$ERR")"
fi
expect_eq "the UTF-8 name is stored byte for byte" "1" \
    "$(sql "SELECT count(*) FROM vst.clients WHERE name = '$NU'")"
if admin client list --json && python3 -c 'import json,sys; n=sys.argv[1]; sys.exit(0 if any(c["name"] == n for c in json.load(open(sys.argv[2], encoding="utf-8"))) else 1)' "$NU" "$OUT"; then
    ok "client list --json shows the UTF-8 name"
else
    nok "client list --json shows the UTF-8 name" "$(head -c 300 "$OUT")"
fi
expect_eq "no refused attempt left a row" "0" \
    "$(sql "SELECT count(*) FROM vst.clients WHERE name IN ('other-$TAG','renewed-$TAG','badik-$TAG','old-$TAG','future-$TAG','ca-$TAG','junk-$TAG')")"

# --- one transaction: a failing audit append leaves no client -----------------
# Hold the audit appenders' advisory lock so that vst.audit_append times out
# after the client row was inserted.
NB=beta-$TAG
psql -X -qAt -d "$DB" -c "SELECT pg_advisory_lock(1987277824, 2)" -c "SELECT pg_sleep(20)" \
    >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2 AND granted")" = 1 ] && break
    sleep 0.1
done
if PGOPTIONS='-c lock_timeout=300' admin client add --name "$NB" --ik $IK --cert b.pem; then
    nok "client add fails when the audit append fails" "exit 0"
elif grep -q "audit log: .*lock timeout" "$ERR"; then
    ok "client add fails when the audit append fails"
else
    nok "client add fails when the audit append fails" "$(cat "$ERR")"
fi
expect_eq "... and leaves no client row behind" "0" \
    "$(sql "SELECT count(*) FROM vst.clients WHERE name = '$NB'")"
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
# The backend may outlive the killed psql for a moment.
sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2" >/dev/null
for _ in $(seq 50); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2")" = 0 ] && break
    sleep 0.1
done
if admin client add --name "$NB" --ik " $IK " --cert b.pem && grep -q "^fingerprint: $FB$" "$OUT"; then
    ok "second client added afterwards (IK with blanks trimmed)"
else
    nok "second client added afterwards (IK with blanks trimmed)" "$(cat "$ERR")"
fi

# --- list ----------------------------------------------------------------------
if admin client list && grep -qE "^$NA +$IK +$FA +active " "$OUT" && grep -qE "^$NB +$IK +$FB +active " "$OUT"; then
    ok "client list shows name, IK, fingerprint, state"
else
    nok "client list shows name, IK, fingerprint, state" "$(cat "$OUT" "$ERR")"
fi
if admin client list --json; then
    got=$(sql "SELECT e->>'ik' || '|' || (e->>'fingerprint') || '|' || (e->>'state') || '|' || (e->'revoked' = 'null'::jsonb) FROM jsonb_array_elements('$(sed "s/'/''/g" "$OUT")'::jsonb) e WHERE e->>'name' = '$NA'")
    expect_eq "client list --json is a JSON array with the client" "$IK|$FA|active|true" "$got"
else
    nok "client list --json" "$(cat "$ERR")"
fi
if admin --json client list && [ "$(head -c1 "$OUT")" = "[" ]; then
    ok "global --json applies to client list"
else
    nok "global --json applies to client list"
fi

# --- the rate limit of the registration (issue 14) ----------------------------
expect_eq "a client added without --rate-limit has none (vst-httpd's default)" "t" \
    "$(sql "SELECT rate_limit IS NULL FROM vst.clients WHERE name = '$NA'")"
for bad in -1 1000001 abc 1.5 '' 5x 99999999; do
    refused "client set --rate-limit '$bad' refused" "whole number 0\.\.1000000" \
        client set "$NA" --rate-limit "$bad"
done
refused "client add --rate-limit -5 refused before anything is written" "whole number 0\.\.1000000" \
    client add --name "rate-$TAG" --ik $IK --cert u.pem --rate-limit -5
refused "client set of an unknown client refused" "no client named \"nobody-$TAG\"" \
    client set "nobody-$TAG" --rate-limit 5
refused "client set without a change refused" "nothing to change" client set "$NA"
refused "client set without a name refused" "which client" client set --rate-limit 5
if admin client set "$NA" --rate-limit 5 && grep -q "default.*-> 5/min" "$OUT"; then
    ok "client set --rate-limit 5 (from the default)"
else
    nok "client set --rate-limit 5 (from the default)" "$(cat "$OUT" "$ERR")"
fi
admin client set "$NA" --rate-limit 0 && admin client set "$NA" --rate-limit 0
expect_eq "set to 0 (unlimited), then again: stored 0, the second a no-op" "0" \
    "$(sql "SELECT rate_limit FROM vst.clients WHERE name = '$NA'")"
if grep -q "nothing changed" "$OUT"; then
    ok "setting the same value says nothing changed"
else
    nok "setting the same value says nothing changed" "$(cat "$OUT")"
fi
expect_eq "client.updated events: DB user, fingerprint, old -> new (null = default), no event for the no-op" \
    "vst_admin|$FA|null>5,vst_admin|$FA|5>0" \
    "$(sql "SELECT string_agg(db_user || '|' || (details->>'cert_fingerprint') || '|' ||
                   (details->'rate_limit'->'old')::text || '>' || (details->'rate_limit'->'new')::text,
                   ',' ORDER BY seq)
            FROM vst.audit_log WHERE action = 'client.updated' AND client = '$NA'")"
if admin client list && grep -qE "^$NA +$IK +$FA +active +unlimited " "$OUT" &&
    grep -qE "^$NB +$IK +$FB +active +default " "$OUT"; then
    ok "client list shows the rate limit (unlimited, default)"
else
    nok "client list shows the rate limit (unlimited, default)" "$(cat "$OUT")"
fi
if admin client list --json && python3 -c 'import json,sys; c={x["name"]: x for x in json.load(open(sys.argv[1], encoding="utf-8"))}; sys.exit(0 if c[sys.argv[2]]["rate_limit"] == 0 and "rate_limit" in c[sys.argv[3]] and c[sys.argv[3]]["rate_limit"] is None else 1)' "$OUT" "$NA" "$NB"; then
    ok "client list --json: rate_limit 0, and null for the default"
else
    nok "client list --json: rate_limit 0, and null for the default" "$(head -c 400 "$OUT")"
fi
if admin client set "$NA" --rate-limit default && grep -q "unlimited -> default" "$OUT"; then
    ok "client set --rate-limit default goes back to vst-httpd's default"
else
    nok "client set --rate-limit default goes back to vst-httpd's default" "$(cat "$OUT" "$ERR")"
fi
expect_eq "... stored as NULL" "t" "$(sql "SELECT rate_limit IS NULL FROM vst.clients WHERE name = '$NA'")"
# One transaction: a failing audit append leaves the rate unchanged.
psql -X -qAt -d "$DB" -c "SELECT pg_advisory_lock(1987277824, 2)" -c "SELECT pg_sleep(20)" \
    >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2 AND granted")" = 1 ] && break
    sleep 0.1
done
if PGOPTIONS='-c lock_timeout=300' admin client set "$NA" --rate-limit 7; then
    nok "client set fails when the audit append fails" "exit 0"
elif grep -q "audit log: .*lock timeout" "$ERR"; then
    ok "client set fails when the audit append fails"
else
    nok "client set fails when the audit append fails" "$(cat "$ERR")"
fi
expect_eq "... and leaves the rate unchanged" "t" \
    "$(sql "SELECT rate_limit IS NULL FROM vst.clients WHERE name = '$NA'")"
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2" >/dev/null
for _ in $(seq 50); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277824 AND objid = 2")" = 0 ] && break
    sleep 0.1
done

# --- revoke ------------------------------------------------------------------
if admin client revoke "$NA" --reason "test: key compromised"; then
    ok "client revoke succeeds"
else
    nok "client revoke succeeds" "$(cat "$ERR")"
fi
expect_eq "revoke sets state and revoked_at" "revoked|t" \
    "$(sql "SELECT state, revoked_at IS NOT NULL AND revoked_at >= created_at FROM vst.clients WHERE name = '$NA'")"
expect_eq "client.revoked audit event with fingerprint and reason, no IK" \
    "1|vst_admin||$FA|test: key compromised" \
    "$(sql "SELECT count(*) OVER (), db_user, details->>'ik', details->>'cert_fingerprint', details->>'reason' FROM vst.audit_log WHERE action = 'client.revoked' AND client = '$NA'")"
expect_eq "the other client stays active" "active" \
    "$(sql "SELECT state FROM vst.clients WHERE name = '$NB'")"
refused "revoking twice refused" "already revoked" client revoke "$NA"
refused "revoking an unknown client refused" "no client named" client revoke "nobody-$TAG"
refused "a revoked client's rate is not changed" "is revoked" client set "$NA" --rate-limit 5
refused "a revoked key cannot be registered again" "revoked" \
    client add --name "again-$TAG" --ik $IK --cert a.pem
if admin client list && grep -qE "^$NA +$IK +$FA +revoked +[a-z0-9]+ +[0-9T:Z-]+ +[0-9T:Z-]+Z$" "$OUT"; then
    ok "client list shows the revocation time"
else
    nok "client list shows the revocation time" "$(cat "$OUT")"
fi
expect_eq "one audit event per change, none for refusals" "2|1" \
    "$(sql "SELECT count(*) FILTER (WHERE action = 'client.added'), count(*) FILTER (WHERE action = 'client.revoked') FROM vst.audit_log WHERE client LIKE '%-$TAG'")"
if sql "SELECT details::text FROM vst.audit_log WHERE client LIKE '%-$TAG'" | grep -qiE 'BEGIN|Test Insurer'; then
    nok "audit details hold no certificate contents"
else
    ok "audit details hold no certificate contents"
fi

finish

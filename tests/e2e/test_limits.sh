#!/usr/bin/env bash
# vst-httpd's connection limits and process hardening (issue 5):
# the connection timeout, the per-IP connection limit, and, when started as
# root, the drop to the vst-data user that cannot read the keystore.
set -uo pipefail
. "$(dirname "$0")/stack.sh"
trap stack_down EXIT

HTTPD_OPTS=(--connection-timeout 2 --per-ip-connections 3)
stack_up || { echo "stack_up failed"; exit 1; }
"$VST_GEN" --records 5 --seed 4242 -o "$STACK/five.ndjson"

# An idle TLS connection is closed by the server after --connection-timeout.
idle_closed() {
    local start end
    start=$(date +%s)
    # s_client exits when the server closes; its stdin stays open meanwhile.
    timeout 15 openssl s_client -quiet -connect "127.0.0.1:$PORT" \
        -CAfile "$STACK/certs/ca.pem" -cert "$STACK/certs/insurer.pem" \
        -key "$STACK/certs/insurer.key" < <(sleep 20) >/dev/null 2>&1
    end=$(date +%s)
    [ $((end - start)) -lt 12 ]
}
check "an idle connection is closed after --connection-timeout (2 s)" idle_closed

# With 3 connections held open from 127.0.0.1, a fourth is refused.
HOLDERS=()
hold() {
    timeout 8 openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$STACK/certs/ca.pem" \
        -cert "$STACK/certs/insurer.pem" -key "$STACK/certs/insurer.key" < <(sleep 8) \
        >/dev/null 2>&1 &
    HOLDERS+=($!)
}
httpd_stop
HTTPD_OPTS=(--connection-timeout 30 --per-ip-connections 3)
httpd_start "${HTTPD_OPTS[@]}" || not_ok "httpd restart"
hold
hold
hold
sleep 1.5
st=$(api insurer -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz" 2>/dev/null)
check "a fourth connection from the same IP is refused (--per-ip-connections 3; got ${st:-none})" \
    [ "${st:-000}" = 000 ]
wait "${HOLDERS[@]}" # only these: the stack's daemons are children too
st=$(api insurer -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")
check "once they are closed, the next connection is served (got $st)" [ "$st" = 200 ]

# Started as root with --user vst-data: drops privileges and still delivers.
if [ "$(id -u)" -eq 0 ] && id vst-data >/dev/null 2>&1; then
    httpd_stop
    keyd_stop
    keyd_start --data-uids "0,vst-data" --socket-mode 0666 || not_ok "keyd restart"
    # The test cluster's socket directory is private to root and postgres;
    # as vst-data, reach PostgreSQL over TCP on loopback (trust auth).
    httpd_start --user vst-data \
        --trust-dsn "host=127.0.0.1 port=$PGPORT user=vst_httpd dbname=$TRUST_DB" \
        --store-dsn "host=127.0.0.1 port=$PGPORT user=vst_httpd dbname=$STORE_DB" ||
        not_ok "httpd as root with --user vst-data"
    status() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$HTTPD_PID/status"; }
    check "vst-httpd runs as vst-data" [ "$(status Uid | awk '{print $1 $2 $3 $4}')" = \
        "$(id -u vst-data)$(id -u vst-data)$(id -u vst-data)$(id -u vst-data)" ]
    check "vst-httpd has no capabilities left" [ "$(status CapEff)" = 0000000000000000 ]
    check "vst-httpd set NO_NEW_PRIVS" [ "$(status NoNewPrivs)" = 1 ]
    check "vst-httpd is not dumpable (no core, no ptrace by its user)" \
        [ "$(stat -c %U "/proc/$HTTPD_PID/mem")" = root ]
    st=$(deliver insurer limits-priv "$STACK/five.ndjson")
    check "as vst-data it delivers (got $st)" [ "$st" = 201 ]
    check "the vst-data user cannot read the keystore" \
        eval '! runuser -u vst-data -- cat "$STACK/keystore/keystore.sealed" >/dev/null 2>&1'
    check "nor list the keystore directory" \
        eval '! runuser -u vst-data -- ls "$STACK/keystore" >/dev/null 2>&1'
else
    echo "# not root or no vst-data user: privilege checks skipped"
fi
e2e_summary

#!/usr/bin/env bash
# vst-httpd's TLS policy, measured from outside (issue 8, finding 6; DESIGN.md
# §6; BSI TR-02102-2 — docs/operations.md, "TLS policy", names the tables).
#
# Every candidate that OpenSSL's client knows is tried one at a time against
# the real vst-httpd, and the set it accepts must equal the policy, exactly:
# protocol versions (SSLv2 and SSLv3 by hand-made ClientHellos, TLS 1.0 to
# 1.3 by s_client), every TLS 1.2 cipher suite, every TLS 1.3 suite, every
# group, every handshake signature scheme, and the schemes the server asks
# of clients. Which signature schemes can be negotiated depends on the
# server's key, so vst-httpd is restarted with ECDSA P-256 (the stack's),
# ECDSA P-384, RSA and RSA-PSS keys. A permissive openssl s_server with the
# same key is the control: a candidate that vst-httpd refuses counts only if
# the control accepts it, so each refusal is vst-httpd's doing and not the
# client's; candidates this OpenSSL cannot negotiate at all are listed.
#
# Then: without a client certificate the handshake completes (libmicrohttpd
# only requests one) and the API answers 401; an RSA client key
# authenticates with RSA-PSS only; a client CA that signs certificates with
# RSA PKCS#1 v1.5 still works (certificate signatures are not handshake
# signatures); vst-send delivers to an RSA-keyed vst-httpd. Last, testssl.sh
# (Debian's) scans the stack — protocols, ciphers per protocol, forward
# secrecy and groups, server defaults — and its JSON report must show the
# same sets and no finding of severity HIGH or CRITICAL.
#
# Run by CTest (e2e_tls); by hand like tests/e2e/test_api.sh.
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"

CTRL_PID=
ctrl_stop() {
    [ -z "$CTRL_PID" ] || { kill "$CTRL_PID" 2>/dev/null; wait "$CTRL_PID" 2>/dev/null; }
    CTRL_PID=
}
cleanup() {
    ctrl_stop
    stack_down
}
trap cleanup EXIT

T0=$SECONDS
if ! stack_up; then
    not_ok "the stack comes up"
    e2e_summary
    exit 1
fi
C=$STACK/certs
T=$STACK/tls
mkdir -p "$T"
CTRL_PORT=$(stack_free_port $((PORT + 1000)))
LOW='DEFAULT:@SECLEVEL=0' # lets the client offer what it would not by default

# ---------------------------------------------------------------------------
# What the policy allows (server/httpd/tls_policy.h), in OpenSSL's names.
# ---------------------------------------------------------------------------
WANT_PROTOCOLS="TLSv1.2 TLSv1.3"
WANT_TLS12_ECDSA="ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384
    ECDHE-ECDSA-AES128-CCM ECDHE-ECDSA-AES256-CCM"
WANT_TLS12_RSA="ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384"
WANT_TLS13="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_AES_128_CCM_SHA256"
WANT_GROUPS="P-256 P-384"
# The schemes the server asks of clients (CertificateRequest), as s_client
# prints them; GnuTLS lists the ECDSA code points twice (once as TLS 1.3's
# curve-bound scheme, once as TLS 1.2's hash/signature pair).
WANT_CLIENT_SIGS="ECDSA+SHA256 ECDSA+SHA384 RSA-PSS+SHA256 RSA-PSS+SHA384
    rsa_pss_pss_sha256 rsa_pss_pss_sha384"

# ---------------------------------------------------------------------------
# The candidates: all that OpenSSL 3's client knows.
# ---------------------------------------------------------------------------
ALL_TLS12=$(openssl ciphers -s -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' '\n' |
    grep -v '^TLS_' | tr '\n' ' ')
ALL_TLS13="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256
    TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256"
ALL_GROUPS="P-256 P-384 P-521 X25519 X448 ffdhe2048 ffdhe3072 ffdhe4096 ffdhe6144 ffdhe8192
    brainpoolP256r1 brainpoolP384r1 brainpoolP512r1 secp256k1 secp224r1 secp224k1 secp192r1
    secp192k1 secp160r1 secp160r2 secp160k1 sect163k1 sect163r1 sect163r2 sect193r1 sect193r2
    sect233k1 sect233r1 sect239k1 sect283k1 sect283r1 sect409k1 sect409r1 sect571k1 sect571r1"
# (OpenSSL knows ECDSA with SHA-224 and SHA-1 only by their TLS 1.2 names.)
SIGS_EC="ecdsa_secp256r1_sha256 ecdsa_secp384r1_sha384 ecdsa_secp521r1_sha512 ECDSA+SHA224
    ECDSA+SHA1"
SIGS_RSA="rsa_pss_rsae_sha256 rsa_pss_rsae_sha384 rsa_pss_rsae_sha512 rsa_pkcs1_sha256
    rsa_pkcs1_sha384 rsa_pkcs1_sha512 rsa_pkcs1_sha224 rsa_pkcs1_sha1"
SIGS_PSS="rsa_pss_pss_sha256 rsa_pss_pss_sha384 rsa_pss_pss_sha512"

# ---------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------
# probe PORT [s_client args...]: a full handshake completes (no client
# certificate: the server only requests one). Output in $T/probe.out.
probe() {
    local port=$1
    shift
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" \
        </dev/null >"$T/probe.out" 2>&1 &&
        grep -q '^New, TLSv1' "$T/probe.out" && ! grep -q 'Cipher is (NONE)' "$T/probe.out"
}
p_proto() {
    case $2 in
    TLSv1) probe "$1" -tls1 -cipher "$LOW" ;;
    TLSv1.1) probe "$1" -tls1_1 -cipher "$LOW" ;;
    TLSv1.2) probe "$1" -tls1_2 -cipher "$LOW" ;;
    TLSv1.3) probe "$1" -tls1_3 ;;
    esac
}
p_tls12() { probe "$1" -tls1_2 -cipher "$2:@SECLEVEL=0"; }
p_tls13() { probe "$1" -tls1_3 -ciphersuites "$2"; }
p_group13() { probe "$1" -tls1_3 -groups "$2" -cipher "$LOW"; }
p_group12() { probe "$1" -tls1_2 -groups "$2" -cipher "$LOW"; }
p_sig12() { probe "$1" -tls1_2 -sigalgs "$2" -cipher "$LOW"; }
p_sig13() { probe "$1" -tls1_3 -sigalgs "$2" -cipher "$LOW"; }

# sorted_set WORDS...: one line, sorted, unique.
sorted_set() { printf '%s\n' $@ | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
same_set() { # DESC GOT WANT
    local got want
    got=$(sorted_set $2)
    want=$(sorted_set $3)
    check "$1: {$got}" [ "$got" = "$want" ]
    [ "$got" = "$want" ] || echo "#   policy: {$want}"
}

ctrl_accepts() { # PROBE CANDIDATE [CONTROL-SET]
    if [ -n "${3:-}" ]; then [[ " $3 " == *" $2 "* ]]; else $1 "$CTRL_PORT" "$2"; fi
}
# survey DESC WANT CANDIDATES PROBE [CONTROL-SET]: tries every candidate
# against vst-httpd; one it refuses counts only if the control accepts it
# (by a probe of its own, or, given CONTROL-SET, by membership). The
# accepted set must equal WANT.
survey() {
    local desc=$1 want=$2 cands=$3 fn=$4 ctrl=${5:-} c got=() skipped=() n=0 t=$SECONDS
    # Without the control a refusal would prove nothing.
    [ -n "$CTRL_PID" ] && kill -0 "$CTRL_PID" 2>/dev/null || {
        not_ok "$desc: the control server is not running"
        return 1
    }
    for c in $cands; do
        if $fn "$PORT" "$c"; then
            got+=("$c")
            n=$((n + 1))
        elif ctrl_accepts "$fn" "$c" "$ctrl"; then
            n=$((n + 1))
        else
            skipped+=("$c")
        fi
    done
    [ ${#skipped[@]} -eq 0 ] ||
        echo "#   $desc — not negotiable by this OpenSSL even with the control: ${skipped[*]}"
    same_set "$desc ($n probed, $((SECONDS - t)) s) accepted" "${got[*]}" "$want"
}

# ctrl_tls12_set CANDIDATES: the TLS 1.2 suites the control negotiates,
# found quickly: offer them all, take out the one it chose, repeat until it
# refuses.
ctrl_tls12_set() {
    local left=" $(echo $1) " got=() c
    while probe "$CTRL_PORT" -tls1_2 -cipher "$(echo $left | tr ' ' ':'):@SECLEVEL=0"; do
        c=$(sed -n 's/^New, TLSv1\.2, Cipher is //p' "$T/probe.out")
        [[ -n "$c" && "$left" == *" $c "* ]] || break
        got+=("$c")
        left=${left/ $c / }
    done
    echo "${got[*]}"
}

# The control: openssl s_server with vst-httpd's key, accepting anything.
ctrl_start() { # CERT KEY
    ctrl_stop
    openssl s_server -accept "127.0.0.1:$CTRL_PORT" -cert "$1" -key "$2" -www -quiet \
        -min_protocol TLSv1 -client_renegotiation -cipher 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' \
        -ciphersuites "$(echo $ALL_TLS13 | tr ' ' ':')" \
        -groups "$(echo $ALL_GROUPS | tr ' ' ':')" \
        -sigalgs "$(echo $SIGS_EC $SIGS_RSA $SIGS_PSS | tr ' ' ':')" >"$T/ctrl.log" 2>&1 &
    CTRL_PID=$!
    local i
    for i in $(seq 50); do
        (echo >"/dev/tcp/127.0.0.1/$CTRL_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "# the control server did not start:" >&2
    cat "$T/ctrl.log" >&2
    return 1
}

# server_key NAME [httpd options...]: restart vst-httpd (and the control)
# with the server key NAME (p256 = the stack's).
server_key() {
    local name=$1 cert key
    shift
    if [ "$name" = p256 ]; then
        cert=$C/server.pem key=$C/server.key
    else
        cert=$T/$name.pem key=$T/$name.key
    fi
    httpd_stop
    httpd_start --tls-cert "$cert" --tls-key "$key" "$@" || return 1
    ctrl_start "$cert" "$key"
}

# gen NAME ALGO-OPTIONS...: a key pair $T/NAME.key.
gen() {
    local n=$1
    shift
    openssl genpkey "$@" -out "$T/$n.key" 2>/dev/null
}
# server_cert NAME [DAYS [EXTRA-EXTENSION]]: a server certificate for
# $T/NAME.key from the stack's CA (so stack.sh's readiness check trusts it).
server_cert() {
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n%s\n' "${3:-}" >"$T/$1.ext"
    openssl req -new -key "$T/$1.key" -subj "/CN=localhost" -out "$T/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$T/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
            -days "${2:-30}" -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}

# Hand-made ClientHellos for what OpenSSL 3 cannot send any more: SSLv2
# (the SSLv2 record format) and SSLv3 — and, as the control of this prober
# itself, TLS 1.2. Exit 0 if the server answers with a ServerHello.
cat >"$T/hello.py" <<'PY'
import os, socket, struct, sys

port, ver = int(sys.argv[1]), sys.argv[2]
if ver == "SSLv2":
    # CLIENT-HELLO, version 0x0002, the seven SSLv2 cipher kinds.
    specs = bytes.fromhex("0700c0" "050080" "030080" "010080" "060040" "040080" "020080")
    challenge = os.urandom(16)
    body = b"\x01\x00\x02" + struct.pack(">HHH", len(specs), 0, len(challenge)) + specs + challenge
    msg = struct.pack(">H", 0x8000 | len(body)) + body
else:
    v = {"SSLv3": 0x0300, "TLSv1.2": 0x0303}[ver]
    suites = [0xC02B, 0xC02C, 0xC02F, 0xC030, 0xC009, 0xC013, 0x002F, 0x0035, 0x000A, 0x00FF]
    cs = b"".join(struct.pack(">H", c) for c in suites)

    def ext(t, d):
        return struct.pack(">HH", t, len(d)) + d

    exts = (ext(10, bytes.fromhex("000400170018")) + ext(11, b"\x01\x00")
            + ext(13, bytes.fromhex("000a04030503080408050401")))
    hello = (struct.pack(">H", v) + os.urandom(32) + b"\x00" + struct.pack(">H", len(cs)) + cs
             + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + struct.pack(">I", len(hello))[1:] + hello
    msg = b"\x16" + struct.pack(">HH", v, len(hs)) + hs
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(msg)
r = b""
try:
    while len(r) < 11:
        d = s.recv(64)
        if not d:
            break
        r += d
except OSError:
    pass
if ver == "SSLv2":
    ok = len(r) >= 3 and r[0] & 0x80 and r[2] == 4  # SERVER-HELLO
else:  # a handshake record whose first message is a ServerHello of that version
    ok = len(r) >= 11 and r[0] == 0x16 and r[5] == 2 and r[9:11] == struct.pack(">H", v)
print("ServerHello" if ok else "no ServerHello: " + (r[:16].hex() or "closed"))
sys.exit(0 if ok else 1)
PY
raw_hello() { python3 "$T/hello.py" "$PORT" "$1" >"$T/raw.out" 2>&1; }

# http_status [s_client args...]: the status of GET /v1/deliveries/tls-none
# sent over such a handshake (404 = authenticated, 401 = not).
http_status() {
    printf 'GET /v1/deliveries/tls-none HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -servername localhost \
            -CAfile "$C/ca.pem" "$@" 2>/dev/null | sed -n '1s/^HTTP\/1\.1 \([0-9]*\).*/\1/p'
}

echo "# keys and certificates"
gen p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384 && server_cert p384 &&
    gen rsa -algorithm RSA -pkeyopt rsa_keygen_bits:3072 && server_cert rsa &&
    gen pss -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:3072 && server_cert pss &&
    # A CA of the old school: RSA, signing with PKCS#1 v1.5 (sha256WithRSAEncryption).
    gen rsaca -algorithm RSA -pkeyopt rsa_keygen_bits:3072 &&
    openssl req -x509 -new -key "$T/rsaca.key" -subj "/CN=RSA test CA" -days 30 \
        -out "$T/rsaca.pem" 2>/dev/null &&
    gen rsaclient -algorithm RSA -pkeyopt rsa_keygen_bits:3072 &&
    openssl req -new -key "$T/rsaclient.key" -subj "/CN=rsa-insurer" -out "$T/rsaclient.csr" \
        2>/dev/null &&
    openssl x509 -req -in "$T/rsaclient.csr" -CA "$T/rsaca.pem" -CAkey "$T/rsaca.key" \
        -CAcreateserial -days 30 -out "$T/rsaclient.pem" 2>/dev/null
check "test keys and certificates made" [ -s "$T/rsaclient.pem" ]
cat "$C/ca.pem" "$T/rsaca.pem" >"$T/client-ca.pem"
"$VST_ADMIN" client add --name rsa-insurer --ik 260326822 --cert "$T/rsaclient.pem" \
    >>"$STACK/admin.log" || not_ok "register the RSA client certificate"

# ---------------------------------------------------------------------------
echo "# ECDSA P-256 server key (the stack's)"
ctrl_start "$C/server.pem" "$C/server.key" || not_ok "control server"
survey "protocol versions" "$WANT_PROTOCOLS" "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" p_proto
raw_hello TLSv1.2
rc=$?
check "the hand-made ClientHello works: TLS 1.2 gets a $(cat "$T/raw.out")" [ $rc = 0 ]
for v in SSLv3 SSLv2; do
    raw_hello $v
    rc=$?
    check "an $v ClientHello is refused: $(cat "$T/raw.out")" [ $rc != 0 ]
done
survey "TLS 1.2 suites, ECDSA key" "$WANT_TLS12_ECDSA" "$ALL_TLS12" p_tls12 \
    "$(ctrl_tls12_set "$ALL_TLS12")"
survey "TLS 1.3 suites" "$WANT_TLS13" "$ALL_TLS13" p_tls13
survey "TLS 1.3 groups" "$WANT_GROUPS" "$ALL_GROUPS" p_group13
# (The TLS 1.2 groups are surveyed with the RSA key below: with an ECDSA
# key the client must also offer the certificate's curve, RFC 8422 §5.1.)
check "TLS 1.2, ECDSA P-256 key: ECDHE on P-384 when the client prefers it" \
    eval 'probe "$PORT" -tls1_2 -groups P-384:P-256 &&
        grep -q "^Server Temp Key: ECDH, secp384r1" "$T/probe.out"'
survey "TLS 1.2 signatures, ECDSA P-256 key" "ecdsa_secp256r1_sha256 ecdsa_secp384r1_sha384" \
    "$SIGS_EC" p_sig12
survey "TLS 1.3 signatures, ECDSA P-256 key" "ecdsa_secp256r1_sha256" "$SIGS_EC" p_sig13
for v in 1_2 1_3; do
    probe "$PORT" "-tls$v"
    same_set "TLS ${v/_/.}: the CertificateRequest asks clients for" \
        "$(sed -n 's/^Requested Signature Algorithms: //p' "$T/probe.out" | tr ':' ' ')" \
        "$WANT_CLIENT_SIGS"
done

# Renegotiation: only the secure kind (RFC 5746) is announced, and a
# client cannot start one (a renegotiation DoS); the control lets it.
renegotiate() { # PORT: 0 renegotiated, 1 refused, 2 no first handshake
    (
        sleep 1
        echo R
        sleep 2
    ) | timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$1" -servername localhost \
        >"$T/reneg.out" 2>&1
    grep -q '^Secure Renegotiation IS supported' "$T/reneg.out" &&
        grep -q '^RENEGOTIATING' "$T/reneg.out" || return 2
    # A new handshake shows the server's certificate again.
    sed -n '/^RENEGOTIATING/,$p' "$T/reneg.out" | grep -q '^depth=0' || return 1
}
check "TLS 1.2: secure renegotiation (RFC 5746) is announced" \
    eval 'probe "$PORT" -tls1_2 && grep -q "^Secure Renegotiation IS supported" "$T/probe.out"'
renegotiate "$PORT"
rc=$?
check "a client-initiated renegotiation is refused (got $rc: 0 renegotiated, 1 refused)" [ $rc = 1 ]
check "... which the control server allows" renegotiate "$CTRL_PORT"

echo "# no client certificate"
for v in 1_2 1_3; do
    check "TLS ${v/_/.} without a client certificate: the handshake completes, one was requested" \
        eval 'probe "$PORT" -tls$v && grep -q "^Acceptable client certificate CA names" "$T/probe.out"'
done
st=$(api none -o "$T/body.json" -w '%{http_code}' "$URL/v1/deliveries/tls-none")
check "... but the API answers 401 client_certificate_required (got $st)" \
    eval '[ "$st" = 401 ] && grep -q "\"client_certificate_required\"" "$T/body.json"'
INS=(-cert "$C/insurer.pem" -key "$C/insurer.key")
check "the ECDSA insurer authenticates over TLS 1.2 (404 for an unknown id)" \
    eval '[ "$(http_status -tls1_2 "${INS[@]}")" = 404 ]'
check "the ECDSA insurer authenticates over TLS 1.3" \
    eval '[ "$(http_status -tls1_3 "${INS[@]}")" = 404 ]'

# ---------------------------------------------------------------------------
echo "# ECDSA P-384 server key"
server_key p384 || not_ok "vst-httpd with a P-384 key"
survey "TLS 1.2 signatures, ECDSA P-384 key" "ecdsa_secp256r1_sha256 ecdsa_secp384r1_sha384" \
    "$SIGS_EC" p_sig12
survey "TLS 1.3 signatures, ECDSA P-384 key" "ecdsa_secp384r1_sha384" "$SIGS_EC" p_sig13

# ---------------------------------------------------------------------------
echo "# RSA server key; insurer CAs may be RSA CAs signing with PKCS#1 v1.5"
server_key rsa --client-ca "$T/client-ca.pem" || not_ok "vst-httpd with an RSA key"
survey "TLS 1.2 suites, RSA key" "$WANT_TLS12_RSA" "$ALL_TLS12" p_tls12 \
    "$(ctrl_tls12_set "$ALL_TLS12")"
survey "TLS 1.2 groups, RSA key" "$WANT_GROUPS" "$ALL_GROUPS" p_group12
# The server's ServerKeyExchange (1.2) and CertificateVerify (1.3) with an
# RSA key: RSA-PSS only, PKCS#1 v1.5 refused.
survey "TLS 1.2 signatures, RSA key" "rsa_pss_rsae_sha256 rsa_pss_rsae_sha384" "$SIGS_RSA" p_sig12
survey "TLS 1.3 signatures, RSA key" "rsa_pss_rsae_sha256 rsa_pss_rsae_sha384" "$SIGS_RSA" p_sig13
# An RSA client key signs its CertificateVerify with RSA-PSS; one that can
# only do PKCS#1 v1.5 finds no common scheme, sends no certificate and is
# not authenticated. The client certificate itself is signed by the RSA CA
# with PKCS#1 v1.5: path validation accepts that.
RSAC=(-cert "$T/rsaclient.pem" -key "$T/rsaclient.key")
for v in 1_2 1_3; do
    check "an RSA client key (PKCS#1 v1.5-signed certificate) authenticates over TLS ${v/_/.} with RSA-PSS" \
        eval '[ "$(http_status -tls$v "${RSAC[@]}" -client_sigalgs rsa_pss_rsae_sha256)" = 404 ]'
done
check "an RSA client key restricted to PKCS#1 v1.5 signatures is not authenticated (401)" \
    eval '[ "$(http_status -tls1_2 "${RSAC[@]}" \
        -client_sigalgs rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512)" = 401 ]'
"$VST_GEN" --records 3 --seed 606 -o "$T/three.ndjson"
"$VST_SEND" --url "$URL" --ca "$C/ca.pem" --cert "$C/insurer.pem" --key "$C/insurer.key" \
    tls-rsa-1 "$T/three.ndjson" >"$T/send.out" 2>"$T/send.err"
rc=$?
check "vst-send delivers to the RSA-keyed vst-httpd ($(grep -o 'TLSv1[^)]*' "$T/send.err"))" \
    eval '[ "$rc" = 0 ] && grep -q "stored (201 Created)" "$T/send.out"'

# ---------------------------------------------------------------------------
echo "# RSA-PSS server key"
server_key pss || not_ok "vst-httpd with an RSA-PSS key"
survey "TLS 1.2 signatures, RSA-PSS key" "rsa_pss_pss_sha256 rsa_pss_pss_sha384" "$SIGS_PSS" p_sig12
survey "TLS 1.3 signatures, RSA-PSS key" "rsa_pss_pss_sha256 rsa_pss_pss_sha384" "$SIGS_PSS" p_sig13
ctrl_stop
echo "# probes took $((SECONDS - T0)) s"

# ---------------------------------------------------------------------------
echo "# testssl.sh"
# A server certificate shaped like a production one (a year's validity, a
# CRL distribution point), so that testssl's verdict is about the TLS
# settings and not about the throwaway test PKI.
gen ts -algorithm EC -pkeyopt ec_paramgen_curve:P-256 &&
    server_cert ts 365 "crlDistributionPoints=URI:http://127.0.0.1/vst-test-ca.crl" &&
    server_key ts || not_ok "vst-httpd with the testssl certificate"
ctrl_stop
T1=$SECONDS
timeout 900 testssl --quiet --color 0 --warnings off --add-ca "$C/ca.pem" \
    --jsonfile "$T/testssl.json" -p -E -f -S "127.0.0.1:$PORT" >"$T/testssl.out" 2>&1
rc=$?
echo "# testssl.sh took $((SECONDS - T1)) s (exit $rc)"
# One line per fact: KEY VALUE...
python3 - "$T/testssl.json" >"$T/testssl.facts" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("error", e)
    sys.exit(0)
find = {e["id"]: e for e in doc}
for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"):
    print("proto", p, find.get(p, {}).get("finding", "(absent)"))
by = {}
for e in doc:
    if e["id"].startswith("cipher-"):  # cipher-tls1_2_xc02b
        proto, code = e["id"][len("cipher-"):].rsplit("_", 1)
        by.setdefault(proto, []).append(code)
for proto in ("ssl2", "ssl3", "tls1", "tls1_1", "tls1_2", "tls1_3"):
    print("ciphers", proto, " ".join(sorted(by.get(proto, []))))
print("curves", find.get("PFS_ECDHE_curves", {}).get("finding", "(absent)"))
print("certsig", find.get("cert_signatureAlgorithm", {}).get("finding", "(absent)"))
print("severe", " ".join(sorted(e["id"] for e in doc if e["severity"] in ("HIGH", "CRITICAL"))))
print("entries", len(doc))
PY
fact() { sed -n "s/^$1 //p" "$T/testssl.facts"; }
check "testssl.sh wrote a report ($(fact entries) entries)" \
    eval '[ -n "$(fact entries)" ] && [ "$(fact entries)" -gt 20 ]'
for p in SSLv2 SSLv3 TLS1 TLS1_1; do
    check "testssl: $p $(fact "proto $p")" [ "$(fact "proto $p")" = "not offered" ]
done
for p in TLS1_2 TLS1_3; do
    check "testssl: $p $(fact "proto $p")" eval '[[ "$(fact "proto $p")" == offered* ]]'
done
for p in ssl2 ssl3 tls1 tls1_1; do
    check "testssl: no $p suites" [ -z "$(fact "ciphers $p")" ]
done
same_set "testssl: TLS 1.2 suites" "$(fact "ciphers tls1_2")" "xc02b xc02c xc0ac xc0ad"
same_set "testssl: TLS 1.3 suites" "$(fact "ciphers tls1_3")" "x1301 x1302 x1304"
same_set "testssl: ECDHE groups" "$(fact curves)" "prime256v1 secp384r1"
check "testssl: certificate signature $(fact certsig)" eval '[[ "$(fact certsig)" == ECDSA* ]]'
check "testssl: no HIGH or CRITICAL finding (got: $(fact severe))" [ -z "$(fact severe)" ]
[ -z "$(fact severe)" ] ||
    grep -E '"severity" *: *"(HIGH|CRITICAL)"' -B3 -A2 "$T/testssl.json" | head -40

echo "# took $((SECONDS - T0)) s"
e2e_summary

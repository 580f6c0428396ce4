/* vst-send, the program, against a scripted TLS server in a child process:
 * real TLS 1.3 with client certificates (a throwaway PKI made here), real
 * sockets, the real binary ($VST_SEND). Each test gives the server a list
 * of answers, one per connection, and checks vst-send's exit status, its
 * output and what the server saw: receipts (201, 200, chunked, pinned or
 * not), retries after 503 and dropped connections, retries exhausted,
 * refusals (422 with line errors, 409, an early 413), forged or mismatched
 * receipts, --resume, the wrong CA, the wrong host name, and constant
 * memory for a large file. The TLS policy (BSI TR-02102-2, issue 8): the
 * exact suites, groups, signature algorithms and versions of vst-send's
 * ClientHello (recorded raw by the server's client-hello callback), TLS 1.2
 * with ECDSA and RSA server keys, and refusal of servers that insist on
 * what the policy leaves out. The end-to-end tests against vst-httpd live
 * with the server's suites (tests/e2e/test_tls.sh). */
#include "cunit_main.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/receipt_json.h"
#include "core/hex.h"
#include "core/signed.h"

static char dir[64];
static char path_ca[128], path_other_ca[128], path_cert[128], path_key[128];
static char path_small[128], path_big[128], path_huge[128], path_receipt[128];
static EVP_PKEY *sign_key;
static char sign_pub_hex[2 * VST_ED25519_PUB_LEN + 1];
/* The scripted server's TLS settings, per answer (answer.ctx). */
enum { CTX_TLS13, CTX_TLS12, CTX_RSA, CTX_X25519, CTX_CHACHA, CTX_PKCS1, N_CTX };
static SSL_CTX *server_ctxs[N_CTX];
/* The last ClientHello, formatted by client_hello_cb (in the server child). */
static char hello_seen[2048];
static const char *url_host = "127.0.0.1";
static uint8_t small_sha[VST_SHA256_LEN];

/* ---- throwaway PKI -------------------------------------------------------- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    if (e != NULL)
        X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* issuer NULL: self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san, const char *eku)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *iss = issuer ? issuer : x;
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    add_ext(x, iss, NID_authority_key_identifier, "keyid");
    if (issuer == NULL) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
        add_ext(x, iss, NID_ext_key_usage, eku);
        if (san)
            add_ext(x, iss, NID_subject_alt_name, san);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int append_pem(const char *path, X509 *x)
{
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    int ok = PEM_write_X509(f, x);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* IANA names of the code points that the ClientHello checks mention: what
 * the policy allows and what OpenSSL would add by default. Others print as
 * hex. */
typedef struct {
    unsigned code;
    const char *name;
} iana_name;
static const iana_name iana_suites[] = {
    {0x1301, "TLS_AES_128_GCM_SHA256"},
    {0x1302, "TLS_AES_256_GCM_SHA384"},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
    {0x1304, "TLS_AES_128_CCM_SHA256"},
    {0x1305, "TLS_AES_128_CCM_8_SHA256"},
    {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"},
    {0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"},
    {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"},
};
static const iana_name iana_groups[] = {
    {0x0017, "secp256r1"}, {0x0018, "secp384r1"}, {0x0019, "secp521r1"},
    {0x001d, "x25519"},    {0x001e, "x448"},      {0x0100, "ffdhe2048"},
};
static const iana_name iana_sigalgs[] = {
    {0x0403, "ecdsa_secp256r1_sha256"},
    {0x0503, "ecdsa_secp384r1_sha384"},
    {0x0603, "ecdsa_secp521r1_sha512"},
    {0x0807, "ed25519"},
    {0x0808, "ed448"},
    {0x0804, "rsa_pss_rsae_sha256"},
    {0x0805, "rsa_pss_rsae_sha384"},
    {0x0806, "rsa_pss_rsae_sha512"},
    {0x0809, "rsa_pss_pss_sha256"},
    {0x080a, "rsa_pss_pss_sha384"},
    {0x080b, "rsa_pss_pss_sha512"},
    {0x0401, "rsa_pkcs1_sha256"},
    {0x0501, "rsa_pkcs1_sha384"},
    {0x0601, "rsa_pkcs1_sha512"},
    {0x0303, "ecdsa_sha224"},
    {0x0301, "rsa_pkcs1_sha224"},
    {0x0203, "ecdsa_sha1"},
    {0x0201, "rsa_pkcs1_sha1"},
    {0x0402, "dsa_sha256"},
    {0x0502, "dsa_sha384"},
    {0x0602, "dsa_sha512"},
    {0x0302, "dsa_sha224"},
    {0x0202, "dsa_sha1"},
};
static const iana_name iana_versions[] = {
    {0x0304, "TLSv1.3"}, {0x0303, "TLSv1.2"}, {0x0302, "TLSv1.1"}, {0x0301, "TLSv1.0"}};

/* Append to hello_seen, truncating at its end. */
__attribute__((format(printf, 1, 2))) static void hello_put(const char *fmt, ...)
{
    size_t len = strlen(hello_seen);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hello_seen + len, sizeof hello_seen - len, fmt, ap);
    va_end(ap);
}

/* Append " field=" and the 2-byte code points of b[0..n) (names from tab),
 * comma-separated. */
#define APPEND_CODES(field, b, n, tab) append_codes(field, b, n, tab, sizeof tab / sizeof tab[0])
static void append_codes(const char *field, const unsigned char *b, size_t n, const iana_name *tab,
                         size_t tabn)
{
    hello_put(" %s=", field);
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned c = (unsigned)b[i] << 8 | b[i + 1];
        const char *name = NULL;
        for (size_t k = 0; k < tabn; k++)
            if (tab[k].code == c)
                name = tab[k].name;
        if (name != NULL)
            hello_put("%s%s", i ? "," : "", name);
        else
            hello_put("%s0x%04x", i ? "," : "", c);
    }
}

/* Record what the client offers, straight from its ClientHello (not
 * filtered by what this server supports). Runs in the server child. */
static int client_hello_cb(SSL *s, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    const unsigned char *b;
    size_t n;
    snprintf(hello_seen, sizeof hello_seen, "hello");
    n = SSL_client_hello_get0_ciphers(s, &b);
    APPEND_CODES("ciphers", b, n, iana_suites);
    /* supported_groups and signature_algorithms: a 2-byte length first. */
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_groups, &b, &n) == 1 && n >= 2)
        APPEND_CODES("groups", b + 2, n - 2, iana_groups);
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms, &b, &n) == 1 && n >= 2)
        APPEND_CODES("sigalgs", b + 2, n - 2, iana_sigalgs);
    /* supported_versions: a 1-byte length first. */
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_versions, &b, &n) == 1 && n >= 1)
        APPEND_CODES("versions", b + 1, n - 1, iana_versions);
    hello_put(" sigalgs_cert=%s",
              SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms_cert, &b, &n) == 1
                  ? "sent"
                  : "none");
    return SSL_CLIENT_HELLO_SUCCESS;
}

static SSL_CTX *new_server_ctx(X509 *cert, EVP_PKEY *key, X509 *ca, int min, int max)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (c == NULL || SSL_CTX_set_min_proto_version(c, min) != 1 ||
        SSL_CTX_set_max_proto_version(c, max) != 1 || SSL_CTX_use_certificate(c, cert) != 1 ||
        SSL_CTX_use_PrivateKey(c, key) != 1) {
        SSL_CTX_free(c);
        return NULL;
    }
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c), ca);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_client_hello_cb(c, client_hello_cb, NULL);
    return c;
}

static int write_lines(const char *path, size_t lines, int long_lines)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < lines; i++)
        fprintf(f, "{\"n\":%zu,\"pad\":\"%s\"}\n", i,
                long_lines ? "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           : "");
    return fclose(f);
}

static int suite_init(void)
{
    strcpy(dir, "/tmp/vst-send-e2e-XXXXXX");
    if (mkdtemp(dir) == NULL || getenv("VST_SEND") == NULL) {
        fprintf(stderr, "VST_SEND (the vst-send binary) must be set\n");
        return -1;
    }
    snprintf(path_ca, sizeof path_ca, "%s/ca.pem", dir);
    snprintf(path_other_ca, sizeof path_other_ca, "%s/other-ca.pem", dir);
    snprintf(path_cert, sizeof path_cert, "%s/client.pem", dir);
    snprintf(path_key, sizeof path_key, "%s/client.key", dir);
    snprintf(path_small, sizeof path_small, "%s/small.ndjson", dir);
    snprintf(path_big, sizeof path_big, "%s/big.ndjson", dir);
    snprintf(path_huge, sizeof path_huge, "%s/huge.ndjson", dir);
    snprintf(path_receipt, sizeof path_receipt, "%s/receipt.json", dir);

    EVP_PKEY *cak = EVP_EC_gen("P-256"), *srvk = EVP_EC_gen("P-256"), *clik = EVP_EC_gen("P-256"),
             *otherk = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "vst-send test CA", NULL, NULL, NULL, NULL);
    X509 *other = make_cert(otherk, "some other CA", NULL, NULL, NULL, NULL);
    X509 *srv = make_cert(srvk, "127.0.0.1", ca, cak, "IP:127.0.0.1", "serverAuth");
    X509 *cli = make_cert(clik, "AOK test insurer", ca, cak, NULL, "clientAuth");
    int rc = write_pem(path_ca, ca, NULL) | write_pem(path_other_ca, other, NULL) |
             write_pem(path_cert, cli, NULL) | write_pem(path_key, NULL, clik);

    /* An RSA server key, certified by an RSA CA that signs with PKCS#1 v1.5
     * (sha256WithRSAEncryption): a certificate signature, which vst-send's
     * handshake-signature list must not refuse. */
    EVP_PKEY *rsak = EVP_RSA_gen(3072), *rsacak = EVP_RSA_gen(3072);
    X509 *rsaca = make_cert(rsacak, "vst-send RSA test CA", NULL, NULL, NULL, NULL);
    X509 *rsa = make_cert(rsak, "127.0.0.1", rsaca, rsacak, "IP:127.0.0.1", "serverAuth");
    rc |= append_pem(path_ca, rsaca);
    /* The usual server: TLS 1.3. */
    server_ctxs[CTX_TLS13] = new_server_ctx(srv, srvk, ca, TLS1_3_VERSION, TLS1_3_VERSION);
    /* TLS 1.2 only, ECDSA key, OpenSSL's default suites. */
    server_ctxs[CTX_TLS12] = new_server_ctx(srv, srvk, ca, TLS1_2_VERSION, TLS1_2_VERSION);
    /* TLS 1.2 only, RSA key: ECDHE-RSA with an RSA-PSS ServerKeyExchange. */
    server_ctxs[CTX_RSA] = new_server_ctx(rsa, rsak, ca, TLS1_2_VERSION, TLS1_2_VERSION);
    /* Servers vst-send must refuse: only X25519; only ChaCha20-Poly1305
     * (TLS 1.2 and 1.3); only RSA PKCS#1 v1.5 handshake signatures. */
    server_ctxs[CTX_X25519] = new_server_ctx(srv, srvk, ca, TLS1_2_VERSION, TLS1_3_VERSION);
    server_ctxs[CTX_CHACHA] = new_server_ctx(srv, srvk, ca, TLS1_2_VERSION, TLS1_3_VERSION);
    server_ctxs[CTX_PKCS1] = new_server_ctx(rsa, rsak, ca, TLS1_2_VERSION, TLS1_2_VERSION);
    for (int i = 0; i < N_CTX; i++)
        rc |= server_ctxs[i] != NULL ? 0 : -1;
    if (rc == 0 &&
        (SSL_CTX_set1_groups_list(server_ctxs[CTX_X25519], "X25519") != 1 ||
         SSL_CTX_set_cipher_list(server_ctxs[CTX_CHACHA], "ECDHE-ECDSA-CHACHA20-POLY1305") != 1 ||
         SSL_CTX_set_ciphersuites(server_ctxs[CTX_CHACHA], "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
         SSL_CTX_set1_sigalgs_list(server_ctxs[CTX_PKCS1],
                                   "rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512") != 1))
        rc = -1;

    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    uint8_t pub[VST_ED25519_PUB_LEN];
    size_t pl = sizeof pub;
    rc |= kc && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &sign_key) == 1 &&
                  EVP_PKEY_get_raw_public_key(sign_key, pub, &pl) == 1
              ? 0
              : -1;
    EVP_PKEY_CTX_free(kc);
    vst_hex(pub, sizeof pub, sign_pub_hex);

    rc |= write_lines(path_small, 3, 0) | write_lines(path_big, 20000, 1) |
          write_lines(path_huge, 400000, 1);
    /* SHA-256 of the small file, for receipts answered to GET. */
    FILE *f = fopen(path_small, "r");
    char buf[256];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    EVP_Digest(buf, n, small_sha, NULL, EVP_sha256(), NULL);

    X509_free(ca);
    X509_free(other);
    X509_free(srv);
    X509_free(cli);
    X509_free(rsa);
    X509_free(rsaca);
    EVP_PKEY_free(rsacak);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(srvk);
    EVP_PKEY_free(rsak);
    EVP_PKEY_free(clik);
    EVP_PKEY_free(otherk);
    signal(SIGPIPE, SIG_IGN);
    return rc == 0 ? 0 : -1;
}

static int suite_clean(void)
{
    const char *files[] = {path_ca,    path_other_ca, path_cert, path_key,
                           path_small, path_big,      path_huge, path_receipt};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
    for (int i = 0; i < N_CTX; i++)
        SSL_CTX_free(server_ctxs[i]);
    EVP_PKEY_free(sign_key);
    return 0;
}

/* ---- the scripted server -------------------------------------------------- */

enum { K_RECEIPT, K_PROBLEM, K_DROP, K_EARLY };
enum { SHA_BODY, SHA_SMALL_FILE, SHA_OTHER };

typedef struct {
    int kind;
    int status;
    int chunked;         /* K_RECEIPT: chunked transfer coding */
    int sha;             /* K_RECEIPT: which hash the receipt states */
    int bad_sig;         /* K_RECEIPT: flip a signature bit */
    int withheld;        /* K_RECEIPT: records withheld (stored: the lines less these) */
    int v1;              /* K_RECEIPT: a receipt signed before issue 12 (no withheld count) */
    const char *profile; /* K_RECEIPT: profile stated (default sgb5) */
    const char *retry_after;
    const char *body; /* K_PROBLEM, K_EARLY */
    int ctx;          /* the server's TLS settings: CTX_* (default CTX_TLS13) */
    int hello;        /* log the ClientHello as a line of its own first */
} answer;

static int ssl_write_all(SSL *s, const char *p, size_t n)
{
    size_t w;
    while (n > 0) {
        if (SSL_write_ex(s, p, n, &w) != 1)
            return -1;
        p += w;
        n -= w;
    }
    return 0;
}

static void respond(SSL *s, int status, const char *type, const char *extra, const char *body,
                    int chunked)
{
    char head[512];
    size_t n = strlen(body);
    if (chunked)
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, extra);
    else
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, extra, n);
    ssl_write_all(s, head, strlen(head));
    if (!chunked) {
        ssl_write_all(s, body, n);
        return;
    }
    /* Odd-sized chunks, with an extension on one. */
    for (size_t off = 0, k = 7; off < n; off += k, k += 13) {
        size_t m = k < n - off ? k : n - off;
        char sz[32];
        snprintf(sz, sizeof sz, off == 0 ? "%zx;ext=1\r\n" : "%zx\r\n", m);
        ssl_write_all(s, sz, strlen(sz));
        ssl_write_all(s, body + off, m);
        ssl_write_all(s, "\r\n", 2);
    }
    ssl_write_all(s, "0\r\nX-Trailer: t\r\n\r\n", 19);
}

static char *receipt_for(const char *id, const char *profile, uint64_t records,
                         const uint8_t sha[VST_SHA256_LEN], const answer *a)
{
    vst_receipt_fields f;
    memset(&f, 0, sizeof f);
    snprintf(f.delivery_id, sizeof f.delivery_id, "%s", id);
    strcpy(f.client, "AOK test insurer");
    snprintf(f.profile, sizeof f.profile, "%s", profile);
    f.version = a->v1 ? VST_RECEIPT_V1 : VST_RECEIPT_V2;
    f.withheld_count = (uint64_t)a->withheld;
    f.record_count = records - f.withheld_count;
    memcpy(f.body_sha256, sha, VST_SHA256_LEN);
    f.key_version = 1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    f.received_at_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    f.stored_at_us = f.received_at_us + 1234;
    f.audit_seq = 42;
    uint8_t tbs[VST_RECEIPT_TBS_MAX], sig[VST_ED25519_SIG_LEN], pub[VST_ED25519_PUB_LEN];
    size_t n = vst_receipt_tbs(&f, tbs), sl = sizeof sig, pl = sizeof pub;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, NULL, NULL, sign_key);
    EVP_DigestSign(md, sig, &sl, tbs, n);
    EVP_MD_CTX_free(md);
    if (a->bad_sig)
        sig[10] ^= 0x40;
    EVP_PKEY_get_raw_public_key(sign_key, pub, &pl);
    return vst_receipt_json_build(&f, sig, pub);
}

/* Read the request head; returns bytes of body already read into body0. */
static int read_head(SSL *s, char *head, size_t cap, size_t *head_len, size_t *extra)
{
    size_t got = 0, r;
    head[0] = '\0';
    while (got < cap - 1) {
        if (SSL_read_ex(s, head + got, cap - 1 - got, &r) != 1)
            return -1;
        got += r;
        head[got] = '\0';
        char *end = strstr(head, "\r\n\r\n");
        if (end != NULL) {
            *head_len = (size_t)(end - head) + 4;
            *extra = got - *head_len;
            return 0;
        }
    }
    return -1;
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static uint64_t header_u64(const char *head, const char *name)
{
    const char *p = find_ci(head, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        k++;
    return k;
}

/* Serve one connection by answer a; log one line to logfd. */
static void serve_one(int fd, const answer *a, int logfd)
{
    SSL *s = SSL_new(server_ctxs[a->ctx]);
    SSL_set_fd(s, fd);
    hello_seen[0] = '\0';
    int ok = SSL_accept(s) == 1;
    if (a->hello)
        dprintf(logfd, "%s\n", hello_seen);
    if (!ok) {
        dprintf(logfd, "handshake-failed\n");
        SSL_free(s);
        close(fd);
        return;
    }
    char head[8192];
    size_t hl = 0, extra = 0;
    if (read_head(s, head, sizeof head, &hl, &extra) != 0) {
        dprintf(logfd, "no-request\n");
        SSL_free(s);
        close(fd);
        return;
    }
    char method[8] = "", target[300] = "";
    sscanf(head, "%7s %299s", method, target);
    uint64_t len = header_u64(head, "\r\nContent-Length:");
    int expect = find_ci(head, "\r\nExpect: 100-continue") != NULL;

    if (a->kind == K_EARLY) {
        respond(s, a->status, "application/problem+json", "", a->body, 0);
        dprintf(logfd, "%s %s %zu early\n", method, target, extra);
        SSL_shutdown(s);
        usleep(200000);
        SSL_free(s);
        close(fd);
        return;
    }
    if (expect)
        ssl_write_all(s, "HTTP/1.1 100 Continue\r\n\r\n", 25);

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    uint64_t got = extra, lines = 0;
    EVP_DigestUpdate(md, head + hl, extra);
    for (size_t i = 0; i < extra; i++)
        lines += head[hl + i] == '\n';
    char buf[65536];
    size_t r;
    uint64_t stop = a->kind == K_DROP ? len / 2 : len;
    while (got < stop && SSL_read_ex(s, buf, sizeof buf, &r) == 1) {
        EVP_DigestUpdate(md, buf, r);
        for (size_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
        got += r;
    }
    uint8_t sha[VST_SHA256_LEN];
    EVP_DigestFinal_ex(md, sha, NULL);
    EVP_MD_CTX_free(md);
    dprintf(logfd, "%s %s %llu%s\n", method, target, (unsigned long long)got,
            expect ? " expect" : "");
    if (a->kind == K_DROP) {
        SSL_free(s); /* no close_notify: a cut connection */
        close(fd);
        return;
    }
    char extra_h[128] = "";
    if (a->retry_after)
        snprintf(extra_h, sizeof extra_h, "Retry-After: %s\r\n", a->retry_after);
    if (a->kind == K_PROBLEM) {
        respond(s, a->status, "application/problem+json", extra_h, a->body, 0);
    } else {
        char id[200] = "x";
        const char *slash = strrchr(target, '/');
        if (slash)
            snprintf(id, sizeof id, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
        const char *q = strstr(target, "?profile=");
        const char *profile = a->profile ? a->profile : q ? q + 9 : "sgb5";
        uint8_t other[VST_SHA256_LEN] = {1};
        const uint8_t *stated = a->sha == SHA_BODY         ? sha
                                : a->sha == SHA_SMALL_FILE ? small_sha
                                                           : other;
        char *doc = receipt_for(id, profile, lines, stated, a);
        respond(s, a->status, "application/json", extra_h, doc, a->chunked);
        free(doc);
    }
    SSL_shutdown(s);
    SSL_free(s);
    close(fd);
}

typedef struct {
    int rc;
    char out[16384];
    char err[16384];
    char log[4096]; /* the server's view, one line per connection */
    int conns;
    double secs;
    long maxrss_kb;
} result;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
}

static void show(const char *what, const result *r)
{
    fprintf(stderr, "\n--- %s: rc=%d conns=%d %.2fs\n[stdout]\n%s[stderr]\n%s[server]\n%s", what,
            r->rc, r->conns, r->secs, r->out, r->err, r->log);
}

/* Run vst-send with args (after the common TLS options) against a server
 * giving answers[0..n) to its first n connections. server = 0: no server
 * (connection refused). */
static void run(const answer *answers, int n, int server, const char *const *args, result *res)
{
    memset(res, 0, sizeof *res);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                    getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    if (server)
        CU_ASSERT_FATAL(listen(lfd, 16) == 0);
    char url[64];
    snprintf(url, sizeof url, "https://%s:%u", url_host, ntohs(sa.sin_port));

    int logp[2];
    CU_ASSERT_FATAL(pipe(logp) == 0);
    pid_t srv = -1;
    if (server) {
        srv = fork();
        CU_ASSERT_FATAL(srv >= 0);
        if (srv == 0) {
            close(logp[0]);
            alarm(120);
            for (int i = 0; i < n; i++) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                    _exit(1);
                serve_one(fd, &answers[i], logp[1]);
            }
            _exit(0);
        }
    } else {
        close(lfd); /* the port is now (very likely) closed: connection refused */
        lfd = -1;
    }
    close(logp[1]);

    char out_path[160], err_path[160];
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    const char *argv[40] = {getenv("VST_SEND"), "--url", url,      "--ca",      path_ca, "--cert",
                            path_cert,          "--key", path_key, "--timeout", "10"};
    int k = 11;
    for (int i = 0; args[i] != NULL && k < 39; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};

    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    pid_t cli = fork();
    CU_ASSERT_FATAL(cli >= 0);
    if (cli == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    wait4(cli, &st, 0, &ru);
    gettimeofday(&t1, NULL);
    res->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    res->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->maxrss_kb = ru.ru_maxrss;
    if (srv > 0) {
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
    }
    if (lfd >= 0)
        close(lfd);
    size_t got = 0;
    ssize_t r;
    while (got < sizeof res->log - 1 &&
           (r = read(logp[0], res->log + got, sizeof res->log - 1 - got)) > 0)
        got += (size_t)r;
    res->log[got] = '\0';
    close(logp[0]);
    for (char *p = res->log; (p = strchr(p, '\n')) != NULL; p++)
        res->conns++;
    slurp(out_path, res->out, sizeof res->out);
    slurp(err_path, res->err, sizeof res->err);
    if (getenv("VST_TEST_VERBOSE") != NULL)
        show(args[0], res);
}

#define EXPECT(r, cond)                                                                            \
    do {                                                                                           \
        CU_ASSERT(cond);                                                                           \
        if (!(cond))                                                                               \
            show(#cond, r);                                                                        \
    } while (0)

/* The last line of stderr. */
static const char *last_line(const result *r)
{
    static char line[1024];
    const char *e = r->err + strlen(r->err);
    if (e > r->err && e[-1] == '\n')
        e--;
    const char *b = e;
    while (b > r->err && b[-1] != '\n')
        b--;
    snprintf(line, sizeof line, "%.*s", (int)(e - b), b);
    return line;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_stored_pinned(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    const char *args[] = {"--public-key", sign_pub_hex, "--receipt-out",
                          path_receipt,   "--profile",  "sgb5",
                          "2026Q4-AOK.1", path_small,   NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.out, "status        stored (201 Created)\n") != NULL);
    EXPECT(&r, strstr(r.out, "record_count  3\n") != NULL);
    EXPECT(&r, strstr(r.out, "(pinned trust-center key)") != NULL);
    EXPECT(&r, strstr(r.err, "warning") == NULL);
    EXPECT(&r, strstr(r.log, "PUT /v1/deliveries/2026Q4-AOK.1?profile=sgb5 ") != NULL);
    EXPECT(&r, r.conns == 1);
    char doc[4096];
    slurp(path_receipt, doc, sizeof doc);
    vst_receipt rc;
    char err[200];
    CU_ASSERT_EQUAL(vst_receipt_json_parse(doc, strlen(doc), &rc, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(rc.f.delivery_id, "2026Q4-AOK.1");
}

/* Records withheld (issue 12): the receipt counts them, vst-send shows
 * the line only then. */
static void test_stored_withheld(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201, .withheld = 1}};
    const char *args[] = {
        "--public-key", sign_pub_hex, "--receipt-out", path_receipt, "2026Q4-AOK.2",
        path_small,     NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.out, "record_count  2\nwithheld      1 (objections: validated, not "
                             "stored)\n") != NULL);
    char doc[4096];
    slurp(path_receipt, doc, sizeof doc);
    EXPECT(&r, strstr(doc, "\"record_count\":2,\"withheld_count\":1,") != NULL);
    /* Nothing withheld: no such line, the count still in the receipt. */
    answer b[] = {{.kind = K_RECEIPT, .status = 201}};
    run(b, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0 && strstr(r.out, "withheld") == NULL);
    slurp(path_receipt, doc, sizeof doc);
    EXPECT(&r, strstr(doc, "\"record_count\":3,\"withheld_count\":0,") != NULL);
}

/* A receipt signed before issue 12 (v1: no withheld count), as a replay or
 * --resume returns it for an old delivery: verified and kept as it was. */
static void test_v1_receipt(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 200, .v1 = 1}};
    const char *args[] = {
        "--public-key", sign_pub_hex, "--receipt-out", path_receipt, "2026Q4-AOK.1",
        path_small,     NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.out, "record_count  3\n") != NULL && strstr(r.out, "withheld") == NULL);
    char doc[4096];
    slurp(path_receipt, doc, sizeof doc);
    EXPECT(&r, strstr(doc, "withheld") == NULL && strstr(doc, "\"record_count\":3,") != NULL);
    vst_receipt rc;
    char err[200];
    CU_ASSERT(vst_receipt_json_parse(doc, strlen(doc), &rc, err, sizeof err) == 0 &&
              rc.f.version == VST_RECEIPT_V1);
}

static void test_replay_unpinned_json_chunked(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 200, .chunked = 1}};
    const char *args[] = {"--json", "d-2", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strncmp(r.out, "{\"delivery_id\":\"d-2\",", 21) == 0);
    EXPECT(&r, strstr(r.err, "not pinned") != NULL);
}

static void test_retry_503_then_drop(void)
{
    answer a[] = {
        {.kind = K_PROBLEM,
         .status = 503,
         .retry_after = "1",
         .body = "{\"code\":\"service_unavailable\",\"title\":\"keyd sealed\"}"},
        {.kind = K_DROP},
        {.kind = K_RECEIPT, .status = 201},
    };
    const char *args[] = {"--public-key", sign_pub_hex, "d3", path_big, NULL};
    result r;
    run(a, 3, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 3);
    EXPECT(&r, r.secs >= 1.0); /* Retry-After honoured */
    EXPECT(&r, strstr(r.err, "attempt 1 of 9: the server answered 503 service_unavailable; "
                             "retrying in") != NULL);
    EXPECT(&r, strstr(r.err, "attempt 2 of 9") != NULL);
    EXPECT(&r, strstr(r.out, "record_count  20000\n") != NULL);
    /* Every attempt used the same delivery id and announced the large body. */
    EXPECT(&r, count(r.log, "PUT /v1/deliveries/d3 ") == 3);
    EXPECT(&r, count(r.log, " expect\n") == 3);
}

/* Issue 8: a second attempt at an id still in progress gets 409
 * delivery_in_progress — worth retrying; a spent daily identifier budget
 * (429 identifier_budget_exhausted, Retry-After in hours) is not. */
static void test_retry_in_progress_not_budget(void)
{
    answer a[] = {
        {.kind = K_PROBLEM,
         .status = 409,
         .retry_after = "1",
         .body = "{\"code\":\"delivery_in_progress\"}"},
        {.kind = K_RECEIPT, .status = 201},
    };
    const char *args[] = {"--public-key", sign_pub_hex, "d5", path_small, NULL};
    result r;
    run(a, 2, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 2);
    EXPECT(&r, strstr(r.err, "the server answered 409 delivery_in_progress; retrying in") != NULL);

    answer b[] = {
        {.kind = K_PROBLEM,
         .status = 429,
         .retry_after = "40000",
         .body = "{\"code\":\"identifier_budget_exhausted\"}"},
    };
    const char *args2[] = {"d6", path_small, NULL};
    run(b, 1, 1, args2, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, r.secs < 10.0);
    EXPECT(&r, strstr(last_line(&r), "identifier_budget_exhausted") != NULL);
}

static void test_retries_exhausted(void)
{
    answer a[] = {
        {.kind = K_PROBLEM, .status = 503, .body = "{\"code\":\"service_unavailable\"}"},
        {.kind = K_PROBLEM, .status = 503, .body = "{\"code\":\"service_unavailable\"}"},
    };
    const char *args[] = {"--retries", "1", "d4", path_small, NULL};
    result r;
    run(a, 2, 1, args, &r);
    EXPECT(&r, r.rc == 4);
    EXPECT(&r, r.conns == 2);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: giving up after 2 attempts: the server "
                                     "answered 503 service_unavailable") == 0);

    const char *args2[] = {"--retries", "2", "d4", path_small, NULL};
    run(NULL, 0, 0, args2, &r);
    EXPECT(&r, r.rc == 4);
    EXPECT(&r, strstr(last_line(&r), "giving up after 3 attempts: cannot connect to") != NULL);
}

static void test_refused_422(void)
{
    answer a[] = {{.kind = K_PROBLEM,
                   .status = 422,
                   .body = "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"the "
                           "delivery has invalid records; nothing was stored\",\"status\":422,"
                           "\"code\":\"invalid_records\",\"detail\":\"2 error(s); nothing was "
                           "stored\",\"errors_total\":2,\"errors\":[{\"line\":2,\"field\":"
                           "\"insured.kvnr\",\"code\":\"id_check_digit\"},{\"line\":3,\"field\":"
                           "\"insured.birth_date\",\"code\":\"invalid_date\"}]}"}};
    const char *args[] = {"--quiet", "d5", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strstr(r.err, "vst-send:   line 2: insured.kvnr: id_check_digit\n"
                             "vst-send:   line 3: insured.birth_date: invalid_date\n") != NULL);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery refused (422 invalid_records): 2 errors") == 0);
    EXPECT(&r, r.out[0] == '\0');
}

static void test_conflict_409(void)
{
    answer a[] = {{.kind = K_PROBLEM,
                   .status = 409,
                   .body = "{\"code\":\"delivery_conflict\",\"title\":\"this delivery id was "
                           "already used with a different body\"}"}};
    const char *args[] = {"d6", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery id d6 already used with a different body") == 0);
}

static void test_early_413(void)
{
    answer a[] = {{.kind = K_EARLY,
                   .status = 413,
                   .body = "{\"code\":\"payload_too_large\",\"title\":\"the delivery exceeds "
                           "the maximum size\"}"}};
    const char *args[] = {"d7", path_big, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: delivery refused (413 payload_too_large): the "
                                     "delivery exceeds the maximum size") == 0);
    /* Expect: 100-continue kept the body back: nothing of it was sent. */
    EXPECT(&r, strstr(r.log, " 0 early") != NULL);
    EXPECT(&r, strstr(r.err, "sent 100%") == NULL);
}

static void test_bad_receipts(void)
{
    result r;
    answer bad_sig[] = {{.kind = K_RECEIPT, .status = 201, .bad_sig = 1}};
    const char *pinned[] = {"--public-key", sign_pub_hex, "d8", path_small, NULL};
    run(bad_sig, 1, 1, pinned, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: RECEIPT NOT VERIFIED: the receipt's signature "
                                     "is NOT valid for the pinned trust-center key") == 0);
    EXPECT(&r, r.out[0] == '\0');

    answer other_sha[] = {{.kind = K_RECEIPT, .status = 201, .sha = SHA_OTHER}};
    run(other_sha, 1, 1, pinned, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strstr(last_line(&r), "body_sha256") != NULL);

    answer other_profile[] = {{.kind = K_RECEIPT, .status = 201, .profile = "measles"}};
    const char *with_profile[] = {"--public-key", sign_pub_hex, "--profile", "sgb5",
                                  "d8",           path_small,   NULL};
    run(other_profile, 1, 1, with_profile, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strstr(last_line(&r), "profile measles, not sgb5") != NULL);

    /* A key that is not the trust center's. */
    const char *wrong_key[] = {"--public-key",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "d8", path_small, NULL};
    answer good[] = {{.kind = K_RECEIPT, .status = 201}};
    run(good, 1, 1, wrong_key, &r);
    EXPECT(&r, r.rc == 3);
}

static void test_resume(void)
{
    result r;
    answer found[] = {{.kind = K_RECEIPT, .status = 200, .sha = SHA_SMALL_FILE}};
    const char *args[] = {"--resume", "--public-key", sign_pub_hex, "d9", path_small, NULL};
    run(found, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strncmp(r.log, "GET /v1/deliveries/d9 ", 22) == 0);
    EXPECT(&r, strstr(r.out, "already stored (found by --resume)") != NULL);

    answer different[] = {{.kind = K_RECEIPT, .status = 200, .sha = SHA_OTHER}};
    run(different, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery id d9 already used for a different file") == 0);

    answer missing[] = {
        {.kind = K_PROBLEM, .status = 404, .body = "{\"code\":\"not_found\"}"},
        {.kind = K_RECEIPT, .status = 201},
    };
    run(missing, 2, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 2);
    EXPECT(&r, strstr(r.log, "PUT /v1/deliveries/d9 ") != NULL);
    EXPECT(&r, strstr(r.out, "stored (201 Created)") != NULL);
}

static void test_tls_refusals(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    result r;
    const char *wrong_ca[] = {"--ca", path_other_ca, "--retries", "3", "d10", path_small, NULL};
    run(a, 1, 1, wrong_ca, &r);
    EXPECT(&r, r.rc == 1);
    EXPECT(&r, r.conns == 1); /* not retried */
    EXPECT(&r, strstr(last_line(&r), "the server's certificate is not accepted") != NULL);

    /* The server's certificate names IP 127.0.0.1 only: "localhost" (which
     * resolves to it) must not be accepted. */
    url_host = "localhost";
    const char *wrong_host[] = {"d10", path_small, NULL};
    run(a, 1, 1, wrong_host, &r);
    url_host = "127.0.0.1";
    EXPECT(&r, r.rc == 1);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strstr(last_line(&r), "the server's certificate is not accepted: hostname "
                                     "mismatch") != NULL);
}

static void test_constant_memory(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    const char *small[] = {"--quiet", "--public-key", sign_pub_hex, "m1", path_small, NULL};
    const char *huge[] = {"--quiet", "--public-key", sign_pub_hex, "m2", path_huge, NULL};
    result rs, rh;
    run(a, 1, 1, small, &rs);
    run(a, 1, 1, huge, &rh);
    EXPECT(&rs, rs.rc == 0);
    EXPECT(&rh, rh.rc == 0);
    struct stat st;
    stat(path_huge, &st);
    fprintf(stderr, " [%lld-byte file: peak RSS %ld KiB vs %ld KiB for 3 records] ",
            (long long)st.st_size, rh.maxrss_kb, rs.maxrss_kb);
    EXPECT(&rh, rh.maxrss_kb - rs.maxrss_kb < 16 * 1024);
    EXPECT(&rh, strstr(rh.out, "record_count  400000\n") != NULL);
}

/* The value of " key=" on the ClientHello line of the server's log. */
static const char *hello_field(const result *r, const char *key)
{
    static char v[1024];
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *line = strstr(r->log, "hello ");
    const char *p = line ? strstr(line, pat) : NULL;
    if (p == NULL)
        return "(absent)";
    p += strlen(pat);
    snprintf(v, sizeof v, "%.*s", (int)strcspn(p, " \n"), p);
    return v;
}

#define EXPECT_FIELD(r, key, want)                                                                 \
    do {                                                                                           \
        const char *got_ = hello_field(r, key);                                                    \
        CU_ASSERT_STRING_EQUAL(got_, want);                                                        \
        if (strcmp(got_, want) != 0)                                                               \
            fprintf(stderr, "\n  ClientHello %s:\n    offered  %s\n    expected %s\n", key, got_,  \
                    want);                                                                         \
    } while (0)

/* Exactly what vst-send offers (BSI TR-02102-2, docs/vst-send.md "TLS"):
 * nothing OpenSSL adds by default (ChaCha20, X25519, P-521, X448, FFDHE,
 * Ed25519, RSA PKCS#1 v1.5, SHA-1, SHA-224) and nothing below TLS 1.2. */
static void test_tls_offer(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201, .hello = 1}};
    const char *args[] = {"--public-key", sign_pub_hex, "t1", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT_FIELD(&r, "ciphers",
                 "TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_AES_128_CCM_SHA256,"
                 "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
                 "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                 "TLS_ECDHE_ECDSA_WITH_AES_256_CCM,TLS_ECDHE_ECDSA_WITH_AES_128_CCM,"
                 "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
    EXPECT_FIELD(&r, "groups", "secp256r1,secp384r1");
    EXPECT_FIELD(&r, "sigalgs",
                 "ecdsa_secp256r1_sha256,ecdsa_secp384r1_sha384,rsa_pss_rsae_sha256,"
                 "rsa_pss_rsae_sha384,rsa_pss_pss_sha256,rsa_pss_pss_sha384");
    EXPECT_FIELD(&r, "versions", "TLSv1.3,TLSv1.2");
    /* No separate list for certificates: the one above applies to them too
     * (RFC 8446 4.2.3), and the chain is verified against --ca anyway. */
    EXPECT_FIELD(&r, "sigalgs_cert", "none");
}

/* TLS 1.2 works, with an ECDSA and with an RSA server key (whose
 * ServerKeyExchange must then be RSA-PSS: PKCS#1 v1.5 is not offered). */
static void test_tls12(void)
{
    answer ec[] = {{.kind = K_RECEIPT, .status = 201, .ctx = CTX_TLS12}};
    answer rsa[] = {{.kind = K_RECEIPT, .status = 201, .ctx = CTX_RSA}};
    const char *args[] = {"t2", path_small, NULL};
    result r;
    run(ec, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.err, "(TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384)\n") != NULL);
    run(rsa, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.err, "(TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384)\n") != NULL);
}

/* A server that accepts only what the policy leaves out is refused, at
 * once and for good (exit 1, one connection, no retry). */
static void test_tls_outside_policy(void)
{
    const struct {
        int ctx;
        const char *what;
    } cases[] = {{CTX_X25519, "X25519 only"},
                 {CTX_CHACHA, "ChaCha20-Poly1305 only"},
                 {CTX_PKCS1, "RSA PKCS#1 v1.5 signatures only"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        answer a[] = {{.kind = K_RECEIPT, .status = 201, .ctx = cases[i].ctx}};
        const char *args[] = {"--retries", "3", "t3", path_small, NULL};
        result r;
        run(a, 1, 1, args, &r);
        fprintf(stderr, " [%s: %s] ", cases[i].what, last_line(&r));
        EXPECT(&r, r.rc == 1);
        EXPECT(&r, r.conns == 1);
        EXPECT(&r, strstr(r.log, "handshake-failed") != NULL);
    }
}

static const vst_test tests[] = {
    {"201, pinned key, --receipt-out, --profile", test_stored_pinned},
    {"withheld records: the receipt's count, shown when above 0", test_stored_withheld},
    {"a v1 receipt (before issue 12) verifies", test_v1_receipt},
    {"200 replay, chunked, unpinned warning, --json", test_replay_unpinned_json_chunked},
    {"503 with Retry-After, dropped connection, then 201", test_retry_503_then_drop},
    {"409 delivery_in_progress is retried, a spent identifier budget is not",
     test_retry_in_progress_not_budget},
    {"retries exhausted: 503s, connection refused", test_retries_exhausted},
    {"422 with line/field/code errors", test_refused_422},
    {"409 conflict", test_conflict_409},
    {"413 before the body (Expect: 100-continue)", test_early_413},
    {"bad signature, other body, other profile, wrong key", test_bad_receipts},
    {"--resume: found, different file, not found", test_resume},
    {"server certificate from another CA: no retry", test_tls_refusals},
    {"constant memory for a 60 MB file", test_constant_memory},
    {"ClientHello: exactly the policy's suites, groups, signatures, versions", test_tls_offer},
    {"TLS 1.2 with ECDSA and RSA server keys", test_tls12},
    {"servers with only X25519, ChaCha20 or PKCS#1 signatures: refused", test_tls_outside_policy},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    CU_pSuite s = CU_add_suite("send/client", suite_init, suite_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}

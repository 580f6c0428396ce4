/* vst-httpd's TLS policy: the GnuTLS priority string handed to
 * libmicrohttpd (MHD_OPTION_HTTPS_PRIORITIES; --tls-priorities overrides
 * it, which nobody should need). Never GnuTLS's "NORMAL".
 *
 * It follows BSI TR-02102-2 (docs/operations.md, "TLS policy", names the
 * tables) and DESIGN.md §6, and is exactly what tests/e2e/test_tls.sh
 * expects to negotiate:
 *   - TLS 1.2 and 1.3 only;
 *   - TLS 1.2: ECDHE with AES-GCM or AES-CCM (AEAD) only, i.e.
 *     ECDHE-ECDSA-AES{128,256}-{GCM,CCM} and ECDHE-RSA-AES{128,256}-GCM;
 *     TLS 1.3: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 *     TLS_AES_128_CCM_SHA256 (no ChaCha20, no CCM_8). SHA256/SHA384 are
 *     listed as MACs because GnuTLS matches TLS 1.3 suites by their hash;
 *     no CBC cipher is enabled, so no HMAC suite can be negotiated;
 *   - ECDHE groups P-256 and P-384 only (no X25519, P-521, FFDHE);
 *   - handshake signatures (TLS 1.2 ServerKeyExchange and TLS 1.3
 *     CertificateVerify, ours and the client's): ECDSA and RSA-PSS with
 *     SHA-256/384 only. RSA PKCS#1 v1.5 is gone: the TR recommended it for
 *     handshakes only until the end of 2025. An RSA server key therefore
 *     signs with RSA-PSS (rsa_pss_rsae_*). The ECDSA entries appear twice
 *     because TLS 1.3 binds the curve (SECP256R1-SHA256) and TLS 1.2 does
 *     not (ECDSA-SHA256): GnuTLS needs both for the same code point.
 *     Certificates themselves are checked by X.509 path validation against
 *     --client-ca, not by this list.
 * No %SAFE_RENEGOTIATION: GnuTLS's strict mode refuses every ClientHello
 * without RFC 5746 signalling, which RFC 8446 does not require of TLS 1.3
 * clients. The default (partial) mode still renegotiates only with RFC 5746
 * peers, and libmicrohttpd never renegotiates. */
#ifndef VST_HTTPD_TLS_POLICY_H
#define VST_HTTPD_TLS_POLICY_H

#define BSI_PRIORITIES                                                                             \
    "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:+AES-256-GCM:+AES-128-GCM:"            \
    "+AES-256-CCM:+AES-128-CCM:+AEAD:+SHA384:+SHA256:+GROUP-SECP256R1:+GROUP-SECP384R1:"           \
    "+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA256:"                \
    "+SIGN-ECDSA-SHA384:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-PSS-RSAE-SHA384:"                      \
    "+SIGN-RSA-PSS-SHA256:+SIGN-RSA-PSS-SHA384:+COMP-NULL:+CTYPE-X509"

#endif

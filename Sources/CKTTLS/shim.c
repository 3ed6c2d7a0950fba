#include "CKTTLS.h"
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only.
static const char *kt_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char *kt_tls13_suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

static void kt_err(char *err, size_t len, const char *what) {
    if (!err || len == 0) return;
    unsigned long e = ERR_get_error();
    char reason[256] = "";
    if (e) ERR_error_string_n(e, reason, sizeof reason);
    // The library's reason is the last ':' field of its string.
    const char *r = strrchr(reason, ':');
    snprintf(err, len, "%s%s%s", what, e ? ": " : "", e ? (r ? r + 1 : reason) : "");
    ERR_clear_error();
}

static int kt_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11 - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    // A client offering only h2: answer without ALPN rather than fail (curl falls back).
    return SSL_TLSEXT_ERR_NOACK;
}

static void kt_common(SSL_CTX *ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, kt_tls12_ciphers);
    SSL_CTX_set_ciphersuites(ctx, kt_tls13_suites);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Partial writes from a buffer that may move between retries: the connection's queue.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

void *kt_tls_server_ctx_new(const char *cert_file, const char *key_file, const char *client_ca_file,
                            char *err, size_t err_len) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { kt_err(err, err_len, "cannot create a TLS context"); return NULL; }
    kt_common(ctx);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        char what[600]; snprintf(what, sizeof what, "cannot load the certificate %s", cert_file);
        kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        char what[1200];
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(what, sizeof what, "the private key %s does not match the certificate %s", key_file, cert_file);
        else
            snprintf(what, sizeof what, "cannot load the private key %s", key_file);
        kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        char what[1200]; snprintf(what, sizeof what, "the private key %s does not match the certificate %s", key_file, cert_file);
        kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
    }
    if (client_ca_file && *client_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) != 1) {
            char what[600]; snprintf(what, sizeof what, "cannot load the client CA %s", client_ca_file);
            kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL_CTX_set_alpn_select_cb(ctx, kt_alpn_select, NULL);
    static const unsigned char sid_ctx[] = "kt";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
    SSL_CTX_set_timeout(ctx, 3600);
    return ctx;
}

void *kt_tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                            char *err, size_t err_len) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { kt_err(err, err_len, "cannot create a TLS context"); return NULL; }
    kt_common(ctx);
    SSL_CTX_set_default_verify_paths(ctx);
    if (ca_file && *ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        char what[600]; snprintf(what, sizeof what, "cannot load the CA file %s (KEEPTRUSTS_CA_FILE)", ca_file);
        kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
    }
    if (cert_file && *cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key_file ? key_file : cert_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            char what[1200]; snprintf(what, sizeof what, "cannot load the client certificate %s with key %s", cert_file, key_file ? key_file : cert_file);
            kt_err(err, err_len, what); SSL_CTX_free(ctx); return NULL;
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    static const unsigned char http11[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, http11, sizeof http11 - 1);
    return ctx;
}

void kt_tls_ctx_free(void *ctx) { SSL_CTX_free((SSL_CTX *)ctx); }

void *kt_tls_server_session(void *ctx, int fd) {
    SSL *ssl = SSL_new((SSL_CTX *)ctx);
    if (!ssl) return NULL;
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return ssl;
}

void *kt_tls_client_session(void *ctx, int fd, const char *host) {
    SSL *ssl = SSL_new((SSL_CTX *)ctx);
    if (!ssl) return NULL;
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    if (host && *host) {
        SSL_set_tlsext_host_name(ssl, host);
        // Verify the certificate names the host (DNS name or IP literal).
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!X509_VERIFY_PARAM_set1_ip_asc(param, host)) X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
    return ssl;
}

void kt_tls_session_free(void *ssl) { SSL_free((SSL *)ssl); }

static int kt_result(SSL *ssl, int rc) {
    if (rc > 0) return rc;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return KT_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return KT_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return KT_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR || errno == EAGAIN) return KT_TLS_WANT_READ;
        return errno == 0 ? KT_TLS_CLOSED : KT_TLS_ERROR;
    default: return KT_TLS_ERROR;
    }
}

int kt_tls_handshake(void *p) {
    SSL *ssl = (SSL *)p;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    return rc == 1 ? 1 : kt_result(ssl, rc);
}

int kt_tls_read(void *p, void *buf, int len) {
    SSL *ssl = (SSL *)p;
    ERR_clear_error();
    return kt_result(ssl, SSL_read(ssl, buf, len));
}

int kt_tls_write(void *p, const void *buf, int len) {
    SSL *ssl = (SSL *)p;
    ERR_clear_error();
    int rc = kt_result(ssl, SSL_write(ssl, buf, len));
    // A write never legitimately "closes": the peer's close_notify makes it an error.
    return rc == KT_TLS_CLOSED ? KT_TLS_ERROR : rc;
}

int kt_tls_pending(void *ssl) { return SSL_has_pending((SSL *)ssl); }
int kt_tls_handshake_done(void *ssl) { return SSL_is_init_finished((SSL *)ssl); }

void kt_tls_shutdown(void *p) {
    SSL *ssl = (SSL *)p;
    if (SSL_is_init_finished(ssl)) { ERR_clear_error(); SSL_shutdown(ssl); ERR_clear_error(); }
}

kt_tls_failure kt_tls_failure_kind(void *p) {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) return KT_TLS_FAIL_EOF;
    int reason = ERR_GET_REASON(e);
    switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        return KT_TLS_FAIL_PLAIN_HTTP;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return KT_TLS_FAIL_PROTOCOL;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return KT_TLS_FAIL_CLIENT_CERT;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return KT_TLS_FAIL_EOF;
    default:
        (void)p;
        return KT_TLS_FAIL_OTHER;
    }
}

void kt_tls_error_text(void *p, char *buf, size_t len) {
    SSL *ssl = (SSL *)p;
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(reason, sizeof reason, "%s", r ? r : "unknown error");
    } else {
        snprintf(reason, sizeof reason, "the connection closed during the TLS handshake");
    }
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK && e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        snprintf(buf, len, "%s: %s", reason, X509_verify_cert_error_string(verify));
    } else {
        snprintf(buf, len, "%s", reason);
    }
}

const char *kt_tls_version(void *ssl) { return SSL_get_version((SSL *)ssl); }
int kt_tls_resumed(void *ssl) { return SSL_session_reused((SSL *)ssl); }

static size_t kt_append(char *buf, size_t len, size_t used, const char *name, int n) {
    size_t need = (size_t)n + 1;
    if (used + need >= len) return used;
    memcpy(buf + used, name, (size_t)n);
    buf[used + (size_t)n] = '\n';
    buf[used + need] = 0;
    return used + need;
}

int kt_tls_peer_names(void *p, char *buf, size_t len) {
    SSL *ssl = (SSL *)p;
    if (len) buf[0] = 0;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return 0;
    if (SSL_get_verify_result(ssl) != X509_V_OK) { X509_free(cert); return 0; }
    int count = 0;
    size_t used = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
            if (g->type == GEN_DNS || g->type == GEN_URI) {
                ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->d.uniformResourceIdentifier;
                const char *data = (const char *)ASN1_STRING_get0_data(s);
                int n = ASN1_STRING_length(s);
                // Names with NUL bytes are forgeries; skip them.
                if (n > 0 && (int)strnlen(data, (size_t)n) == n) { used = kt_append(buf, len, used, data, n); count++; }
            }
        }
        GENERAL_NAMES_free(sans);
    }
    X509_NAME *subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, s);
        if (n > 0 && (int)strnlen((const char *)utf8, (size_t)n) == n) { used = kt_append(buf, len, used, (const char *)utf8, n); count++; }
        OPENSSL_free(utf8);
    }
    X509_free(cert);
    return count;
}

void kt_tls_alpn(void *p, char *buf, size_t len) {
    const unsigned char *data = NULL;
    unsigned int n = 0;
    SSL_get0_alpn_selected((SSL *)p, &data, &n);
    if (len == 0) return;
    size_t m = n < len - 1 ? n : len - 1;
    if (data && m) memcpy(buf, data, m);
    buf[m] = 0;
}

#ifndef CKTTLS_H
#define CKTTLS_H
#include <stddef.h>

// TLS for kt's own event loop and blocking clients, over OpenSSL's libssl. Many of OpenSSL's
// settings are macros Swift cannot call; these wrappers keep the policy (versions, ciphers,
// ALPN, resumption, verification) in one reviewed place.

// Results of kt_tls_read / kt_tls_write / kt_tls_handshake.
#define KT_TLS_WANT_READ (-1)
#define KT_TLS_WANT_WRITE (-2)
#define KT_TLS_ERROR (-3)
#define KT_TLS_CLOSED 0

// Why a handshake failed (for metrics).
typedef enum {
    KT_TLS_FAIL_NONE = 0,
    KT_TLS_FAIL_PLAIN_HTTP = 1,      // a plain-HTTP request on the TLS port
    KT_TLS_FAIL_PROTOCOL = 2,        // no shared version or cipher (e.g. TLS 1.1)
    KT_TLS_FAIL_CLIENT_CERT = 3,     // missing or untrusted client certificate
    KT_TLS_FAIL_EOF = 4,             // the peer went away mid-handshake
    KT_TLS_FAIL_OTHER = 5,
} kt_tls_failure;

// A server context from PEM files: TLS 1.2 and 1.3 only, modern AEAD ciphers, ALPN http/1.1,
// session resumption (tickets and a server cache). With client_ca, clients must present a
// certificate signed by it. NULL on failure, with the reason in err.
void *kt_tls_server_ctx_new(const char *cert_file, const char *key_file, const char *client_ca_file,
                            char *err, size_t err_len);
// A client context: verifies the server against the system store plus ca_file (may be NULL);
// presents cert_file/key_file when given. NULL on failure, with the reason in err.
void *kt_tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                            char *err, size_t err_len);
void kt_tls_ctx_free(void *ctx);

// A session on a connected socket: server side (accept) or client side (connect, with the
// host name for SNI and verification).
void *kt_tls_server_session(void *ctx, int fd);
void *kt_tls_client_session(void *ctx, int fd, const char *host);
void kt_tls_session_free(void *ssl);

int kt_tls_handshake(void *ssl);
int kt_tls_read(void *ssl, void *buf, int len);
int kt_tls_write(void *ssl, const void *buf, int len);
int kt_tls_pending(void *ssl);
int kt_tls_handshake_done(void *ssl);
// Sends close_notify once (does not wait for the peer's).
void kt_tls_shutdown(void *ssl);
kt_tls_failure kt_tls_failure_kind(void *ssl);
// The last error as text ("certificate verify failed: unable to get local issuer certificate").
void kt_tls_error_text(void *ssl, char *buf, size_t len);
// The protocol in use ("TLSv1.3"), and whether this session resumed an earlier one.
const char *kt_tls_version(void *ssl);
int kt_tls_resumed(void *ssl);
// The verified peer certificate's DNS and URI subject alternative names and its CN,
// newline-separated, into buf. Returns the number of names (0 without a certificate).
int kt_tls_peer_names(void *ssl, char *buf, size_t len);
// The ALPN protocol chosen ("" when none).
void kt_tls_alpn(void *ssl, char *buf, size_t len);

#endif

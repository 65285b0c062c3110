/* The connection to the Datadog agent, over TCP or a unix socket.
 *
 * One request/response exchange at a time on a keep-alive socket (HTTP/1.1 without pipelining). The I/O goes
 * through io_uring when `io_uring_queue_init` succeeds; containers often forbid it (Docker and containerd seccomp
 * profiles block io_uring_setup), and then the same exchange runs on plain non-blocking sockets with poll(2).
 * The backend is chosen once, when the connection object is created. A connection object is used by one thread
 * at a time (the flusher). */
#ifndef DDTRACE_TRANSPORT_H
#define DDTRACE_TRANSPORT_H

#include <stdint.h>
#include <stddef.h>
#include "ddtrace_http.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DDTRACE_ENDPOINT_TCP = 0,
    DDTRACE_ENDPOINT_UNIX = 1,
};

enum {
    DDTRACE_BACKEND_PLAIN = 0,
    DDTRACE_BACKEND_IO_URING = 1,
};

typedef struct ddtrace_conn ddtrace_conn;

/* Creates a connection object (it does not connect yet). `kind` is DDTRACE_ENDPOINT_TCP (`host`, `port`; host
 * may be a name, an IPv4 or an IPv6 literal without brackets) or DDTRACE_ENDPOINT_UNIX (`path`). With
 * `try_io_uring` != 0 it calls io_uring_queue_init and falls back to the plain backend if that fails, keeping the
 * error for ddtrace_conn_io_uring_error (a kernel whose io_uring lacks SENDMSG, RECV, LINK_TIMEOUT or ASYNC_CANCEL
 * counts as a failure, -EOPNOTSUPP). Returns 0, or -EINVAL / -ENOMEM, or -ENAMETOOLONG when a unix `path` does not
 * fit in sockaddr_un.sun_path. */
int ddtrace_conn_create(int kind, const char *host, int port, const char *path, int try_io_uring,
                        ddtrace_conn **out);
void ddtrace_conn_destroy(ddtrace_conn *conn);

/* DDTRACE_BACKEND_IO_URING or DDTRACE_BACKEND_PLAIN. */
int ddtrace_conn_backend(const ddtrace_conn *conn);
/* 0 if io_uring is in use or was not tried, else the negative errno io_uring_queue_init (or the probe) returned.
 * Also set if a working ring fails at run time (a submit error, not an I/O error): the connection then switches
 * to the plain backend for good, which is the one exception to "chosen once". */
int ddtrace_conn_io_uring_error(const ddtrace_conn *conn);

/* Closes the socket, if open; the next exchange reconnects. */
void ddtrace_conn_close(ddtrace_conn *conn);

/* One exchange: connects if needed (or reuses the kept-alive socket), writes head then body (one writev), reads
 * one complete response and parses it into *response. `*body_out` then points at the response body inside the
 * connection's receive buffer, valid until the next call. If a reused socket turns out to have been closed by the
 * peer before any response byte arrived, it reconnects and sends once more. The whole exchange is bounded by
 * `timeout_ms` (connect, write and read together; name resolution excepted, getaddrinfo cannot be bounded).
 * On any failure the socket is closed. Interim 1xx responses are skipped. A response framed by neither
 * Content-Length nor chunked coding ends when the server closes the connection. The socket is also closed after
 * a "Connection: close" (or HTTP/1.0) response. The receive buffer grows up to 8 MiB.
 * Returns 0 on success, or a negative errno: -ETIMEDOUT, -ECONNREFUSED, -ENOENT (no such unix socket),
 * -ECONNRESET (peer closed or reset before the response was complete) / -EPIPE (peer went away while we wrote),
 * -EBADMSG (unparseable response, or one over 8 MiB), -EHOSTUNREACH (name resolution failed), -ENOMEM,
 * -EINVAL (NULL conn/response, NULL head/body with a non-zero length, timeout_ms <= 0), or another connect(2)
 * error such as -ENETUNREACH. */
int ddtrace_conn_exchange(ddtrace_conn *conn, const void *head, size_t head_length, const void *body,
                          size_t body_length, int timeout_ms, ddtrace_http_response *response, const char **body_out);

/* The same exchange with the body sent in two parts, `prefix` then `body` (one writev, no copy): a v0.5 payload's
 * string table and its traces, which are built in separate buffers. */
int ddtrace_conn_exchange_prefixed(ddtrace_conn *conn, const void *head, size_t head_length, const void *prefix,
                                   size_t prefix_length, const void *body, size_t body_length, int timeout_ms,
                                   ddtrace_http_response *response, const char **body_out);

/* Called while an exchange waits on its socket (to write the request while the agent is not reading, or for the
 * response), once per `slice_us` microseconds of waiting (200 when <= 0), on the thread running the exchange,
 * with either backend. The flusher uses it to keep draining span rings while a slow agent (or one decoding a
 * large payload) holds it up, so application threads do not run out of span slots. Connecting does not call it.
 * The hook must not use this connection. NULL removes it. */
typedef void (*ddtrace_conn_wait_hook)(void *context);
void ddtrace_conn_set_wait_hook(ddtrace_conn *conn, ddtrace_conn_wait_hook hook, void *context, int slice_us);

/* Bytes written to the socket (resends included) and successful connects since creation (for the tracer's
 * health counters; connects - 1 is the number of reconnections). */
uint64_t ddtrace_conn_bytes_sent(const ddtrace_conn *conn);
uint64_t ddtrace_conn_connects(const ddtrace_conn *conn);

#ifdef __cplusplus
}
#endif
#endif

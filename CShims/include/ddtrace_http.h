/* HTTP/1.1 framing for the agent protocol: request heads out, responses in.
 *
 * The tracer speaks only to the Datadog agent (PUT /v0.4/traces, GET /info), one request at a time over a
 * keep-alive connection, so this is a small, strict implementation rather than a general HTTP client. */
#ifndef DDTRACE_HTTP_H
#define DDTRACE_HTTP_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddtrace_http_header {
    const char *name;
    const char *value;
} ddtrace_http_header;

/* Formats "METHOD PATH HTTP/1.1\r\nHost: HOST\r\n<name: value\r\n>...[Content-Length: N\r\n]\r\n" into `out`.
 * `content_length` < 0 omits Content-Length. Header names must be RFC 7230 tokens; values, the method, path and
 * host must not contain CR, LF or other control characters (tab is allowed in values), so that nothing taken
 * from the environment or from a propagated header can inject a line into the request.
 * The framing headers belong to this function: a `headers` entry named Host, Content-Length or
 * Transfer-Encoding (any case) is rejected with -EINVAL. The method must be a token; path and host must be
 * visible ASCII (no spaces); the path must not be empty (the host may be).
 * Returns the number of bytes written (no NUL terminator is counted; one is appended only if room remains),
 * -E2BIG when `cap` is too small, or -EINVAL when an input is rejected (checked before the size). */
long ddtrace_http_format_request(char *out, size_t cap, const char *method, const char *path, const char *host,
                                 const ddtrace_http_header *headers, size_t header_count, long long content_length);

typedef struct ddtrace_http_response {
    int status;                 /* e.g. 200 */
    size_t body_offset;         /* where the (de-chunked) body starts in the parsed buffer */
    size_t body_length;         /* body length after de-chunking */
    int connection_close;       /* the server will close: "Connection: close", or HTTP/1.0 without keep-alive */
    char agent_state[65];       /* "Datadog-Agent-State" value (truncated to 64 bytes), "" when absent */
    char rates_payload_version[65]; /* "Datadog-Rates-Payload-Version" value, "" when absent */
} ddtrace_http_response;

/* Parses one response from buf[0..len). Supports Content-Length, chunked transfer coding (de-chunked in place,
 * so `buf` is modified once the response is complete) and bodiless statuses (1xx, 204, 304).
 * Returns the number of bytes the response occupied (> 0) when it is complete, 0 when more bytes are needed,
 * or -EBADMSG when the bytes cannot be an HTTP/1.x response (bad status line, bad length, header section over
 * 64 KiB, ...). Never reads outside buf[0..len). *out is only meaningful when the result is > 0.
 * Strictness: lines must end in CRLF (bare CR/LF rejected), no obs-fold, no whitespace before ':', field values
 * without control characters other than HTAB; Content-Length is 1*DIGIT (duplicates must agree); the only
 * accepted Transfer-Encoding is "chunked" (extensions skipped, trailers validated and dropped), and a response
 * carrying both Content-Length and Transfer-Encoding is rejected. The first bytes are checked against
 * "HTTP/1.d ddd" as they arrive, so a peer speaking something else fails fast.
 * A response with neither Content-Length nor chunked coding (and not 1xx/204/304) is delimited by the server
 * closing the connection: this function cannot know where such a body ends, so it returns 0 (need more) for it;
 * the transport treats EOF as the end of the body (see ddtrace_conn_exchange). */
long ddtrace_http_parse_response(char *buf, size_t len, ddtrace_http_response *out);

#ifdef __cplusplus
}
#endif
#endif

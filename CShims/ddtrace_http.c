/* HTTP/1.1 request framing and response parsing for the agent protocol (see ddtrace_http.h).
 *
 * The parser is re-run from the start of the buffer each time more bytes arrive: agent responses are a few
 * hundred bytes, so keeping incremental state would buy nothing and cost correctness. Every index is checked
 * against `len` before it is dereferenced. */
#include "ddtrace_http.h"
#include "ddtrace_http_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* The header section (status line + fields + empty line) may not exceed this; the agent's are < 1 KiB. */
#define MAX_HEAD ((size_t)64 * 1024)
/* A chunk-size line with extensions, and the trailer section, are bounded the same way. */
#define MAX_CHUNK_LINE ((size_t)4096)
#define MAX_TRAILERS ((size_t)64 * 1024)

/* ---------------------------------------------------------------------------------------------------------- */
/* Character classes (RFC 9110 §5.6.2, §5.5) */

static int is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* field-value / reason-phrase octets: HTAB, SP, VCHAR, obs-text. Rejects NUL, CR, LF, other CTLs and DEL. */
static int is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Case-insensitive comparison of buf[0..len) with a lowercase literal. */
static int ieq(const char *buf, size_t len, const char *lit) {
    size_t n = strlen(lit);
    if (len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)buf[i]) != (unsigned char)lit[i]) return 0;
    return 1;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Request formatting */

typedef struct {
    char *out;
    size_t cap;
    size_t len;
    int overflow;
} writer;

static void put(writer *w, const char *s, size_t n) {
    if (w->overflow || w->cap - w->len < n) { w->overflow = 1; return; }
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

static int valid_token(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s)) return 0;
    return 1;
}

/* Request-target and Host: visible ASCII only. A space would split the request line; non-ASCII must be
 * percent-encoded by the caller anyway. */
static int valid_visible(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f) return 0;
    }
    return 1;
}

static int valid_value(const char *s) {
    for (; *s; s++)
        if (!is_value_char((unsigned char)*s)) return 0;
    return 1;
}

long ddtrace_http_format_request(char *out, size_t cap, const char *method, const char *path, const char *host,
                                 const ddtrace_http_header *headers, size_t header_count, long long content_length) {
    if (!method || !path || !host || (header_count && !headers)) return -EINVAL;
    if (!valid_token(method) || !*path || !valid_visible(path) || !valid_visible(host)) return -EINVAL;
    for (size_t i = 0; i < header_count; i++) {
        const char *name = headers[i].name, *value = headers[i].value;
        if (!name || !value || !valid_token(name) || !valid_value(value)) return -EINVAL;
        /* The framing headers are ours: a second Host or a caller-supplied length/coding could make the agent
         * read a different request than the one we send. */
        size_t n = strlen(name);
        if (ieq(name, n, "host") || ieq(name, n, "content-length") || ieq(name, n, "transfer-encoding"))
            return -EINVAL;
    }

    writer w = {out, out ? cap : 0, 0, 0};
    puts_(&w, method);
    put(&w, " ", 1);
    puts_(&w, path);
    put(&w, " HTTP/1.1\r\nHost: ", 17);
    puts_(&w, host);
    put(&w, "\r\n", 2);
    for (size_t i = 0; i < header_count; i++) {
        puts_(&w, headers[i].name);
        put(&w, ": ", 2);
        puts_(&w, headers[i].value);
        put(&w, "\r\n", 2);
    }
    if (content_length >= 0) {
        char digits[24];
        size_t n = 0;
        unsigned long long v = (unsigned long long)content_length;
        do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
        char rev[24];
        for (size_t i = 0; i < n; i++) rev[i] = digits[n - 1 - i];
        put(&w, "Content-Length: ", 16);
        put(&w, rev, n);
        put(&w, "\r\n", 2);
    }
    put(&w, "\r\n", 2);
    if (w.overflow) return -E2BIG;
    /* Convenience for C callers that print the head; not counted and not required. */
    if (w.len < w.cap) out[w.len] = '\0';
    return (long)w.len;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Response parsing */

/* Finds the CRLF ending the line that starts at `pos`. The line including its CRLF must end at or before the
 * absolute index `limit`. Returns 1 with *eol at the CR, 0 when more bytes are needed, -1 for a bare CR or LF
 * (HTTP requires CRLF; tolerating bare LF is how response splitting bugs start) or a line over the limit. */
static int find_eol(const char *buf, size_t pos, size_t len, size_t limit, size_t *eol) {
    for (size_t i = pos; i < len; i++) {
        if (i + 2 > limit) return -1;
        char c = buf[i];
        if (c == '\n') return -1;
        if (c == '\r') {
            if (i + 1 == len) return 0;
            if (buf[i + 1] != '\n') return -1;
            *eol = i;
            return 1;
        }
    }
    return 0;
}

/* Checks one field line buf[start..eol) and returns the name and the OWS-trimmed value. */
static int split_field(const char *buf, size_t start, size_t eol, size_t *name_end, size_t *value, size_t *value_end) {
    size_t i = start;
    while (i < eol && is_tchar((unsigned char)buf[i])) i++;
    /* Empty name covers obs-fold (a line starting with SP/HTAB); whitespace before ':' is forbidden too. */
    if (i == start || i == eol || buf[i] != ':') return -1;
    *name_end = i;
    size_t v = i + 1, ve = eol;
    while (v < ve && is_ows(buf[v])) v++;
    while (ve > v && is_ows(buf[ve - 1])) ve--;
    for (size_t k = v; k < ve; k++)
        if (!is_value_char((unsigned char)buf[k])) return -1;
    *value = v;
    *value_end = ve;
    return 0;
}

static void copy_truncated(char dst[65], const char *src, size_t n) {
    if (n > 64) n = 64;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Checks the fixed part of the status line, "HTTP/1.d SP ddd", against however many bytes are there, so that a
 * peer that is not speaking HTTP is rejected at once instead of when the connection times out. */
static int status_prefix_ok(const char *buf, size_t len) {
    static const char pat[] = "HTTP/1.# ###";
    size_t n = len < 12 ? len : 12;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (pat[i] == '#') {
            if (c < '0' || c > '9') return 0;
            if (i == 9 && (c < '1' || c > '5')) return 0;
        } else if (c != pat[i]) {
            return 0;
        }
    }
    return 1;
}

/* Parses the chunk-size line at `p`: 1*HEXDIG [BWS] [; chunk-ext] CRLF. Returns 1 (with *size and *data, the
 * index just after the CRLF), 0 when more bytes are needed, -1 when malformed. Extensions are skipped: the
 * agent never sends any, but a proxy in between may. */
static int chunk_line(const char *buf, size_t p, size_t len, size_t *size, size_t *data) {
    size_t start = p;
    size_t lim = (len - start > MAX_CHUNK_LINE) ? start + MAX_CHUNK_LINE : len;
    int over = lim < len; /* reaching `lim` then means "too long", not "need more" */
    size_t n = 0;
    int h;
    while (p < lim && (h = hex_value(buf[p])) >= 0) {
        if (n > (SIZE_MAX >> 4)) return -1;
        n = (n << 4) | (size_t)h;
        p++;
    }
    if (p == lim) return over ? -1 : 0;
    if (p == start) return -1;
    while (p < lim && is_ows(buf[p])) p++;
    if (p < lim && buf[p] == ';') {
        while (p < lim && buf[p] != '\r') {
            unsigned char c = (unsigned char)buf[p];
            if (c != '\t' && (c < 0x20 || c == 0x7f)) return -1;
            p++;
        }
    }
    if (p == lim) return over ? -1 : 0;
    if (buf[p] != '\r') return -1;
    if (p + 1 == len) return 0;
    if (buf[p + 1] != '\n') return -1;
    *size = n;
    *data = p + 2;
    return 1;
}

/* Walks a chunked body starting at `p`. With `compact`, moves each chunk's data down to `dst` (the copy only
 * ever moves bytes towards the start, behind the parse position, so nothing still unread is overwritten).
 * Returns the index just past the trailer section, 0 when more bytes are needed, or -1 when malformed. */
static long walk_chunks(char *buf, size_t len, size_t p, int compact, size_t dst, size_t *body_length) {
    size_t total = 0;
    for (;;) {
        size_t size, data;
        int r = chunk_line(buf, p, len, &size, &data);
        if (r <= 0) return r;
        if (size == 0) {
            /* Trailer fields: validated like header fields, then ignored. */
            size_t q = data;
            for (;;) {
                size_t eol;
                r = find_eol(buf, q, len, data + MAX_TRAILERS, &eol);
                if (r <= 0) return r;
                if (eol == q) {
                    *body_length = total;
                    return (long)(eol + 2);
                }
                size_t ne, v, ve;
                if (split_field(buf, q, eol, &ne, &v, &ve) != 0) return -1;
                q = eol + 2;
            }
        }
        size_t avail = len - data;
        if (avail < size) return 0;
        if (avail - size < 2) {
            if (avail - size == 1 && buf[data + size] != '\r') return -1;
            return 0;
        }
        if (buf[data + size] != '\r' || buf[data + size + 1] != '\n') return -1;
        if (compact) memmove(buf + dst + total, buf + data, size);
        total += size;
        p = data + size + 2;
    }
}

long ddtrace_http_parse_response_ex(char *buf, size_t len, int at_eof, ddtrace_http_response *out,
                                    size_t *expected_total) {
    if (expected_total) *expected_total = 0;
    if (!out) return -EBADMSG;
    memset(out, 0, sizeof *out);
    if (!buf) return len ? -EBADMSG : 0;

    if (!status_prefix_ok(buf, len)) return -EBADMSG;
    size_t eol;
    int r = find_eol(buf, 0, len, MAX_HEAD, &eol);
    if (r < 0) return -EBADMSG;
    if (r == 0) return 0;
    if (eol < 12) return -EBADMSG;
    int http10 = buf[7] == '0';
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    /* "HTTP/1.1 200\r\n" (no reason, no space) is tolerated; otherwise SP reason-phrase. */
    if (eol > 12) {
        if (buf[12] != ' ') return -EBADMSG;
        for (size_t i = 13; i < eol; i++)
            if (!is_value_char((unsigned char)buf[i])) return -EBADMSG;
    }
    out->status = status;

    int saw_length = 0, chunked = 0, saw_te = 0, conn_close = 0, conn_keep_alive = 0;
    size_t content_length = 0;
    size_t pos = eol + 2;
    size_t head_end;
    for (;;) {
        r = find_eol(buf, pos, len, MAX_HEAD, &eol);
        if (r < 0) return -EBADMSG;
        if (r == 0) return 0;
        if (eol == pos) {
            head_end = eol + 2;
            break;
        }
        size_t name_end, v, ve;
        if (split_field(buf, pos, eol, &name_end, &v, &ve) != 0) return -EBADMSG;
        const char *name = buf + pos;
        size_t name_len = name_end - pos;
        if (ieq(name, name_len, "content-length")) {
            if (v == ve) return -EBADMSG;
            size_t n = 0;
            for (size_t i = v; i < ve; i++) {
                char c = buf[i];
                if (c < '0' || c > '9') return -EBADMSG; /* also rejects "-1", "+1" and "5, 5" */
                size_t d = (size_t)(c - '0');
                if (n > (SIZE_MAX - d) / 10) return -EBADMSG;
                n = n * 10 + d;
            }
            if (saw_length && n != content_length) return -EBADMSG;
            saw_length = 1;
            content_length = n;
        } else if (ieq(name, name_len, "transfer-encoding")) {
            /* Only "chunked" alone: we never ask for compressed codings, and anything else is unframeable. */
            if (saw_te || !ieq(buf + v, ve - v, "chunked")) return -EBADMSG;
            saw_te = 1;
            chunked = 1;
        } else if (ieq(name, name_len, "connection")) {
            size_t i = v;
            while (i < ve) {
                size_t t = i;
                while (i < ve && buf[i] != ',') i++;
                size_t te = i;
                while (t < te && is_ows(buf[t])) t++;
                while (te > t && is_ows(buf[te - 1])) te--;
                if (ieq(buf + t, te - t, "close")) conn_close = 1;
                else if (ieq(buf + t, te - t, "keep-alive")) conn_keep_alive = 1;
                i++;
            }
        } else if (ieq(name, name_len, "datadog-agent-state")) {
            copy_truncated(out->agent_state, buf + v, ve - v);
        } else if (ieq(name, name_len, "datadog-rates-payload-version")) {
            copy_truncated(out->rates_payload_version, buf + v, ve - v);
        }
        pos = eol + 2;
    }

    /* Both framings at once is the classic request-smuggling shape; a well-behaved agent never sends it. */
    if (saw_length && chunked) return -EBADMSG;
    out->connection_close = conn_close || (http10 && !conn_keep_alive);
    out->body_offset = head_end;

    if ((status >= 100 && status < 200) || status == 204 || status == 304) {
        out->body_length = 0;
        return (long)head_end;
    }
    if (chunked) {
        size_t body_length = 0;
        long end = walk_chunks(buf, len, head_end, 0, head_end, &body_length);
        if (end < 0) return -EBADMSG;
        if (end == 0) return 0;
        walk_chunks(buf, len, head_end, 1, head_end, &body_length);
        out->body_length = body_length;
        return end;
    }
    if (saw_length) {
        if (content_length > SIZE_MAX - head_end || content_length > (size_t)LONG_MAX - head_end) return -EBADMSG;
        size_t total = head_end + content_length;
        if (len < total) {
            if (expected_total) *expected_total = total;
            return 0;
        }
        out->body_length = content_length;
        return (long)total;
    }
    /* Neither Content-Length nor chunked: the body runs until the server closes the connection. */
    out->connection_close = 1;
    if (!at_eof) return 0;
    out->body_length = len - head_end;
    return (long)len;
}

long ddtrace_http_parse_response(char *buf, size_t len, ddtrace_http_response *out) {
    return ddtrace_http_parse_response_ex(buf, len, 0, out, NULL);
}

/* libFuzzer harness for the C HTTP/1.1 code in CShims/ddtrace_http.c, at C speed.
 *
 * The input is an agent response. It is parsed the way the transport parses it (ddtrace_http_parse_response_ex,
 * re-run from the start each time more bytes arrive, then once more at end of stream), and these invariants are
 * checked with abort() so that libFuzzer records the input:
 *  - the result is -EBADMSG, 0 (need more) or a length within the bytes given;
 *  - a complete response's body lies within it, its status has three digits, the fixed strings are terminated;
 *  - arrival in pieces does not change the verdict: every shorter prefix of a complete response of R bytes
 *    needs more (0), exactly R bytes give R, bytes after it are ignored, a malformed prefix stays malformed,
 *    and a length announced early (`expected_total`) is the length finally found;
 *  - end of stream only completes a response the parser was waiting for, never changes one already complete;
 *  - the body is the response's content: the bytes after the head, or those bytes de-chunked (checked against
 *    a naive de-chunking of the original bytes, since the parser de-chunks in place).
 * The same bytes, split at NULs into method, path, host and header names and values, also go through
 * ddtrace_http_format_request, whose output must be exactly one request head: CR and LF only as line ends.
 *
 * Each parse works on a fresh malloc'ed copy of exactly the bytes it may read, so AddressSanitizer reports any
 * read past them. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddtrace_http.h"

/* Private to the CShims target (CShims/ddtrace_http_internal.h is not a public header); keep in sync. */
long ddtrace_http_parse_response_ex(char *buf, size_t len, int at_eof, ddtrace_http_response *out,
                                    size_t *expected_total);

#define CHECK(cond, ...)                                                                                         \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            fprintf(stderr, "fuzzing invariant violated: " __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                                                 \
            abort();                                                                                             \
        }                                                                                                        \
    } while (0)

typedef struct {
    long result;
    size_t expected_total;
    ddtrace_http_response response;
    char *body; /* a copy of the (de-chunked) body when result > 0, else NULL; the caller frees it */
} parse_outcome;

static parse_outcome parse(const uint8_t *data, size_t len, int at_eof) {
    parse_outcome outcome;
    /* malloc(0) may return NULL, which the parser treats as "no buffer": give it one byte it must not read. */
    char *copy = malloc(len ? len : 1);
    if (!copy) abort();
    if (len) memcpy(copy, data, len);
    outcome.result = ddtrace_http_parse_response_ex(copy, len, at_eof, &outcome.response, &outcome.expected_total);
    outcome.body = NULL;
    if (outcome.result > 0 && outcome.response.body_offset <= len &&
        outcome.response.body_length <= len - outcome.response.body_offset) {
        outcome.body = malloc(outcome.response.body_length + 1);
        if (!outcome.body) abort();
        memcpy(outcome.body, copy + outcome.response.body_offset, outcome.response.body_length);
    }
    free(copy);
    return outcome;
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The body a complete response of `total` bytes must yield, computed independently of the parser: the bytes after
 * the head as they are (Content-Length, end of stream), or else de-chunked by a naive walk that trusts the framing
 * the parser accepted. Returns 1 when `body` (of `length` bytes) is one of those. */
static int body_matches(const uint8_t *data, size_t head_end, size_t total, const char *body, size_t length) {
    if (length == total - head_end && memcmp(body, data + head_end, length) == 0) return 1;
    size_t p = head_end, out = 0;
    for (;;) {
        size_t size = 0;
        int h;
        while (p < total && (h = hex_digit(data[p])) >= 0) size = size * 16 + (size_t)h, p++;
        while (p + 1 < total && !(data[p] == '\r' && data[p + 1] == '\n')) p++; /* extensions */
        if (p + 1 >= total) return 0;
        p += 2;
        if (size == 0) return out == length;
        if (size > total - p || out + size > length || memcmp(body + out, data + p, size) != 0) return 0;
        out += size;
        p += size + 2;
    }
}

static int terminated(const char *field, size_t size) { return memchr(field, 0, size) != NULL; }

static void check_outcome(const parse_outcome *o, size_t len, const char *what) {
    long r = o->result;
    CHECK(r == -EBADMSG || (r >= 0 && (size_t)r <= len), "%s: result %ld for %zu bytes", what, r, len);
    CHECK(terminated(o->response.agent_state, sizeof o->response.agent_state), "%s: agent_state", what);
    CHECK(terminated(o->response.rates_payload_version, sizeof o->response.rates_payload_version),
          "%s: rates_payload_version", what);
    if (r > 0) {
        CHECK(o->response.status >= 100 && o->response.status <= 599, "%s: status %d", what, o->response.status);
        CHECK(o->response.body_offset <= (size_t)r && o->response.body_length <= (size_t)r - o->response.body_offset,
              "%s: body %zu+%zu outside %ld bytes", what, o->response.body_offset, o->response.body_length, r);
    }
    if (r != 0) CHECK(o->expected_total == 0, "%s: expected_total %zu with result %ld", what, o->expected_total, r);
    if (r == 0 && o->expected_total)
        CHECK(o->expected_total > len, "%s: expected_total %zu within %zu bytes", what, o->expected_total, len);
}

static void fuzz_parser(const uint8_t *data, size_t size) {
    parse_outcome whole = parse(data, size, 0);
    check_outcome(&whole, size, "whole input");
    long r = whole.result;

    if (r > 0) {
        CHECK(body_matches(data, whole.response.body_offset, (size_t)r, whole.body, whole.response.body_length),
              "the %zu-byte body is not the response's content (de-chunked)", whole.response.body_length);
        /* Exactly the response: same verdict and body. */
        parse_outcome exact = parse(data, (size_t)r, 0);
        CHECK(exact.result == r && exact.response.body_length == whole.response.body_length &&
                  memcmp(exact.body, whole.body, whole.response.body_length) == 0,
              "the first %ld bytes alone give %ld", r, exact.result);
        free(exact.body);
        /* Every shorter prefix needs more. Quadratic, so only for the response sizes the agent sends. */
        size_t step = (size_t)r <= 512 ? 1 : (size_t)r / 256;
        for (size_t m = 0; m < (size_t)r; m += step) {
            parse_outcome prefix = parse(data, m, 0);
            free(prefix.body);
            check_outcome(&prefix, m, "prefix");
            CHECK(prefix.result == 0, "prefix of %zu bytes of a %ld-byte response gives %ld", m, r, prefix.result);
            if (prefix.expected_total)
                CHECK(prefix.expected_total == (size_t)r, "prefix of %zu bytes announced %zu, response is %ld", m,
                      prefix.expected_total, r);
        }
    } else if (r == -EBADMSG && size <= 512) {
        /* Once malformed, more bytes cannot repair it: find the shortest malformed prefix, then check longer
         * ones stay malformed (the transport stops reading at the first -EBADMSG). */
        size_t first = size;
        for (size_t m = 0; m < size; m++) {
            parse_outcome prefix = parse(data, m, 0);
            free(prefix.body);
            check_outcome(&prefix, m, "prefix");
            CHECK(prefix.result <= 0, "prefix of %zu bytes complete (%ld) but the whole input is malformed", m,
                  prefix.result);
            if (prefix.result == -EBADMSG) {
                first = m;
                break;
            }
        }
        if (first < size) {
            parse_outcome longer = parse(data, first + (size - first) / 2, 0);
            free(longer.body);
            CHECK(longer.result == -EBADMSG, "malformed at %zu bytes, but %ld at %zu", first, longer.result,
                  first + (size - first) / 2);
        }
    }

    /* End of stream. */
    parse_outcome eof = parse(data, size, 1);
    check_outcome(&eof, size, "at end of stream");
    if (r != 0) CHECK(eof.result == r, "end of stream changed %ld into %ld", r, eof.result);
    if (eof.result > 0)
        CHECK(body_matches(data, eof.response.body_offset, (size_t)eof.result, eof.body, eof.response.body_length),
              "at end of stream, the %zu-byte body is not the response's content", eof.response.body_length);
    free(eof.body);
    free(whole.body);
}

/* Splits the input at NULs into method, path, host, then name/value pairs (at most 8). */
static void fuzz_formatter(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    const char *fields[3 + 16];
    size_t count = 0;
    for (size_t start = 0; start <= size && count < sizeof fields / sizeof fields[0];) {
        fields[count++] = text + start;
        start += strlen(text + start) + 1;
    }
    if (count < 3) {
        free(text);
        return;
    }
    ddtrace_http_header headers[8];
    size_t header_count = (count - 3) / 2;
    for (size_t i = 0; i < header_count; i++) {
        headers[i].name = fields[3 + 2 * i];
        headers[i].value = fields[4 + 2 * i];
    }
    long long content_length = size % 3 == 0 ? -1 : (long long)size;
    size_t cap = 256 + size * 2;
    char *out = malloc(cap);
    if (!out) abort();
    long n = ddtrace_http_format_request(out, cap, fields[0], fields[1], fields[2], headers, header_count,
                                         content_length);
    CHECK(n == -EINVAL || n == -E2BIG || (n > 0 && (size_t)n <= cap), "format_request returned %ld", n);
    if (n > 0) {
        /* Request line, Host, the headers, Content-Length if any, and the empty line: CR only before LF, LF only
         * after CR, and exactly that many line ends. */
        size_t lines = 0;
        for (long i = 0; i < n; i++) {
            if (out[i] == '\r') CHECK(i + 1 < n && out[i + 1] == '\n', "bare CR at %ld", i);
            if (out[i] == '\n') {
                CHECK(i > 0 && out[i - 1] == '\r', "bare LF at %ld", i);
                lines++;
            }
        }
        size_t expected = 2 + header_count + (content_length >= 0 ? 1 : 0) + 1;
        CHECK(lines == expected, "%zu lines in the request head, expected %zu", lines, expected);
        CHECK(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0, "the head does not end with an empty line");
    }
    free(out);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_parser(data, size);
    fuzz_formatter(data, size);
    return 0;
}

/* Private to the CShims target (not under include/, so Swift never sees it): the parser entry point the
 * transport needs in addition to the public ddtrace_http_parse_response. */
#ifndef DDTRACE_HTTP_INTERNAL_H
#define DDTRACE_HTTP_INTERNAL_H

#include "ddtrace_http.h"

/* ddtrace_http_parse_response with two additions for the transport:
 *  - `at_eof` != 0 says the peer closed the connection after buf[0..len), so a response delimited by the close
 *    (no Content-Length, not chunked) is complete and its body is everything after the header section;
 *  - `*expected_total` (if not NULL) is set, whenever the function returns 0 and already knows it, to the total
 *    number of bytes the response will occupy (header section + Content-Length), and to 0 otherwise, so the
 *    caller can size its buffer once or reject an oversized response without reading it. */
long ddtrace_http_parse_response_ex(char *buf, size_t len, int at_eof, ddtrace_http_response *out,
                                    size_t *expected_total);

#endif

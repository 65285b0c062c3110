/* CDDTraceShims: the C half of swift-dd-trace.
 *
 * Only what Swift cannot express (or not as fast) lives here:
 *  - ddtrace_runtime.h   thread-local storage and clock reads as `static inline` functions;
 *  - ddtrace_msgpack.h   msgpack-c's pack template specialised to append straight into a flat buffer;
 *  - ddtrace_http.h      HTTP/1.1 request framing and response parsing for the agent protocol;
 *  - ddtrace_transport.h the agent connection: io_uring when the kernel allows it, plain sockets otherwise;
 *  - ddtrace_floor.h     the "physical floor" loop used by the benchmarks.
 * Every symbol is prefixed `ddtrace_` / `DDTRACE_`. None of these headers includes <liburing.h>. */
#ifndef CDDTRACESHIMS_H
#define CDDTRACESHIMS_H

#include "ddtrace_runtime.h"
#include "ddtrace_msgpack.h"
#include "ddtrace_http.h"
#include "ddtrace_transport.h"
#include "ddtrace_floor.h"

#endif

/* The agent connection: io_uring when the kernel allows it, plain non-blocking sockets otherwise
 * (see ddtrace_transport.h).
 *
 * <liburing.h> is included here and nowhere else: it defines _XOPEN_SOURCE/_GNU_SOURCE-dependent things that
 * break Swift's Glibc module when they leak into a header Swift imports. */
#define _GNU_SOURCE
#include "ddtrace_transport.h"
#include "ddtrace_http_internal.h"

#include <liburing.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RBUF_INITIAL ((size_t)16 * 1024)
#define RBUF_MAX ((size_t)8 * 1024 * 1024)
/* After a response that made the buffer grow past this, give the memory back at the next exchange. */
#define RBUF_KEEP ((size_t)1024 * 1024)

/* An io_uring submission is the operation plus its linked timeout; 8 entries leave room for a cancel. */
#define RING_ENTRIES 8
enum { TAG_OP = 1, TAG_TIMEOUT = 2, TAG_CANCEL = 3 };
/* If the kernel somehow never completes a deadline-bounded operation, stop waiting this long after the deadline. */
#define BACKSTOP_NS (2LL * 1000000000LL)

struct ddtrace_conn {
    int kind;
    char *host;
    int port;
    struct sockaddr_un sun;
    socklen_t sun_len;

    int fd;
    int backend;
    int uring_error;
    int ring_initialized;
    struct io_uring ring;

    char *rbuf;
    size_t rcap;

    uint64_t bytes_sent;
    uint64_t connects;

    /* See ddtrace_conn_set_wait_hook. */
    ddtrace_conn_wait_hook wait_hook;
    void *wait_hook_context;
    int64_t wait_hook_slice_ns;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Creation */

int ddtrace_conn_create(int kind, const char *host, int port, const char *path, int try_io_uring,
                        ddtrace_conn **out) {
    if (!out) return -EINVAL;
    *out = NULL;
    if (kind == DDTRACE_ENDPOINT_TCP) {
        if (!host || !*host || port <= 0 || port > 65535) return -EINVAL;
    } else if (kind == DDTRACE_ENDPOINT_UNIX) {
        if (!path || !*path) return -EINVAL;
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return -ENAMETOOLONG;
    } else {
        return -EINVAL;
    }

    ddtrace_conn *c = (ddtrace_conn *)calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->kind = kind;
    c->fd = -1;
    c->backend = DDTRACE_BACKEND_PLAIN;
    if (kind == DDTRACE_ENDPOINT_TCP) {
        c->host = strdup(host);
        if (!c->host) { free(c); return -ENOMEM; }
        c->port = port;
    } else {
        size_t n = strlen(path);
        c->sun.sun_family = AF_UNIX;
        memcpy(c->sun.sun_path, path, n + 1);
        c->sun_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }

    if (try_io_uring) {
        int r = io_uring_queue_init(RING_ENTRIES, &c->ring, 0);
        if (r == 0) {
            /* Kernels that have io_uring but predate the opcodes we use (or a seccomp profile that filters
             * them) count as "no io_uring": better to find out here than on the first flush. */
            struct io_uring_probe *probe = io_uring_get_probe_ring(&c->ring);
            if (!probe || !io_uring_opcode_supported(probe, IORING_OP_SENDMSG) ||
                !io_uring_opcode_supported(probe, IORING_OP_RECV) ||
                !io_uring_opcode_supported(probe, IORING_OP_LINK_TIMEOUT) ||
                !io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL)) {
                r = -EOPNOTSUPP;
                io_uring_queue_exit(&c->ring);
            }
            if (probe) io_uring_free_probe(probe);
        }
        if (r == 0) {
            c->ring_initialized = 1;
            c->backend = DDTRACE_BACKEND_IO_URING;
        } else {
            c->uring_error = r < 0 ? r : -EIO;
        }
    }
    *out = c;
    return 0;
}

void ddtrace_conn_close(ddtrace_conn *c) {
    if (c && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

void ddtrace_conn_destroy(ddtrace_conn *c) {
    if (!c) return;
    ddtrace_conn_close(c);
    if (c->ring_initialized) io_uring_queue_exit(&c->ring);
    free(c->host);
    free(c->rbuf);
    free(c);
}

int ddtrace_conn_backend(const ddtrace_conn *c) { return c ? c->backend : DDTRACE_BACKEND_PLAIN; }
int ddtrace_conn_io_uring_error(const ddtrace_conn *c) { return c ? c->uring_error : 0; }
uint64_t ddtrace_conn_bytes_sent(const ddtrace_conn *c) { return c ? c->bytes_sent : 0; }
uint64_t ddtrace_conn_connects(const ddtrace_conn *c) { return c ? c->connects : 0; }

/* ---------------------------------------------------------------------------------------------------------- */
/* Waiting and connecting (shared by both backends) */

/* Waits for `events` on fd until the deadline: 1 when ready, 0 when the deadline passed, or -errno. With a
 * connection that has a wait hook (ddtrace_conn_set_wait_hook), waits one slice at a time and calls the hook
 * between slices; `hooked` is NULL while connecting, which does not call it. */
static int wait_fd(int fd, short events, int64_t deadline, const ddtrace_conn *hooked) {
    for (;;) {
        int64_t rem = deadline - now_ns();
        if (rem <= 0) return 0;
        int sliced = hooked && hooked->wait_hook && rem > hooked->wait_hook_slice_ns;
        /* Round a whole wait up to the next millisecond, so we never spin on a sub-millisecond remainder. */
        int64_t wait_ns = sliced ? hooked->wait_hook_slice_ns : (rem + 999999) / 1000000 * 1000000;
        struct timespec ts = {.tv_sec = wait_ns / 1000000000LL, .tv_nsec = wait_ns % 1000000000LL};
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = ppoll(&p, 1, &ts, NULL);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -errno;
        if (r == 0 && sliced) hooked->wait_hook(hooked->wait_hook_context);
    }
}

static int connect_one(const struct sockaddr *sa, socklen_t len, int family, int64_t deadline, int *out_fd) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno == EMFILE || errno == ENFILE || errno == ENOBUFS ? -ENOMEM : -errno;
    if (family != AF_UNIX) {
        /* Head and body leave in one writev; without NODELAY a small body could wait for the agent's ACK. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    for (;;) {
        if (connect(fd, sa, len) == 0) break;
        int e = errno;
        if (e == EINPROGRESS || e == EINTR) {
            /* An interrupted non-blocking connect keeps going in the background, like EINPROGRESS. */
            int r = wait_fd(fd, POLLOUT, deadline, NULL);
            if (r <= 0) { close(fd); return r == 0 ? -ETIMEDOUT : r; }
            int err = 0;
            socklen_t elen = sizeof err;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
            if (err != 0) { close(fd); return -err; }
            break;
        }
        if (e == EAGAIN && family == AF_UNIX) {
            /* A unix listener with a full backlog refuses non-blocking connects with EAGAIN instead of queueing
             * them; retry briefly until the deadline. */
            int64_t rem = deadline - now_ns();
            if (rem <= 0) { close(fd); return -ETIMEDOUT; }
            int64_t ms = rem / 1000000 + 1;
            (void)poll(NULL, 0, ms > 5 ? 5 : (int)ms);
            continue;
        }
        close(fd);
        return -e;
    }
    *out_fd = fd;
    return 0;
}

static int open_socket(ddtrace_conn *c, int64_t deadline) {
    int fd = -1, r;
    if (c->kind == DDTRACE_ENDPOINT_UNIX) {
        r = connect_one((const struct sockaddr *)&c->sun, c->sun_len, AF_UNIX, deadline, &fd);
    } else {
        char service[16];
        snprintf(service, sizeof service, "%d", c->port);
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        /* No AI_ADDRCONFIG: in a container with only a loopback interface it hides 127.0.0.1 as well. Note that
         * getaddrinfo itself cannot be bounded by the deadline; literals (the usual agent host) resolve at once. */
        struct addrinfo *res = NULL;
        int g = getaddrinfo(c->host, service, &hints, &res);
        if (g != 0) return g == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
        r = -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            r = connect_one(ai->ai_addr, ai->ai_addrlen, ai->ai_family, deadline, &fd);
            if (r == 0 || r == -ETIMEDOUT || r == -ENOMEM) break;
        }
        freeaddrinfo(res);
    }
    if (r != 0) return r;
    if (c->backend == DDTRACE_BACKEND_IO_URING) {
        /* io_uring waits by arming its own internal poll. SENDMSG/RECV take their blocking mode from the
         * MSG_DONTWAIT flag rather than the file's O_NONBLOCK (no difference observed on 6.x), but a plain
         * blocking socket keeps us independent of that detail across kernel versions. The plain path passes
         * MSG_DONTWAIT per call, so it works on either kind of socket (if the ring breaks mid-connection). */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    c->fd = fd;
    c->connects++;
    return 0;
}

/* A kept-alive socket with something to read before we sent anything has been closed by the agent (EOF or
 * RST), or holds stray bytes we could not attribute to a response: either way, do not reuse it. */
static int idle_socket_usable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
    int r = poll(&p, 1, 0);
    return r == 0 || (r < 0 && errno == EINTR);
}

/* Drops `n` sent bytes from the front of the iovec array (and any empty entries). */
static void advance(struct iovec **iov, int *count, size_t n) {
    while (*count > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*count)--;
    }
    if (*count > 0 && n > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Plain backend: MSG_DONTWAIT + poll(2). MSG_NOSIGNAL turns a peer reset into EPIPE instead of SIGPIPE,
 * without touching the process-wide signal disposition the application may rely on. */

/* After a non-blocking send or receive on the connection failed (errno still set by it): 1 to try again (it was
 * interrupted, or the socket is now ready for `events`), or the negative error to return: -ETIMEDOUT once the
 * deadline has passed, -errno for a real failure. */
static int retry_after_failure(const ddtrace_conn *c, short events, int64_t deadline) {
    if (errno == EINTR) return 1;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    int r = wait_fd(c->fd, events, deadline, c);
    return r == 0 ? -ETIMEDOUT : r;
}

static int plain_send(ddtrace_conn *c, struct iovec *iov, int count, int64_t deadline) {
    advance(&iov, &count, 0);
    while (count > 0) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)count;
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            int r = retry_after_failure(c, POLLOUT, deadline);
            if (r < 0) return r;
            continue;
        }
        c->bytes_sent += (uint64_t)n;
        advance(&iov, &count, (size_t)n);
    }
    return 0;
}

static long plain_recv(ddtrace_conn *c, char *buf, size_t len, int64_t deadline) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (n >= 0) return (long)n;
        int r = retry_after_failure(c, POLLIN, deadline);
        if (r < 0) return r;
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* io_uring backend: each operation is linked to an IORING_OP_LINK_TIMEOUT at the absolute deadline
 * (CLOCK_MONOTONIC), so the kernel cancels it when time is up; both completions are reaped before returning,
 * so no request is ever left in flight referencing our stack or a closed fd. */

enum { URING_SENDMSG, URING_RECV };

/* Marks the ring unusable after an infrastructure failure (not an I/O error): later exchanges use the plain
 * backend. Whatever is left in the SQ ring is never submitted. */
static int uring_broken(ddtrace_conn *c, int err) {
    c->backend = DDTRACE_BACKEND_PLAIN;
    c->uring_error = err < 0 ? err : -EIO;
    return err < 0 ? err : -EIO;
}

static int uring_exec(ddtrace_conn *c, int op, struct msghdr *msg, char *buf, size_t len, int64_t deadline) {
    struct io_uring *ring = &c->ring;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    struct io_uring_sqe *tsqe = sqe ? io_uring_get_sqe(ring) : NULL;
    if (!sqe || !tsqe) return uring_broken(c, -EBUSY);
    if (op == URING_SENDMSG) io_uring_prep_sendmsg(sqe, c->fd, msg, MSG_NOSIGNAL);
    else io_uring_prep_recv(sqe, c->fd, buf, len, 0);
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, TAG_OP);
    /* Read by the kernel at submission (copied into the request), so a stack variable is fine. */
    struct __kernel_timespec ts = {.tv_sec = deadline / 1000000000LL, .tv_nsec = deadline % 1000000000LL};
    io_uring_prep_link_timeout(tsqe, &ts, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(tsqe, TAG_TIMEOUT);

    int submitted = 0;
    while (submitted < 2) {
        int r = io_uring_submit(ring);
        if (r == -EINTR) continue;
        if (r <= 0) {
            if (submitted == 0) return uring_broken(c, r < 0 ? r : -EIO);
            break; /* the part that went in still completes; reap it below */
        }
        submitted += r;
    }

    int expected = submitted, reaped = 0, op_res = -ECANCELED, timer_fired = 0, forced = 0;
    while (reaped < expected) {
        struct io_uring_cqe *cqe = NULL;
        int r;
        if (!forced) {
            int64_t rem = deadline + BACKSTOP_NS - now_ns();
            if (rem < 0) rem = 0;
            /* With a wait hook, wait one slice at a time and call it in between. The operation stays in flight
             * meanwhile (its msghdr lives in our caller's frame, which outlives this loop). */
            int sliced = c->wait_hook && rem > c->wait_hook_slice_ns;
            int64_t wait_ns = sliced ? c->wait_hook_slice_ns : rem;
            struct __kernel_timespec wait = {.tv_sec = wait_ns / 1000000000LL, .tv_nsec = wait_ns % 1000000000LL};
            r = io_uring_wait_cqe_timeout(ring, &cqe, &wait);
            if (r == -ETIME && sliced) {
                c->wait_hook(c->wait_hook_context);
                continue;
            }
        } else {
            r = io_uring_wait_cqe(ring, &cqe);
        }
        if (r == -EINTR) continue;
        if (r == -ETIME && !forced) {
            /* The linked timeout should have fired long ago. Force the operation to finish: shutdown wakes a
             * blocked send/recv, the cancel covers anything else; then wait for it without a limit. */
            forced = 1;
            timer_fired = 1;
            (void)shutdown(c->fd, SHUT_RDWR);
            struct io_uring_sqe *csqe = io_uring_get_sqe(ring);
            if (csqe) {
                io_uring_prep_cancel64(csqe, TAG_OP, 0);
                io_uring_sqe_set_data64(csqe, TAG_CANCEL);
                if (io_uring_submit(ring) == 1) expected++;
            }
            continue;
        }
        if (r < 0) {
            /* Cannot happen with a sane kernel. Do not return with a request still in flight (a recv would
             * write into rbuf later, a sendmsg read our stack): wake it with shutdown and drain what we can. */
            (void)shutdown(c->fd, SHUT_RDWR);
            while (reaped < expected) {
                int w = io_uring_wait_cqe(ring, &cqe);
                if (w == -EINTR) continue;
                if (w < 0) break;
                io_uring_cqe_seen(ring, cqe);
                reaped++;
            }
            return uring_broken(c, r);
        }
        switch (io_uring_cqe_get_data64(cqe)) {
        case TAG_OP: op_res = cqe->res; break;
        case TAG_TIMEOUT: if (cqe->res == -ETIME) timer_fired = 1; break;
        default: break;
        }
        io_uring_cqe_seen(ring, cqe);
        reaped++;
    }
    if (submitted < 2) return uring_broken(c, -EIO);
    /* -ECANCELED: the linked timeout (or our backstop) cancelled the operation, i.e. the deadline passed. */
    if (op_res == -ECANCELED || (op_res == -EINTR && timer_fired)) return -ETIMEDOUT;
    return op_res;
}

static int uring_send(ddtrace_conn *c, struct iovec *iov, int count, int64_t deadline) {
    advance(&iov, &count, 0);
    while (count > 0) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)count;
        int n = uring_exec(c, URING_SENDMSG, &msg, NULL, 0, deadline);
        if (n == -EINTR || n == -EAGAIN) {
            if (now_ns() >= deadline) return -ETIMEDOUT;
            continue;
        }
        if (n < 0) return n;
        if (n == 0) return -EPIPE; /* cannot happen for a non-empty stream send; never loop on it */
        c->bytes_sent += (uint64_t)n;
        /* A short write (signal, socket buffer limits): resubmit what is left. */
        advance(&iov, &count, (size_t)n);
    }
    return 0;
}

static long uring_recv(ddtrace_conn *c, char *buf, size_t len, int64_t deadline) {
    for (;;) {
        int n = uring_exec(c, URING_RECV, NULL, buf, len > INT_MAX ? INT_MAX : len, deadline);
        if (n == -EINTR || n == -EAGAIN) {
            if (now_ns() >= deadline) return -ETIMEDOUT;
            continue;
        }
        return n;
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* The exchange */

static int send_all(ddtrace_conn *c, struct iovec *iov, int count, int64_t deadline) {
    if (c->backend == DDTRACE_BACKEND_IO_URING) return uring_send(c, iov, count, deadline);
    return plain_send(c, iov, count, deadline);
}

static long recv_some(ddtrace_conn *c, char *buf, size_t len, int64_t deadline) {
    if (c->backend == DDTRACE_BACKEND_IO_URING) return uring_recv(c, buf, len, deadline);
    return plain_recv(c, buf, len, deadline);
}

static int grow(ddtrace_conn *c, size_t wanted) {
    if (wanted <= c->rcap) return 0;
    if (wanted > RBUF_MAX) return -EBADMSG;
    size_t cap = c->rcap ? c->rcap : RBUF_INITIAL;
    while (cap < wanted) cap *= 2;
    if (cap > RBUF_MAX) cap = RBUF_MAX;
    char *b = (char *)realloc(c->rbuf, cap);
    if (!b) return -ENOMEM;
    c->rbuf = b;
    c->rcap = cap;
    return 0;
}

void ddtrace_conn_set_wait_hook(ddtrace_conn *c, ddtrace_conn_wait_hook hook, void *context, int slice_us) {
    if (!c) return;
    c->wait_hook = hook;
    c->wait_hook_context = context;
    c->wait_hook_slice_ns = (int64_t)(slice_us > 0 ? slice_us : 200) * 1000;
}

/* Reads until one complete final response is in rbuf. Interim 1xx responses (100 Continue, 103 Early Hints)
 * are skipped. *received says whether any byte arrived, for the resend-on-stale-socket decision. */
static int read_response(ddtrace_conn *c, int64_t deadline, ddtrace_http_response *resp, size_t *used_out,
                         size_t *consumed_out, int *received) {
    size_t used = 0;
    int eof = 0;
    *received = 0;
    for (;;) {
        size_t expected = 0;
        long n = ddtrace_http_parse_response_ex(c->rbuf, used, eof, resp, &expected);
        if (n < 0) return -EBADMSG;
        if (n > 0) {
            if (resp->status >= 100 && resp->status < 200) {
                if (resp->status == 101) return -EBADMSG; /* we never ask to switch protocols */
                memmove(c->rbuf, c->rbuf + n, used - (size_t)n);
                used -= (size_t)n;
                continue;
            }
            *used_out = used;
            *consumed_out = (size_t)n;
            return 0;
        }
        if (eof) return -ECONNRESET; /* closed mid-response (or before it) */
        if (expected > RBUF_MAX) return -EBADMSG;
        int g = grow(c, expected > used + 1 ? expected : used + 1);
        if (g != 0) return g;
        if (used == c->rcap) return -EBADMSG;
        long got = recv_some(c, c->rbuf + used, c->rcap - used, deadline);
        if (got < 0) return (int)got;
        if (got == 0) {
            eof = 1;
            continue;
        }
        *received = 1;
        used += (size_t)got;
    }
}

static int fail(ddtrace_conn *c, int err) {
    ddtrace_conn_close(c);
    return err;
}

int ddtrace_conn_exchange(ddtrace_conn *c, const void *head, size_t head_length, const void *body,
                          size_t body_length, int timeout_ms, ddtrace_http_response *response, const char **body_out) {
    return ddtrace_conn_exchange_prefixed(c, head, head_length, NULL, 0, body, body_length, timeout_ms, response,
                                          body_out);
}

int ddtrace_conn_exchange_prefixed(ddtrace_conn *c, const void *head, size_t head_length, const void *prefix,
                                   size_t prefix_length, const void *body, size_t body_length, int timeout_ms,
                                   ddtrace_http_response *response, const char **body_out) {
    if (body_out) *body_out = NULL;
    if (!c || !response || (!head && head_length) || (!prefix && prefix_length) || (!body && body_length) ||
        timeout_ms <= 0)
        return -EINVAL;
    if (head_length + prefix_length < head_length || head_length + prefix_length + body_length < body_length)
        return -EINVAL;
    memset(response, 0, sizeof *response);
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000LL;

    /* The previous body pointer is documented as valid only until this call, so a buffer grown by one large
     * response can shrink back now. */
    if (c->rcap > RBUF_KEEP) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    int r = grow(c, RBUF_INITIAL);
    if (r != 0) return fail(c, r);

    for (int attempt = 0;; attempt++) {
        int reused = 0;
        if (c->fd >= 0) {
            if (idle_socket_usable(c->fd)) reused = 1;
            else ddtrace_conn_close(c);
        }
        if (c->fd < 0) {
            r = open_socket(c, deadline);
            if (r != 0) return fail(c, r);
        }

        struct iovec iov[3] = {
            {.iov_base = (void *)head, .iov_len = head_length},
            {.iov_base = (void *)prefix, .iov_len = prefix_length},
            {.iov_base = (void *)body, .iov_len = body_length},
        };
        r = send_all(c, iov, 3, deadline);
        int received = 0;
        size_t used = 0, consumed = 0;
        if (r == 0) r = read_response(c, deadline, response, &used, &consumed, &received);
        if (r != 0) {
            /* The agent closes idle keep-alive connections (Go's IdleTimeout); if ours went stale between
             * flushes, the request never reached a live handler, so sending it once more is safe. */
            if (reused && attempt == 0 && !received && (r == -EPIPE || r == -ECONNRESET)) {
                ddtrace_conn_close(c);
                continue;
            }
            return fail(c, r);
        }
        /* Close when the server said so, or when it sent more than one response (we never pipeline, so those
         * bytes cannot be matched to a request). */
        if (response->connection_close || used != consumed) ddtrace_conn_close(c);
        if (body_out) *body_out = c->rbuf + response->body_offset;
        return 0;
    }
}

/*
 * vendas, command ABI: a WASI program run once per request (CGI / WAGI).
 *
 * The request comes from the CGI environment (REQUEST_METHOD, PATH_INFO,
 * QUERY_STRING, CONTENT_LENGTH) and stdin; the CGI response goes to stdout.
 * Exit status 0 on success; 1 only when the response cannot be written.
 */
#include "pricing.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One byte more than the limit, so an oversized body without a
 * CONTENT_LENGTH is detected. */
static char body[VENDAS_MAX_BODY + 1];
static char response[VENDAS_OUT_CAP];

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL ? value : fallback;
}

/* Parses CONTENT_LENGTH: ASCII digits only. Values above `limit` are
 * reported as limit + 1 (too large) rather than parsed to the end. */
static int parse_length(const char *s, size_t limit, size_t *value)
{
    size_t v = 0;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        if (v <= limit)
            v = v * 10u + (size_t)(*s - '0'); /* v <= 65536: no overflow */
    }
    *value = v > limit ? limit + 1u : v;
    return 1;
}

/* Reads until `cap` bytes or end of file. Returns the count, -1 on error. */
static long read_up_to(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void log_line(const char *a, const char *b)
{
    /* Best effort: a failing stderr changes nothing. */
    (void)write_all(2, a, strlen(a));
    (void)write_all(2, b, strlen(b));
    (void)write_all(2, "\n", 1);
}

static void respond(out_buffer *out)
{
    const char *method = env_or("REQUEST_METHOD", "GET");
    const char *path = env_or("PATH_INFO", "");
    const char *query = env_or("QUERY_STRING", "");
    const char *content_length = getenv("CONTENT_LENGTH");
    size_t expected = 0;
    int have_length = content_length != NULL && content_length[0] != '\0';

    if (path[0] == '\0')
        path = "/";
    if (have_length) {
        if (!parse_length(content_length, VENDAS_MAX_BODY, &expected)) {
            respond_error(out, 400, "invalid CONTENT_LENGTH");
            return;
        }
        if (expected > VENDAS_MAX_BODY) {
            respond_error(out, 413, "request body larger than 65536 bytes");
            return;
        }
    }

    long got = read_up_to(0, body, have_length ? expected : sizeof body);
    if (got < 0) {
        log_line("vendas: cannot read stdin: ", strerror(errno));
        respond_error(out, 500, "cannot read the request body");
        return;
    }
    if (have_length && (size_t)got < expected) {
        respond_error(out, 400, "request body shorter than CONTENT_LENGTH");
        return;
    }
    if ((size_t)got > VENDAS_MAX_BODY) {
        respond_error(out, 413, "request body larger than 65536 bytes");
        return;
    }
    handle(method, path, query, body, (size_t)got, out);
}

int main(void)
{
    out_buffer out = { response, sizeof response, 0, 0 };

    respond(&out);
    if (out.overflow) {
        log_line("vendas: ", "response buffer overflow");
        return 1;
    }
    if (write_all(1, out.data, out.len) != 0) {
        log_line("vendas: cannot write the response: ", strerror(errno));
        return 1;
    }
    return 0;
}

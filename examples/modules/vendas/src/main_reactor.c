/*
 * vendas, reactor ABI: one instance serves many sequential requests.
 *
 * Exports (see docs/abi.md):
 *   sandbench_alloc(size) -> ptr      a buffer for the next request, 0 if none
 *   sandbench_handle(ptr, len) -> i64 (out_ptr << 32) | out_len
 * plus `memory` and `_initialize` (from the wasi-libc reactor start file).
 *
 * The request is an HTTP/1.1 request head and body. This file parses the head
 * and hands method, path, query and body to the same handle() the command
 * build uses, so both builds give byte-identical responses.
 */
#include "pricing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD    (8u * 1024u)    /* request line + headers; else 431 */
#define MAX_REQUEST (1024u * 1024u) /* sandbench_alloc refuses larger ones */

/* The request buffer is reused while it is large enough. */
static char *request;
static size_t request_cap;  /* bytes allocated at `request` */
static size_t request_size; /* size asked for by the last sandbench_alloc */

/* The response buffer is reused too: sandbench copies it out before the
 * next call. */
static char response[VENDAS_OUT_CAP];

static char method_buf[VENDAS_MAX_METHOD + 1];
static char path_buf[VENDAS_MAX_PATH + 1];
static char query_buf[VENDAS_MAX_QUERY + 1];

void *sandbench_alloc(int32_t size);
uint64_t sandbench_handle(const char *ptr, int32_t len);

void *sandbench_alloc(int32_t size)
{
    if (size < 0 || (uint32_t)size > MAX_REQUEST)
        return NULL;
    if ((size_t)size > request_cap || request == NULL) {
        free(request);
        request_cap = 0;
        request_size = 0;
        request = malloc(size > 0 ? (size_t)size : 1u);
        if (request == NULL)
            return NULL;
        request_cap = size > 0 ? (size_t)size : 1u;
    }
    request_size = (size_t)size;
    return request;
}

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 request head                                                    */
/* ------------------------------------------------------------------------ */

static int is_tchar(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int equals_nocase(const char *p, size_t n, const char *s)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = p[i], b = s[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* Finds the next line in p[*pos..len): returns its start and sets *n to its
 * length without the "\n" or "\r\n". Returns NULL when no "\n" is left. */
static const char *next_line(const char *p, size_t len, size_t *pos, size_t *n)
{
    const char *start = p + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    if (nl == NULL)
        return NULL;
    *n = (size_t)(nl - start);
    *pos += *n + 1u;
    if (*n > 0 && start[*n - 1] == '\r')
        (*n)--;
    return start;
}

/* Copies p[0..n) into a NUL-terminated buffer of n + 1 bytes or more. */
static void copy_string(char *dst, const char *p, size_t n)
{
    if (n > 0)
        memcpy(dst, p, n);
    dst[n] = '\0';
}

static void handle_request(const char *req, size_t len, out_buffer *out)
{
    size_t pos = 0, n = 0;
    size_t scan = len < MAX_HEAD ? len : MAX_HEAD;

    /* Request line: METHOD SP request-target SP HTTP-version */
    const char *line = next_line(req, scan, &pos, &n);
    if (line == NULL) {
        if (len > MAX_HEAD)
            respond_error(out, 431, "request head larger than 8192 bytes");
        else
            respond_error(out, 400, "incomplete request line");
        return;
    }
    const char *sp1 = memchr(line, ' ', n);
    const char *sp2 = sp1 != NULL
        ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line)) : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        respond_error(out, 400, "malformed request line");
        return;
    }
    size_t method_len = (size_t)(sp1 - line);
    const char *target = sp1 + 1;
    size_t target_len = (size_t)(sp2 - target);
    const char *version = sp2 + 1;
    size_t version_len = n - (size_t)(version - line);

    if (method_len == 0 || method_len > VENDAS_MAX_METHOD) {
        respond_error(out, 400, "bad request method");
        return;
    }
    for (size_t i = 0; i < method_len; i++) {
        if (!is_tchar(line[i])) {
            respond_error(out, 400, "bad request method");
            return;
        }
    }
    if (!((version_len == 8 && memcmp(version, "HTTP/1.1", 8) == 0) ||
          (version_len == 8 && memcmp(version, "HTTP/1.0", 8) == 0))) {
        respond_error(out, 400, "unsupported HTTP version");
        return;
    }
    if (target_len == 0 || target[0] != '/') {
        respond_error(out, 400, "request target must start with '/'");
        return;
    }
    for (size_t i = 0; i < target_len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c < 0x21 || c > 0x7e) {
            respond_error(out, 400, "invalid character in request target");
            return;
        }
    }
    const char *qmark = memchr(target, '?', target_len);
    size_t path_len = qmark != NULL ? (size_t)(qmark - target) : target_len;
    size_t query_len = qmark != NULL ? target_len - path_len - 1u : 0u;
    if (path_len > VENDAS_MAX_PATH || query_len > VENDAS_MAX_QUERY) {
        respond_error(out, 414, "request target too long");
        return;
    }

    /* Header fields, up to the empty line. */
    int have_length = 0;
    size_t content_length = 0;
    for (;;) {
        line = next_line(req, scan, &pos, &n);
        if (line == NULL) {
            if (len > MAX_HEAD)
                respond_error(out, 431, "request head larger than 8192 bytes");
            else
                respond_error(out, 400, "incomplete request head");
            return;
        }
        if (n == 0)
            break;
        const char *colon = memchr(line, ':', n);
        if (colon == NULL || colon == line) {
            respond_error(out, 400, "malformed header line");
            return;
        }
        size_t name_len = (size_t)(colon - line);
        for (size_t i = 0; i < name_len; i++) {
            if (!is_tchar(line[i])) {
                respond_error(out, 400, "malformed header line");
                return;
            }
        }
        if (!equals_nocase(line, name_len, "content-length"))
            continue;

        const char *value = colon + 1;
        size_t value_len = n - name_len - 1u;
        while (value_len > 0 && (value[0] == ' ' || value[0] == '\t')) {
            value++;
            value_len--;
        }
        while (value_len > 0 &&
               (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
            value_len--;
        if (have_length || value_len == 0) {
            respond_error(out, 400, "invalid Content-Length");
            return;
        }
        have_length = 1;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9') {
                respond_error(out, 400, "invalid Content-Length");
                return;
            }
            /* Saturate just above the limit: no overflow, still too large. */
            if (content_length <= VENDAS_MAX_BODY)
                content_length = content_length * 10u + (size_t)(value[i] - '0');
        }
    }

    /* pos is now the offset of the body. */
    size_t body_len = len - pos;
    if (!have_length && body_len != 0) {
        respond_error(out, 400, "missing Content-Length");
        return;
    }
    if (content_length > VENDAS_MAX_BODY) {
        respond_error(out, 413, "request body larger than 65536 bytes");
        return;
    }
    if (content_length != body_len) {
        respond_error(out, 400, "Content-Length does not match the body");
        return;
    }

    copy_string(method_buf, req, method_len);
    copy_string(path_buf, target, path_len);
    copy_string(query_buf, qmark != NULL ? qmark + 1 : "", query_len);
    handle(method_buf, path_buf, query_buf, req + pos, body_len, out);
}

uint64_t sandbench_handle(const char *ptr, int32_t len)
{
    out_buffer out = { response, sizeof response, 0, 0 };

    if (request == NULL || ptr != request || len < 0 ||
        (size_t)len > request_size)
        respond_error(&out, 500,
                      "request buffer was not obtained from sandbench_alloc");
    else
        handle_request(ptr, (size_t)len, &out);
    return ((uint64_t)(uintptr_t)out.data << 32) | (uint64_t)out.len;
}

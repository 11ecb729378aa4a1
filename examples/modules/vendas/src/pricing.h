/*
 * vendas: sales-order pricing, shared by the command and the reactor builds.
 *
 * The handler is pure: it sees the request as plain values and writes a whole
 * CGI response (RFC 3875 §6: headers, an empty line, the body) into a buffer
 * owned by the caller. It performs no I/O and allocates nothing.
 */
#ifndef VENDAS_PRICING_H
#define VENDAS_PRICING_H

#include <stddef.h>

/* Input bounds. Both front ends enforce them before calling handle(), and
 * handle() checks them again. */
#define VENDAS_MAX_BODY   (64u * 1024u) /* bytes; larger bodies get 413 */
#define VENDAS_MAX_METHOD 16u           /* bytes, without the NUL */
#define VENDAS_MAX_PATH   1024u         /* bytes, without the NUL; else 414 */
#define VENDAS_MAX_QUERY  1024u         /* bytes, without the NUL; else 414 */

/* Order bounds: with them no sum can overflow 64 bits (checked anyway). */
#define VENDAS_MAX_LINES    1000u
#define VENDAS_MAX_SKU      64u
#define VENDAS_MAX_QUANTITY 1000000LL
#define VENDAS_MAX_PRICE    1000000000LL /* cents */
#define VENDAS_TAX_PERCENT  18

/* Worst case response: VENDAS_MAX_LINES lines of about 170 bytes each. */
#define VENDAS_OUT_CAP (256u * 1024u)

/* A caller-owned output buffer. */
typedef struct {
    char *data;
    size_t cap;
    size_t len;
    int overflow; /* set when a write did not fit; data is then incomplete */
} out_buffer;

/*
 * Handles one request and writes the CGI response into `out` (which is reset
 * first). `method`, `path` and `query` are NUL-terminated; `query` is the
 * query string without the '?', empty when there is none. `body` holds
 * `len` bytes and may contain anything, NUL bytes included (it may be NULL
 * when `len` is 0).
 *
 * Returns the HTTP status written. If the response does not fit in `out`
 * (out->cap must be at least 512 bytes), a short 500 response is written
 * instead.
 */
int handle(const char *method, const char *path, const char *query,
           const char *body, size_t len, out_buffer *out);

/* Writes a JSON error response {"error": message} with the given status.
 * Used by the front ends for errors they detect before calling handle()
 * (bad request head, body too large, ...). Returns `status`. */
int respond_error(out_buffer *out, int status, const char *message);

#endif

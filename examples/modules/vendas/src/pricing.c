/*
 * vendas: sales-order pricing (the pure request handler).
 *
 * Routes
 *   GET  /        200 {"status":"ok","module":"vendas"}
 *   POST /quote   200 priced order, 400 malformed order, 413 body too large
 *   other path    404
 *   other method  405 (with an Allow header)
 *
 * POST /quote body: CSV, one order line per text line, `sku,quantity,unit_price_cents`.
 *   - lines end in "\n" or "\r\n"; blank lines are skipped; spaces and tabs
 *     around fields are ignored; a first line that is exactly the header
 *     "sku,quantity,unit_price_cents" is skipped;
 *   - sku: 1..64 characters from [A-Za-z0-9._-];
 *   - quantity: decimal integer 1..1000000;
 *   - unit_price_cents: decimal integer 0..1000000000;
 *   - at most 1000 order lines.
 * Query: `currency=XXX` (exactly 3 letters A-Z, default BRL), echoed back.
 *
 * Money is integer cents throughout. tax = 18% of the subtotal, rounded half
 * up to a whole cent; total = subtotal + tax.
 */
#include "pricing.h"

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Output buffer                                                            */
/* ------------------------------------------------------------------------ */

static void out_reset(out_buffer *out)
{
    out->len = 0;
    out->overflow = 0;
}

static void out_bytes(out_buffer *out, const char *p, size_t n)
{
    if (out->overflow)
        return;
    if (n > out->cap - out->len) {
        out->overflow = 1;
        return;
    }
    if (n > 0)
        memcpy(out->data + out->len, p, n);
    out->len += n;
}

static void out_str(out_buffer *out, const char *s)
{
    out_bytes(out, s, strlen(s));
}

static void out_u64(out_buffer *out, uint64_t v)
{
    char digits[20]; /* 2^64 - 1 has 20 digits */
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n] = (char)('0' + (v % 10u));
        v /= 10u;
        n++;
    } while (v != 0);
    out_bytes(out, digits + sizeof digits - n, n);
}

/* Writes `p[0..n)` escaped for use inside a JSON string (no quotes). */
static void out_json_chars(out_buffer *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            out_bytes(out, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15u] };
            out_bytes(out, esc, 6);
        } else {
            out_bytes(out, p + i, 1);
        }
    }
}

/* Writes `p[0..n)` as a JSON string, quotes included. */
static void out_json_string(out_buffer *out, const char *p, size_t n)
{
    out_bytes(out, "\"", 1);
    out_json_chars(out, p, n);
    out_bytes(out, "\"", 1);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    default:  return "Unknown";
    }
}

/* Status line and headers, up to and including the empty line. */
static void out_head(out_buffer *out, int status, const char *allow)
{
    out_reset(out);
    out_str(out, "Status: ");
    out_u64(out, (uint64_t)status);
    out_str(out, " ");
    out_str(out, reason_phrase(status));
    out_str(out, "\n");
    if (allow != NULL) {
        out_str(out, "Allow: ");
        out_str(out, allow);
        out_str(out, "\n");
    }
    out_str(out, "Content-Type: application/json\n\n");
}

/* Replaces an incomplete response by a short 500. */
static int finish(out_buffer *out, int status)
{
    if (!out->overflow)
        return status;
    out_head(out, 500, NULL);
    out_str(out, "{\"error\":\"response too large\"}\n");
    return 500;
}

static int error_response(out_buffer *out, int status, const char *allow,
                          unsigned line, const char *message)
{
    out_head(out, status, allow);
    out_str(out, "{\"error\":\"");
    if (line != 0) {
        out_str(out, "line ");
        out_u64(out, line);
        out_str(out, ": ");
    }
    out_json_chars(out, message, strlen(message));
    out_str(out, "\"}\n");
    return finish(out, status);
}

int respond_error(out_buffer *out, int status, const char *message)
{
    return error_response(out, status, NULL, 0, message);
}

/* ------------------------------------------------------------------------ */
/* Parsing helpers                                                          */
/* ------------------------------------------------------------------------ */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs at both ends of p[0..*n). */
static const char *trim(const char *p, size_t *n)
{
    while (*n > 0 && is_blank(p[0])) {
        p++;
        (*n)--;
    }
    while (*n > 0 && is_blank(p[*n - 1]))
        (*n)--;
    return p;
}

static int equals(const char *p, size_t n, const char *s)
{
    size_t m = strlen(s);
    return n == m && memcmp(p, s, n) == 0;
}

/* Parses a non-empty run of ASCII digits with a value in [min, max]. */
static int parse_uint(const char *p, size_t n, uint64_t min, uint64_t max,
                      uint64_t *value)
{
    uint64_t v = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (d > max || v > (max - d) / 10u)
            return 0; /* v * 10 + d would exceed max */
        v = v * 10u + d;
    }
    if (v < min)
        return 0;
    *value = v;
    return 1;
}

static int is_sku_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* ------------------------------------------------------------------------ */
/* Query string                                                             */
/* ------------------------------------------------------------------------ */

/* Finds `currency` in the query string. Returns 1 and fills `currency`
 * (3 letters + NUL) on success, 0 with *error set otherwise. */
static int parse_currency(const char *query, char currency[4],
                          const char **error)
{
    int seen = 0;
    size_t qlen = strlen(query);
    size_t pos = 0;

    memcpy(currency, "BRL", 4);
    while (pos < qlen) {
        const char *param = query + pos;
        const char *amp = memchr(param, '&', qlen - pos);
        size_t plen = amp != NULL ? (size_t)(amp - param) : qlen - pos;
        pos += plen + (amp != NULL ? 1u : 0u);

        const char *eq = memchr(param, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - param) : plen;
        if (!equals(param, klen, "currency"))
            continue; /* other parameters are ignored */
        if (seen) {
            *error = "query: currency given more than once";
            return 0;
        }
        seen = 1;
        const char *value = eq != NULL ? eq + 1 : param + plen;
        size_t vlen = plen - klen - (eq != NULL ? 1u : 0u);
        if (vlen != 3) {
            *error = "query: currency must be 3 uppercase letters, e.g. BRL";
            return 0;
        }
        for (size_t i = 0; i < 3; i++) {
            if (value[i] < 'A' || value[i] > 'Z') {
                *error = "query: currency must be 3 uppercase letters, e.g. BRL";
                return 0;
            }
            currency[i] = value[i];
        }
        currency[3] = '\0';
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* POST /quote                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *sku; /* points into the request body */
    size_t sku_len;
    uint64_t quantity;
    uint64_t unit_price;
    uint64_t total;
    unsigned line; /* 1-based line number in the body */
} order_line;

/* Static, not on the stack: 1000 lines are ~40 KiB and the wasm32 shadow
 * stack is only 64 KiB by default. */
static order_line lines[VENDAS_MAX_LINES];

/* round_half_up(amount * percent / 100) without overflowing. Writing
 * amount = 100q + r: amount * p / 100 = q * p + r * p / 100. */
static uint64_t percent_of(uint64_t amount, uint64_t percent)
{
    uint64_t q = amount / 100u, r = amount % 100u;
    return q * percent + (r * percent + 50u) / 100u;
}

static int quote(const char *query, const char *body, size_t len,
                 out_buffer *out)
{
    char currency[4];
    const char *error = NULL;
    size_t count = 0;
    unsigned lineno = 0;
    size_t pos = 0;
    uint64_t subtotal = 0;

    if (!parse_currency(query, currency, &error))
        return error_response(out, 400, NULL, 0, error);

    while (pos < len) {
        const char *line = body + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL ? 1u : 0u);
        lineno++;

        if (n > 0 && line[n - 1] == '\r')
            n--;
        line = trim(line, &n);
        if (n == 0)
            continue; /* blank line */
        if (lineno == 1 && equals(line, n, "sku,quantity,unit_price_cents"))
            continue; /* header */
        if (count == VENDAS_MAX_LINES)
            return error_response(out, 400, NULL, lineno,
                                  "too many order lines (max 1000)");

        /* Exactly three comma-separated fields. */
        const char *c1 = memchr(line, ',', n);
        const char *c2 = c1 != NULL
            ? memchr(c1 + 1, ',', n - (size_t)(c1 + 1 - line)) : NULL;
        if (c1 == NULL || c2 == NULL ||
            memchr(c2 + 1, ',', n - (size_t)(c2 + 1 - line)) != NULL)
            return error_response(out, 400, NULL, lineno,
                "expected 3 comma-separated fields: sku,quantity,unit_price_cents");

        size_t sku_len = (size_t)(c1 - line);
        size_t qty_len = (size_t)(c2 - (c1 + 1));
        size_t price_len = n - (size_t)(c2 + 1 - line);
        const char *sku = trim(line, &sku_len);
        const char *qty = trim(c1 + 1, &qty_len);
        const char *price = trim(c2 + 1, &price_len);

        if (sku_len == 0)
            return error_response(out, 400, NULL, lineno, "sku is empty");
        if (sku_len > VENDAS_MAX_SKU)
            return error_response(out, 400, NULL, lineno,
                                  "sku is longer than 64 characters");
        for (size_t i = 0; i < sku_len; i++) {
            if (!is_sku_char(sku[i]))
                return error_response(out, 400, NULL, lineno,
                    "sku may contain only letters, digits, '-', '_' and '.'");
        }

        order_line *ol = &lines[count];
        if (!parse_uint(qty, qty_len, 1u, (uint64_t)VENDAS_MAX_QUANTITY,
                        &ol->quantity))
            return error_response(out, 400, NULL, lineno,
                "quantity must be an integer from 1 to 1000000");
        if (!parse_uint(price, price_len, 0u, (uint64_t)VENDAS_MAX_PRICE,
                        &ol->unit_price))
            return error_response(out, 400, NULL, lineno,
                "unit_price_cents must be an integer from 0 to 1000000000");
        /* The bounds make both impossible; checked all the same. */
        if (__builtin_mul_overflow(ol->quantity, ol->unit_price, &ol->total))
            return error_response(out, 400, NULL, lineno,
                                  "line total is too large");
        if (__builtin_add_overflow(subtotal, ol->total, &subtotal))
            return error_response(out, 400, NULL, lineno,
                                  "order subtotal is too large");
        ol->sku = sku;
        ol->sku_len = sku_len;
        ol->line = lineno;
        count++;
    }

    if (count == 0)
        return error_response(out, 400, NULL, 0, "body: no order lines");

    uint64_t tax = percent_of(subtotal, VENDAS_TAX_PERCENT);
    uint64_t total;
    if (__builtin_add_overflow(subtotal, tax, &total))
        return error_response(out, 400, NULL, 0, "order total is too large");

    out_head(out, 200, NULL);
    out_str(out, "{\"currency\":");
    out_json_string(out, currency, 3);
    out_str(out, ",\"lines\":[");
    for (size_t i = 0; i < count; i++) {
        const order_line *ol = &lines[i];
        out_str(out, i == 0 ? "{\"line\":" : ",{\"line\":");
        out_u64(out, ol->line);
        out_str(out, ",\"sku\":");
        out_json_string(out, ol->sku, ol->sku_len);
        out_str(out, ",\"quantity\":");
        out_u64(out, ol->quantity);
        out_str(out, ",\"unit_price_cents\":");
        out_u64(out, ol->unit_price);
        out_str(out, ",\"total_cents\":");
        out_u64(out, ol->total);
        out_str(out, "}");
    }
    out_str(out, "],\"subtotal_cents\":");
    out_u64(out, subtotal);
    out_str(out, ",\"tax_rate_percent\":");
    out_u64(out, VENDAS_TAX_PERCENT);
    out_str(out, ",\"tax_cents\":");
    out_u64(out, tax);
    out_str(out, ",\"total_cents\":");
    out_u64(out, total);
    out_str(out, "}\n");
    return finish(out, 200);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */
/* ------------------------------------------------------------------------ */

int handle(const char *method, const char *path, const char *query,
           const char *body, size_t len, out_buffer *out)
{
    if (method == NULL || path == NULL || query == NULL ||
        (body == NULL && len != 0))
        return error_response(out, 500, NULL, 0, "invalid handler call");
    if (strlen(method) == 0 || strlen(method) > VENDAS_MAX_METHOD)
        return error_response(out, 400, NULL, 0, "bad request method");
    if (strlen(path) > VENDAS_MAX_PATH || strlen(query) > VENDAS_MAX_QUERY)
        return error_response(out, 414, NULL, 0, "request target too long");
    if (len > VENDAS_MAX_BODY)
        return error_response(out, 413, NULL, 0,
                              "request body larger than 65536 bytes");

    if (strcmp(path, "/") == 0) {
        if (strcmp(method, "GET") != 0)
            return error_response(out, 405, "GET", 0, "method not allowed");
        out_head(out, 200, NULL);
        out_str(out, "{\"status\":\"ok\",\"module\":\"vendas\"}\n");
        return finish(out, 200);
    }
    if (strcmp(path, "/quote") == 0) {
        if (strcmp(method, "POST") != 0)
            return error_response(out, 405, "POST", 0, "method not allowed");
        return quote(query, body, len, out);
    }
    return error_response(out, 404, NULL, 0, "not found");
}

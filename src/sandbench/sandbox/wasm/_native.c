/*
 * sandbench.sandbox.wasm._native: one reactor call in one crossing (issue 17), and the
 * engines' epoch ticker, a thread that never takes the GIL (its own section below, with
 * its contract and safety; `reactor_call` may take the ticker and add its owed ticks).
 * Two more sections serve the call: the modules' CPU share as a lock-free bucket (which
 * budget.py's `CpuShare` also uses), and the request envelope built in one allocation.
 *
 * What it does. `reactor_call` runs one request of the `reactor` ABI (docs/abi.md) on a
 * live instance: it gives the store its fuel and epoch deadline, reads the clocks, calls
 * the module's `sandbench_alloc(len)`, bounds-checks the pointer it returns against the
 * memory's current size and copies the request in, calls `sandbench_handle(ptr, len)`,
 * reads the fuel left, then bounds-checks the packed (ptr, len) result
 * against the memory's current size and the output cap and copies the response into a new
 * bytes object. It reads the monotonic and thread CPU clocks around all of that and, given
 * the module's CPU share (the bucket section), refuses a call while the share is in debt
 * and charges the CPU the call used, so that Python reads no clock and takes no lock on a
 * call's path. Python's per-call argument conversions (ctypes) and its per-step frames
 * were most of a call's cost; here they happen once.
 *
 * What it does not do. It decides nothing: every failure comes back as a status code with
 * the numbers that explain it, and Python (reactor.py) turns them into the same
 * exceptions, violations and messages as the checked path. A trap or error pointer is
 * handed back as an int for Python to take ownership of (`fastcall.raise_failure`).
 *
 * wasmtime's C API. The extension does not link against libwasmtime: `init` receives the
 * addresses of the functions below, resolved by Python from the library wasmtime-py
 * loaded (so it follows the pinned wasmtime>=50,<51). The prototypes are those of
 * wasmtime 50's crates/c-api/include/wasmtime/{func,store,memory,val}.h, the same that
 * wasmtime-py 50's generated `_bindings.py` declares:
 *
 *   wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *store,
 *       const wasmtime_func_t *func, wasmtime_val_raw_t *args_and_results,
 *       size_t args_and_results_len, wasm_trap_t **trap);
 *   wasmtime_error_t *wasmtime_context_set_fuel(wasmtime_context_t *, uint64_t fuel);
 *   wasmtime_error_t *wasmtime_context_get_fuel(const wasmtime_context_t *, uint64_t *fuel);
 *   void wasmtime_context_set_epoch_deadline(wasmtime_context_t *, uint64_t ticks_beyond_current);
 *   uint8_t *wasmtime_memory_data(const wasmtime_context_t *, const wasmtime_memory_t *);
 *   size_t wasmtime_memory_data_size(const wasmtime_context_t *, const wasmtime_memory_t *);
 *
 * `wasmtime_val_raw_t` is a 16-byte union (i32, i64, f32, f64, v128 as uint8_t[16],
 * anyref/externref/exnref as uint32_t, funcref as void *) whose integers are little-endian
 * at offset 0; `init` refuses a library whose union Python measures at another size. The
 * contexts, functions and memories are opaque here: only their addresses pass through.
 *
 * Safety. Every length from the module is checked before it is used: the alloc pointer
 * must be positive and `ptr + len` within the memory's size read after `alloc` returned;
 * the output range must be within the size read after `handle` returned (64-bit sums of
 * 32-bit values: no overflow) and within the cap. The memory's base is read after each
 * call (growing may move it). The GIL is released only around code that calls no Python
 * API: wasm runs there, and wasmtime-py's host functions take the GIL themselves, as they
 * do under ctypes. The caller holds the instance's lock, so nothing else uses the store
 * while the GIL is released; the request bytes object is kept alive by the call's
 * arguments. Linux only (CLOCK_THREAD_CPUTIME_ID), like the rest of the backend.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef union {
    int32_t i32;
    int64_t i64;
    uint8_t v128[16];
    void *funcref;
} val_raw;

typedef void *(*call_unchecked_t)(void *, const void *, val_raw *, size_t, void **);
typedef void *(*set_fuel_t)(void *, uint64_t);
typedef void *(*get_fuel_t)(const void *, uint64_t *);
typedef void (*set_deadline_t)(void *, uint64_t);
typedef uint8_t *(*memory_data_t)(const void *, const void *);
typedef size_t (*memory_size_t)(const void *, const void *);
typedef void (*increment_epoch_t)(void *);

static struct {
    call_unchecked_t call;
    set_fuel_t set_fuel;
    get_fuel_t get_fuel;
    set_deadline_t set_deadline;
    memory_data_t data;
    memory_size_t size;
    increment_epoch_t increment_epoch;
} api;

/* Status codes of `reactor_call` (mirrored in native.py). */
enum {
    OK = 0,             /* a, b: the output's first empty line (find_empty_line) */
    FUEL_ERROR = 1,     /* a: the wasmtime_error_t * of set_fuel */
    ALLOC_FAILED = 2,   /* a: error, b: trap */
    ALLOC_BAD = 3,      /* a: the pointer alloc returned (<= 0) */
    ALLOC_OUTSIDE = 4,  /* a: pointer, b: memory size */
    HANDLE_FAILED = 5,  /* a: error, b: trap */
    OVER_CAP = 6,       /* a: output length */
    OUT_OUTSIDE = 7,    /* a: output pointer, b: output length, c: memory size */
    IN_DEBT = 8,        /* the module's CPU share is in debt: nothing ran, nothing charged */
};

/* The CGI response's first empty line (cgi.py's `_split_head`, whose reference it stays):
 * its start and the body's, when it starts within the head's cap; else both -1 and
 * cgi.py decides, and words any error. The empty line is "\r\n\r\n", "\n\n" or
 * "\n\r\n", the leftmost; an output starting with "\n" or "\r\n" has an empty head. */
#define MAX_HEAD_BYTES 16384
static void find_empty_line(const uint8_t *p, size_t n, int64_t *head_end, int64_t *body_at) {
    *head_end = *body_at = -1;
    if (n >= 1 && p[0] == '\n') {
        *head_end = 0, *body_at = 1;
        return;
    }
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
        *head_end = 0, *body_at = 2;
        return;
    }
    size_t last = n < MAX_HEAD_BYTES + 1 ? n : MAX_HEAD_BYTES + 1;
    for (size_t i = 0; i < last; i++) {
        if (p[i] == '\r' && i + 3 < n && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            *head_end = (int64_t)i, *body_at = (int64_t)i + 4;
            return;
        }
        if (p[i] == '\n' && i + 1 < n && p[i + 1] == '\n') {
            *head_end = (int64_t)i, *body_at = (int64_t)i + 2;
            return;
        }
        if (p[i] == '\n' && i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
            *head_end = (int64_t)i, *body_at = (int64_t)i + 3;
            return;
        }
    }
}

static int64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static PyObject *init(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *fns[7];
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "init takes seven function addresses and a size");
        return NULL;
    }
    for (int i = 0; i < 7; i++) {
        fns[i] = PyLong_AsVoidPtr(args[i]);
        if (fns[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a wasmtime function's address is null");
            return NULL;
        }
    }
    Py_ssize_t raw_size = PyLong_AsSsize_t(args[7]);
    if (raw_size == -1 && PyErr_Occurred())
        return NULL;
    if (raw_size != (Py_ssize_t)sizeof(val_raw)) {
        PyErr_Format(PyExc_ValueError, "wasmtime_val_raw_t is %zd bytes, this build expects %zu",
                     raw_size, sizeof(val_raw));
        return NULL;
    }
    api.call = (call_unchecked_t)fns[0];
    api.set_fuel = (set_fuel_t)fns[1];
    api.get_fuel = (get_fuel_t)fns[2];
    api.set_deadline = (set_deadline_t)fns[3];
    api.data = (memory_data_t)fns[4];
    api.size = (memory_size_t)fns[5];
    api.increment_epoch = (increment_epoch_t)fns[6];
    Py_RETURN_NONE;
}

/* The CPU share's token bucket (budget.py's `CpuShare`), without a lock: GCRA.
 *
 * The bucket is two doubles in a buffer that every user maps (an anonymous mmap in one
 * process, a file's mmap across `serve --workers`): `empty_at`, the monotonic time at
 * which the bucket is exactly empty, and `charged`, every CPU-second charged so far. At
 * `now` the level is min(capacity, (now - empty_at) x rate): in debt while empty_at is
 * after now, for (empty_at - now) seconds. A charge of `cost` CPU-seconds moves empty_at to
 * max(empty_at, now - window) + cost / rate (the max: a bucket never holds more than
 * `window` seconds of the share), in one compare-and-swap loop; `charged` grows by an
 * atomic add (a compare-and-swap loop on the double's bits). Lock-free 64-bit atomics are
 * address-free, so they work across processes on a shared mapping, and a process killed
 * mid-charge leaves either the old value or the new one, never a lock held. */
#define BUCKET_BYTES 16
#define PAID 1e-9 /* a debt this small is paid: what a wait of exactly debt / rate leaves */

typedef struct {
    _Atomic uint64_t empty_at; /* bits of a double, monotonic seconds */
    _Atomic uint64_t charged;  /* bits of a double, CPU-seconds */
} bucket_t;

static double bits_double(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void bucket_charge_at(bucket_t *b, double now, double cost, double rate, double window) {
    uint64_t old = atomic_load(&b->empty_at), new;
    do {
        double at = bits_double(old), floor = now - window;
        new = double_bits((at > floor ? at : floor) + cost / rate);
    } while (!atomic_compare_exchange_weak(&b->empty_at, &old, new));
    old = atomic_load(&b->charged);
    do {
        new = double_bits(bits_double(old) + cost);
    } while (!atomic_compare_exchange_weak(&b->charged, &old, new));
}

/* Seconds until the bucket is out of debt at `now`; 0.0 when it is. */
static double bucket_wait_at(bucket_t *b, double now, double rate) {
    double wait = bits_double(atomic_load(&b->empty_at)) - now;
    return wait * rate > PAID ? wait : 0.0;
}

/* The bucket in `obj`'s writable buffer (`view` to release), or NULL with an exception. */
static bucket_t *bucket_of(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0)
        return NULL;
    if (view->len < BUCKET_BYTES || ((uintptr_t)view->buf % _Alignof(bucket_t)) != 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "a bucket is 16 aligned bytes");
        return NULL;
    }
    return view->buf;
}

/* Doubles from `args` into `out` (n of them); -1 with an exception. */
static int doubles(PyObject *const *args, Py_ssize_t n, double *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyFloat_AsDouble(args[i]);
        if (out[i] == -1.0 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

/* The bucket of args[0] and the `nargs - 1` doubles after it, or NULL with an exception
 * (`usage`: the TypeError for another count of arguments). Release `view` after use. */
static bucket_t *bucket_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
                             const char *usage, double *v, Py_buffer *view) {
    if (nargs != want) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    return doubles(args + 1, want - 1, v) < 0 ? NULL : bucket_of(args[0], view);
}

/* bucket_charge(buffer, now, cost, rate, window): charge `cost` CPU-seconds at `now`. */
static PyObject *bucket_charge(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    double v[4];
    Py_buffer view;
    bucket_t *b = bucket_args(args, nargs, 5, "bucket_charge(buffer, now, cost, rate, window)",
                              v, &view);
    if (b == NULL)
        return NULL;
    bucket_charge_at(b, v[0], v[1], v[2], v[3]);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* bucket_wait(buffer, now, rate) -> seconds until out of debt (0.0: in credit). */
static PyObject *bucket_wait(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    double v[2];
    Py_buffer view;
    bucket_t *b = bucket_args(args, nargs, 3, "bucket_wait(buffer, now, rate)", v, &view);
    if (b == NULL)
        return NULL;
    double wait = bucket_wait_at(b, v[0], v[1]);
    PyBuffer_Release(&view);
    return PyFloat_FromDouble(wait);
}

struct ticker;
static struct ticker *ticker_of(PyObject *obj);
static int64_t owed_by(struct ticker *t, int64_t now_ns);

struct run {
    void *context, *alloc, *handle, *memory;
    struct ticker *ticker; /* NULL: no ticks owed */
    bucket_t *bucket;      /* NULL: no CPU share to check and charge here */
    int check;             /* refuse (IN_DEBT) when the bucket is in debt */
    double rate, window;   /* the share's CPU-seconds per second, its window in seconds */
    const char *in;
    size_t in_len;
    uint64_t fuel, ticks;
    /* results */
    int status;
    int64_t a, b, c;
    int64_t wall0, cpu0;
    int64_t fuel_left; /* -1: not read */
    uint64_t out_ptr, out_len;
};

/* Whether a call failed; if so, its `status` and the error or trap (ours to hand back). */
static int failed(struct run *r, int status, void *error, void *trap) {
    if (error == NULL && trap == NULL)
        return 0;
    r->status = status;
    r->a = (int64_t)(uintptr_t)error;
    r->b = (int64_t)(uintptr_t)trap;
    return 1;
}

/* The part without the GIL: clocks, fuel, deadline, alloc, copy in, handle, fuel left. */
static void run_call(struct run *r) {
    val_raw args[2];
    void *trap = NULL, *error;
    uint64_t fuel;

    r->wall0 = clock_ns(CLOCK_MONOTONIC);
    if (r->check && bucket_wait_at(r->bucket, (double)r->wall0 / 1e9, r->rate) > 0.0) {
        r->status = IN_DEBT;
        return;
    }
    r->cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    error = api.set_fuel(r->context, r->fuel);
    if (error != NULL) {
        r->status = FUEL_ERROR;
        r->a = (int64_t)(uintptr_t)error;
        return;
    }
    /* Ticks already due that the ticker has not added yet: the call's deadline counts from
     * the epoch as it will be once they are added (see the ticker). */
    api.set_deadline(r->context, r->ticks + (r->ticker ? (uint64_t)owed_by(r->ticker, r->wall0) : 0));

    memset(args, 0, sizeof args);
    args[0].i32 = (int32_t)r->in_len;
    error = api.call(r->context, r->alloc, args, 1, &trap);
    if (failed(r, ALLOC_FAILED, error, trap))
        goto done;
    int32_t ptr = args[0].i32;
    if (ptr <= 0) {
        r->status = ALLOC_BAD;
        r->a = ptr;
        goto done;
    }
    size_t size = api.size(r->context, r->memory);
    uint8_t *base = api.data(r->context, r->memory);
    if ((uint64_t)ptr + r->in_len > size || base == NULL) {
        r->status = ALLOC_OUTSIDE;
        r->a = ptr;
        r->b = (int64_t)size;
        goto done;
    }
    memcpy(base + ptr, r->in, r->in_len);

    memset(args, 0, sizeof args);
    args[0].i32 = ptr;
    args[1].i32 = (int32_t)r->in_len;
    trap = NULL;
    error = api.call(r->context, r->handle, args, 2, &trap);
    if (failed(r, HANDLE_FAILED, error, trap))
        goto done;
    uint64_t packed = (uint64_t)args[0].i64;
    r->out_ptr = packed >> 32;
    r->out_len = packed & 0xFFFFFFFFu;
    r->status = OK;
done:
    if (api.get_fuel(r->context, &fuel) == NULL)
        r->fuel_left = (int64_t)(fuel > INT64_MAX ? INT64_MAX : fuel);
    /* else: an error we would leak; it cannot happen once set_fuel succeeded */
}

/* The request envelope of the reactor ABI (docs/abi.md): cgi.py's `request_envelope`, whose
 * reference it stays (tests/sandbox/test_wasm_native.py compares them), built into one
 * bytes object: "{method} {target} HTTP/1.1\r\ncontent-length: {len(body)}\r\n", then
 * "{name}: {value}\r\n" for each header but content-length, an empty line and the body;
 * target is path, or path?query when there is a query. Text is latin-1: a str with a
 * character above U+00FF raises UnicodeEncodeError, as encoding it does in Python. */
struct text {
    const char *data;
    Py_ssize_t len;
};

/* `obj`'s latin-1 bytes (borrowed from the str); -1 with an exception. */
static int latin1(PyObject *obj, struct text *out) {
    if (!PyUnicode_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "a request's method, path, query and headers are str");
        return -1;
    }
    if (PyUnicode_KIND(obj) != PyUnicode_1BYTE_KIND) {
        PyObject *encoded = PyUnicode_AsLatin1String(obj); /* raises UnicodeEncodeError */
        Py_XDECREF(encoded);
        if (encoded != NULL)
            PyErr_SetString(PyExc_ValueError, "a str not in latin-1's canonical form");
        return -1;
    }
    out->data = (const char *)PyUnicode_1BYTE_DATA(obj);
    out->len = PyUnicode_GET_LENGTH(obj);
    return 0;
}

static char *put(char *at, const char *data, Py_ssize_t len) {
    memcpy(at, data, (size_t)len);
    return at + len;
}

/* The envelope of `request` (method, path, query, headers, body), all read as attributes
 * once and owned by `fields`; NULL with an exception. */
static PyObject *envelope_of(PyObject *const fields[5]) {
    struct text method, path, query;
    if (latin1(fields[0], &method) < 0 || latin1(fields[1], &path) < 0
        || latin1(fields[2], &query) < 0)
        return NULL;
    if (!PyBytes_Check(fields[4])) {
        PyErr_SetString(PyExc_TypeError, "a request's body is bytes");
        return NULL;
    }
    PyObject *headers = PySequence_Fast(fields[3], "a request's headers are pairs of str");
    if (headers == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(headers), body_len = PyBytes_GET_SIZE(fields[4]);
    struct text *pairs = PyMem_Malloc(sizeof *pairs * 2 * (size_t)(n ? n : 1));
    PyObject *result = NULL;
    char length[24];
    int length_len = snprintf(length, sizeof length, "%zd", body_len);
    Py_ssize_t total = method.len + 1 + path.len + (query.len ? 1 + query.len : 0) + 11
                       + 16 + length_len + 2 + 2 + body_len;
    if (pairs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(headers, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "a request's headers are pairs of str");
            goto done;
        }
        struct text *name = &pairs[2 * kept], *value = name + 1;
        if (latin1(PyTuple_GET_ITEM(pair, 0), name) < 0
            || latin1(PyTuple_GET_ITEM(pair, 1), value) < 0)
            goto done;
        if (name->len == 14 && memcmp(name->data, "content-length", 14) == 0)
            continue;
        total += name->len + 2 + value->len + 2;
        kept++;
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        goto done;
    char *at = PyBytes_AS_STRING(result);
    at = put(at, method.data, method.len);
    at = put(at, " ", 1);
    at = put(at, path.data, path.len);
    if (query.len) {
        at = put(at, "?", 1);
        at = put(at, query.data, query.len);
    }
    at = put(at, " HTTP/1.1\r\ncontent-length: ", 27);
    at = put(at, length, length_len);
    at = put(at, "\r\n", 2);
    for (Py_ssize_t i = 0; i < kept; i++) {
        at = put(at, pairs[2 * i].data, pairs[2 * i].len);
        at = put(at, ": ", 2);
        at = put(at, pairs[2 * i + 1].data, pairs[2 * i + 1].len);
        at = put(at, "\r\n", 2);
    }
    at = put(at, "\r\n", 2);
    put(at, PyBytes_AS_STRING(fields[4]), body_len);
done:
    PyMem_Free(pairs);
    Py_DECREF(headers);
    return result;
}

/* envelope(request) -> bytes: see `envelope_of`. */
static PyObject *envelope(PyObject *self, PyObject *request) {
    static const char *const names[5] = {"method", "path", "query", "headers", "body"};
    static PyObject *interned[5];
    PyObject *fields[5] = {NULL};
    PyObject *result = NULL;
    for (int i = 0; i < 5; i++) {
        if (interned[i] == NULL && (interned[i] = PyUnicode_InternFromString(names[i])) == NULL)
            goto done;
        if ((fields[i] = PyObject_GetAttr(request, interned[i])) == NULL)
            goto done;
    }
    result = envelope_of(fields);
done:
    for (int i = 0; i < 5; i++)
        Py_XDECREF(fields[i]);
    return result;
}

/* reactor_call(context, alloc, handle, memory, ticks, cap, ticker, bucket, rate, window,
 *              fuel, request, check)
 *
 * context: the store's wasmtime_context_t *; alloc, handle: their wasmtime_func_t *, of
 * types (i32) -> i32 and (i32, i32) -> i64 (checked by the caller); memory: the
 * wasmtime_memory_t *; ticks: the epoch deadline, beyond the current epoch; cap: the most
 * output bytes accepted; ticker: the engine's epoch ticker (a `ticker_new` capsule, or
 * None), whose owed ticks the deadline adds; bucket: the module's CPU share (a writable
 * 16-byte buffer, see the bucket section; or None), with its rate in CPU-seconds per
 * second and its window in seconds; fuel: the fuel to set; request: bytes; check: true to
 * refuse the call (IN_DEBT, before anything runs) while the bucket is in debt. The first
 * ten are the live instance's for life (native.py binds them); the last three are the
 * call's.
 *
 * Returns (status, a, b, c, output, wall_s, cpu_s, fuel_left, memory_size): `output` is
 * bytes when status is OK, else None, and then a and b are where its first empty line
 * starts and ends (`find_empty_line`); wall_s and cpu_s are what the call took on the
 * monotonic clock and on the thread's CPU clock, in seconds, from before the fuel is set
 * to after the output is copied; fuel_left is -1 when it was not read, memory_size -1 when
 * not read after handle. With a bucket, cpu_s is charged to it at the end (every status
 * but IN_DEBT, which returns zeros). Raises TypeError / ValueError / OverflowError for
 * arguments of the wrong kind (a bug of the caller, never of the module).
 */
static int call_args(struct run *r, PyObject *const *args, Py_buffer *view, uint64_t *cap) {
    r->context = PyLong_AsVoidPtr(args[0]);
    r->alloc = PyLong_AsVoidPtr(args[1]);
    r->handle = PyLong_AsVoidPtr(args[2]);
    r->memory = PyLong_AsVoidPtr(args[3]);
    if (PyErr_Occurred())
        return -1;
    if (!r->context || !r->alloc || !r->handle || !r->memory) {
        PyErr_SetString(PyExc_ValueError, "a null store, function or memory");
        return -1;
    }
    r->ticks = PyLong_AsUnsignedLongLong(args[4]);
    *cap = PyLong_AsUnsignedLongLong(args[5]);
    r->fuel = PyLong_AsUnsignedLongLong(args[10]);
    if (PyErr_Occurred())
        return -1;
    if (!PyBytes_CheckExact(args[11])) {
        PyErr_SetString(PyExc_TypeError, "the request must be bytes");
        return -1;
    }
    r->in = PyBytes_AS_STRING(args[11]);
    r->in_len = (size_t)PyBytes_GET_SIZE(args[11]);
    if (r->in_len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "the request is over 2 GiB");
        return -1;
    }
    if (args[6] != Py_None && (r->ticker = ticker_of(args[6])) == NULL)
        return -1;
    if (args[7] == Py_None)
        return 0;
    double v[2];
    if (doubles(args + 8, 2, v) < 0 || (r->check = PyObject_IsTrue(args[12])) < 0)
        return -1;
    r->rate = v[0], r->window = v[1];
    return (r->bucket = bucket_of(args[7], view)) == NULL ? -1 : 0;
}

/* With the GIL, after `run_call`: check the output range and copy it; None if not OK. */
static PyObject *output_of(struct run *r, uint64_t cap, int64_t *memory_size) {
    if (r->status != OK)
        Py_RETURN_NONE;
    /* The instance's lock still keeps the store to this thread. */
    size_t size = api.size(r->context, r->memory);
    uint8_t *base = api.data(r->context, r->memory);
    *memory_size = (int64_t)size;
    if (r->out_len > cap) {
        r->status = OVER_CAP;
        r->a = (int64_t)r->out_len;
        Py_RETURN_NONE;
    }
    if (r->out_ptr + r->out_len > size || (base == NULL && r->out_len)) {
        r->status = OUT_OUTSIDE;
        r->a = (int64_t)r->out_ptr;
        r->b = (int64_t)r->out_len;
        r->c = (int64_t)size;
        Py_RETURN_NONE;
    }
    PyObject *output = PyBytes_FromStringAndSize(
        r->out_len ? (const char *)base + r->out_ptr : "", (Py_ssize_t)r->out_len);
    if (output != NULL)
        find_empty_line((const uint8_t *)PyBytes_AS_STRING(output), r->out_len, &r->a, &r->b);
    return output;
}

static PyObject *reactor_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    struct run r;
    Py_buffer view;
    uint64_t cap;
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "reactor_call takes 13 arguments");
        return NULL;
    }
    if (api.call == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.init was not called");
        return NULL;
    }
    memset(&r, 0, sizeof r);
    r.fuel_left = -1;
    if (call_args(&r, args, &view, &cap) < 0)
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    run_call(&r);
    Py_END_ALLOW_THREADS

    int64_t memory_size = -1;
    PyObject *output = output_of(&r, cap, &memory_size);
    double wall_s = 0.0, cpu_s = 0.0;
    if (r.status != IN_DEBT) {
        int64_t cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID), wall1 = clock_ns(CLOCK_MONOTONIC);
        cpu_s = (double)(cpu1 - r.cpu0) / 1e9;
        wall_s = (double)(wall1 - r.wall0) / 1e9;
        if (r.bucket != NULL)
            bucket_charge_at(r.bucket, (double)wall1 / 1e9, cpu_s, r.rate, r.window);
    }
    if (r.bucket != NULL)
        PyBuffer_Release(&view);
    if (output == NULL)
        return NULL;
    return Py_BuildValue("(iLLLNddLL)", r.status, (long long)r.a, (long long)r.b,
                         (long long)r.c, output, wall_s, cpu_s, (long long)r.fuel_left,
                         (long long)memory_size);
}

/* The epoch ticker. A thread of its own that advances the epoch of every registered engine
 * once per tick of CLOCK_MONOTONIC (the clock of Python's time.monotonic) until stopped.
 * It replaces a Python thread whose 100 wakeups a second each took the GIL from the
 * serving thread: this one never touches a Python object or the GIL.
 *
 * Ticks are counted from the clock, not from the wakeups: a wakeup adds every tick due
 * since `start_ns` that is not yet added (`done`), so a late wakeup on a busy machine
 * adds all of them and a deadline of N ticks stays N ticks of wall time. The thread sleeps
 * in pthread_cond_timedwait on CLOCK_MONOTONIC until the next tick's edge, so `stop` (a
 * signal of the condition) ends it at once. `done` is atomic: `owed` (ticks due and not
 * yet added, which a call armed in between adds to its deadline) reads it without a lock.
 * The thread increments the engines before it adds to `done`, so a reader in between
 * counts those ticks twice: a deadline up to one catch-up longer, never shorter.
 *
 * Safety. The mutex guards the engine list, `stopping`, `started` and the increments; the
 * thread holds it only while it adds ticks (never while it waits), and it never takes the
 * GIL, so Python callers may block on the mutex with the GIL held. The engines are raw
 * wasm_engine_t pointers: the ticker keeps their Python objects in `keep` (a list, owned
 * under the GIL) and drops them only after the thread is joined, so no engine is deleted
 * while the thread can still increment it. The thread blocks every signal (SIGINT and
 * SIGTERM go to Python's threads). A pthread does not survive fork: in a forked child the
 * ticker refuses every call but `stop` (RuntimeError; `stop` has nothing to stop) and its
 * destructor frees the memory without joining or destroying the copied mutex; sandbench's workers are spawned, and each
 * builds its own backend and ticker. */
#define TICKER_NAME "sandbench.sandbox.wasm._native.ticker"
#define NS 1000000000LL

struct ticker {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC; signalled by stop */
    pthread_t thread;
    int started;  /* the thread runs and nobody joined it yet */
    int stopping;
    pid_t pid;    /* the process that made the ticker */
    int64_t start_ns, tick_ns;
    _Atomic int64_t done; /* ticks added since start_ns */
    void **engines;       /* wasm_engine_t *, alive as long as `keep` */
    size_t n, cap;
    PyObject *keep;       /* list: the engines' Python objects */
};

/* Ticks due by `now_ns` and not yet added (0 when `done` is ahead of it). */
static int64_t owed_by(struct ticker *t, int64_t now_ns) {
    int64_t due = now_ns > t->start_ns ? (now_ns - t->start_ns) / t->tick_ns : 0;
    int64_t owed = due - atomic_load(&t->done);
    return owed > 0 ? owed : 0;
}

/* With the lock held: add the ticks due by `now_ns` to every engine; how many. */
static int64_t catch_up_locked(struct ticker *t, int64_t now_ns) {
    int64_t added = owed_by(t, now_ns);
    for (int64_t i = 0; i < added; i++)
        for (size_t e = 0; e < t->n; e++)
            api.increment_epoch(t->engines[e]);
    atomic_fetch_add(&t->done, added);
    return added;
}

static void *tick_loop(void *arg) {
    struct ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        int64_t next = t->start_ns + (atomic_load(&t->done) + 1) * t->tick_ns;
        struct timespec at = {.tv_sec = next / NS, .tv_nsec = next % NS};
        pthread_cond_timedwait(&t->wake, &t->lock, &at); /* a timeout or a stop */
        if (!t->stopping)
            catch_up_locked(t, clock_ns(CLOCK_MONOTONIC));
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* The ticker of capsule `obj`, or NULL with an exception (not one, or a forked child's). */
static struct ticker *ticker_of(PyObject *obj) {
    struct ticker *t = PyCapsule_GetPointer(obj, TICKER_NAME);
    if (t != NULL && t->pid != getpid()) {
        PyErr_Format(PyExc_RuntimeError, "the epoch ticker belongs to process %d, not this "
                     "forked one: make a new backend", (int)t->pid);
        return NULL;
    }
    return t;
}

/* Stop the thread and join it (once; later calls return at once). */
static void stop_join(struct ticker *t) {
    pthread_mutex_lock(&t->lock);
    int join = t->started;
    t->stopping = 1;
    t->started = 0;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    if (join)
        pthread_join(t->thread, NULL);
}

static void ticker_free(PyObject *capsule) {
    struct ticker *t = PyCapsule_GetPointer(capsule, TICKER_NAME);
    if (t == NULL)
        return;
    if (t->pid == getpid()) {
        stop_join(t); /* the thread never takes the GIL: joining with it held is safe */
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
    } /* else a forked child: no thread to join, and the copied mutex may be locked */
    free(t->engines);
    Py_XDECREF(t->keep);
    free(t);
}

/* Register `engine` (its Python object and its wasm_engine_t address); 0 or -1 (raised). */
static int ticker_register(struct ticker *t, PyObject *engine, PyObject *address) {
    void *ptr = PyLong_AsVoidPtr(address);
    if (ptr == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a null engine");
        return -1;
    }
    if (PyList_Append(t->keep, engine) < 0) /* first: a registered engine is always kept */
        return -1;
    pthread_mutex_lock(&t->lock);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        void **grown = realloc(t->engines, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&t->lock);
            PyErr_NoMemory();
            return -1; /* the extra reference in `keep` only keeps an engine longer */
        }
        t->engines = grown, t->cap = cap;
    }
    t->engines[t->n++] = ptr;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* ticker_new(engine, engine_address, tick_ms) -> capsule: a running ticker. */
static PyObject *ticker_new(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "ticker_new(engine, engine_address, tick_ms)");
        return NULL;
    }
    if (api.increment_epoch == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.init was not called");
        return NULL;
    }
    long tick_ms = PyLong_AsLong(args[2]);
    if (tick_ms == -1 && PyErr_Occurred())
        return NULL;
    if (tick_ms <= 0) {
        PyErr_SetString(PyExc_ValueError, "tick_ms must be positive");
        return NULL;
    }
    struct ticker *t = calloc(1, sizeof *t);
    if (t == NULL)
        return PyErr_NoMemory();
    t->pid = getpid();
    t->tick_ns = (int64_t)tick_ms * 1000000;
    atomic_init(&t->done, 0);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    PyObject *capsule = NULL;
    if ((t->keep = PyList_New(0)) == NULL
        || (capsule = PyCapsule_New(t, TICKER_NAME, ticker_free)) == NULL) {
        Py_XDECREF(t->keep);
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    } /* from here the capsule owns `t` */
    if (ticker_register(t, args[0], args[1]) < 0) {
        Py_DECREF(capsule);
        return NULL;
    }
    t->start_ns = clock_ns(CLOCK_MONOTONIC);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread starts with every signal blocked */
    int rc = pthread_create(&t->thread, NULL, tick_loop, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        Py_DECREF(capsule);
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    t->started = 1;
    return capsule;
}

/* `now` in ns from a time.monotonic() float, or the clock when it is absent or None. */
static int now_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t at, int64_t *now_ns) {
    if (nargs <= at || args[at] == Py_None) {
        *now_ns = clock_ns(CLOCK_MONOTONIC);
        return 0;
    }
    double now = PyFloat_AsDouble(args[at]);
    if (now == -1.0 && PyErr_Occurred())
        return -1;
    *now_ns = (int64_t)(now * 1e9 + 0.5);
    return 0;
}

static PyObject *ticker_owed(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now_ns;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "ticker_owed(ticker, now=None)");
        return NULL;
    }
    struct ticker *t = ticker_of(args[0]);
    if (t == NULL || now_arg(args, nargs, 1, &now_ns) < 0)
        return NULL;
    return PyLong_FromLongLong(owed_by(t, now_ns));
}

static PyObject *ticker_catch_up(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now_ns, added;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ticker_catch_up(ticker, now)");
        return NULL;
    }
    struct ticker *t = ticker_of(args[0]);
    if (t == NULL || now_arg(args, nargs, 1, &now_ns) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&t->lock);
    added = catch_up_locked(t, now_ns);
    pthread_mutex_unlock(&t->lock);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(added);
}

static PyObject *ticker_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "ticker_add(ticker, engine, engine_address)");
        return NULL;
    }
    struct ticker *t = ticker_of(args[0]);
    if (t == NULL || ticker_register(t, args[1], args[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ticker_stop(PyObject *self, PyObject *ticker) {
    struct ticker *t = PyCapsule_GetPointer(ticker, TICKER_NAME);
    if (t == NULL)
        return NULL;
    if (t->pid != getpid()) /* a forked child: its copy has no thread to stop */
        Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    stop_join(t);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* Pass every deadline a call can have (an hour of ticks) on every engine; `done` stays:
 * these ticks are beyond the clock's, so later deadlines count from the new epoch. */
static PyObject *ticker_expire_all(PyObject *self, PyObject *ticker) {
    struct ticker *t = ticker_of(ticker);
    if (t == NULL)
        return NULL;
    int64_t count = 3600 * NS / t->tick_ns + 2;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&t->lock);
    for (int64_t i = 0; i < count; i++)
        for (size_t e = 0; e < t->n; e++)
            api.increment_epoch(t->engines[e]);
    pthread_mutex_unlock(&t->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *ticker_start(PyObject *self, PyObject *ticker) {
    struct ticker *t = ticker_of(ticker);
    return t == NULL ? NULL : PyFloat_FromDouble((double)t->start_ns / 1e9);
}

/* Models. `made(cls, fields, fields_set)` is `sandbench._construct.made` in C for the
 * reactor's outcome (a third of its cost there): a new instance of `cls`, a subclass of
 * the model base `init_models` was given, with `fields` as its __dict__ (taken as it is:
 * pass a new dict), a new set of `fields_set` as its fields set, no extra, no private. The
 * slots are set through the base's own slot descriptors, as Python does. Nothing is
 * validated: only for values sandbench computed itself. */
static PyObject *model_base, *model_slots[4], *no_args;

static PyObject *init_models(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "init_models takes the model base and its 4 slots");
        return NULL;
    }
    for (int i = 1; i < 5; i++) {
        if (Py_TYPE(args[i])->tp_descr_set == NULL) {
            PyErr_SetString(PyExc_TypeError, "a model slot is not a data descriptor");
            return NULL;
        }
    }
    if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL)
        return NULL;
    Py_XSETREF(model_base, Py_NewRef(args[0]));
    for (int i = 0; i < 4; i++)
        Py_XSETREF(model_slots[i], Py_NewRef(args[i + 1]));
    Py_RETURN_NONE;
}

static PyObject *made(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "made takes a model class, its fields and their names");
        return NULL;
    }
    if (model_base == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.init_models was not called");
        return NULL;
    }
    PyObject *cls = args[0], *fields = args[1];
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)model_base)
        || !PyDict_CheckExact(fields) || !PyAnySet_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "made(model class, dict, set)");
        return NULL;
    }
    PyObject *model = PyBaseObject_Type.tp_new((PyTypeObject *)cls, no_args, NULL);
    if (model == NULL)
        return NULL;
    PyObject *names = PySet_New(args[2]);
    if (names == NULL) {
        Py_DECREF(model);
        return NULL;
    }
    PyObject *values[4] = {fields, names, Py_None, Py_None};
    for (int i = 0; i < 4; i++) {
        if (Py_TYPE(model_slots[i])->tp_descr_set(model_slots[i], model, values[i]) < 0) {
            Py_DECREF(names);
            Py_DECREF(model);
            return NULL;
        }
    }
    Py_DECREF(names);
    return model;
}

static PyMethodDef methods[] = {
    {"init_models", (PyCFunction)(void (*)(void))init_models, METH_FASTCALL,
     "init_models(base, dict_slot, fields_set_slot, extra_slot, private_slot)."},
    {"made", (PyCFunction)(void (*)(void))made, METH_FASTCALL,
     "made(cls, fields, fields_set) -> a model of cls, unvalidated (see _native.c)."},
    {"init", (PyCFunction)(void (*)(void))init, METH_FASTCALL,
     "init(call_unchecked, set_fuel, get_fuel, set_deadline, memory_data, memory_data_size, "
     "val_raw_size): the wasmtime C functions to call (addresses)."},
    {"ticker_new", (PyCFunction)(void (*)(void))ticker_new, METH_FASTCALL,
     "ticker_new(engine, engine_address, tick_ms) -> a running epoch ticker (a capsule)."},
    {"ticker_add", (PyCFunction)(void (*)(void))ticker_add, METH_FASTCALL,
     "ticker_add(ticker, engine, engine_address): tick that engine too."},
    {"ticker_owed", (PyCFunction)(void (*)(void))ticker_owed, METH_FASTCALL,
     "ticker_owed(ticker, now=None) -> ticks due by now and not yet added."},
    {"ticker_catch_up", (PyCFunction)(void (*)(void))ticker_catch_up, METH_FASTCALL,
     "ticker_catch_up(ticker, now) -> add the ticks due by now; how many."},
    {"ticker_stop", ticker_stop, METH_O, "ticker_stop(ticker): stop the thread and join it."},
    {"ticker_expire_all", ticker_expire_all, METH_O,
     "ticker_expire_all(ticker): pass every deadline (an hour of ticks) at once."},
    {"ticker_start", ticker_start, METH_O, "ticker_start(ticker) -> its start, monotonic s."},
    {"reactor_call", (PyCFunction)(void (*)(void))reactor_call, METH_FASTCALL,
     "reactor_call(context, alloc, handle, memory, ticks, cap, ticker, bucket, rate, window, "
     "fuel, request, check) -> tuple: one reactor call (see the header of _native.c)."},
    {"envelope", envelope, METH_O,
     "envelope(request) -> bytes: the reactor ABI's request envelope (cgi.request_envelope)."},
    {"bucket_charge", (PyCFunction)(void (*)(void))bucket_charge, METH_FASTCALL,
     "bucket_charge(buffer, now, cost, rate, window): charge a CPU share (lock-free)."},
    {"bucket_wait", (PyCFunction)(void (*)(void))bucket_wait, METH_FASTCALL,
     "bucket_wait(buffer, now, rate) -> seconds until the share is out of debt."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "One reactor call in one crossing, and the epoch ticker (see _native.c).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

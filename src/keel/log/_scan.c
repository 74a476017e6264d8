/* keel.log._scan: the roll-up's two byte-level passes in one compiled loop each.
 *
 * Both do what keel.log._columnar and keel.log._spans do with NumPy and Arrow, and give the
 * same answers (the tests hold them side by side); Keel runs them when this module was built
 * and the NumPy ways when it was not (no C compiler at install time):
 *
 * frames(data, bounds, max_record, out, counts): walks the framed records of each segment
 *   (bounds[k] to bounds[k + 1] of `data`), each frame's length and CRC-32 checked (the
 *   8-byte header: length, then zlib's CRC-32 of the payload, both big-endian); writes where
 *   each frame ends (from the start of `data`) into `out` and each segment's frame count into
 *   `counts`, or -1 for a segment with a frame that does not hold (nothing of it in `out`).
 *   Returns the frames written.
 *
 * split(data, offsets, skip, keys): cuts every record (offsets[k] + skip to offsets[k + 1]
 *   of `data`) laid out exactly as `{"n1":v1,"n2":v2,...}` into its values, checking each is
 *   one complete JSON value (RFC 8259; whitespace only inside objects and arrays); `keys`
 *   are the byte strings `{"n1":`, `,"n2":`, ... Returns per field (offsets, data, validity,
 *   nulls): the buffers of an Arrow string array of that field's text per record (a JSON
 *   `null` as a null), or None when any record is laid out otherwise.
 *
 * Neither touches a Python object while it scans: the GIL is released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <dlfcn.h>

#define MAX_DEPTH 512

/* ---- CRC-32 (zlib's: reflected 0xEDB88320), eight bytes at a time ---- */

static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
}

/* zlib's own crc32 when the process has zlib loaded (Python's zlib module links it: its
 * CRC is about twice as fast as the table below), found at import; else the table. */
typedef unsigned long (*zlib_crc32_t)(unsigned long, const unsigned char *, unsigned int);
static zlib_crc32_t zlib_crc32 = NULL;

static void zlib_init(void) {
    void *zlib = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (zlib) zlib_crc32 = (zlib_crc32_t)dlsym(zlib, "crc32");
}

static uint32_t table_crc32(const uint8_t *p, size_t n);

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    if (zlib_crc32 && n < 0xFFFFFFFFu) return (uint32_t)zlib_crc32(0, p, (unsigned int)n);
    return table_crc32(p, n);
}

static uint32_t table_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (n >= 8) {
        uint32_t one, two;
        memcpy(&one, p, 4);
        memcpy(&two, p + 4, 4);
        one ^= c;
        c = crc_table[7][one & 0xff] ^ crc_table[6][(one >> 8) & 0xff] ^
            crc_table[5][(one >> 16) & 0xff] ^ crc_table[4][one >> 24] ^
            crc_table[3][two & 0xff] ^ crc_table[2][(two >> 8) & 0xff] ^
            crc_table[1][(two >> 16) & 0xff] ^ crc_table[0][two >> 24];
        p += 8;
        n -= 8;
    }
#endif
    while (n--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t big_endian(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- one JSON value: where it ends, or NULL when it is not one ---- */

static inline const uint8_t *blank(const uint8_t *p, const uint8_t *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static inline int hex(uint8_t c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static const uint8_t *string_end(const uint8_t *p, const uint8_t *e) {
    p++; /* the opening quote */
    while (p < e) {
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (p + 1 >= e) return NULL;
            c = p[1];
            if (c == 'u') {
                if (p + 6 > e || !hex(p[2]) || !hex(p[3]) || !hex(p[4]) || !hex(p[5])) return NULL;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                p += 2;
            } else {
                return NULL;
            }
        } else if (c < 0x20) {
            return NULL;
        } else {
            p++;
        }
    }
    return NULL;
}

static inline int is_digit(const uint8_t *p, const uint8_t *e) { return p < e && *p >= '0' && *p <= '9'; }

static const uint8_t *number_end(const uint8_t *p, const uint8_t *e) {
    if (p < e && *p == '-') p++;
    if (!is_digit(p, e)) return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (is_digit(p, e)) p++;
    }
    if (p < e && *p == '.') {
        p++;
        if (!is_digit(p, e)) return NULL;
        while (is_digit(p, e)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, e)) return NULL;
        while (is_digit(p, e)) p++;
    }
    return p;
}

static const uint8_t *word_end(const uint8_t *p, const uint8_t *e, const char *word, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static const uint8_t *value_end(const uint8_t *p, const uint8_t *e, int depth) {
    if (p >= e) return NULL;
    switch (*p) {
    case '"':
        return string_end(p, e);
    case 't':
        return word_end(p, e, "true", 4);
    case 'f':
        return word_end(p, e, "false", 5);
    case 'n':
        return word_end(p, e, "null", 4);
    case '{':
        if (depth >= MAX_DEPTH) return NULL;
        p = blank(p + 1, e);
        if (p < e && *p == '}') return p + 1;
        for (;;) {
            if (p >= e || *p != '"') return NULL;
            if (!(p = string_end(p, e))) return NULL;
            p = blank(p, e);
            if (p >= e || *p != ':') return NULL;
            if (!(p = value_end(blank(p + 1, e), e, depth + 1))) return NULL;
            p = blank(p, e);
            if (p >= e) return NULL;
            if (*p == '}') return p + 1;
            if (*p != ',') return NULL;
            p = blank(p + 1, e);
        }
    case '[':
        if (depth >= MAX_DEPTH) return NULL;
        p = blank(p + 1, e);
        if (p < e && *p == ']') return p + 1;
        for (;;) {
            if (!(p = value_end(p, e, depth + 1))) return NULL;
            p = blank(p, e);
            if (p >= e) return NULL;
            if (*p == ']') return p + 1;
            if (*p != ',') return NULL;
            p = blank(p + 1, e);
        }
    default:
        return number_end(p, e);
    }
}

/* ---- buffers ---- */

static int take_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize,
                       const char *name) {
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                               : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: not a whole number of %zd-byte items", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ---- frames ---- */

static PyObject *frames(PyObject *self, PyObject *args) {
    PyObject *data_obj, *bounds_obj, *out_obj, *counts_obj;
    Py_ssize_t max_record;
    if (!PyArg_ParseTuple(args, "OOnOO", &data_obj, &bounds_obj, &max_record, &out_obj,
                          &counts_obj))
        return NULL;
    Py_buffer data, bounds, out, counts;
    if (take_buffer(data_obj, &data, 0, 1, "data") < 0) return NULL;
    if (take_buffer(bounds_obj, &bounds, 0, 8, "bounds") < 0) goto fail_data;
    if (take_buffer(out_obj, &out, 1, 8, "out") < 0) goto fail_bounds;
    if (take_buffer(counts_obj, &counts, 1, 8, "counts") < 0) goto fail_out;
    Py_ssize_t segments = bounds.len / 8 - 1, capacity = out.len / 8;
    if (segments < 0 || counts.len / 8 < segments) {
        PyErr_SetString(PyExc_ValueError, "frames: bounds and counts do not agree");
        goto fail_counts;
    }
    const int64_t *bound = bounds.buf;
    for (Py_ssize_t k = 0; k < segments; k++) {
        if (bound[k] < 0 || bound[k] > bound[k + 1] || bound[k + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "frames: a segment's bounds are outside data");
            goto fail_counts;
        }
    }
    const uint8_t *base = data.buf;
    int64_t *ends = out.buf, *count = counts.buf;
    Py_ssize_t written = 0;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < segments && !full; k++) {
        int64_t pos = bound[k], end = bound[k + 1];
        Py_ssize_t first = written;
        int whole = 1;
        while (pos < end) {
            if (end - pos < 8) { whole = 0; break; }
            uint32_t length = big_endian(base + pos), crc = big_endian(base + pos + 4);
            int64_t start = pos + 8;
            pos = start + (int64_t)length;
            if (length == 0 || (Py_ssize_t)length > max_record || pos > end ||
                crc32_of(base + start, length) != crc) {
                whole = 0;
                break;
            }
            if (written == capacity) { full = 1; break; }
            ends[written++] = pos;
        }
        if (whole && !full) {
            count[k] = written - first;
        } else {
            count[k] = -1;
            written = first;
        }
    }
    Py_END_ALLOW_THREADS
    if (full) {
        PyErr_SetString(PyExc_ValueError, "frames: `out` is too small");
        goto fail_counts;
    }
    PyBuffer_Release(&counts);
    PyBuffer_Release(&out);
    PyBuffer_Release(&bounds);
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(written);
fail_counts:
    PyBuffer_Release(&counts);
fail_out:
    PyBuffer_Release(&out);
fail_bounds:
    PyBuffer_Release(&bounds);
fail_data:
    PyBuffer_Release(&data);
    return NULL;
}

/* ---- split ---- */

typedef struct {
    const char *bytes;
    Py_ssize_t size;
} Key;

typedef struct { /* one field's string array as it is filled */
    int32_t *offsets;
    uint8_t *data;
    uint8_t *valid; /* NULL: no nulls */
    int32_t at;
} Out;

/* Where the object or array at `v` ends when its bytes repeat those of an earlier field's
 * value of the same record (checked whole already: `model_inputs` logged beside the `inputs`
 * they equal), so they need no second check; else NULL. A complete JSON value is never the
 * start of a longer one, so the value ends there. */
static inline const uint8_t *same_as_earlier(const uint8_t *base, const uint32_t *span,
                                             Py_ssize_t fields, const uint8_t *v,
                                             const uint8_t *e) {
    if (v >= e || (*v != '{' && *v != '[')) return NULL;
    for (Py_ssize_t g = 0; g < fields; g++) {
        const uint8_t *w = base + span[2 * g];
        size_t n = span[2 * g + 1] - span[2 * g];
        if (*w == *v && n > 2 && (size_t)(e - v) > n && memcmp(v, w, n) == 0) return v + n;
    }
    return NULL;
}

/* Each record's value spans (begin, end from the start of data), field by field: 0 when all
 * hold, else the record that does not (+1). */
static Py_ssize_t cut_records(const uint8_t *base, const int64_t *offsets, Py_ssize_t count,
                              Py_ssize_t skip, const Key *keys, Py_ssize_t fields,
                              uint32_t *spans, Py_ssize_t *totals, Py_ssize_t *nulls) {
    for (Py_ssize_t r = 0; r < count; r++) {
        const uint8_t *p = base + offsets[r] + skip, *e = base + offsets[r + 1];
        uint32_t *span = spans + (size_t)r * fields * 2;
        for (Py_ssize_t f = 0; f < fields; f++) {
            if (e - p < keys[f].size || memcmp(p, keys[f].bytes, keys[f].size) != 0) return r + 1;
            p += keys[f].size;
            const uint8_t *v = p;
            if (!(p = same_as_earlier(base, span, f, v, e)) && !(p = value_end(v, e, 0)))
                return r + 1;
            span[2 * f] = (uint32_t)(v - base);
            span[2 * f + 1] = (uint32_t)(p - base);
            if (p - v == 4 && *v == 'n') nulls[f]++; /* `null`: the only value so short */
            else totals[f] += p - v;
        }
        if (e - p != 1 || *p != '}') return r + 1;
    }
    return 0;
}

static PyObject *split(PyObject *self, PyObject *args) {
    PyObject *data_obj, *offsets_obj, *keys_obj;
    Py_ssize_t skip;
    if (!PyArg_ParseTuple(args, "OOnO", &data_obj, &offsets_obj, &skip, &keys_obj)) return NULL;
    if (!PyList_Check(keys_obj) || PyList_GET_SIZE(keys_obj) == 0) {
        PyErr_SetString(PyExc_TypeError, "split: keys must be a non-empty list of bytes");
        return NULL;
    }
    Py_ssize_t fields = PyList_GET_SIZE(keys_obj);
    Py_buffer data, offs;
    if (take_buffer(data_obj, &data, 0, 1, "data") < 0) return NULL;
    if (take_buffer(offsets_obj, &offs, 0, 8, "offsets") < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = NULL;
    Key *keys = NULL;
    uint32_t *spans = NULL;
    PyObject **made = NULL; /* per field: offsets, data, validity (bytes) */
    Py_ssize_t *totals = NULL, *nulls = NULL; /* per field: bytes of its values, its nulls */
    Out *outs = NULL;
    Py_ssize_t count = offs.len / 8 - 1;
    const int64_t *offsets = offs.buf;
    if (count < 1 || data.len >= ((Py_ssize_t)1 << 31) || skip < 0) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    for (Py_ssize_t r = 0; r <= count; r++) {
        if (offsets[r] < 0 || offsets[r] > data.len || (r && offsets[r] < offsets[r - 1] + skip)) {
            PyErr_SetString(PyExc_ValueError, "split: offsets outside data or out of order");
            goto done;
        }
    }
    keys = PyMem_Calloc(fields, sizeof(Key));
    made = PyMem_Calloc(fields * 3, sizeof(PyObject *));
    spans = PyMem_Malloc((size_t)count * fields * 2 * sizeof(uint32_t));
    totals = PyMem_Calloc(fields, sizeof(Py_ssize_t));
    nulls = PyMem_Calloc(fields, sizeof(Py_ssize_t));
    outs = PyMem_Calloc(fields, sizeof(Out));
    if (!keys || !made || !spans || !totals || !nulls || !outs) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < fields; f++) {
        PyObject *key = PyList_GET_ITEM(keys_obj, f);
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) == 0) {
            PyErr_SetString(PyExc_TypeError, "split: keys must be non-empty bytes");
            goto done;
        }
        keys[f].bytes = PyBytes_AS_STRING(key);
        keys[f].size = PyBytes_GET_SIZE(key);
    }
    const uint8_t *base = data.buf;
    Py_ssize_t bad;
    Py_BEGIN_ALLOW_THREADS
    bad = cut_records(base, offsets, count, skip, keys, fields, spans, totals, nulls);
    Py_END_ALLOW_THREADS
    if (bad) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    /* the buffers (with the GIL: Python bytes), then the copies without it, record by
     * record: the payloads are read once, in order, each field's buffer written in order */
    Py_ssize_t bitmap = (count + 7) / 8;
    for (Py_ssize_t f = 0; f < fields; f++) {
        made[3 * f] = PyBytes_FromStringAndSize(NULL, (count + 1) * 4);
        made[3 * f + 1] = PyBytes_FromStringAndSize(NULL, totals[f]);
        if (nulls[f]) {
            made[3 * f + 2] = PyBytes_FromStringAndSize(NULL, bitmap);
        } else {
            Py_INCREF(Py_None);
            made[3 * f + 2] = Py_None;
        }
        if (!made[3 * f] || !made[3 * f + 1] || !made[3 * f + 2]) goto done;
        outs[f].offsets = (int32_t *)PyBytes_AS_STRING(made[3 * f]);
        outs[f].data = (uint8_t *)PyBytes_AS_STRING(made[3 * f + 1]);
        outs[f].valid = made[3 * f + 2] == Py_None ? NULL
                                                   : (uint8_t *)PyBytes_AS_STRING(made[3 * f + 2]);
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t f = 0; f < fields; f++) {
        outs[f].offsets[0] = 0;
        outs[f].at = 0;
        if (outs[f].valid) memset(outs[f].valid, 0xff, bitmap);
    }
    const uint32_t *s = spans;
    for (Py_ssize_t r = 0; r < count; r++) {
        for (Py_ssize_t f = 0; f < fields; f++, s += 2) {
            Out *o = outs + f;
            uint32_t n = s[1] - s[0];
            if (o->valid && n == 4 && base[s[0]] == 'n') {
                o->valid[r >> 3] &= (uint8_t) ~(1u << (r & 7));
            } else {
                memcpy(o->data + o->at, base + s[0], n);
                o->at += (int32_t)n;
            }
            o->offsets[r + 1] = o->at;
        }
    }
    Py_END_ALLOW_THREADS
    result = PyList_New(fields);
    if (!result) goto done;
    for (Py_ssize_t f = 0; f < fields; f++) {
        PyObject *item = Py_BuildValue("(OOOn)", made[3 * f], made[3 * f + 1], made[3 * f + 2],
                                       nulls[f]);
        if (!item) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, f, item);
    }
done:
    if (made) {
        for (Py_ssize_t k = 0; k < fields * 3; k++) Py_XDECREF(made[k]);
        PyMem_Free(made);
    }
    PyMem_Free(outs);
    PyMem_Free(nulls);
    PyMem_Free(totals);
    PyMem_Free(spans);
    PyMem_Free(keys);
    PyBuffer_Release(&offs);
    PyBuffer_Release(&data);
    return result;
}

static PyObject *table_crc(PyObject *self, PyObject *arg) {
    Py_buffer data;
    if (take_buffer(arg, &data, 0, 1, "data") < 0) return NULL;
    uint32_t crc = table_crc32(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(crc);
}

static PyMethodDef methods[] = {
    {"table_crc32", table_crc, METH_O, "CRC-32 by the table (when zlib's is not found)."},
    {"frames", frames, METH_VARARGS, "Where each segment's frames end, lengths and CRCs checked."},
    {"split", split, METH_VARARGS, "Each field's JSON text of records laid out alike."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) {
    crc_init();
    PyObject *zlib = PyImport_ImportModule("zlib"); /* loads libz.so.1 (no-load dlopen above) */
    if (zlib) {
        zlib_init();
        Py_DECREF(zlib);
    } else {
        PyErr_Clear();
    }
    return PyModule_Create(&module);
}

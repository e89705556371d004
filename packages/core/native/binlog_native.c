/*
 * binlog's optional native helpers (Node-API, no V8 headers, so one build runs on every Node >= 18).
 *
 * Two functions, both pure computations over caller-owned memory:
 *   crc32cUpdate(crc, bytes, start, end)   the CRC-32C of Crc32c.update, with the SSE4.2 crc32 instruction
 *                                          when the CPU has it (slicing-by-8 tables otherwise)
 *   encodeEntries(out, io, type, term, firstIndex, staged, lengths, count, frames)
 *                                          the frames FrameEncoder.smallEntry writes, for a whole batch in one
 *                                          call: one raftpb.Entry per payload, the payloads laid end to end in
 *                                          `staged` with their sizes in `lengths` (Int32Array; the caller copies
 *                                          them there: a JavaScript TypedArray.set is ~4x cheaper than reading
 *                                          array elements through Node-API), indexes firstIndex, firstIndex + 1,
 *                                          ...; io = Float64Array [pos, crc] in/out; frames (Int32Array)
 *                                          receives each frame's size in bytes
 *   alignmentOffset(bytes, align)          how many bytes from the start of `bytes` the first address that is a
 *                                          multiple of `align` (a power of two) lies: for O_DIRECT buffers
 *
 * The TypeScript side (src/internal/native.ts) loads this file when it was built and falls back to its own code
 * otherwise; tests check both produce the same bytes. Nothing here allocates JavaScript memory per entry.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#define POLY 0x82f63b78u
/* record header: 08 02 10 crc(<=5) 1a len(<=10); entry header: 08 type 10 term 18 index(<=10) 22 len(<=10) */
#define MAX_RECORD_HEADER_BYTES 19
#define MAX_ENTRY_HEADER_BYTES 26
#define LENGTH_WORD_BYTES 8
#define MAX_PAD_BYTES 7

static uint32_t table[8][256];
static int has_hw = 0;

static void init_tables(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    table[0][n] = c;
  }
  for (int t = 1; t < 8; t++)
    for (uint32_t n = 0; n < 256; n++) table[t][n] = (table[t - 1][n] >> 8) ^ table[0][table[t - 1][n] & 0xff];
}

/* All raw_* functions take and return the inverted running state (~crc), so pieces chain without re-inverting. */
static uint32_t raw_sw(uint32_t s, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    a = __builtin_bswap32(a);
    b = __builtin_bswap32(b);
#endif
    a ^= s;
    s = table[7][a & 0xff] ^ table[6][(a >> 8) & 0xff] ^ table[5][(a >> 16) & 0xff] ^ table[4][a >> 24] ^
        table[3][b & 0xff] ^ table[2][(b >> 8) & 0xff] ^ table[1][(b >> 16) & 0xff] ^ table[0][b >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) s = table[0][(s ^ *p++) & 0xff] ^ (s >> 8);
  return s;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t raw_hw(uint32_t s, const uint8_t* p, size_t n) {
  uint64_t c = s;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
static void detect_hw(void) {
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) has_hw = (c & bit_SSE4_2) != 0;
}
#else
static uint32_t raw_hw(uint32_t s, const uint8_t* p, size_t n) { return raw_sw(s, p, n); }
static void detect_hw(void) { has_hw = 0; }
#endif

static inline uint32_t raw(uint32_t s, const uint8_t* p, size_t n) { return has_hw ? raw_hw(s, p, n) : raw_sw(s, p, n); }

static inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline uint8_t* put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static napi_value throw_error(napi_env env, const char* msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* Reads a typed array argument's bytes; 0 when it is not a typed array. */
static int bytes_of(napi_env env, napi_value v, napi_typedarray_type want, uint8_t** data, size_t* bytes) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t length;
  void* p;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, NULL, NULL) != napi_ok) return 0;
  if (type != want && !(want == napi_uint8_array && type == napi_uint8_clamped_array)) return 0;
  *data = (uint8_t*)p;
  switch (type) {
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: *bytes = length * 4; break;
    case napi_float64_array: *bytes = length * 8; break;
    default: *bytes = length; break;
  }
  return 1;
}

static napi_value Crc32cUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_error(env, "crc32cUpdate(crc, bytes, start, end)");
  uint32_t crc, start, end;
  uint8_t* data;
  size_t length;
  if (napi_get_value_uint32(env, argv[0], &crc) != napi_ok || !bytes_of(env, argv[1], napi_uint8_array, &data, &length) ||
      napi_get_value_uint32(env, argv[2], &start) != napi_ok || napi_get_value_uint32(env, argv[3], &end) != napi_ok)
    return throw_error(env, "crc32cUpdate(crc, bytes, start, end): bad argument");
  if (start > end || end > length) return throw_error(env, "crc32cUpdate: range outside the bytes");
  napi_value out;
  napi_create_uint32(env, ~raw(~crc, data + start, end - start), &out);
  return out;
}

static napi_value EncodeEntries(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 9) return throw_error(env, "encodeEntries(out, io, type, term, firstIndex, staged, lengths, count, frames)");
  uint8_t *out, *io_bytes, *staged, *lengths_bytes, *frames_bytes;
  size_t out_len, io_len, staged_len, lengths_len, frames_len;
  uint32_t type, term, count;
  double first;
  if (!bytes_of(env, argv[0], napi_uint8_array, &out, &out_len) ||
      !bytes_of(env, argv[1], napi_float64_array, &io_bytes, &io_len) || io_len < 16 ||
      napi_get_value_uint32(env, argv[2], &type) != napi_ok || type >= 0x80 ||
      napi_get_value_uint32(env, argv[3], &term) != napi_ok || term >= 0x80 ||
      napi_get_value_double(env, argv[4], &first) != napi_ok || !(first >= 0 && first <= 9007199254740991.0) ||
      !bytes_of(env, argv[5], napi_uint8_array, &staged, &staged_len) ||
      !bytes_of(env, argv[6], napi_int32_array, &lengths_bytes, &lengths_len) ||
      napi_get_value_uint32(env, argv[7], &count) != napi_ok || lengths_len < (size_t)count * 4 ||
      !bytes_of(env, argv[8], napi_int32_array, &frames_bytes, &frames_len) || frames_len < (size_t)count * 4)
    return throw_error(env, "encodeEntries: bad argument");
  double io[2];
  memcpy(io, io_bytes, 16);
  if (!(io[0] >= 0 && io[0] <= (double)out_len) || !(io[1] >= 0 && io[1] <= 4294967295.0))
    return throw_error(env, "encodeEntries: bad position or crc");
  size_t pos = (size_t)io[0];
  size_t at = 0;
  uint32_t s = ~(uint32_t)io[1];
  uint64_t index = (uint64_t)first;
  const int32_t* lengths = (const int32_t*)lengths_bytes;
  int32_t* frames = (int32_t*)frames_bytes;
  for (uint32_t i = 0; i < count; i++, index++) {
    if (lengths[i] < 0 || staged_len - at < (size_t)lengths[i])
      return throw_error(env, "encodeEntries: lengths run past the staged bytes");
    size_t data_len = (size_t)lengths[i];
    const uint8_t* data = staged + at;
    at += data_len;
    if (out_len - pos < LENGTH_WORD_BYTES + MAX_RECORD_HEADER_BYTES + MAX_ENTRY_HEADER_BYTES + data_len + MAX_PAD_BYTES)
      return throw_error(env, "encodeEntries: output buffer too small");
    uint8_t eh[MAX_ENTRY_HEADER_BYTES];
    uint8_t* e = eh;
    *e++ = 0x08;
    *e++ = (uint8_t)type;
    *e++ = 0x10;
    *e++ = (uint8_t)term;
    *e++ = 0x18;
    e = put_varint(e, index);
    *e++ = 0x22;
    e = put_varint(e, data_len);
    size_t eh_len = (size_t)(e - eh);
    uint64_t entry_bytes = eh_len + data_len;
    s = raw(raw(s, eh, eh_len), data, data_len);
    uint32_t crc = ~s;
    uint8_t* p = out + pos + LENGTH_WORD_BYTES;
    *p++ = 0x08;
    *p++ = 0x02;
    *p++ = 0x10;
    p = put_varint(p, crc);
    *p++ = 0x1a;
    p = put_varint(p, entry_bytes);
    memcpy(p, eh, eh_len);
    p += eh_len;
    memcpy(p, data, data_len);
    p += data_len;
    uint64_t rec_bytes = (uint64_t)(p - (out + pos + LENGTH_WORD_BYTES));
    unsigned pad = (unsigned)((8 - (rec_bytes % 8)) % 8);
    for (unsigned k = 0; k < pad; k++) *p++ = 0;
    uint64_t word = rec_bytes | (pad == 0 ? 0 : ((uint64_t)(0x80 | pad) << 56));
    for (int k = 0; k < 8; k++) out[pos + k] = (uint8_t)(word >> (8 * k));
    size_t total = LENGTH_WORD_BYTES + (size_t)rec_bytes + pad;
    frames[i] = (int32_t)total;
    pos += total;
  }
  io[0] = (double)pos;
  io[1] = (double)(uint32_t)~s;
  memcpy(io_bytes, io, 16);
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

static napi_value AlignmentOffset(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t* data;
  size_t length;
  uint32_t align;
  if (argc < 2 || !bytes_of(env, argv[0], napi_uint8_array, &data, &length) ||
      napi_get_value_uint32(env, argv[1], &align) != napi_ok || align == 0 || (align & (align - 1)) != 0)
    return throw_error(env, "alignmentOffset(bytes, align): align must be a power of two");
  uintptr_t address = (uintptr_t)data;
  napi_value out;
  napi_create_uint32(env, (uint32_t)((align - (address & (align - 1))) & (align - 1)), &out);
  return out;
}

static napi_value HasHardwareCrc(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, has_hw != 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  init_tables();
  detect_hw();
  napi_property_descriptor props[] = {
    {"crc32cUpdate", NULL, Crc32cUpdate, NULL, NULL, NULL, napi_enumerable, NULL},
    {"encodeEntries", NULL, EncodeEntries, NULL, NULL, NULL, napi_enumerable, NULL},
    {"alignmentOffset", NULL, AlignmentOffset, NULL, NULL, NULL, napi_enumerable, NULL},
    {"hasHardwareCrc", NULL, HasHardwareCrc, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

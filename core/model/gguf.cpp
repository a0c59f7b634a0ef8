// SPDX-License-Identifier: GPL-3.0-or-later
// GGUF: the header, the metadata key/value pairs and the tensor table read with every length
// checked against the bytes left; the data section memory-mapped; ggml's block formats
// dequantised as ggml-common.h lays them out.
#include "model/gguf.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace mola {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint64_t kDefaultAlignment = 32;
// More than any real file has: bounds the work a damaged count could ask for.
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
constexpr uint64_t kMaxDims = 4;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

// IEEE half to float, subnormals, infinities and NaN included.
float halfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000 | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

uint16_t load16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

float loadHalf(const std::byte* p) {
  return halfToFloat(load16(p));
}

uint8_t u8(const std::byte* p, size_t i) {
  return static_cast<uint8_t>(p[i]);
}

// The 6-bit scale and min of sub-block j of a K-quant block's 12 packed scale bytes.
void scaleMinK4(int j, const std::byte* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = u8(q, j) & 63;
    min = u8(q, j + 4) & 63;
  } else {
    scale = (u8(q, j + 4) & 0xF) | ((u8(q, j - 4) >> 6) << 4);
    min = (u8(q, j + 4) >> 4) | ((u8(q, j) >> 6) << 4);
  }
}

// Q4_0 and Q4_1 (32 values): fp16 d (and m), then 16 bytes whose low nibbles are values 0..15 and
// high nibbles values 16..31: x = d (q - 8), or x = d q + m.
void dequantQ4(const std::byte* b, float* y, bool with_min) {
  const float d = loadHalf(b), m = with_min ? loadHalf(b + 2) : 0.0f;
  const std::byte* qs = b + (with_min ? 4 : 2);
  const int offset = with_min ? 0 : 8;
  for (int l = 0; l < 16; ++l) {
    y[l] = d * float((u8(qs, l) & 0xF) - offset) + m;
    y[l + 16] = d * float((u8(qs, l) >> 4) - offset) + m;
  }
}

// Q8_0 (32 values): fp16 d, 32 int8: x = d q.
void dequantQ8_0(const std::byte* b, float* y) {
  const float d = loadHalf(b);
  for (int l = 0; l < 32; ++l) y[l] = d * float(static_cast<int8_t>(b[2 + l]));
}

// Q4_K (256 values): fp16 d, dmin, 12 scale bytes (8 sub-blocks of 32, 6-bit scales and mins),
// 128 bytes of nibbles; each 64 values take the low then the high nibbles of 32 bytes.
void dequantQ4_K(const std::byte* b, float* y) {
  const float d = loadHalf(b), dmin = loadHalf(b + 2);
  const std::byte* scales = b + 4;
  const std::byte* q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    scaleMinK4(is, scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scaleMinK4(is + 1, scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * float(u8(q, l) & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float(u8(q, l) >> 4) - m2;
  }
}

// Q5_K (256 values): as Q4_K, with a fifth bit per value in 32 high-bit bytes (bit 2k for the low
// nibbles and 2k+1 for the high nibbles of the k-th 64 values).
void dequantQ5_K(const std::byte* b, float* y) {
  const float d = loadHalf(b), dmin = loadHalf(b + 2);
  const std::byte* scales = b + 4;
  const std::byte* qh = b + 16;
  const std::byte* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    scaleMinK4(is, scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scaleMinK4(is + 1, scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * float((u8(ql, l) & 0xF) + ((u8(qh, l) & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * float((u8(ql, l) >> 4) + ((u8(qh, l) & u2) ? 16 : 0)) - m2;
  }
}

// Q6_K (256 values): 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales (one
// per 16 values), fp16 d: x = d scale (q - 32) with q of 6 bits.
void dequantQ6_K(const std::byte* b, float* y) {
  const std::byte* ql = b;
  const std::byte* qh = b + 128;
  const std::byte* sc = b + 192;
  const float d = loadHalf(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((u8(ql, l) & 0xF) | (((u8(qh, l) >> 0) & 3) << 4)) - 32;
      const int q2 = int((u8(ql, l + 32) & 0xF) | (((u8(qh, l) >> 2) & 3) << 4)) - 32;
      const int q3 = int((u8(ql, l) >> 4) | (((u8(qh, l) >> 4) & 3) << 4)) - 32;
      const int q4 = int((u8(ql, l + 32) >> 4) | (((u8(qh, l) >> 6) & 3) << 4)) - 32;
      y[l] = d * float(static_cast<int8_t>(sc[is])) * float(q1);
      y[l + 32] = d * float(static_cast<int8_t>(sc[is + 2])) * float(q2);
      y[l + 64] = d * float(static_cast<int8_t>(sc[is + 4])) * float(q3);
      y[l + 96] = d * float(static_cast<int8_t>(sc[is + 6])) * float(q4);
    }
  }
}

// Reads the header and tables front to back; every read checks the bytes left.
class Cursor {
 public:
  Cursor(const fs::path& path, const std::byte* data, uint64_t size)
      : m_path(path), m_data(data), m_size(size) {}

  uint64_t position() const { return m_pos; }
  void need(uint64_t bytes, const std::string& what) const {
    if (bytes > m_size - m_pos)
      fail(m_path, "truncated: " + what + " needs " + std::to_string(bytes) + " bytes at offset " +
                       std::to_string(m_pos) + " but the file has " +
                       std::to_string(m_size - m_pos) + " left");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, m_data + m_pos, sizeof(T));
    m_pos += sizeof(T);
    return v;
  }
  std::string string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(m_data + m_pos), size_t(n));
    m_pos += n;
    return s;
  }
  // A scalar of GGUF value type `type`, as GgufValue.
  GgufValue scalar(uint32_t type, const std::string& what) {
    switch (type) {
      case 0:
        return int64_t(read<uint8_t>(what));
      case 1:
        return int64_t(read<int8_t>(what));
      case 2:
        return int64_t(read<uint16_t>(what));
      case 3:
        return int64_t(read<int16_t>(what));
      case 4:
        return int64_t(read<uint32_t>(what));
      case 5:
        return int64_t(read<int32_t>(what));
      case 6:
        return double(read<float>(what));
      case 7:
        return read<uint8_t>(what) != 0;
      case 8:
        return string(what);
      case 10: {
        const uint64_t v = read<uint64_t>(what);
        if (v > uint64_t(std::numeric_limits<int64_t>::max()))
          fail(m_path, what + ": the value " + std::to_string(v) + " is too large");
        return int64_t(v);
      }
      case 11:
        return read<int64_t>(what);
      case 12:
        return read<double>(what);
      default:
        fail(m_path, what + ": unknown metadata value type " + std::to_string(type));
    }
  }
  GgufValue value(uint32_t type, const std::string& what) {
    if (type != 9) return scalar(type, what);
    const uint32_t element = read<uint32_t>(what);
    const uint64_t n = read<uint64_t>(what);
    if (element == 9) fail(m_path, what + ": arrays of arrays are not supported");
    // Each element takes at least one byte: a count beyond what is left is damage.
    need(n, what);
    if (element == 8) {
      std::vector<std::string> out;
      out.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) out.push_back(string(what));
      return out;
    }
    if (element == 6 || element == 12) {
      std::vector<double> out;
      out.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) out.push_back(std::get<double>(scalar(element, what)));
      return out;
    }
    std::vector<int64_t> out;
    out.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) {
      const GgufValue v = scalar(element, what);
      out.push_back(std::holds_alternative<bool>(v) ? int64_t(std::get<bool>(v))
                                                    : std::get<int64_t>(v));
    }
    return out;
  }

 private:
  const fs::path& m_path;
  const std::byte* m_data;
  uint64_t m_size;
  uint64_t m_pos = 0;
};

}  // namespace

std::string ggmlTypeName(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32:
      return "F32";
    case GgmlType::F16:
      return "F16";
    case GgmlType::Q4_0:
      return "Q4_0";
    case GgmlType::Q4_1:
      return "Q4_1";
    case GgmlType::Q8_0:
      return "Q8_0";
    case GgmlType::Q4_K:
      return "Q4_K";
    case GgmlType::Q5_K:
      return "Q5_K";
    case GgmlType::Q6_K:
      return "Q6_K";
    case GgmlType::BF16:
      return "BF16";
  }
  return "type " + std::to_string(type);
}

std::optional<std::pair<uint64_t, uint64_t>> ggmlBlockLayout(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32:
      return std::pair<uint64_t, uint64_t>{1, 4};
    case GgmlType::F16:
      return std::pair<uint64_t, uint64_t>{1, 2};
    case GgmlType::BF16:
      return std::pair<uint64_t, uint64_t>{1, 2};
    case GgmlType::Q4_0:
      return std::pair<uint64_t, uint64_t>{32, 18};
    case GgmlType::Q4_1:
      return std::pair<uint64_t, uint64_t>{32, 20};
    case GgmlType::Q8_0:
      return std::pair<uint64_t, uint64_t>{32, 34};
    case GgmlType::Q4_K:
      return std::pair<uint64_t, uint64_t>{256, 144};
    case GgmlType::Q5_K:
      return std::pair<uint64_t, uint64_t>{256, 176};
    case GgmlType::Q6_K:
      return std::pair<uint64_t, uint64_t>{256, 210};
  }
  return std::nullopt;
}

void dequantizeGgml(uint32_t type, const std::byte* data, uint64_t count, float* out) {
  const auto layout = ggmlBlockLayout(type);
  if (!layout) throw std::invalid_argument("unknown ggml tensor type " + std::to_string(type));
  const auto [per_block, block_bytes] = *layout;
  if (count % per_block != 0)
    throw std::invalid_argument(std::to_string(count) + " " + ggmlTypeName(type) +
                                " values are not a whole number of " + std::to_string(per_block) +
                                "-value blocks");
  const uint64_t blocks = count / per_block;
  for (uint64_t i = 0; i < blocks; ++i) {
    const std::byte* b = data + i * block_bytes;
    float* y = out + i * per_block;
    switch (static_cast<GgmlType>(type)) {
      case GgmlType::F32:
        std::memcpy(y, b, 4);
        break;
      case GgmlType::F16:
        *y = loadHalf(b);
        break;
      case GgmlType::BF16:
        *y = std::bit_cast<float>(uint32_t(load16(b)) << 16);
        break;
      case GgmlType::Q4_0:
        dequantQ4(b, y, false);
        break;
      case GgmlType::Q4_1:
        dequantQ4(b, y, true);
        break;
      case GgmlType::Q8_0:
        dequantQ8_0(b, y);
        break;
      case GgmlType::Q4_K:
        dequantQ4_K(b, y);
        break;
      case GgmlType::Q5_K:
        dequantQ5_K(b, y);
        break;
      case GgmlType::Q6_K:
        dequantQ6_K(b, y);
        break;
    }
  }
}

uint64_t GgufTensorInfo::elements() const {
  uint64_t n = 1;
  for (int64_t d : dims) n *= uint64_t(d);
  return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

GgufFile GgufFile::open(const fs::path& path) {
  GgufFile file;
  file.m_path = path;
  file.m_map = MappedFile::open(path);
  const uint64_t size = file.m_map->size();
  if (size < 24) fail(path, "has " + std::to_string(size) + " bytes, too few for a GGUF header");
  const std::byte* bytes = file.m_map->data();
  Cursor in(path, bytes, size);
  if (in.read<uint32_t>("the magic") != kMagic) fail(path, "is not a GGUF file (no GGUF magic)");
  const uint32_t version = in.read<uint32_t>("the version");
  if (version != 3)
    fail(path, "is GGUF version " + std::to_string(version) + "; this reader reads version 3");
  const uint64_t n_tensors = in.read<uint64_t>("the tensor count");
  const uint64_t n_kv = in.read<uint64_t>("the metadata count");
  if (n_tensors > kMaxTensors) fail(path, "claims " + std::to_string(n_tensors) + " tensors");
  in.need(n_kv, "the metadata");
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = in.string("metadata key " + std::to_string(i));
    const uint32_t type = in.read<uint32_t>("metadata '" + key + "'");
    file.m_metadata[key] = in.value(type, "metadata '" + key + "'");
  }
  const uint64_t alignment = file.integer("general.alignment").value_or(kDefaultAlignment);
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    fail(path, "general.alignment " + std::to_string(alignment) + " is not a power of two");

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = in.string("tensor " + std::to_string(i) + "'s name");
    const std::string what = "tensor '" + t.name + "'";
    const uint32_t n_dims = in.read<uint32_t>(what);
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(path, what + " has " + std::to_string(n_dims) + " dimensions");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = in.read<uint64_t>(what);
      if (dim == 0 || dim > (uint64_t(1) << 40) || __builtin_mul_overflow(elements, dim, &elements))
        fail(path, what + ": dimension " + std::to_string(dim) + " is not a size");
      t.dims.push_back(int64_t(dim));
    }
    t.type = in.read<uint32_t>(what);
    t.offset = in.read<uint64_t>(what);
    const auto layout = ggmlBlockLayout(t.type);
    if (!layout)
      fail(path, what + " has tensor type " + ggmlTypeName(t.type) +
                     ", which this reader cannot dequantise (it reads F32, F16, BF16, Q8_0, "
                     "Q4_0, Q4_1, Q4_K, Q5_K and Q6_K)");
    if (elements % layout->first != 0 || uint64_t(t.dims[0]) % layout->first != 0)
      fail(path, what + ": its rows are not a whole number of " + ggmlTypeName(t.type) + " blocks");
    t.bytes = elements / layout->first * layout->second;
    if (t.offset % alignment != 0)
      fail(path, what + ": its data offset " + std::to_string(t.offset) + " is not aligned");
    file.m_tensors.push_back(std::move(t));
  }
  file.m_data_offset = (in.position() + alignment - 1) / alignment * alignment;
  if (file.m_data_offset > size) fail(path, "truncated before its tensor data");
  const uint64_t data_size = size - file.m_data_offset;
  for (const GgufTensorInfo& t : file.m_tensors)
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      fail(path, "tensor '" + t.name + "' ends at byte " + std::to_string(t.offset + t.bytes) +
                     " of the data but the file has " + std::to_string(data_size) +
                     " data bytes; the file is truncated");
  return file;
}

const GgufTensorInfo* GgufFile::find(std::string_view name) const {
  for (const GgufTensorInfo& t : m_tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

template <typename T>
const T* typed(const std::map<std::string, GgufValue>& m, const fs::path& path,
               const std::string& key, const char* expected) {
  const auto it = m.find(key);
  if (it == m.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) fail(path, "metadata '" + key + "' is not " + expected);
  return v;
}

}  // namespace

std::optional<int64_t> GgufFile::integer(const std::string& key) const {
  const int64_t* v = typed<int64_t>(m_metadata, m_path, key, "an integer");
  return v ? std::optional<int64_t>(*v) : std::nullopt;
}

std::optional<double> GgufFile::real(const std::string& key) const {
  const auto it = m_metadata.find(key);
  if (it != m_metadata.end())
    if (const int64_t* i = std::get_if<int64_t>(&it->second)) return double(*i);
  const double* v = typed<double>(m_metadata, m_path, key, "a number");
  return v ? std::optional<double>(*v) : std::nullopt;
}

std::optional<bool> GgufFile::boolean(const std::string& key) const {
  const bool* v = typed<bool>(m_metadata, m_path, key, "a boolean");
  return v ? std::optional<bool>(*v) : std::nullopt;
}

std::optional<std::string> GgufFile::string(const std::string& key) const {
  const std::string* v = typed<std::string>(m_metadata, m_path, key, "a string");
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

const std::vector<std::string>* GgufFile::strings(const std::string& key) const {
  return typed<std::vector<std::string>>(m_metadata, m_path, key, "an array of strings");
}

const std::vector<int64_t>* GgufFile::integers(const std::string& key) const {
  return typed<std::vector<int64_t>>(m_metadata, m_path, key, "an array of integers");
}

const std::vector<double>* GgufFile::reals(const std::string& key) const {
  return typed<std::vector<double>>(m_metadata, m_path, key, "an array of numbers");
}

const std::byte* GgufFile::data(const GgufTensorInfo& tensor) const {
  return m_map->data() + m_data_offset + tensor.offset;
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& tensor) const {
  std::vector<float> out(size_t(tensor.elements()));
  dequantizeGgml(tensor.type, data(tensor), tensor.elements(), out.data());
  return out;
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Safetensors: 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace mola {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

size_t safetensorsDtypeSize(std::string_view dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

namespace {

// One tensor's header entry, checked against the data section's size.
SafetensorsEntry parseEntry(const std::filesystem::path& path, const std::string& name,
                            const nlohmann::json& value, uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
      !value.contains("data_offsets"))
    fail(path, where + " lacks dtype, shape or data_offsets");
  SafetensorsEntry e;
  e.name = name;
  if (!value["dtype"].is_string()) fail(path, where + ": dtype is not a string");
  e.dtype = value["dtype"].get<std::string>();
  const size_t elem = safetensorsDtypeSize(e.dtype);
  if (elem == 0) fail(path, where + ": unknown dtype '" + e.dtype + "'");
  const auto& shape = value["shape"];
  if (!shape.is_array()) fail(path, where + ": shape is not an array");
  uint64_t count = 1, bytes = 0;
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      fail(path, where + ": shape " + shape.dump() + " has a dimension that is not a count");
    e.shape.push_back(d.get<int64_t>());
    // A shape whose size overflows 64 bits cannot match any data span: refuse it here, before
    // the wrapped product could pass the check below and a tensor of that shape be allocated.
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(e.shape.back()), &count) ||
        __builtin_mul_overflow(count, uint64_t(elem), &bytes))
      fail(path, where + ": shape " + shape.dump() + " is too large for any file");
  }
  const auto& off = value["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(path, where + ": data_offsets must be two byte offsets");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end) fail(path, where + ": data_offsets end before they begin");
  if (e.end > data_size)
    fail(path, where + " ends at byte " + std::to_string(e.end) + " of the data but the file has " +
                   std::to_string(data_size) + " data bytes; the file is truncated");
  if (e.end - e.begin != count * elem)
    fail(path, where + ": shape " + shapeText(e.shape) + " of " + e.dtype + " needs " +
                   std::to_string(count * elem) + " bytes but its data_offsets span " +
                   std::to_string(e.end - e.begin));
  return e;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.m_path = path;
  file.m_map = MappedFile::open(path);
  const uint64_t size = file.m_map->size();
  if (size < 8)
    fail(path, "the file has " + std::to_string(size) +
                   " bytes, too few for a safetensors header; it is truncated or not safetensors");
  const auto* bytes = reinterpret_cast<const unsigned char*>(file.m_map->data());

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    fail(path, "the header claims " + std::to_string(header_len) + " bytes but the file has " +
                   std::to_string(size - 8) +
                   " after the length field; it is truncated or not safetensors");
  file.m_data_offset = 8 + header_len;
  const uint64_t data_size = size - file.m_data_offset;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                   reinterpret_cast<const char*>(bytes + 8 + header_len));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("the header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "the header is not a JSON object");

  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ is not an object of strings");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) fail(path, "metadata '" + key + "' is not a string");
        file.m_metadata[key] = v.get<std::string>();
      }
      continue;
    }
    file.m_entries.push_back(parseEntry(path, name, value, data_size));
  }
  std::sort(file.m_entries.begin(), file.m_entries.end(),
            [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < file.m_entries.size(); ++i)
    if (file.m_entries[i].begin < file.m_entries[i - 1].end)
      fail(path, "tensors '" + file.m_entries[i - 1].name + "' and '" + file.m_entries[i].name +
                     "' overlap");
  return file;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  for (const SafetensorsEntry& e : m_entries)
    if (e.name == name) return &e;
  return nullptr;
}

const std::byte* SafetensorsFile::data(const SafetensorsEntry& entry) const {
  return m_map->data() + m_data_offset + entry.begin;
}

void writeSafetensors(const std::filesystem::path& path,
                      const std::vector<SafetensorsTensorView>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<const SafetensorsTensorView*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<size_t> sizes;
  uint64_t offset = 0;
  for (const SafetensorsTensorView* t : order) {
    const size_t elem = safetensorsDtypeSize(t->dtype);
    if (elem == 0) fail(path, "tensor '" + t->name + "': unknown dtype '" + t->dtype + "'");
    if (header.contains(t->name)) fail(path, "tensor '" + t->name + "' is given twice");
    uint64_t count = 1;
    for (int64_t d : t->shape) count *= static_cast<uint64_t>(d);
    sizes.push_back(count * elem);
    header[t->name] = {{"dtype", t->dtype},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + sizes.back()}}};
    offset += sizes.back();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, std::string("cannot create: ") + std::strerror(errno));
  auto write_all = [&](const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int err = errno;
        ::close(fd);
        std::filesystem::remove(tmp);
        fail(tmp, std::string("write failed: ") + std::strerror(err));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  write_all(len, 8);
  write_all(text.data(), text.size());
  for (size_t i = 0; i < order.size(); ++i) write_all(order[i]->data, sizes[i]);
  const int synced = ::fsync(fd);
  const int err_sync = errno;
  if (::close(fd) != 0 || synced != 0) {
    const int err = synced != 0 ? err_sync : errno;
    std::filesystem::remove(tmp);
    fail(tmp, std::string("cannot flush to disk: ") + std::strerror(err));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    fail(path, "cannot move the finished file into place: " + ec.message());
  }
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Safetensors files: a validating, memory-mapped reader and an atomic writer (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/mapped_file.h"

namespace mola {

// Bytes per element of a safetensors dtype ("F32", "BF16", ...); 0 when the dtype is unknown.
size_t safetensorsDtypeSize(std::string_view dtype);

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // "F32", "BF16", "F16", ...
  std::vector<int64_t> shape;  // row-major
  uint64_t begin = 0;          // byte offsets into the data section
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps the file and validates its header: length, JSON, dtypes, shapes against byte spans, and
  // that every span lies inside the file. Errors (std::runtime_error) start with the path and name
  // the tensor or field at fault.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return m_path; }
  const std::map<std::string, std::string>& metadata() const { return m_metadata; }
  const std::vector<SafetensorsEntry>& entries() const { return m_entries; }
  const SafetensorsEntry* find(std::string_view name) const;
  // Start of an entry's bytes; valid while this object (or a copy) lives.
  const std::byte* data(const SafetensorsEntry& entry) const;

 private:
  std::filesystem::path m_path;
  std::shared_ptr<const MappedFile> m_map;
  uint64_t m_data_offset = 0;
  std::map<std::string, std::string> m_metadata;
  std::vector<SafetensorsEntry> m_entries;
};

struct SafetensorsTensorView {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // shape-product * dtype-size bytes, row-major
};

// Writes to "<path>.tmp", fsyncs, then renames over `path`: a crash leaves the old file or the new
// one, never half of one. Tensors are stored sorted by name with 8-byte aligned data.
void writeSafetensors(const std::filesystem::path& path,
                      const std::vector<SafetensorsTensorView>& tensors,
                      const std::map<std::string, std::string>& metadata);

}  // namespace mola

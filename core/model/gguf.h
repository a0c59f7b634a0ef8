// SPDX-License-Identifier: GPL-3.0-or-later
// GGUF files (the llama.cpp format, version 3): a validating, memory-mapped reader of the metadata
// and the tensor table, and the dequantisers of the block formats (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/mapped_file.h"

namespace mola {

// The ggml tensor types this reader dequantises (their numbers in the file).
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

// "Q4_K" for a type number, "type 7" for one this reader does not know.
std::string ggmlTypeName(uint32_t type);
// Elements per block and bytes per block of a known type (1 and the element size for F32, F16 and
// BF16); nullopt for an unknown one.
std::optional<std::pair<uint64_t, uint64_t>> ggmlBlockLayout(uint32_t type);

// Dequantises `count` elements (a whole number of blocks) of `type` at `data` into `out`.
// Throws std::invalid_argument for an unknown type or a count that is not whole blocks.
void dequantizeGgml(uint32_t type, const std::byte* data, uint64_t count, float* out);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // as stored: dims[0] varies fastest (PyTorch's last dimension)
  uint32_t type = 0;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t bytes = 0;
  uint64_t elements() const;
  // PyTorch's order: dims reversed ([rows, columns] for a matrix).
  std::vector<int64_t> shape() const;
};

// One metadata value: integers of any width as int64 (uint64 above INT64_MAX is refused), floats
// as double, or arrays of one of those.
using GgufValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>,
                               std::vector<double>, std::vector<std::string>>;

class GgufFile {
 public:
  // Maps the file and validates it: magic, version 3, every count and length against the bytes
  // that are left, every tensor's type, dims and data span inside the file. Errors
  // (std::runtime_error) start with the path and name the key or tensor at fault.
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return m_path; }
  const std::map<std::string, GgufValue>& metadata() const { return m_metadata; }
  const std::vector<GgufTensorInfo>& tensors() const { return m_tensors; }
  const GgufTensorInfo* find(std::string_view name) const;

  // Typed metadata; nullopt (nullptr) when absent; a value of another type throws naming the key.
  std::optional<int64_t> integer(const std::string& key) const;
  std::optional<double> real(const std::string& key) const;  // integers are accepted
  std::optional<bool> boolean(const std::string& key) const;
  std::optional<std::string> string(const std::string& key) const;
  const std::vector<std::string>* strings(const std::string& key) const;
  const std::vector<int64_t>* integers(const std::string& key) const;
  const std::vector<double>* reals(const std::string& key) const;

  // A tensor's bytes (valid while this object or a copy lives), and its values as floats in
  // PyTorch's row-major order.
  const std::byte* data(const GgufTensorInfo& tensor) const;
  std::vector<float> dequantize(const GgufTensorInfo& tensor) const;

 private:
  std::filesystem::path m_path;
  std::shared_ptr<const MappedFile> m_map;
  uint64_t m_data_offset = 0;
  std::map<std::string, GgufValue> m_metadata;
  std::vector<GgufTensorInfo> m_tensors;
};

}  // namespace mola

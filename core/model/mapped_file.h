// SPDX-License-Identifier: GPL-3.0-or-later
// A whole regular file mapped read-only, for the weight-file readers (safetensors, GGUF): their
// tensors point into it and stay valid while any holder of the mapping lives (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace mola {

class MappedFile {
 public:
  // Maps `path`. Errors (std::runtime_error) read "<path>: cannot open: ...", "<path>: cannot
  // stat: ...", "<path>: is not a regular file" and "<path>: cannot map: ...". An empty file maps
  // to no bytes (data() null), so that callers name it with their own "too few bytes".
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return m_data; }
  uint64_t size() const { return m_size; }

 private:
  MappedFile() = default;
  const std::byte* m_data = nullptr;
  uint64_t m_size = 0;
};

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mola {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "is not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile);
  file->m_size = uint64_t(st.st_size);
  if (file->m_size > 0) {
    void* addr = mmap(nullptr, file->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (addr == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(err));
    file->m_data = static_cast<const std::byte*>(addr);
  } else {
    ::close(fd);
  }
  return file;
}

MappedFile::~MappedFile() {
  if (m_data) munmap(const_cast<std::byte*>(m_data), m_size);
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoint manifests (sizes and CRC-32 of every file), atomic folder installation, and the
// choice of the checkpoint a run resumes from.
#include "train/checkpoint_files.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc 2.28)
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "fault_injection.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

// Slicing-by-8 tables for the reflected IEEE polynomial.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables makeCrcTables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

constexpr CrcTables kCrc = makeCrcTables();

std::string errnoText(int err) {
  return std::generic_category().message(err);
}

struct FileSummary {
  uint64_t bytes = 0;
  uint32_t crc = 0;
};

// Size and CRC-32 of a file, read in 4 MiB blocks.
FileSummary summarize(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CheckpointError(file.string() + ": cannot be read (" + errnoText(errno) + ")");
  std::vector<unsigned char> buf(size_t{4} << 20);
  FileSummary s;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw CheckpointError(file.string() + ": cannot be read (" + errnoText(err) + ")");
    }
    if (n == 0) break;
    s.crc = crc32(buf.data(), size_t(n), s.crc);
    s.bytes += uint64_t(n);
  }
  ::close(fd);
  return s;
}

std::string hex8(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

}  // namespace

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  while (size >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian hosts (x86-64, aarch64)
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = kCrc[7][lo & 0xFF] ^ kCrc[6][(lo >> 8) & 0xFF] ^ kCrc[5][(lo >> 16) & 0xFF] ^
          kCrc[4][lo >> 24] ^ kCrc[3][hi & 0xFF] ^ kCrc[2][(hi >> 8) & 0xFF] ^
          kCrc[1][(hi >> 16) & 0xFF] ^ kCrc[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) crc = kCrc[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void syncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw CheckpointError(path.string() + ": cannot open to sync (" + errnoText(errno) + ")");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    throw CheckpointError(path.string() + ": cannot flush to disk (" + errnoText(err) + ")");
}

void writeCheckpointManifest(const fs::path& dir, const std::vector<std::string>& files,
                             int64_t step, const CheckpointIdentity& identity) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& name : files) {
    const FileSummary s = summarize(dir / name);
    list.push_back({{"name", name}, {"bytes", s.bytes}, {"crc32", hex8(s.crc)}});
  }
  const nlohmann::json manifest = {
      {"format", "mola-checkpoint"}, {"version", 1}, {"store_id", identity.store_id},
      {"run", identity.run},         {"step", step}, {"files", list}};
  const fs::path file = dir / CheckpointFiles::kManifest;
  {
    std::ofstream out(file, std::ios::trunc);
    out << manifest.dump(2) << '\n';
    out.flush();
    if (!out)
      throw CheckpointError(file.string() + ": cannot be written (" + errnoText(errno) + ")");
  }
  syncPath(file);
}

std::string checkpointProblem(const fs::path& dir, const CheckpointIdentity& expected) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return dir.string() + " does not exist";
  const fs::path file = dir / CheckpointFiles::kManifest;
  if (!fs::exists(file, ec)) {
    // Written before manifests existed (its generator state is rng.bin): accepted unverified.
    if (fs::exists(dir / CheckpointFiles::kState, ec) && fs::exists(dir / "rng.bin", ec)) return "";
    return file.string() + " is missing (the checkpoint was never finished)";
  }
  std::ifstream in(file);
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object() || m.value("format", "") != "mola-checkpoint" ||
      !m.contains("files") || !m["files"].is_array())
    return file.string() + " is damaged";
  const CheckpointIdentity got{m.value("store_id", ""), m.value("run", int64_t{0})};
  if (got.store_id != expected.store_id)
    return dir.string() + " belongs to another run store (store id " +
           (got.store_id.empty() ? "none" : got.store_id) + ", this one is " +
           (expected.store_id.empty() ? "none" : expected.store_id) + ")";
  if (got.run != expected.run)
    return dir.string() + " belongs to run " + std::to_string(got.run) + ", not run " +
           std::to_string(expected.run);
  for (const nlohmann::json& f : m["files"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      return file.string() + " is damaged";
    const fs::path path = dir / f["name"].get<std::string>();
    FileSummary s;
    try {
      s = summarize(path);
    } catch (const CheckpointError& e) {
      return e.what();
    }
    const uint64_t bytes = f.value("bytes", uint64_t{0});
    if (s.bytes != bytes)
      return path.string() + " has " + std::to_string(s.bytes) + " bytes, the manifest " +
             std::to_string(bytes) + " (cut short or overwritten)";
    if (hex8(s.crc) != f.value("crc32", ""))
      return path.string() + " does not match its CRC-32 in the manifest (damaged)";
  }
  return "";
}

void installCheckpointFolder(const fs::path& tmp, const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::rename(tmp, dir, ec);
    if (ec)
      throw CheckpointError(dir.string() + ": cannot move the finished checkpoint into place (" +
                            ec.message() + ")");
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    faultPoint("checkpoint.replaced");
    fs::remove_all(tmp, ec);  // the old checkpoint, now under the temporary name
  } else {
    // A filesystem without the exchange: the old folder goes aside first, so that a crash between
    // the two renames leaves both complete folders (resume then falls back to an older step).
    const fs::path aside = dir.string() + ".old";
    fs::remove_all(aside, ec);
    fs::rename(dir, aside, ec);
    if (!ec) fs::rename(tmp, dir, ec);
    if (ec)
      throw CheckpointError(dir.string() + ": cannot replace the checkpoint (" + ec.message() +
                            ")");
    fs::remove_all(aside, ec);
  }
  syncPath(dir.parent_path());
}

CheckpointChoice chooseResumeCheckpoint(std::vector<std::pair<int64_t, std::string>> recorded,
                                        const CheckpointIdentity& expected) {
  std::sort(recorded.begin(), recorded.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  CheckpointChoice choice;
  for (const auto& [step, path] : recorded) {
    const std::string problem = checkpointProblem(path, expected);
    if (problem.empty()) {
      choice.chosen = {step, path};
      break;
    }
    choice.skipped.push_back("step " + std::to_string(step) + ": " + problem);
  }
  return choice;
}

}  // namespace mola

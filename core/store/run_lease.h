// SPDX-License-Identifier: GPL-3.0-or-later
// Who trains a run: the lock a live trainer holds in its run's folder, and the host and process
// descriptions stored with a run (torch-free; internal to core/store).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace mola::store_detail {

// This machine's name, and "hostname, Linux 6.1.0 x86_64, 16 CPUs (AMD EPYC 7B13), GPU: ...".
std::string hostName();
std::string hostDescription();
// Boot id and start time of a process ("" where /proc cannot tell): tells a process from a later
// one with the same pid.
std::string processTag(pid_t pid);
// Whether the process a run row names still runs, for rows written before run locks existed
// (schema version 1): only a process on this host, in this PID namespace, can be told alive.
bool processAlive(const std::string& hostname, int64_t pid, const std::string& tag);

// The lock file of a run: <run folder>/lock.
std::filesystem::path runLockPath(const std::filesystem::path& run_folder);

// An exclusive flock(2) on a run's lock file, held for as long as the object lives. flock, not
// fcntl: the lock belongs to this open file, not to the process, so closing some other descriptor
// of the file does not drop it; it holds across PID namespaces and containers of one machine; and
// the kernel drops it when the process ends, however it ends. The descriptor is close-on-exec.
class RunLock {
 public:
  RunLock() = default;
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // Takes the lock of the run in `run_folder`, retrying for up to `wait` (another process may be
  // probing it for a moment). nullopt when a live process holds it, or when the lock file is
  // absent and `create` is false. With `create`, the folder and the file are made when absent;
  // failing to make them throws std::system_error naming the path.
  static std::optional<RunLock> acquire(const std::filesystem::path& run_folder,
                                        std::chrono::milliseconds wait, bool create);

 private:
  explicit RunLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

enum class LockState { Held, Free, Absent };
// Whether a live process holds the run's lock; a probe takes a shared lock for an instant.
LockState probeRunLock(const std::filesystem::path& run_folder);

}  // namespace mola::store_detail

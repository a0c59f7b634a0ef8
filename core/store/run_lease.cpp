// SPDX-License-Identifier: GPL-3.0-or-later
// Run locks (flock on <run folder>/lock) and the host and process descriptions of a run.
#include "store/run_lease.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

namespace mola::store_detail {

namespace fs = std::filesystem;

namespace {

// The value of the first "key : value" line of a /proc file that starts with `key`; empty when
// there is none.
std::string procField(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// NVIDIA GPUs as the driver lists them, e.g. "2 x NVIDIA H100 80GB HBM3"; empty without the
// driver. Read from /proc, so the store needs no CUDA library.
std::string gpuModels() {
  std::map<std::string, int> count;
  std::error_code ec;
  for (const auto& gpu : fs::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    const std::string model = procField((gpu.path() / "information").c_str(), "Model");
    if (!model.empty()) ++count[model];
  }
  std::string s;
  for (const auto& [model, n] : count)
    s += (s.empty() ? "" : ", ") + (n > 1 ? std::to_string(n) + " x " : std::string()) + model;
  return s;
}

}  // namespace

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// "hostname, Linux 6.1.0-18-amd64 x86_64, 16 CPUs (AMD EPYC 7B13), GPU: NVIDIA H100 80GB HBM3".
std::string hostDescription() {
  std::string s = hostName();
  utsname u{};
  if (uname(&u) == 0) s += std::string(", ") + u.sysname + " " + u.release + " " + u.machine;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0) s += ", " + std::to_string(cpus) + (cpus == 1 ? " CPU" : " CPUs");
  if (const std::string cpu = procField("/proc/cpuinfo", "model name"); !cpu.empty())
    s += " (" + cpu + ")";
  if (const std::string gpus = gpuModels(); !gpus.empty()) s += ", GPU: " + gpus;
  return s;
}

// Boot id and start time of a process: tells a live process from a later one with the same pid
// (after a reboot, or pid reuse). Empty where /proc cannot tell.
std::string processTag(pid_t pid) {
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  if (!std::getline(boot, boot_id) || boot_id.empty()) return "";
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return "";
  // Fields after "pid (comm)", which may itself hold spaces: field 22 is the start time.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i)
    if (!(rest >> field)) return "";
  return boot_id + "/" + field;
}

bool processAlive(const std::string& hostname, int64_t pid, const std::string& tag) {
  if (hostname != hostName() || pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return false;
  if (kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) return false;
  if (!tag.empty()) {
    const std::string now = processTag(static_cast<pid_t>(pid));
    if (!now.empty() && now != tag) return false;
  }
  return true;
}

fs::path runLockPath(const fs::path& run_folder) {
  return run_folder / "lock";
}

RunLock::~RunLock() {
  if (m_fd >= 0) ::close(m_fd);  // closing the only descriptor of the open file drops the lock
}

RunLock::RunLock(RunLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  std::swap(m_fd, other.m_fd);
  return *this;
}

std::optional<RunLock> RunLock::acquire(const fs::path& run_folder, std::chrono::milliseconds wait,
                                        bool create) {
  const fs::path file = runLockPath(run_folder);
  if (create) fs::create_directories(run_folder);  // throws filesystem_error naming the folder
  const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0) {
    if (errno == ENOENT && !create) return std::nullopt;
    throw std::system_error(errno, std::generic_category(), file.string());
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return RunLock(fd);
    const int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "locking " + file.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::close(fd);
  return std::nullopt;
}

LockState probeRunLock(const fs::path& run_folder) {
  const fs::path file = runLockPath(run_folder);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LockState::Absent : LockState::Held;
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  const LockState state = rc == 0 ? LockState::Free : LockState::Held;
  ::close(fd);
  return state;
}

}  // namespace mola::store_detail

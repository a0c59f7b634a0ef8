// SPDX-License-Identifier: GPL-3.0-or-later
#include "rank_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "dist/dist_env.h"

namespace mola::cli {

namespace {

std::vector<std::string> g_command_line;
std::atomic<int> g_forward{0};  // a signal to pass on to the ranks

extern "C" void onLauncherSignal(int sig) {
  g_forward = sig;
}

pid_t startRank(const DistEnv& env) {
  std::vector<char*> argv;
  for (const std::string& a : g_command_line) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    for (const auto& [name, value] : distEnvVariables(env)) setenv(name.c_str(), value.c_str(), 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "mola: rank %d could not start: %s\n", env.rank, std::strerror(errno));
    _exit(127);
  }
  return pid;
}

std::string describeExit(int status) {
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

bool failed(int status) {
  return WIFSIGNALED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 130);
}

void signalAll(const std::vector<pid_t>& pids, const std::vector<bool>& done, int sig) {
  for (size_t r = 0; r < pids.size(); ++r)
    if (!done[r]) kill(pids[r], sig);
}

}  // namespace

int freeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error("no free port on the loopback: " + why);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

void setCommandLine(int argc, char** argv) {
  g_command_line.assign(argv, argv + argc);
}

const std::vector<std::string>& commandLine() {
  return g_command_line;
}

int launchLocalRanks(int n) {
  DistEnv env;
  env.world = n;
  env.master_addr = "127.0.0.1";
  env.master_port = freeLoopbackPort();
  struct sigaction sa {};
  sa.sa_handler = onLauncherSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    env.rank = env.local_rank = r;
    pids.push_back(startRank(env));
  }
  std::string list;
  for (int r = 0; r < n; ++r)
    list += (r ? ", " : "") + std::to_string(r) + ": pid " + std::to_string(pids[size_t(r)]);
  std::fprintf(stderr, "mola: %d ranks on 127.0.0.1:%d (%s)\n", n, env.master_port, list.c_str());

  using Clock = std::chrono::steady_clock;
  std::vector<bool> done(size_t(n), false);
  std::vector<int> status(size_t(n), 0);
  int left = n;
  std::optional<Clock::time_point> failure_at;
  bool terminated = false, killed = false;
  while (left > 0) {
    if (const int sig = g_forward.exchange(0)) signalAll(pids, done, sig);
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < n; ++r) {
        if (pids[size_t(r)] != pid) continue;
        done[size_t(r)] = true;
        status[size_t(r)] = st;
        --left;
        if (failed(st) && left > 0 && !failure_at) {
          std::fprintf(stderr, "mola: rank %d (pid %d) %s; the other ranks stop\n", r, int(pid),
                       describeExit(st).c_str());
          failure_at = Clock::now();
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    // The others normally stop on their own at their next collective; a rank stuck elsewhere is
    // told to stop after a minute, and killed after another half.
    if (failure_at && !terminated && Clock::now() - *failure_at > std::chrono::seconds(60)) {
      signalAll(pids, done, SIGTERM);
      terminated = true;
    }
    if (failure_at && !killed && Clock::now() - *failure_at > std::chrono::seconds(90)) {
      signalAll(pids, done, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  bool all_completed = true;
  for (int r = 0; r < n; ++r) {
    const int st = status[size_t(r)];
    if (failed(st) && r > 0 && !failure_at)
      std::fprintf(stderr, "mola: rank %d %s\n", r, describeExit(st).c_str());
    all_completed = all_completed && !WIFSIGNALED(st) && WEXITSTATUS(st) == 0;
  }
  if (all_completed) return 0;
  const int first = status[0];
  if (!WIFSIGNALED(first) && WEXITSTATUS(first) == 130 && !failure_at) return 130;
  return 1;
}

}  // namespace mola::cli

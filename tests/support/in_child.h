// SPDX-License-Identifier: GPL-3.0-or-later
// inChild: runs a function in a forked child process (to drop privileges, set resource limits or
// enter a private mount namespace without touching the test process) and returns its report.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <string>

namespace mola::test {

// Runs `f` in a forked child process; f returns "" when all went well, else what went wrong.
// The parent must hold no connection to a file the child opens (SQLite's locks are per process).
inline std::string inChild(const std::function<std::string()>& f) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    try {
      out = f();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
    }
    if (write(fds[1], out.data(), out.size()) < 0) _exit(3);
    _exit(out.empty() ? 0 : 1);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return "child died with signal " + std::to_string(WTERMSIG(status));
  if (WEXITSTATUS(status) != 0 && out.empty()) return "child exited with an error";
  return out;
}

}  // namespace mola::test

// SPDX-License-Identifier: GPL-3.0-or-later
// StoreProbe: runs tests/support/store_probe.cpp (MOLA_STORE_PROBE) as a separate process and
// reads its one-line answer; the process ends when the StoreProbe does.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace mola::test {

class StoreProbe {
 public:
  explicit StoreProbe(const std::vector<std::string>& args) {
    int out[2], in[2];
    if (pipe(out) != 0 || pipe(in) != 0) return;
    m_pid = fork();
    if (m_pid == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      for (int fd : {out[0], out[1], in[0], in[1]}) close(fd);
      std::vector<char*> argv = {const_cast<char*>(MOLA_STORE_PROBE)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(MOLA_STORE_PROBE, argv.data());
      _exit(127);
    }
    close(out[1]);
    close(in[0]);
    m_stdin = in[1];
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') m_answer += c;
    close(out[0]);
  }
  ~StoreProbe() { end(); }
  StoreProbe(const StoreProbe&) = delete;
  StoreProbe& operator=(const StoreProbe&) = delete;

  // What the probe printed: "run N", "claimed N", "locked" or "error: ...".
  const std::string& answer() const { return m_answer; }
  // The run it created ("run N"), else -1.
  int64_t createdRun() const {
    return m_answer.rfind("run ", 0) == 0 ? std::stoll(m_answer.substr(4)) : -1;
  }
  // Ends the process: closes its input and waits for it.
  void end() {
    if (m_pid <= 0) return;
    close(m_stdin);
    waitpid(m_pid, nullptr, 0);
    m_pid = -1;
  }
  // Ends it the hard way, as a power cut or the OOM killer would.
  void kill() {
    if (m_pid > 0) ::kill(m_pid, SIGKILL);
    end();
  }

 private:
  pid_t m_pid = -1;
  int m_stdin = -1;
  std::string m_answer;
};

}  // namespace mola::test

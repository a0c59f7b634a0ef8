// SPDX-License-Identifier: GPL-3.0-or-later
// mola_store_probe: another process on a run store, for tests. It prints one line when it has
// done its part ("run N", "claimed N", "locked", "error: ...") and then holds what it has (a run's
// lock, the database's write lock) until its standard input closes or the given seconds pass.
//   mola_store_probe create DB          create a run (its lock is held while the probe lives)
//   mola_store_probe claim DB RUN       claim a run, as mola resume does
//   mola_store_probe lock DB SECONDS    hold the database's write lock (BEGIN IMMEDIATE)
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "store/run_store.h"

namespace {

// Waits until stdin closes (the test ends the probe) or `seconds` pass (when > 0).
void hold(double seconds) {
  if (seconds > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return;
  }
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "create" && argc == 3) {
      mola::RunStore store = mola::RunStore::open(argv[2]);
      say("run " + std::to_string(store.createRun("probe", "{}", "2", "tiny")));
      hold(0);
      return 0;
    }
    if (command == "claim" && argc == 4) {
      mola::RunStore store = mola::RunStore::open(argv[2]);
      store.claimRun(std::stoll(argv[3]));
      say(std::string("claimed ") + argv[3]);
      hold(0);
      return 0;
    }
    if (command == "lock" && argc == 4) {
      sqlite3* db = nullptr;
      if (sqlite3_open(argv[2], &db) != SQLITE_OK) throw std::runtime_error("cannot open");
      sqlite3_busy_timeout(db, 10000);
      if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        throw std::runtime_error(sqlite3_errmsg(db));
      say("locked");
      hold(std::stod(argv[3]));
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(db);
      return 0;
    }
  } catch (const std::exception& e) {
    say(std::string("error: ") + e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: mola_store_probe create DB | claim DB RUN | lock DB SECONDS\n");
  return 2;
}

// SPDX-License-Identifier: GPL-3.0-or-later
// The run database of a `mola` command (--db, else the default) and run ids as arguments.
#pragma once

#include <filesystem>
#include <iostream>
#include <string>

#include "cli_args.h"
#include "store/run_launch.h"
#include "store/run_store.h"

namespace mola::cli {

inline std::filesystem::path dbPath(const Args& args) {
  return args.get("--db") ? std::filesystem::path(*args.get("--db")) : RunStore::defaultPath();
}

// For the commands that write (train, resume, runs delete): created, with its folder, when
// absent; runs whose process has gone are marked interrupted.
inline RunStore openStoreToWrite(const Args& args) {
  int interrupted = 0;
  RunStore store = openRunStore(dbPath(args), &interrupted);
  if (interrupted > 0)
    std::cerr << interrupted
              << " run(s) left running by a process that has gone are marked interrupted\n";
  return store;
}

// For the commands that only read: nothing is created or written, so they work on a read-only
// database and on a full disk.
inline RunStore openStoreToRead(const Args& args) {
  return RunStore::openReadOnly(dbPath(args));
}

inline int64_t parseRunId(const std::string& text) {
  try {
    size_t used = 0;
    const long long id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (const std::exception&) {
  }
  throw UsageError("'" + text + "' is not a run id");
}

// A study of the store named by its id or its name.
inline StudyRecord findStudy(const RunStore& store, const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos)
    return store.study(parseRunId(text));
  if (auto s = store.findStudy(text)) return *s;
  throw UsageError("no study named '" + text + "' in " + store.path().string() +
                   " (mola study list shows them)");
}

}  // namespace mola::cli

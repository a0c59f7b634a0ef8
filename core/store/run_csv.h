// SPDX-License-Identifier: GPL-3.0-or-later
// A stored run as CSV files, for spreadsheets and pandas: the same files from `mola runs export
// --csv` and from the workbench.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mola {

class RunStore;

// Writes metrics.csv (step,name,value), router_stats.csv (step,layer,expert,token_fraction,
// mean_probability,entropy,load_cv) and eval_scores.csv (step,benchmark,split,protocol,accuracy,
// n,ci_low,ci_high) of run `id` into `dir` (created when missing). Each file is written whole or
// not at all. Returns the files' names; throws std::runtime_error naming the file that failed.
std::vector<std::string> exportRunCsv(const RunStore& store, int64_t id,
                                      const std::filesystem::path& dir);

}  // namespace mola

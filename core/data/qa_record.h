// SPDX-License-Identifier: GPL-3.0-or-later
// QaRecord and QaDataset: one multiple-choice example, and what an importer read (torch-free).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mola {

struct QaRecord {
  std::string id;  // optional; empty when the source has none
  std::string question;
  std::string context;               // optional (ScienceQA lecture/hint, GLUE first sentence, ...)
  std::vector<std::string> choices;  // 2..26, shown as (A), (B), ...
  int answer = -1;                   // 0-based index into choices

  static constexpr size_t kMinChoices = 2;
  static constexpr size_t kMaxChoices = 26;
};

// A row the importer could not use: where, and why.
struct ImportProblem {
  std::string file;
  size_t line = 0;  // 1-based; 0 when the problem is not tied to a line
  std::string reason;
};

struct QaDataset {
  std::string format;  // the importer that read it, e.g. "commonsense_qa"
  std::vector<QaRecord> records;
  std::vector<ImportProblem> skipped;  // every bad row left out, with its reason: never silent
  // Rows left out on purpose, counted (e.g. "12 questions with an image left out"): not errors.
  std::vector<std::string> notes;
};

}  // namespace mola

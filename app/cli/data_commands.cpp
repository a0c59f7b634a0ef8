// SPDX-License-Identifier: GPL-3.0-or-later
// mola data check: what a benchmark file holds and the prompt the model will see.
#include <cstdio>
#include <iostream>
#include <map>

#include "commands.h"
#include "data/prompt_template.h"
#include "data/qa_importer.h"
#include "text.h"

namespace mola::cli {

int cmdDataCheck(const Args& args) {
  args.allowOnly({"--format", "--split"});
  if (args.positional.size() != 1) throw UsageError("mola data check takes one FILE");
  QaImportOptions options;
  options.format = args.get("--format", "");
  options.split = args.get("--split", "");
  const QaDataset d = importQa(args.positional[0], options);
  std::map<size_t, size_t> histogram;
  for (const QaRecord& r : d.records) ++histogram[r.choices.size()];
  // Text from the file is printed through printableText: a data file's escape sequences must
  // not reach the terminal.
  std::printf("file: %s\nformat: %s\nrecords: %zu\nskipped: %zu\nchoices:",
              printableText(args.positional[0]).c_str(), d.format.c_str(), d.records.size(),
              d.skipped.size());
  for (const auto& [n, count] : histogram) std::printf(" %zu x %zu", count, n);
  std::printf("\n");
  if (!d.records.empty()) {
    std::printf(
        "\nfirst record as the model sees it:\n%s\n",
        printableText(renderPrompt(d.records.front()) + renderTarget(d.records.front())).c_str());
  }
  for (const std::string& note : d.notes) std::printf("note: %s\n", printableText(note).c_str());
  for (const ImportProblem& p : d.skipped)
    std::fprintf(stderr, "%s:%zu: %s\n", printableText(p.file).c_str(), p.line,
                 printableText(p.reason).c_str());
  return d.skipped.empty() ? 0 : 1;
}

}  // namespace mola::cli

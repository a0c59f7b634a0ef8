// SPDX-License-Identifier: GPL-3.0-or-later
// loadQaSource: dispatches between importQa and makeSyntheticQa.
#include "data/qa_source.h"

#include <stdexcept>
#include <vector>

#include "data/qa_importer.h"
#include "data/synthetic_qa.h"

namespace mola {

QaDataset loadQaSource(const std::string& source, const std::string& format,
                       const std::string& split, size_t limit) {
  QaDataset d;
  static const std::string kSynthetic = "synthetic:";
  if (source.rfind(kSynthetic, 0) == 0) {
    std::vector<std::string> parts;
    size_t start = kSynthetic.size();
    while (true) {
      const size_t colon = source.find(':', start);
      parts.push_back(source.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    try {
      if (parts.size() > 3) throw std::invalid_argument("too many fields");
      const int count = parts.size() > 1 ? std::stoi(parts[1]) : 200;
      const uint64_t seed = parts.size() > 2 ? std::stoull(parts[2]) : 1;
      if (count < 1) throw std::invalid_argument("COUNT must be positive");
      d.records = makeSyntheticQa(parts[0], count, seed);
    } catch (const std::logic_error& e) {
      throw std::invalid_argument("'" + source + "': expected synthetic:TASK[:COUNT[:SEED]] (" +
                                  e.what() + ")");
    }
    d.format = "synthetic";
  } else {
    QaImportOptions options;
    options.format = format;
    options.split = split;
    d = importQa(source, options);
  }
  if (limit > 0 && d.records.size() > limit) d.records.resize(limit);
  return d;
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// loadQaSource: a benchmark file or the built-in synthetic generator, named by one string.
#pragma once

#include <cstddef>
#include <string>

#include "data/qa_record.h"

namespace mola {

// `source` is a benchmark file (read by importQa with `format`, "" to detect, and `split`), or
// "synthetic:TASK[:COUNT[:SEED]]" (COUNT 200 and SEED 1 by default). `limit` > 0 keeps the first
// `limit` records. Errors name the source.
QaDataset loadQaSource(const std::string& source, const std::string& format = "",
                       const std::string& split = "", size_t limit = 0);

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// What the trainer's ranks share out and put back together in a data-parallel run: each rank's
// contiguous share of a batch or of the evaluation questions, and the evaluation merged from the
// shares.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "data/qa_record.h"
#include "eval/qa_evaluator.h"

namespace mola {

class RankGroup;

// Rank `rank`'s share [begin, end) of n items split among `world` ranks: contiguous, in rank
// order, sizes differing by at most one (the first n % world ranks take one more).
struct Shard {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};
Shard shardOf(size_t n, int rank, int world);

// Scores `records` with every rank taking its shard, and returns on every rank the result of the
// whole set: predictions in record order, with the ids and accuracy a single process would give.
EvalResult evaluateShared(LlamaModel& model, const Tokenizer& tokenizer,
                          const std::vector<QaRecord>& records, const EvalOptions& options,
                          RankGroup& group, const std::string& what);

}  // namespace mola

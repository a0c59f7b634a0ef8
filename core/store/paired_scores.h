// SPDX-License-Identifier: GPL-3.0-or-later
// Two runs scored on the same questions, compared question by question (torch-free): how often
// each is right where the other is wrong, the accuracy difference with its paired interval, and
// McNemar's exact test. A paired comparison sees differences that two overlapping Wilson
// intervals hide: both runs answer the same questions, so the questions' own difficulty cancels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/run_store.h"

namespace mola {

struct PairedScores {
  int64_t n = 0;  // questions both answered (matched by example id)
  int64_t both_right = 0, only_a = 0, only_b = 0, both_wrong = 0;
  double accuracy_a = 0.0, accuracy_b = 0.0;  // on those questions
  double difference = 0.0;                    // accuracy_a - accuracy_b
  // The 95% interval of the difference: Newcombe's hybrid score interval for paired proportions
  // (Stat. Med. 17:2635, 1998, method 10), which stays within [-1, 1] and has a width when the
  // runs never disagree; NaN when n is 0.
  double ci_low = 0.0, ci_high = 0.0;
  double p = 1.0;  // McNemar's exact two-sided p (mcnemarExactP)
};

// Pairs the predictions by example id (each id once per side; ids on one side only are left out).
// Throws std::invalid_argument naming an id that a side lists twice.
PairedScores pairPredictions(const std::vector<StoredPrediction>& a,
                             const std::vector<StoredPrediction>& b);

// The final score (the highest step; the newest of a step) of `run` on `benchmark`, `split` and
// `protocol`, if it has one.
std::optional<EvalScore> finalScoreOn(const std::vector<EvalScore>& scores,
                                      const std::string& benchmark, const std::string& split,
                                      const std::string& protocol);

// One line: "n 200 on the same questions: both right 120, only A 15, only B 9, both wrong 56;
// difference +0.030 (95% CI -0.012 to 0.072), McNemar exact p = 0.31", with `a` and `b` naming
// the runs.
std::string describePairedScores(const PairedScores& s, const std::string& a, const std::string& b);

}  // namespace mola

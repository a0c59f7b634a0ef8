// SPDX-License-Identifier: GPL-3.0-or-later
// Synthetic multiple-choice tasks, deterministic from a seed, small enough for a tiny model
// (torch-free).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/qa_record.h"

namespace mola {

struct SyntheticTask {
  std::string_view name;
  std::string_view description;  // one line, with an example question
  int max_choices;               // the most choices it has distinct distractors for
};

// The tasks, each learnable by a small byte-level model in a few hundred steps: the questions
// are under 60 bytes and the answer follows from the question and options alone.
//   largest      "Which number is largest?" over distinct numbers (0-9 up to 10 choices, else 0-99)
//   category     "Which word is a colour?" (or an animal, a fruit, a tool); distractors from the
//                other categories
//   next_letter  "What letter comes after k?"; options are lower-case letters
//   opposite     "What is the opposite of hot?" over 16 antonym pairs
//   mixed        each record from one of the four above, chosen at random
const std::vector<SyntheticTask>& syntheticTasks();
std::vector<std::string> syntheticTaskNames();

// `count` records of `task`, identical on every platform and compiler for the same arguments
// (SplitMix64, with its own unbiased range reduction and shuffle, not <random>'s
// distributions, whose output the standard leaves to the implementation). The correct answer's
// position cycles through a fresh random permutation of the positions every `num_choices`
// records, so each position is the answer for count / num_choices records, give or take one.
// Ids are "<task>-<index>". Throws std::invalid_argument for an unknown task, count < 0, or
// num_choices outside 2..max_choices.
std::vector<QaRecord> makeSyntheticQa(const std::string& task, int count, uint64_t seed,
                                      int num_choices = 4);

}  // namespace mola

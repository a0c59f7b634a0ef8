// SPDX-License-Identifier: GPL-3.0-or-later
// Batches grouped by length (training.group_by_length): the batches of a hand example, windows,
// the short last batch, the padding they save; and the trainer's padding share with and without
// grouping, and a grouped run resumed across an epoch boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "shared_data.h"
#include "split_mix64.h"
#include "tiny_experiment.h"
#include "train/training_data.h"
#include "training_recorder.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

std::vector<size_t> iota(size_t n) {
  std::vector<size_t> v(n);
  std::iota(v.begin(), v.end(), size_t{0});
  return v;
}

// The batches of `order`, as sets of example indices, in order.
std::vector<std::set<size_t>> batchesOf(const std::vector<size_t>& order, size_t batch) {
  std::vector<std::set<size_t>> out;
  for (size_t b = 0; b < order.size(); b += batch)
    out.emplace_back(order.begin() + int64_t(b),
                     order.begin() + int64_t(std::min(order.size(), b + batch)));
  return out;
}

// Padding share of `order` cut into batches of `batch`, each padded to its longest example.
double paddingShare(const std::vector<size_t>& order, const std::vector<size_t>& lengths,
                    size_t batch) {
  double real = 0, padded = 0;
  for (const std::set<size_t>& b : batchesOf(order, batch)) {
    size_t longest = 0;
    for (size_t i : b) {
      real += double(lengths[i]);
      longest = std::max(longest, lengths[i]);
    }
    padded += double(longest * b.size());
  }
  return 1.0 - real / padded;
}

TEST(GroupByLength, PairsTheHandExampleByLengthLongestFirst) {
  // Lengths 5 1 7 3 8 2 6 4 in batches of two: sorted, the pairs are {8, 7} {6, 5} {4, 3} {2, 1},
  // that is examples {4, 2} {6, 0} {7, 3} {5, 1}; {4, 2} holds the longest and goes first.
  const std::vector<size_t> lengths = {5, 1, 7, 3, 8, 2, 6, 4};
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    const std::vector<size_t> order = epochOrder(8, 11, epoch);
    const std::vector<size_t> grouped = groupByLength(order, lengths, 2, 11, epoch);
    const std::vector<std::set<size_t>> batches = batchesOf(grouped, 2);
    ASSERT_EQ(batches.size(), 4u);
    EXPECT_EQ(batches.front(), (std::set<size_t>{4, 2})) << "epoch " << epoch;
    const std::set<std::set<size_t>> expected = {{4, 2}, {6, 0}, {7, 3}, {5, 1}};
    EXPECT_EQ(std::set<std::set<size_t>>(batches.begin(), batches.end()), expected);
  }
}

TEST(GroupByLength, KeepsAShortLastBatchLastAndEveryExampleOnce) {
  const std::vector<size_t> lengths = {9, 3, 7, 1, 5, 8, 2};  // 7 examples in batches of 3
  const std::vector<size_t> grouped = groupByLength(iota(7), lengths, 3, 5, 0);
  std::vector<size_t> sorted = grouped;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, iota(7));
  // Sorted: 9 8 7 | 5 3 2 | 1: the short batch is the shortest example, last.
  EXPECT_EQ(grouped.back(), 3u);
  EXPECT_EQ(batchesOf(grouped, 3).front(), (std::set<size_t>{0, 5, 2}));
}

TEST(GroupByLength, SortsWithinWindowsOfFiftyBatchesAndShufflesTheBatches) {
  const size_t batch = 4, n = 2 * kLengthGroupBatches * batch + 10;
  SplitMix64 rng(3);
  std::vector<size_t> lengths(n);
  for (size_t& l : lengths) l = 10 + rng.below(80);
  const std::vector<size_t> order = epochOrder(n, 3, 0);
  std::vector<size_t> window_of(n);  // example -> the window of `order` it is in
  for (size_t p = 0; p < n; ++p) window_of[order[p]] = p / (kLengthGroupBatches * batch);

  const std::vector<size_t> grouped = groupByLength(order, lengths, batch, 3, 0);
  const std::vector<std::set<size_t>> batches = batchesOf(grouped, batch);
  ASSERT_EQ(batches.size(), n / batch + 1);
  std::set<size_t> windows_in_order;
  size_t changes = 0, last_window = n;
  for (const std::set<size_t>& b : batches) {
    std::set<size_t> windows;
    for (size_t i : b) windows.insert(window_of[i]);
    EXPECT_EQ(windows.size(), 1u) << "a batch mixes windows";
    changes += *windows.begin() != last_window;
    last_window = *windows.begin();
  }
  // Shuffled batches: the windows interleave instead of following each other.
  EXPECT_GT(changes, 20u);
  EXPECT_EQ(batches.back().size(), 2u);

  // The same seed and epoch give the same order; another epoch other batches' order.
  EXPECT_EQ(groupByLength(order, lengths, batch, 3, 0), grouped);
  EXPECT_NE(groupByLength(order, lengths, batch, 3, 1), grouped);

  // Padding: a plain shuffle pads about a third of these batches; grouped, under 2%.
  const double plain = paddingShare(order, lengths, batch);
  const double less = paddingShare(grouped, lengths, batch);
  EXPECT_GT(plain, 0.25);
  EXPECT_LT(less, 0.02);
}

TEST(GroupByLength, RefusesAnEmptyBatch) {
  EXPECT_THROW(groupByLength(iota(3), {1, 2, 3}, 0, 1, 0), std::invalid_argument);
}

// A QA file whose questions run from a few words to several lines.
fs::path unevenQaFile(const fs::path& dir, size_t records) {
  fs::create_directories(dir);
  const fs::path file = dir / "uneven.jsonl";
  std::ofstream out(file);
  SplitMix64 rng(17);
  for (size_t i = 0; i < records; ++i) {
    std::string query = "Which one";
    for (size_t w = rng.below(17); w > 0; --w) query += " very";
    query += " comes first?";
    const size_t gold = rng.below(4);
    out << R"({"query": ")" << query << R"(", "choices": ["a", "b", "c", "d"], "gold": )" << gold
        << "}\n";
  }
  return file;
}

ExperimentConfig unevenExperiment(const fs::path& dir, bool grouped) {
  ExperimentConfig c = test::largestTaskExperiment(12);
  c.train.path = unevenQaFile(dir, 40).string();
  c.cutoff = 256;  // no example is cut  c.batch_size = 8;
  c.group_by_length = grouped;
  c.dropout = 0.1;  // the random state must be restored on resume too
  c.seed = 5;
  return c;
}

double meanPadding(const test::TrainingRecorder& r) {
  double sum = 0;
  for (const StepMetrics& m : r.steps) sum += m.padding;
  return sum / double(r.steps.size());
}

TEST(GroupByLength, TheTrainerPadsLessAndSaysHowMuch) {
  const fs::path dir = test::tempDir("group_by_length_padding");
  const test::TrainingRecorder plain =
      test::recordTraining(unevenExperiment(dir, false), dir / "a");
  const test::TrainingRecorder grouped =
      test::recordTraining(unevenExperiment(dir, true), dir / "b");
  ASSERT_EQ(plain.outcome, TrainOutcome::Completed) << plain.message;
  ASSERT_EQ(grouped.outcome, TrainOutcome::Completed) << grouped.message;
  ASSERT_EQ(grouped.steps.size(), 12u);
  // 0 to 16 extra words: random batches of 8 are about a quarter padding.
  EXPECT_GT(meanPadding(plain), 0.15);
  EXPECT_LT(meanPadding(grouped), 0.5 * meanPadding(plain));
  // Batches of one example have no padding at all.
  ExperimentConfig single = unevenExperiment(dir, false);
  single.batch_size = 1;
  single.max_steps = 3;
  const test::TrainingRecorder one = test::recordTraining(single, dir / "c");
  ASSERT_EQ(one.outcome, TrainOutcome::Completed) << one.message;
  for (const StepMetrics& m : one.steps) EXPECT_EQ(m.padding, 0.0);
}

TEST(GroupByLength, AResumedRunFollowsTheUninterruptedOneAcrossAnEpoch) {
  const fs::path dir = test::tempDir("group_by_length_resume");
  ExperimentConfig c = unevenExperiment(dir, true);
  c.checkpoint_interval = 4;  // 40 examples in batches of 8: steps 6 and 11 start epochs
  const test::TrainingRecorder whole = test::recordTraining(c, dir / "whole");
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  ASSERT_EQ(whole.checkpoints.front().first, 4);
  const test::TrainingRecorder resumed =
      test::recordTraining(c, dir / "resumed", whole.checkpoints.front().second);
  ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  ASSERT_EQ(resumed.steps.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(resumed.steps[i].loss, whole.steps[i + 4].loss, 1e-6) << "step " << i + 5;
    EXPECT_EQ(resumed.steps[i].padding, whole.steps[i + 4].padding) << "step " << i + 5;
  }
}

}  // namespace
}  // namespace mola

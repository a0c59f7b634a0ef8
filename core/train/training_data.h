// SPDX-License-Identifier: GPL-3.0-or-later
// What the trainer feeds the model: the tasks' examples encoded, padded batches with their task
// rows, and the order of each epoch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/prompt_template.h"
#include "data/qa_record.h"
#include "experiment/experiment_config.h"

namespace mola {

class Tokenizer;

inline constexpr int64_t kIgnore = -100;  // label of positions without loss

// One encoded training example and the row of its task (index into the run's tasks).
struct TrainingExample {
  EncodedExample encoded;
  int task = 0;
};

// An evaluation set of one task.
struct TaskEvalSet {
  std::string benchmark;  // the name its scores are stored under
  std::string split;
  int task = 0;  // row
  std::vector<QaRecord> records;
};

struct TrainingData {
  std::vector<std::string> task_names;  // by row
  std::vector<TrainingExample> examples;
  size_t truncated = 0;  // examples cut to the cutoff
  std::vector<TaskEvalSet> eval;
};

// Loads and encodes every task of the experiment (experimentTasks), in task order; errors name
// the file. With data.tasks, each evaluation set is stored under its task's name, else under its
// file's name (or synthetic: spec).
TrainingData loadTrainingData(const ExperimentConfig& config, const Tokenizer& tokenizer,
                              const PromptTemplate& prompt);

// Right-padded ids [B, T], labels [B, T] (kIgnore where no loss), real-token mask [B, T], and the
// task row of each sequence [B].
struct Batch {
  at::Tensor ids, labels, mask, tasks;
};
Batch makeBatch(const std::vector<const TrainingExample*>& examples, bool train_on_prompt);

// The positions of `e` that makeBatch labels (every one a target: position 0, the only one no
// position predicts, never has a label).
int64_t targetCount(const EncodedExample& e, bool train_on_prompt);

// The order of the examples in each epoch: a shuffle fixed by the seed and the epoch number.
std::vector<size_t> epochOrder(size_t n, uint64_t seed, int64_t epoch);

// Batches of similar length (training.group_by_length), so that a padded batch is little padding:
// `order` is cut into chunks of kLengthGroupBatches batches; each chunk is sorted by length,
// longest first, and cut into batches of `batch`. The full batches are then shuffled (a stream
// fixed by the seed and the epoch) and the one holding the longest example goes first, so that a
// run that runs out of memory does so at an epoch's first step; a short last batch stays last,
// where the trainer takes it. lengths[i] is example i's token count.
inline constexpr size_t kLengthGroupBatches = 50;
std::vector<size_t> groupByLength(const std::vector<size_t>& order,
                                  const std::vector<size_t>& lengths, size_t batch, uint64_t seed,
                                  int64_t epoch);

// The trainer's order of epoch `epoch`: epochOrder, grouped by length when the experiment asks.
std::vector<size_t> trainingOrder(const TrainingData& data, const ExperimentConfig& config,
                                  int64_t epoch);

}  // namespace mola

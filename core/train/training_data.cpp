// SPDX-License-Identifier: GPL-3.0-or-later
// Training data: task loading and encoding, padded batches, epoch order.
#include "train/training_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "data/qa_source.h"
#include "model/tokenizer.h"
#include "split_mix64.h"

namespace mola {

namespace {

// The first position of `e` with a label: position 0 (BOS) is never predicted; the prompt is,
// when MoLA's setting asks for it.
size_t firstLabel(const EncodedExample& e, bool train_on_prompt) {
  return train_on_prompt ? 1 : std::max<size_t>(1, e.prompt_tokens);
}

}  // namespace

TrainingData loadTrainingData(const ExperimentConfig& c, const Tokenizer& tokenizer,
                              const PromptTemplate& prompt) {
  TrainingData out;
  const std::vector<TaskSpec> tasks = experimentTasks(c);
  for (size_t row = 0; row < tasks.size(); ++row) {
    const TaskSpec& t = tasks[row];
    out.task_names.push_back(t.name);
    const QaDataset train =
        loadQaSource(t.train.path, t.train.format, t.train.split, t.train.limit);
    EncodedExamples encoded = encodeExamples(train.records, tokenizer, prompt, c.cutoff);
    if (encoded.examples.empty())
      throw std::runtime_error(t.train.path + ": no training examples" +
                               (c.tasks.empty() ? std::string() : " (task " + t.name + ")"));
    out.truncated += encoded.truncated;
    for (EncodedExample& e : encoded.examples) out.examples.push_back({std::move(e), int(row)});
    if (t.eval.path.empty()) continue;
    TaskEvalSet set;
    set.benchmark = taskBenchmarkName(c, t);
    set.split = t.eval.split;
    set.task = int(row);
    set.records = loadQaSource(t.eval.path, t.eval.format, t.eval.split, t.eval.limit).records;
    out.eval.push_back(std::move(set));
  }
  return out;
}

Batch makeBatch(const std::vector<const TrainingExample*>& examples, bool train_on_prompt) {
  size_t len = 0;
  for (const TrainingExample* e : examples) len = std::max(len, e->encoded.ids.size());
  const int64_t b = int64_t(examples.size()), t = int64_t(len);
  std::vector<int64_t> ids(size_t(b * t), 0), labels(size_t(b * t), kIgnore);
  std::vector<int64_t> tasks(static_cast<size_t>(b));
  std::vector<uint8_t> mask(size_t(b * t), 0);
  Batch out;
  for (int64_t i = 0; i < b; ++i) {
    const EncodedExample& e = examples[size_t(i)]->encoded;
    tasks[size_t(i)] = examples[size_t(i)]->task;
    const size_t first_label = firstLabel(e, train_on_prompt);
    for (size_t p = 0; p < e.ids.size(); ++p) {
      ids[size_t(i * t) + p] = e.ids[p];
      mask[size_t(i * t) + p] = 1;
      if (p >= first_label) labels[size_t(i * t) + p] = e.ids[p];
    }
  }
  out.ids = at::tensor(ids, at::kLong).view({b, t});
  out.labels = at::tensor(labels, at::kLong).view({b, t});
  out.mask = at::tensor(std::vector<int64_t>(mask.begin(), mask.end()), at::kLong)
                 .view({b, t})
                 .to(at::kBool);
  out.tasks = at::tensor(tasks, at::kLong);
  return out;
}

int64_t targetCount(const EncodedExample& e, bool train_on_prompt) {
  const size_t first_label = firstLabel(e, train_on_prompt);
  return e.ids.size() > first_label ? int64_t(e.ids.size() - first_label) : 0;
}

std::vector<size_t> epochOrder(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
  rng.shuffle(order);
  return order;
}

std::vector<size_t> groupByLength(const std::vector<size_t>& order,
                                  const std::vector<size_t>& lengths, size_t batch, uint64_t seed,
                                  int64_t epoch) {
  if (batch == 0) throw std::invalid_argument("groupByLength: a batch holds at least one example");
  const auto longer = [&](size_t a, size_t b) { return lengths.at(a) > lengths.at(b); };
  const size_t chunk = batch * kLengthGroupBatches;
  std::vector<std::vector<size_t>> batches;
  for (size_t begin = 0; begin < order.size(); begin += chunk) {
    std::vector<size_t> sorted(order.begin() + int64_t(begin),
                               order.begin() + int64_t(std::min(order.size(), begin + chunk)));
    std::stable_sort(sorted.begin(), sorted.end(), longer);
    for (size_t b = 0; b < sorted.size(); b += batch)
      batches.emplace_back(sorted.begin() + int64_t(b),
                           sorted.begin() + int64_t(std::min(sorted.size(), b + batch)));
  }
  // Only the epoch's very last batch can be short: every chunk but the last is whole batches.
  std::vector<size_t> last;
  if (!batches.empty() && batches.back().size() < batch) {
    last = std::move(batches.back());
    batches.pop_back();
  }
  // A stream of its own, apart from epochOrder's.
  SplitMix64 rng((seed ^ 0xD1B54A32D192ED03ull) * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
  rng.shuffle(batches);
  const auto head = [&](const std::vector<size_t>& b) { return lengths.at(b.front()); };
  const auto longest =
      std::max_element(batches.begin(), batches.end(),
                       [&](const std::vector<size_t>& a, const std::vector<size_t>& b) {
                         return head(a) < head(b);
                       });
  if (longest != batches.end()) std::iter_swap(batches.begin(), longest);
  std::vector<size_t> out;
  out.reserve(order.size());
  for (const std::vector<size_t>& b : batches) out.insert(out.end(), b.begin(), b.end());
  out.insert(out.end(), last.begin(), last.end());
  return out;
}

std::vector<size_t> trainingOrder(const TrainingData& data, const ExperimentConfig& config,
                                  int64_t epoch) {
  std::vector<size_t> order = epochOrder(data.examples.size(), config.seed, epoch);
  if (!config.group_by_length) return order;
  std::vector<size_t> lengths;
  lengths.reserve(data.examples.size());
  for (const TrainingExample& e : data.examples) lengths.push_back(e.encoded.ids.size());
  return groupByLength(order, lengths, size_t(config.batch_size), config.seed, epoch);
}

}  // namespace mola

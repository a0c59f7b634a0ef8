// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/data_parallel.h"

#include <ATen/ATen.h>

#include "dist/rank_group.h"

namespace mola {

Shard shardOf(size_t n, int rank, int world) {
  const size_t w = size_t(world), r = size_t(rank), base = n / w, extra = n % w;
  Shard s;
  s.begin = r * base + std::min(r, extra);
  s.end = s.begin + base + (r < extra ? 1 : 0);
  return s;
}

EvalResult evaluateShared(LlamaModel& model, const Tokenizer& tokenizer,
                          const std::vector<QaRecord>& records, const EvalOptions& options,
                          RankGroup& group, const std::string& what) {
  const Shard shard = shardOf(records.size(), group.rank(), group.size());
  EvalResult mine;
  if (shard.size() > 0)
    mine = evaluateQa(model, tokenizer,
                      std::vector<QaRecord>(records.begin() + int64_t(shard.begin),
                                            records.begin() + int64_t(shard.end)),
                      options);
  // Per record: predicted, correct, predicted by log-likelihood per byte; zeros where another
  // rank scored it, so that the sum is every rank's rows.
  const int64_t n = int64_t(records.size());
  at::Tensor rows = at::zeros({n, 3}, at::kLong);
  for (size_t i = 0; i < mine.predictions.size(); ++i) {
    const Prediction& p = mine.predictions[i];
    const int64_t row = int64_t(shard.begin + i);
    rows[row][0] = p.predicted;
    rows[row][1] = p.correct ? 1 : 0;
    rows[row][2] = p.predicted_norm;
  }
  group.allReduceSum(rows, what);
  EvalResult all;
  all.protocol = options.protocol;
  all.n = records.size();
  size_t correct_norm = 0;
  const auto r = rows.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const QaRecord& rec = records[size_t(i)];
    Prediction p;
    p.example_id = exampleId(rec, size_t(i));
    p.predicted = int(r[i][0]);
    p.gold = rec.answer;
    p.correct = r[i][1] != 0;
    p.predicted_norm = int(r[i][2]);
    all.correct += p.correct;
    all.unanswered += p.predicted < 0;
    correct_norm += p.predicted_norm == rec.answer;
    all.predictions.push_back(std::move(p));
  }
  all.accuracy = all.n ? double(all.correct) / double(all.n) : 0.0;
  all.accuracy_norm = options.protocol == EvalProtocol::Generate ? all.accuracy
                      : all.n ? double(correct_norm) / double(all.n)
                              : 0.0;
  std::tie(all.ci_low, all.ci_high) = wilsonInterval(all.correct, all.n);
  return all;
}

}  // namespace mola

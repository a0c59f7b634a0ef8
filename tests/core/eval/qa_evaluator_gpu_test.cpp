// SPDX-License-Identifier: GPL-3.0-or-later
// The likelihood evaluator on CUDA against the same evaluation on the CPU: the same choices'
// log-likelihoods (only the asked log-probabilities leave the device) and predictions. Skips
// without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "data/synthetic_qa.h"
#include "eval/qa_evaluator.h"
#include "model/checkpoint_loader.h"
#include "model/tokenizer.h"

namespace mola {
namespace {

TEST(QaEvaluatorGpu, LikelihoodsOnCudaEqualTheCpus) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  LlamaModel model = builtinTinyModel(3);
  const std::unique_ptr<Tokenizer> tok = Tokenizer::bytes();
  std::vector<QaRecord> records = makeSyntheticQa("largest", 12, 4);
  EvalOptions o;
  o.prompt = PromptTemplate::compact();
  o.batch_size = 5;
  const EvalResult cpu = evaluateQa(model, *tok, records, o);
  model->to(at::kCUDA);
  const EvalResult cuda = evaluateQa(model, *tok, records, o);
  ASSERT_EQ(cuda.predictions.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& want = cpu.predictions[i].log_likelihoods;
    const auto& got = cuda.predictions[i].log_likelihoods;
    ASSERT_EQ(got.size(), want.size()) << "record " << i;
    for (size_t c = 0; c < want.size(); ++c)
      EXPECT_NEAR(got[c], want[c], 1e-4 * (1.0 + std::abs(want[c])))
          << "record " << i << " choice " << c;
  }
  EXPECT_EQ(cuda.correct, cpu.correct);
}

}  // namespace
}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// QA evaluation: the batched, padded protocols against one-sequence-at-a-time references.
#include "eval/qa_evaluator.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "data/synthetic_qa.h"
#include "model/checkpoint_loader.h"
#include "model/generate.h"
#include "model/model_probe.h"

namespace mola {
namespace {

TEST(QaEvaluator, WilsonIntervalMatchesHandValues) {
  // Reference values from the Wilson formula, computed separately (Python) with z = 1.95996.
  auto [lo, hi] = wilsonInterval(8, 10);
  EXPECT_NEAR(lo, 0.490163, 1e-6);
  EXPECT_NEAR(hi, 0.943318, 1e-6);
  std::tie(lo, hi) = wilsonInterval(0, 5);
  EXPECT_NEAR(lo, 0.0, 1e-12);
  EXPECT_NEAR(hi, 0.434482, 1e-6);
  std::tie(lo, hi) = wilsonInterval(50, 100);
  EXPECT_NEAR(lo, 0.403832, 1e-6);
  EXPECT_NEAR(hi, 0.596168, 1e-6);
}

TEST(QaEvaluator, TheAnswerMustMatchExactlyOnce) {
  EXPECT_EQ(matchAnswerExactlyOnce("Answer: The answer is B.", 4), 1);
  EXPECT_EQ(matchAnswerExactlyOnce("The answer is A. The answer is A.", 4), -1);  // twice
  EXPECT_EQ(matchAnswerExactlyOnce("the answer is B", 4), -1);                    // case matters
  EXPECT_EQ(matchAnswerExactlyOnce("The answer is E.", 4), -1);  // not one of the choices
  EXPECT_EQ(matchAnswerExactlyOnce("B", 4), -1);
  EXPECT_EQ(matchAnswerExactlyOnce("", 4), -1);
}

class EvaluatorTest : public ::testing::Test {
 protected:
  LlamaModel model = builtinTinyModel(3);
  std::unique_ptr<Tokenizer> tok = Tokenizer::bytes();
  std::vector<QaRecord> records = makeSyntheticQa("largest", 6, 9);
  PromptTemplate prompt = PromptTemplate::compact();

  EvalOptions likelihood(LikelihoodTarget target, size_t batch_size) const {
    EvalOptions o;
    o.prompt = prompt;
    o.target = target;
    o.batch_size = batch_size;
    return o;
  }
};

// Sum of log p over the continuation, one unpadded sequence at a time, in fp64. `cut` tokens are
// dropped from the front first (the evaluator drops the same number from every choice of a
// record when the longest does not fit the model).
double referenceLogLikelihood(LlamaModel& m, const std::vector<int>& prompt_ids,
                              const std::vector<int>& full, size_t cut = 0) {
  size_t first = 0;
  while (first < prompt_ids.size() && prompt_ids[first] == full[first]) ++first;
  torch::NoGradGuard no_grad;
  const at::Tensor ids =
      at::tensor(std::vector<int64_t>(full.begin() + int64_t(cut), full.end()), at::kLong);
  m->to(at::kDouble);
  const at::Tensor logp = at::log_softmax(m(ids.view({1, -1}))[0], -1);
  m->to(at::kFloat);
  double sum = 0;
  for (size_t t = first - cut; t < full.size() - cut; ++t)
    sum += logp[int64_t(t) - 1][full[t + cut]].item<double>();
  return sum;
}

// Each record's choices' log-likelihoods by the reference; the evaluator's must agree (they are
// computed in fp32 with the prompt run once per record, left-padded, and the choices after it).
void expectReferenceLikelihoods(LlamaModel& model, const Tokenizer& tok,
                                const std::vector<QaRecord>& records, const PromptTemplate& prompt,
                                LikelihoodTarget target, const EvalResult& r) {
  ASSERT_EQ(r.predictions.size(), records.size());
  const size_t max_len = size_t(model->config().max_seq_len);
  size_t correct = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string text = renderPrompt(records[i], prompt);
    const std::vector<int> prompt_ids = tok.encode(text, true, false);
    std::vector<std::vector<int>> seqs;
    size_t cut = 0;
    for (size_t c = 0; c < records[i].choices.size(); ++c) {
      QaRecord as_if = records[i];
      as_if.answer = int(c);
      const std::string cont = target == LikelihoodTarget::Answer ? renderTarget(as_if, prompt)
                                                                  : " " + records[i].choices[c];
      seqs.push_back(tok.encode(text + cont, true, false));
      cut = std::max(cut, seqs.back().size() > max_len ? seqs.back().size() - max_len : 0);
    }
    // In record order, whatever order the batches took them in (longest first).
    EXPECT_EQ(r.predictions[i].example_id, exampleId(records[i], i));
    ASSERT_EQ(r.predictions[i].log_likelihoods.size(), seqs.size()) << "record " << i;
    int best = -1;
    double best_ll = -1e300;
    for (size_t c = 0; c < seqs.size(); ++c) {
      const double ll = referenceLogLikelihood(model, prompt_ids, seqs[c], cut);
      EXPECT_NEAR(r.predictions[i].log_likelihoods[c], ll, 1e-4 * (1.0 + std::abs(ll)))
          << "record " << i << " choice " << c;
      if (ll > best_ll) best_ll = ll, best = int(c);
    }
    EXPECT_EQ(r.predictions[i].predicted, best) << "record " << i;
    correct += best == records[i].answer;
  }
  EXPECT_EQ(r.correct, correct);
  EXPECT_EQ(r.n, records.size());
  EXPECT_DOUBLE_EQ(r.accuracy, double(correct) / double(records.size()));
}

TEST_F(EvaluatorTest, LikelihoodMatchesTheReferenceForEveryChoice) {
  // Records of different prompt lengths and choice counts in one batch.
  records[1].choices.pop_back();
  records[1].answer = std::min(records[1].answer, int(records[1].choices.size()) - 1);
  records[4].choices.push_back("a much longer fifth choice than the others");
  records[5].question += " And one more sentence to make this prompt longer than its neighbours.";
  for (LikelihoodTarget target : {LikelihoodTarget::Answer, LikelihoodTarget::ChoiceText}) {
    EvalOptions o = likelihood(target, 4);  // padding and several batches
    std::vector<size_t> progress;
    o.progress = [&](size_t done, size_t total) {
      progress.push_back(done);
      EXPECT_EQ(total, records.size());
    };
    const EvalResult r = evaluateQa(model, *tok, records, o);
    EXPECT_EQ(progress, (std::vector<size_t>{0, 4, 6}));
    expectReferenceLikelihoods(model, *tok, records, prompt, target, r);
  }
}

TEST_F(EvaluatorTest, TheSameChoiceTwiceScoresTheSameAndTheFirstWins) {
  // Choice 4 of record 2 repeats its choice 0; its pass also runs record 4's long fifth choice, so
  // that its padding differs from choice 0's pass.
  records[2].choices.push_back(records[2].choices[0]);
  records[4].choices.push_back("a much longer fifth choice than the others, padded around");
  for (LikelihoodTarget target : {LikelihoodTarget::Answer, LikelihoodTarget::ChoiceText}) {
    const EvalResult r = evaluateQa(model, *tok, records, likelihood(target, 8));
    if (target == LikelihoodTarget::ChoiceText) {  // the answer target names the letter: E != A
      const Prediction& p = r.predictions.at(2);
      EXPECT_EQ(p.log_likelihoods.at(4), p.log_likelihoods.at(0));
      EXPECT_NE(p.predicted, 4);
      EXPECT_NE(p.predicted_norm, 4);
    }
    expectReferenceLikelihoods(model, *tok, records, prompt, target, r);
  }
}

TEST_F(EvaluatorTest, LikelihoodCutsTheSamePromptFromEveryChoiceWhenTooLong) {
  LlamaConfig config = builtinTinyConfig();
  size_t longest = 0;
  for (const QaRecord& rec : records)
    longest = std::max(longest, tok->encode(renderPrompt(rec, prompt), true, false).size());
  config.max_seq_len = int64_t(longest) - 10;  // every prompt loses its front
  torch::manual_seed(3);
  LlamaModel small(config);
  for (LikelihoodTarget target : {LikelihoodTarget::Answer, LikelihoodTarget::ChoiceText}) {
    const EvalResult r = evaluateQa(small, *tok, records, likelihood(target, 3));
    expectReferenceLikelihoods(small, *tok, records, prompt, target, r);
  }
  // A continuation that leaves no room for the prompt is refused, naming the record: the first
  // of two, though the records are tokenized on several threads (2 and 4 in different blocks).
  records[2].choices[0] = std::string(size_t(config.max_seq_len) + 5, 'x');
  records[4].choices[1] = std::string(size_t(config.max_seq_len) + 9, 'y');
  EvalOptions o;
  o.prompt = prompt;
  o.target = LikelihoodTarget::ChoiceText;
  try {
    evaluateQa(small, *tok, records, o);
    ADD_FAILURE() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("record " + exampleId(records[2], 2)), std::string::npos)
        << e.what();
  }
}

TEST_F(EvaluatorTest, GenerateMatchesOneRecordAtATime) {
  // The longest prompt last: batched longest first, it joins the first batch.
  records[4].question += " And one more sentence to make this prompt the longest of them.";
  EvalOptions o;
  o.prompt = prompt;
  o.protocol = EvalProtocol::Generate;
  o.batch_size = 4;
  o.max_new_tokens = 12;
  o.limit = 5;
  const EvalResult r = evaluateQa(model, *tok, records, o);
  ASSERT_EQ(r.n, 5u);
  for (size_t i = 0; i < 5; ++i) {
    GenerateOptions g;
    g.max_new_tokens = 12;
    const std::vector<int> ids =
        generate(model, tok->encode(renderPrompt(records[i], prompt), true, false), g);
    EXPECT_EQ(r.predictions[i].example_id, exampleId(records[i], i));
    EXPECT_EQ(r.predictions[i].generated, tok->decode(ids)) << "record " << i;
    EXPECT_EQ(r.predictions[i].predicted,
              matchAnswerExactlyOnce(r.predictions[i].generated, records[i].choices.size()));
  }
  // An untrained model does not write "The answer is X".
  EXPECT_EQ(r.unanswered, 5u);
  EXPECT_EQ(r.correct, 0u);
}

TEST_F(EvaluatorTest, RecordsWithoutAnAnswerAreRefused) {
  records[2].answer = 7;
  EXPECT_THROW(evaluateQa(model, *tok, records, EvalOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace mola

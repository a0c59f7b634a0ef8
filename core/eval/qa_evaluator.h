// SPDX-License-Identifier: GPL-3.0-or-later
// QA scoring: option log-likelihood, and MoLA's generate-then-match protocol, with per-example
// predictions and a 95% confidence interval.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "data/prompt_template.h"
#include "data/qa_record.h"
#include "model/llama_model.h"
#include "model/tokenizer.h"

namespace mola {

enum class EvalProtocol {
  // Score each choice's continuation given the prompt; the highest log-likelihood wins.
  Likelihood,
  // Greedy generation, then the regex "The answer is ([A-Z])" must match exactly once (MoLA).
  Generate,
};

// What the likelihood protocol scores after the prompt for choice i.
enum class LikelihoodTarget {
  Answer,      // the template's target with choice i's letter ("Answer: The answer is B.")
  ChoiceText,  // " " + choice i's text, as lm-evaluation-harness scores multiple choice
};

struct EvalOptions {
  EvalProtocol protocol = EvalProtocol::Likelihood;
  LikelihoodTarget target = LikelihoodTarget::Answer;
  PromptTemplate prompt;
  size_t limit = 0;  // 0: every record
  // Likelihood: records per forward pass (their prompts run once, then each choice's tail on
  // them); generate: prompts per forward pass.
  size_t batch_size = 8;
  int max_new_tokens = 32;  // generate protocol
  // The task row every record belongs to (a MOELoRA adapter's gate reads it; others ignore it).
  int task = 0;
  // Called with (records done, records in all): with 0 at the start, then after each batch.
  std::function<void(size_t, size_t)> progress;
};

struct Prediction {
  std::string example_id;  // the record's id, else its 0-based index
  int predicted = -1;      // -1: no answer (generate protocol: the regex did not match once)
  int gold = -1;
  bool correct = false;
  std::string generated;    // generate protocol: the model's text
  int predicted_norm = -1;  // likelihood protocol: the choice by log-likelihood per byte
  // Likelihood protocol: each choice's continuation log-likelihood (natural log).
  std::vector<double> log_likelihoods;
};

struct EvalResult {
  EvalProtocol protocol = EvalProtocol::Likelihood;
  size_t n = 0;
  size_t correct = 0;
  double accuracy = 0.0;
  // Likelihood: the same choice made with log-likelihood divided by the continuation's bytes.
  double accuracy_norm = 0.0;
  // Wilson score interval for accuracy at 95%.
  double ci_low = 0.0, ci_high = 0.0;
  size_t unanswered = 0;  // generate: outputs without exactly one "The answer is X"
  std::vector<Prediction> predictions;
};

// A record's id in predictions: its own id, else its 0-based index among the records scored.
std::string exampleId(const QaRecord& r, size_t index);

// Wilson score interval (z = 1.96) for `correct` of `n`.
std::pair<double, double> wilsonInterval(size_t correct, size_t n);

// MoLA's rule: the index of X when "The answer is ([A-Z])" occurs exactly once in `text` and X is
// one of the first `num_choices` letters; -1 otherwise.
int matchAnswerExactlyOnce(const std::string& text, size_t num_choices);

// Scores `records` with the model in eval mode and no gradients.
EvalResult evaluateQa(LlamaModel& model, const Tokenizer& tokenizer,
                      const std::vector<QaRecord>& records, const EvalOptions& options);

std::string protocolName(EvalProtocol p);
EvalProtocol parseProtocol(const std::string& name);  // "likelihood" | "generate"

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// mola eval: scores a benchmark with a model (and adapter), or with a stored run's newest intact
// checkpoint, whose score then joins the run's evaluations in the database.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "eval/qa_evaluator.h"
#include "experiment/experiment_config.h"
#include "model/checkpoint_loader.h"
#include "model/tokenizer.h"
#include "model_args.h"
#include "runtime.h"
#include "store/store_writer.h"
#include "text.h"
#include "train/builtin_base.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace mola::cli {

namespace {

// One row per example: the prediction and, for the likelihood protocol, the choice by
// log-likelihood per byte and every choice's log-likelihood; for the generate protocol, the text
// (tabs, line breaks and other control characters escaped, so that a row stays one line).
void writePredictions(const std::string& file, const EvalResult& r) {
  std::ofstream out(file);
  if (!out) throw std::runtime_error(file + ": cannot write predictions");
  const bool likelihood = r.protocol == EvalProtocol::Likelihood;
  out << "example_id\tpredicted\tgold\tcorrect"
      << (likelihood ? "\tpredicted_norm\tlog_likelihoods\n" : "\tgenerated\n");
  char number[32];
  for (const Prediction& p : r.predictions) {
    out << printableText(p.example_id, false) << '\t' << p.predicted << '\t' << p.gold << '\t'
        << int(p.correct) << '\t';
    if (likelihood) {
      out << p.predicted_norm << '\t';
      for (size_t c = 0; c < p.log_likelihoods.size(); ++c) {
        std::snprintf(number, sizeof number, "%.6f", p.log_likelihoods[c]);
        out << (c ? "," : "") << number;
      }
    } else {
      out << printableText(p.generated, false);
    }
    out << '\n';
  }
  out.flush();
  if (!out) throw std::runtime_error(file + ": could not write every prediction (disk full?)");
}

// The options from the command line, with the subject's template and protocol as defaults.
EvalOptions evalOptions(const Args& args, const ModelSubject& subject) {
  EvalOptions o;
  o.protocol = parseProtocol(args.get("--protocol", subject.protocol));
  const std::string score = args.get("--score", "answer");
  if (score != "answer" && score != "text")
    throw UsageError("--score expects answer or text, got '" + score + "'");
  o.target = score == "text" ? LikelihoodTarget::ChoiceText : LikelihoodTarget::Answer;
  try {
    o.prompt = PromptTemplate::named(args.get("--template", subject.prompt_template));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--template: ") + e.what());
  }
  o.limit = size_t(std::max(0, args.getNumber<int>("--limit", 0)));
  o.batch_size = size_t(std::max(1, args.getNumber<int>("--batch", 8)));
  o.max_new_tokens = args.getNumber<int>("--max-new-tokens", 32);
  const bool tty = isatty(STDERR_FILENO);
  o.progress = [tty](size_t done, size_t total) {
    if (tty)
      std::fprintf(stderr, "\rscoring %zu/%zu", done, total);
    else if (done == total || done % 100 < 8)
      std::fprintf(stderr, "scoring %zu/%zu\n", done, total);
  };
  return o;
}

}  // namespace

int cmdEval(const Args& args) {
  args.allowOnly({"--model", "--tokenizer", "--adapter", "--run", "--db", "--data", "--format",
                  "--protocol", "--limit", "--batch", "--score", "--max-new-tokens", "--dtype",
                  "--device", "--predictions", "--template", "--task"});
  const int64_t run = runArg(args);
  std::optional<RunStore> store;
  if (run) store.emplace(runStoreArg(args, true));
  const QaDataset data = dataArg(args);
  ModelSubject subject = run ? subjectFromRun(args, *store, run) : subjectFromModel(args);
  EvalOptions o = evalOptions(args, subject);
  o.task = taskArg(args, subject.model);

  EvalResult r;
  {
    std::optional<AutocastGuard> amp;
    if (subject.autocast) amp.emplace(subject.model->embed.device().type(), *subject.autocast);
    r = evaluateQa(subject.model, *subject.tokenizer, data.records, o);
  }
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  std::printf("protocol: %s\nn: %zu\naccuracy: %.4f (95%% CI %.4f-%.4f)\n",
              protocolName(r.protocol).c_str(), r.n, r.accuracy, r.ci_low, r.ci_high);
  if (r.protocol == EvalProtocol::Likelihood)
    std::printf("accuracy_norm: %.4f\n", r.accuracy_norm);
  else
    std::printf("unanswered: %zu\n", r.unanswered);
  if (auto file = args.get("--predictions")) writePredictions(*file, r);
  if (!run) return 0;

  const EvalReport report = evalReportOf(
      r, subject.step,
      dataSourceName(DataSpec{*args.get("--data"), args.get("--format", ""), "", 0}), "");
  store->addEvalScore(run, evalScoreOf(report), storedPredictionsOf(report));
  std::printf("stored as run %lld's score on %s at step %lld\n", static_cast<long long>(run),
              printableText(report.benchmark).c_str(), static_cast<long long>(report.step));
  return 0;
}

}  // namespace mola::cli

// SPDX-License-Identifier: GPL-3.0-or-later
// QA evaluation: batched continuation scoring and batched greedy generation with left padding.
#include "eval/qa_evaluator.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <stdexcept>

namespace mola {

std::string exampleId(const QaRecord& r, size_t index) {
  return r.id.empty() ? std::to_string(index) : r.id;
}

namespace {

// Length of the common prefix of two id sequences.
size_t commonPrefix(const std::vector<int>& a, const std::vector<int>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

struct Scored {
  std::vector<int> ids;  // BOS + prompt + continuation
  size_t first = 0;      // index of the first continuation token
  size_t record = 0, choice = 0;
  size_t bytes = 0;  // continuation length in bytes, for the normalised score
};

// Sum of log p(ids[t] | ids[<t]) over t >= first, for each sequence, in batches (right padding).
std::vector<double> continuationLogLikelihoods(LlamaModel& model, const std::vector<Scored>& seqs,
                                               size_t batch_size, int task) {
  std::vector<double> out(seqs.size());
  const auto device = model->embed.device();
  for (size_t start = 0; start < seqs.size(); start += batch_size) {
    const size_t end = std::min(seqs.size(), start + batch_size);
    size_t len = 0;
    for (size_t i = start; i < end; ++i) len = std::max(len, seqs[i].ids.size());
    std::vector<int64_t> flat((end - start) * len, 0);
    for (size_t i = start; i < end; ++i)
      std::copy(seqs[i].ids.begin(), seqs[i].ids.end(), flat.begin() + int64_t((i - start) * len));
    const at::Tensor ids =
        at::tensor(flat, at::kLong).view({int64_t(end - start), int64_t(len)}).to(device);
    model->setTasks(at::full({int64_t(end - start)}, int64_t(task), at::kLong));
    // Right padding needs no mask: causal attention never lets a real token see the padding.
    const at::Tensor logp = at::log_softmax(model->forward(ids).to(at::kFloat), -1).cpu();
    for (size_t i = start; i < end; ++i) {
      const at::Tensor row = logp[int64_t(i - start)];
      const auto lp = row.accessor<float, 2>();
      double sum = 0.0;
      for (size_t t = std::max<size_t>(seqs[i].first, 1); t < seqs[i].ids.size(); ++t)
        sum += lp[int64_t(t - 1)][seqs[i].ids[t]];
      out[i] = sum;
    }
  }
  return out;
}

EvalResult evaluateLikelihood(LlamaModel& model, const Tokenizer& tok,
                              const std::vector<QaRecord>& records, const EvalOptions& o) {
  EvalResult result;
  size_t correct_norm = 0;
  const int64_t max_len = model->config().max_seq_len;
  // Records are scored in groups so that progress moves and memory stays bounded.
  const size_t group = std::max<size_t>(1, o.batch_size);
  for (size_t start = 0; start < records.size(); start += group) {
    const size_t end = std::min(records.size(), start + group);
    std::vector<Scored> seqs;
    for (size_t r = start; r < end; ++r) {
      const QaRecord& rec = records[r];
      const std::string prompt = renderPrompt(rec, o.prompt);
      const std::vector<int> prompt_ids = tok.encode(prompt, true, false);
      for (size_t c = 0; c < rec.choices.size(); ++c) {
        std::string cont;
        if (o.target == LikelihoodTarget::Answer) {
          QaRecord as_if = rec;
          as_if.answer = int(c);
          cont = renderTarget(as_if, o.prompt);
        } else {
          cont = " " + rec.choices[c];
        }
        Scored s;
        s.ids = tok.encode(prompt + cont, true, false);
        // A token that merges across the boundary counts as continuation.
        s.first = std::min(commonPrefix(prompt_ids, s.ids), s.ids.size() - 1);
        if (int64_t(s.ids.size()) > max_len) {
          // Keep the end: the continuation and as much of the prompt as fits.
          const size_t cut = s.ids.size() - size_t(max_len);
          s.ids.erase(s.ids.begin(), s.ids.begin() + int64_t(cut));
          s.first = s.first > cut ? s.first - cut : 0;
        }
        s.record = r;
        s.choice = c;
        s.bytes = std::max<size_t>(1, cont.size());
        seqs.push_back(std::move(s));
      }
    }
    const std::vector<double> ll = continuationLogLikelihoods(model, seqs, o.batch_size, o.task);
    size_t k = 0;
    for (size_t r = start; r < end; ++r) {
      const QaRecord& rec = records[r];
      int best = -1, best_norm = -1;
      double best_ll = -INFINITY, best_ll_norm = -INFINITY;
      for (size_t c = 0; c < rec.choices.size(); ++c, ++k) {
        if (ll[k] > best_ll) best_ll = ll[k], best = int(c);
        const double norm = ll[k] / double(seqs[k].bytes);
        if (norm > best_ll_norm) best_ll_norm = norm, best_norm = int(c);
      }
      Prediction p{exampleId(rec, r), best, rec.answer, best == rec.answer, {}, best_norm};
      result.correct += p.correct;
      correct_norm += best_norm == rec.answer;
      result.predictions.push_back(std::move(p));
    }
    if (o.progress) o.progress(end, records.size());
  }
  if (!records.empty()) result.accuracy_norm = double(correct_norm) / double(records.size());
  return result;
}

EvalResult evaluateGenerate(LlamaModel& model, const Tokenizer& tok,
                            const std::vector<QaRecord>& records, const EvalOptions& o) {
  EvalResult result;
  const LlamaConfig& cfg = model->config();
  const auto device = model->embed.device();
  const size_t group = std::max<size_t>(1, o.batch_size);
  for (size_t start = 0; start < records.size(); start += group) {
    const size_t end = std::min(records.size(), start + group), b = end - start;
    std::vector<std::vector<int>> prompts;
    size_t len = 0;
    for (size_t r = start; r < end; ++r) {
      std::vector<int> ids = tok.encode(renderPrompt(records[r], o.prompt), true, false);
      const size_t room = size_t(std::max<int64_t>(1, cfg.max_seq_len - o.max_new_tokens));
      if (ids.size() > room) ids.erase(ids.begin(), ids.begin() + int64_t(ids.size() - room));
      len = std::max(len, ids.size());
      prompts.push_back(std::move(ids));
    }
    const int64_t steps = std::min<int64_t>(o.max_new_tokens, cfg.max_seq_len - int64_t(len));
    // Left padding, so that every row's next token is at the same position.
    const size_t mask_width = len + size_t(std::max<int64_t>(steps, 0));  // prompt + new tokens
    std::vector<int64_t> flat(b * len, 0), mask(b * mask_width, 1);
    for (size_t i = 0; i < b; ++i) {
      const size_t pad = len - prompts[i].size();
      std::copy(prompts[i].begin(), prompts[i].end(), flat.begin() + int64_t(i * len + pad));
      std::fill(mask.begin() + int64_t(i * mask_width),
                mask.begin() + int64_t(i * mask_width + pad), 0);
    }
    const at::Tensor key_mask = at::tensor(mask, at::kLong)
                                    .view({int64_t(b), int64_t(mask_width)})
                                    .to(at::kBool)
                                    .to(device);
    KvCache cache = model->makeCache(int64_t(b), int64_t(mask_width));
    model->setTasks(at::full({int64_t(b)}, int64_t(o.task), at::kLong));
    at::Tensor logits =
        model->forward(at::tensor(flat, at::kLong).view({int64_t(b), int64_t(len)}).to(device),
                       key_mask.narrow(1, 0, int64_t(len)), &cache);
    std::vector<std::vector<int>> out(b);
    std::vector<bool> done(b, false);
    for (int64_t s = 0; s < steps; ++s) {
      const at::Tensor next = logits.select(1, logits.size(1) - 1).argmax(-1).cpu();  // [B]
      bool all = true;
      for (size_t i = 0; i < b; ++i) {
        const int id = int(next[int64_t(i)].item<int64_t>());
        if (!done[i] && id == cfg.eos_id) done[i] = true;
        if (!done[i]) out[i].push_back(id);
        all = all && done[i];
      }
      if (all || s + 1 == steps) break;
      logits = model->forward(next.view({int64_t(b), 1}).to(device),
                              key_mask.narrow(1, 0, int64_t(len) + s + 1), &cache);
    }
    for (size_t i = 0; i < b; ++i) {
      const QaRecord& rec = records[start + i];
      Prediction p;
      p.example_id = exampleId(rec, start + i);
      p.generated = tok.decode(out[i]);
      p.predicted = matchAnswerExactlyOnce(p.generated, rec.choices.size());
      p.gold = rec.answer;
      p.correct = p.predicted >= 0 && p.predicted == rec.answer;
      result.correct += p.correct;
      result.unanswered += p.predicted < 0;
      result.predictions.push_back(std::move(p));
    }
    if (o.progress) o.progress(end, records.size());
  }
  return result;
}

}  // namespace

std::pair<double, double> wilsonInterval(size_t correct, size_t n) {
  if (n == 0) return {0.0, 0.0};
  const double z = 1.959963984540054, p = double(correct) / double(n), nn = double(n);
  const double denom = 1.0 + z * z / nn;
  const double centre = (p + z * z / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

int matchAnswerExactlyOnce(const std::string& text, size_t num_choices) {
  static const std::regex kAnswer("The answer is ([A-Z])");
  int found = -1, count = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kAnswer);
       it != std::sregex_iterator(); ++it) {
    ++count;
    found = (*it)[1].str()[0] - 'A';
  }
  if (count != 1 || found >= int(num_choices)) return -1;
  return found;
}

EvalResult evaluateQa(LlamaModel& model, const Tokenizer& tokenizer,
                      const std::vector<QaRecord>& all, const EvalOptions& options) {
  std::vector<QaRecord> records(all.begin(), options.limit && options.limit < all.size()
                                                 ? all.begin() + int64_t(options.limit)
                                                 : all.end());
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].answer < 0 || size_t(records[i].answer) >= records[i].choices.size())
      throw std::invalid_argument("record " + exampleId(records[i], i) +
                                  " has no valid answer to score against");
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  EvalResult r = options.protocol == EvalProtocol::Likelihood
                     ? evaluateLikelihood(model, tokenizer, records, options)
                     : evaluateGenerate(model, tokenizer, records, options);
  model->train(was_training);
  r.protocol = options.protocol;
  r.n = records.size();
  r.accuracy = r.n ? double(r.correct) / double(r.n) : 0.0;
  if (options.protocol == EvalProtocol::Generate) r.accuracy_norm = r.accuracy;
  std::tie(r.ci_low, r.ci_high) = wilsonInterval(r.correct, r.n);
  return r;
}

std::string protocolName(EvalProtocol p) {
  return p == EvalProtocol::Likelihood ? "likelihood" : "generate";
}

EvalProtocol parseProtocol(const std::string& name) {
  if (name == "likelihood") return EvalProtocol::Likelihood;
  if (name == "generate") return EvalProtocol::Generate;
  throw std::invalid_argument("unknown protocol '" + name + "' (likelihood or generate)");
}

}  // namespace mola

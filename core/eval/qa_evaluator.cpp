// SPDX-License-Identifier: GPL-3.0-or-later
// QA evaluation: batched continuation scoring and batched greedy generation with left padding.
#include "eval/qa_evaluator.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <regex>
#include <stdexcept>

#include "parallel_map.h"
#include "runtime.h"
#include "study/study_stats.h"

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

// One choice's token sequence: BOS + prompt + continuation, cut at the front to fit the model.
struct Scored {
  std::vector<int> ids;
  size_t first = 0;  // index of the first continuation token (>= 1)
  size_t bytes = 0;  // continuation length in bytes, for the normalised score
};

// A record's choices. Their sequences share ids[0, shared), the prompt up to where the first
// continuation token of any choice begins, so that the prompt runs once for all of them.
struct RecordChoices {
  std::vector<Scored> choices;
  // Per choice, the earlier choice with the same tokens, or -1. A repeat does not run again: it
  // takes that choice's score, so that the exact tie goes to the first, as it does one record at
  // a time (and in transformers), whatever padding the passes had.
  std::vector<int> same_as;
  size_t shared = 1;
  bool runs(size_t c) const { return c < choices.size() && same_as[c] < 0; }
  // What runs after the shared prefix for choice c: ids[shared, size - 1) (the last token is
  // only predicted).
  size_t tail(size_t c) const { return choices[c].ids.size() - 1 - shared; }
  size_t longestTail() const {
    size_t n = 0;
    for (size_t c = 0; c < choices.size(); ++c) n = std::max(n, tail(c));
    return n;
  }
};

RecordChoices tokenizeChoices(const Tokenizer& tok, const QaRecord& rec, size_t index,
                              const EvalOptions& o, size_t max_len) {
  const std::string prompt = renderPrompt(rec, o.prompt);
  const std::vector<int> prompt_ids = tok.encode(prompt, true, false);
  RecordChoices out;
  size_t cut = 0, first = SIZE_MAX;
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
    s.bytes = std::max<size_t>(1, cont.size());
    cut = std::max(cut, s.ids.size() > max_len ? s.ids.size() - max_len : 0);
    first = std::min(first, s.first);
    out.choices.push_back(std::move(s));
  }
  // Too long for the model: every choice loses the same front part of the prompt (the
  // continuations are kept whole), so that the choices are scored in the same context.
  if (cut >= first)
    throw std::invalid_argument("record " + exampleId(rec, index) + ": its choices share no " +
                                "prompt token within the model's " + std::to_string(max_len) +
                                " positions (a continuation is too long)");
  for (Scored& s : out.choices) {
    s.ids.erase(s.ids.begin(), s.ids.begin() + int64_t(cut));
    s.first -= cut;
  }
  out.shared = first - cut;
  out.same_as.assign(out.choices.size(), -1);
  for (size_t c = 1; c < out.choices.size(); ++c)
    for (size_t e = 0; e < c && out.same_as[c] < 0; ++e)
      if (out.choices[e].ids == out.choices[c].ids) out.same_as[c] = int(e);
  return out;
}

// log p(token) of the asked tokens ([..., K] int64, host) under the next-token distribution of
// each row of final hidden states [..., d]: [..., K] on the host in fp32. Only the asked values
// leave the device (a GPU would otherwise copy rows x vocab floats to the host).
at::Tensor tokenLogProbs(LlamaModel& model, const at::Tensor& hidden, const at::Tensor& tokens) {
  const at::Tensor logp = at::log_softmax(model->logits(hidden).to(at::kFloat), -1);
  return logp.gather(-1, uploaded(tokens, logp.device())).cpu().contiguous();
}

// The tokens whose log p a pass asks for, [B, K] row-major, 0 where a row asks for nothing.
struct AskedTokens {
  std::vector<int64_t> ids;
  int64_t width = 0;
  AskedTokens(size_t rows, int64_t k) : ids(rows * size_t(k), 0), width(k) {}
  at::Tensor tensor(int64_t rows) const { return at::tensor(ids, at::kLong).view({rows, width}); }
};

// Sum of log p(ids[t] | ids[<t]) over each choice's continuation, for a batch of records. Their
// prompts run once, left-padded, into a KV cache; then the c-th choices of every record run on
// it (right-padded: causal attention never lets a real token see padding after it).
std::vector<std::vector<double>> batchLogLikelihoods(LlamaModel& model,
                                                     const std::vector<RecordChoices>& batch,
                                                     int task) {
  const auto device = model->embed.device();
  const int64_t b = int64_t(batch.size());
  size_t prefix = 0, tail = 0, num_choices = 0;
  for (const RecordChoices& r : batch) {
    prefix = std::max(prefix, r.shared);
    tail = std::max(tail, r.longestTail());
    num_choices = std::max(num_choices, r.choices.size());
  }
  const int64_t lp = int64_t(prefix), lc = int64_t(tail);
  std::vector<int64_t> ids(size_t(b * lp), 0);
  std::vector<uint8_t> real(size_t(b * (lp + lc)), 1);  // key mask: prompt padding is 0
  // The prompt's last position predicts each choice's first token after the shared prefix.
  AskedTokens first(batch.size(), int64_t(num_choices));
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::vector<int>& seq = batch[i].choices[0].ids;
    const size_t pad = prefix - batch[i].shared, row = i * prefix;
    std::copy(seq.begin(), seq.begin() + int64_t(batch[i].shared),
              ids.begin() + int64_t(row + pad));
    std::fill_n(real.begin() + int64_t(i * (prefix + tail)), pad, uint8_t(0));
    for (size_t c = 0; c < batch[i].choices.size(); ++c)
      first.ids[i * num_choices + c] = batch[i].choices[c].ids[batch[i].shared];
  }
  const at::Tensor key_mask =
      uploaded(at::tensor(at::ArrayRef<uint8_t>(real)).view({b, lp + lc}).to(at::kBool), device);
  KvCache cache = model->makeCache(b, lp + lc);
  model->setTasks(at::full({b}, int64_t(task), at::kLong));
  const at::Tensor prompt_hidden =
      model->hidden(uploaded(at::tensor(ids, at::kLong).view({b, lp}), device),
                    key_mask.narrow(1, 0, lp), &cache);
  const at::Tensor last =
      tokenLogProbs(model, prompt_hidden.select(1, lp - 1), first.tensor(b));  // [B, choices]

  std::vector<std::vector<double>> out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) out[i].assign(batch[i].choices.size(), 0.0);
  for (size_t c = 0; c < num_choices; ++c) {
    size_t len = 0;
    for (const RecordChoices& r : batch)
      if (r.runs(c)) len = std::max(len, r.tail(c));
    at::Tensor logp;  // [B, len]: log p of the token after each position of the tails
    if (len > 0) {
      std::vector<int64_t> tails(size_t(b) * len, 0);
      AskedTokens next(size_t(b) * len, 1);
      for (size_t i = 0; i < batch.size(); ++i)
        if (batch[i].runs(c)) {
          const std::vector<int>& seq = batch[i].choices[c].ids;
          const auto from = seq.begin() + int64_t(batch[i].shared);
          std::copy(from, seq.end() - 1, tails.begin() + int64_t(i * len));
          std::copy(from + 1, seq.end(), next.ids.begin() + int64_t(i * len));
        }
      cache.length = lp;
      const at::Tensor h =
          model->hidden(uploaded(at::tensor(tails, at::kLong).view({b, int64_t(len)}), device),
                        key_mask.narrow(1, 0, lp + int64_t(len)), &cache);
      logp = tokenLogProbs(model, h, next.tensor(b * int64_t(len)).view({b, int64_t(len), 1}));
    }
    // Position t - 1 predicts token t: the prompt's last position, else one of the tail's.
    const float* at_last = last.data_ptr<float>();
    const float* at_tail = logp.defined() ? logp.data_ptr<float>() : nullptr;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].runs(c)) continue;
      const Scored& s = batch[i].choices[c];
      double sum = 0.0;
      for (size_t t = s.first; t < s.ids.size(); ++t)
        sum += t == batch[i].shared ? at_last[i * num_choices + c]
                                    : at_tail[i * len + t - 1 - batch[i].shared];
      out[i][c] = sum;
    }
  }
  for (size_t i = 0; i < batch.size(); ++i)
    for (size_t c = 0; c < batch[i].choices.size(); ++c)
      if (batch[i].same_as[c] >= 0) out[i][c] = out[i][size_t(batch[i].same_as[c])];
  return out;
}

// Record indices by length, longest first: batches of similar records are little padding, and a
// record's scores do not depend on its batch. The longest first: a batch that does not fit the
// device's memory fails at once.
std::vector<size_t> longestFirst(const std::vector<size_t>& lengths) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  return order;
}

EvalResult evaluateLikelihood(LlamaModel& model, const Tokenizer& tok,
                              const std::vector<QaRecord>& records, const EvalOptions& o) {
  EvalResult result;
  size_t correct_norm = 0;
  const size_t max_len = size_t(model->config().max_seq_len);
  const size_t batch_size = std::max<size_t>(1, o.batch_size);
  // Every record's choices on all cores (seconds for thousands of records on one).
  std::vector<RecordChoices> tokenized = parallelMap<RecordChoices>(
      records.size(), [&](size_t r) { return tokenizeChoices(tok, records[r], r, o, max_len); },
      kRecordsPerEncodeThread);
  std::vector<size_t> lengths;
  for (const RecordChoices& rc : tokenized) lengths.push_back(rc.shared + rc.longestTail());
  std::vector<Prediction> predictions(records.size());
  std::vector<RecordChoices> batch;
  std::vector<size_t> rows;               // the batch's record indices
  size_t done = 0, prefix = 0, tail = 0;  // records scored; the batch's padded prompt and tail
  const auto score = [&] {
    std::vector<std::vector<double>> ll = batchLogLikelihoods(model, batch, o.task);
    for (size_t i = 0; i < batch.size(); ++i) {
      const QaRecord& rec = records[rows[i]];
      Prediction p{exampleId(rec, rows[i]), -1, rec.answer, false, {}, -1, ll[i]};
      double best = -INFINITY, best_norm = -INFINITY;
      for (size_t c = 0; c < ll[i].size(); ++c) {
        if (ll[i][c] > best) best = ll[i][c], p.predicted = int(c);
        const double norm = ll[i][c] / double(batch[i].choices[c].bytes);
        if (norm > best_norm) best_norm = norm, p.predicted_norm = int(c);
      }
      p.correct = p.predicted == rec.answer;
      result.correct += p.correct;
      correct_norm += p.predicted_norm == rec.answer;
      predictions[rows[i]] = std::move(p);
    }
    done += batch.size();
    batch.clear();
    rows.clear();
    if (o.progress) o.progress(done, records.size());
  };
  for (size_t r : longestFirst(lengths)) {
    RecordChoices& rc = tokenized[r];
    // A batch's padded prompt and longest tail must fit the model's positions together.
    if (!batch.empty() &&
        (batch.size() == batch_size ||
         std::max(prefix, rc.shared) + std::max(tail, rc.longestTail()) > max_len)) {
      score();
      prefix = tail = 0;
    }
    prefix = std::max(prefix, rc.shared);
    tail = std::max(tail, rc.longestTail());
    batch.push_back(std::move(rc));
    rows.push_back(r);
  }
  if (!batch.empty()) score();
  result.predictions = std::move(predictions);
  if (!records.empty()) result.accuracy_norm = double(correct_norm) / double(records.size());
  return result;
}

// Each record's prompt ids, cut at the front to leave the model room for max_new_tokens.
std::vector<std::vector<int>> generationPrompts(const Tokenizer& tok,
                                                const std::vector<QaRecord>& records,
                                                const EvalOptions& o, int64_t max_seq_len) {
  const size_t room = size_t(std::max<int64_t>(1, max_seq_len - o.max_new_tokens));
  return parallelMap<std::vector<int>>(
      records.size(),
      [&](size_t r) {
        std::vector<int> ids = tok.encode(renderPrompt(records[r], o.prompt), true, false);
        if (ids.size() > room) ids.erase(ids.begin(), ids.begin() + int64_t(ids.size() - room));
        return ids;
      },
      kRecordsPerEncodeThread);
}

EvalResult evaluateGenerate(LlamaModel& model, const Tokenizer& tok,
                            const std::vector<QaRecord>& records, const EvalOptions& o) {
  EvalResult result;
  const LlamaConfig& cfg = model->config();
  const auto device = model->embed.device();
  const size_t group = std::max<size_t>(1, o.batch_size);
  std::vector<std::vector<int>> all_prompts = generationPrompts(tok, records, o, cfg.max_seq_len);
  std::vector<size_t> lengths;
  for (const std::vector<int>& ids : all_prompts) lengths.push_back(ids.size());
  const std::vector<size_t> order = longestFirst(lengths);
  std::vector<Prediction> predictions(records.size());
  for (size_t start = 0; start < records.size(); start += group) {
    const size_t end = std::min(records.size(), start + group), b = end - start;
    const std::vector<size_t> rows(order.begin() + int64_t(start), order.begin() + int64_t(end));
    std::vector<std::vector<int>> prompts;
    size_t len = 0;
    for (size_t r : rows) {
      len = std::max(len, all_prompts[r].size());
      prompts.push_back(std::move(all_prompts[r]));
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
      const QaRecord& rec = records[rows[i]];
      Prediction p;
      p.example_id = exampleId(rec, rows[i]);
      p.generated = tok.decode(out[i]);
      p.predicted = matchAnswerExactlyOnce(p.generated, rec.choices.size());
      p.gold = rec.answer;
      p.correct = p.predicted >= 0 && p.predicted == rec.answer;
      result.correct += p.correct;
      result.unanswered += p.predicted < 0;
      predictions[rows[i]] = std::move(p);
    }
    if (o.progress) o.progress(end, records.size());
  }
  result.predictions = std::move(predictions);
  return result;
}

}  // namespace

std::pair<double, double> wilsonInterval(size_t correct, size_t n) {
  if (n == 0) return {0.0, 0.0};
  return wilsonScoreInterval(double(correct) / double(n), double(n));
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
  // At once, before the records are tokenized (seconds for a large set): the work has begun.
  if (options.progress) options.progress(0, records.size());
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

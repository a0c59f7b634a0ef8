// SPDX-License-Identifier: GPL-3.0-or-later
// A study's results: gathering them from the store, the statistics, the tables.
#include "study/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include "experiment/experiment_config.h"
#include "study/study_spec.h"
#include "text.h"
#include "train/training_observer.h"

namespace mola {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

StudyRunResult readResult(const RunStore& store, const QueueItem& item, std::string& benchmark,
                          int64_t& eval_n) {
  StudyRunResult r{
      item.id, item.run, item.variant, item.seed, queueStateName(item.state), kNaN, kNaN,
      0,       0,        kNaN};
  if (item.run == 0) return r;
  const RunRecord run = store.run(item.run);
  r.state = runStatusName(run.status);
  std::vector<double> speeds;
  for (const MetricPoint& p : store.metrics(item.run, "tokens_per_s")) speeds.push_back(p.value);
  r.tokens_per_s = median(speeds);
  const std::vector<EvalScore> scores = store.evalScores(item.run);
  // The study's benchmark is its first scored run's (a multi-task run's mean of its tasks).
  if (benchmark.empty()) benchmark = primaryBenchmark(scores, evaluatedBenchmarkOf(run));
  for (const EvalScore& e : scores) {
    if (e.benchmark != benchmark || !std::isfinite(e.accuracy)) continue;
    if (eval_n == 0) eval_n = e.n;
    if (e.step >= r.final_step) r.final_step = e.step, r.final_accuracy = e.accuracy;
    if (std::isnan(r.best_accuracy) || e.accuracy > r.best_accuracy)
      r.best_step = e.step, r.best_accuracy = e.accuracy;
  }
  return r;
}

// The trainable parameters of a configuration; -1 when the model cannot be probed.
int64_t parametersOf(const ExperimentConfig& config) {
  try {
    return adapterParameters(config).value_or(-1);
  } catch (const std::exception&) {
    return -1;
  }
}

void summarizeVariant(VariantSummary& v, const StudySummary& s,
                      const std::map<int64_t, const StudyRunResult*>& baseline_by_seed) {
  std::vector<double> finals, bests, speeds, pf_a, pf_b, pb_a, pb_b;
  for (const StudyRunResult& r : s.runs) {
    if (r.variant != v.name || r.state == "cancelled") continue;
    ++v.planned;
    if (r.state != "completed") continue;
    ++v.completed;
    if (std::isfinite(r.final_accuracy)) finals.push_back(r.final_accuracy);
    if (std::isfinite(r.best_accuracy)) bests.push_back(r.best_accuracy);
    if (std::isfinite(r.tokens_per_s)) speeds.push_back(r.tokens_per_s);
    const auto b = baseline_by_seed.find(r.seed);
    if (b == baseline_by_seed.end() || !std::isfinite(r.final_accuracy)) continue;
    pf_a.push_back(r.final_accuracy), pf_b.push_back(b->second->final_accuracy);
    pb_a.push_back(r.best_accuracy), pb_b.push_back(b->second->best_accuracy);
  }
  // Accuracies live in [0, 1]; a t-interval over few seeds can reach past them.
  const auto bounded = [](MeanInterval m) {
    if (std::isfinite(m.low)) m.low = std::max(0.0, m.low), m.high = std::min(1.0, m.high);
    return m;
  };
  v.final_accuracy = bounded(meanInterval(finals));
  v.best_accuracy = bounded(meanInterval(bests));
  v.tokens_per_s = meanInterval(speeds);
  if (v.name != s.baseline) {
    v.final_vs_baseline = pairedTTest(pf_a, pf_b);
    v.best_vs_baseline = pairedTTest(pb_a, pb_b);
  }
}

}  // namespace

StudySummary summarizeStudy(const RunStore& store, int64_t id, const std::string& baseline) {
  StudySummary s;
  s.study = store.study(id);
  s.baseline = baseline.empty() ? s.study.baseline : baseline;
  std::map<std::string, size_t> index;
  for (const QueueItem& item : store.queueItems(id)) {
    s.runs.push_back(readResult(store, item, s.benchmark, s.eval_n));
    if (index.count(item.variant)) continue;
    index[item.variant] = s.variants.size();
    VariantSummary v;
    v.name = item.variant;
    v.allocation = item.allocation;
    std::optional<ExperimentConfig> config;
    try {
      config = parseExperiment(item.config_json);
    } catch (const std::exception&) {
      // A stored document this program cannot read: the variant still shows its runs.
    }
    v.method = config ? config->method : "?";
    v.parameters = config ? parametersOf(*config) : -1;
    s.variants.push_back(std::move(v));
  }
  if (!index.count(s.baseline)) {
    std::string names;
    for (const VariantSummary& v : s.variants) names += (names.empty() ? "" : ", ") + v.name;
    throw StoreError(store.path().string() + ": study " + std::to_string(id) + " has no variant '" +
                     s.baseline + "' (its variants: " + names + ")");
  }
  std::map<int64_t, const StudyRunResult*> baseline_by_seed;
  for (const StudyRunResult& r : s.runs)
    if (r.variant == s.baseline && r.state == "completed" && std::isfinite(r.final_accuracy))
      baseline_by_seed[r.seed] = &r;
  for (VariantSummary& v : s.variants) summarizeVariant(v, s, baseline_by_seed);
  return s;
}

RouterStatsSnapshot meanSnapshot(const std::vector<RouterStatsSnapshot>& snapshots) {
  RouterStatsSnapshot mean;
  std::map<int, std::pair<LayerRouterStats, int>> layers;  // layer -> sums, count
  for (const RouterStatsSnapshot& s : snapshots) {
    mean.step = std::max(mean.step, s.step);
    for (const LayerRouterStats& l : s.layers) {
      auto& [sum, n] = layers[l.layer];
      sum.layer = l.layer;
      sum.tokens += l.tokens;
      const auto add = [](std::vector<double>& into, const std::vector<double>& v) {
        if (into.size() < v.size()) into.resize(v.size(), 0.0);
        for (size_t i = 0; i < v.size(); ++i) into[i] += v[i];
      };
      add(sum.token_fraction, l.token_fraction);
      add(sum.mean_probability, l.mean_probability);
      sum.entropy += l.entropy;
      sum.normalized_entropy += l.normalized_entropy;
      sum.load_cv += l.load_cv;
      ++n;
    }
  }
  for (auto& [layer, entry] : layers) {
    auto& [sum, n] = entry;
    for (double& v : sum.token_fraction) v /= n;
    for (double& v : sum.mean_probability) v /= n;
    sum.entropy /= n;
    sum.normalized_entropy /= n;
    sum.load_cv /= n;
    mean.layers.push_back(sum);
  }
  return mean;
}

std::vector<VariantRouting> variantRouting(const RunStore& store, const StudySummary& summary) {
  std::vector<VariantRouting> out;
  for (const VariantSummary& v : summary.variants) {
    std::vector<RouterStatsSnapshot> last;
    for (const StudyRunResult& r : summary.runs) {
      if (r.variant != v.name || r.state != "completed") continue;
      if (std::optional<RouterStatsSnapshot> snap = store.lastRouterStats(r.run))
        last.push_back(std::move(*snap));
    }
    out.push_back({v.name, v.allocation, meanSnapshot(last), static_cast<int>(last.size())});
  }
  return out;
}

namespace {

std::string fixed(double v, int digits = 3) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string signedFixed(double v, int digits = 3) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.*f", digits, v);
  return buf;
}

std::string pValue(double p) {
  if (!std::isfinite(p)) return "-";
  if (p < 0.001) return "<0.001";
  return fixed(p, 3);
}

// "0.652 (0.551-0.753)"; the bare mean when the interval is unknown.
std::string withInterval(const MeanInterval& m, int digits = 3) {
  if (m.n == 0) return "-";
  if (!std::isfinite(m.low)) return fixed(m.mean, digits);
  return fixed(m.mean, digits) + " (" + fixed(m.low, digits) + "-" + fixed(m.high, digits) + ")";
}

std::string signedInterval(const MeanInterval& m) {
  if (m.n == 0) return "-";
  if (!std::isfinite(m.low)) return signedFixed(m.mean);
  return signedFixed(m.mean) + " (" + signedFixed(m.low) + ", " + signedFixed(m.high) + ")";
}

std::string count(int64_t n) {
  return n < 0 ? "?" : thousands(n);
}

}  // namespace

std::vector<std::string> studyTableHeader(const StudySummary& s) {
  return {"variant",
          "seeds",
          "final accuracy (95% CI)",
          "best accuracy (95% CI)",
          "params",
          "tokens/s",
          "final vs " + s.baseline + " (95% CI)",
          "p"};
}

std::vector<std::vector<std::string>> studyTableRows(const StudySummary& s) {
  std::vector<std::vector<std::string>> out;
  for (const VariantSummary& v : s.variants) {
    const bool base = v.name == s.baseline;
    out.push_back({v.name, std::to_string(v.completed) + "/" + std::to_string(v.planned),
                   withInterval(v.final_accuracy), withInterval(v.best_accuracy),
                   count(v.parameters), fixed(v.tokens_per_s.mean, 0),
                   base ? "(baseline)" : signedInterval(v.final_vs_baseline->difference),
                   base ? "" : pValue(v.final_vs_baseline->p)});
  }
  return out;
}

namespace {

std::string textTable(const StudySummary& s) {
  const std::vector<std::string> head = studyTableHeader(s);
  const std::vector<std::vector<std::string>> body = studyTableRows(s);
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& r : body) width[c] = std::max(width[c], displayWidth(r[c]));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      out += cells[c] + std::string(width[c] - displayWidth(cells[c]), ' ');
      out += c + 1 < cells.size() ? "  " : "";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(head);
  for (const auto& r : body) out += line(r);
  return out;
}

std::string csvTable(const StudySummary& s) {
  std::string out =
      "variant,method,allocation,completed,planned,final_mean,final_low,final_high,final_sd,"
      "best_mean,best_low,best_high,best_sd,parameters,tokens_per_s,final_diff,final_diff_low,"
      "final_diff_high,final_p,best_diff,best_diff_low,best_diff_high,best_p,baseline\n";
  for (const VariantSummary& v : s.variants) {
    const auto num = [](double x) { return std::isfinite(x) ? csvNumber(x) : std::string(); };
    const auto interval = [&](const MeanInterval& m) {
      return num(m.mean) + "," + num(m.low) + "," + num(m.high) + "," + num(m.sd);
    };
    const auto paired = [&](const std::optional<PairedTest>& t) {
      if (!t) return std::string(",,,");
      return num(t->difference.mean) + "," + num(t->difference.low) + "," +
             num(t->difference.high) + "," + num(t->p);
    };
    out += csvField(v.name) + "," + csvField(v.method) + "," + csvField(v.allocation) + "," +
           std::to_string(v.completed) + "," + std::to_string(v.planned) + "," +
           interval(v.final_accuracy) + "," + interval(v.best_accuracy) + "," +
           (v.parameters < 0 ? "" : std::to_string(v.parameters)) + "," + num(v.tokens_per_s.mean) +
           "," + paired(v.final_vs_baseline) + "," + paired(v.best_vs_baseline) + "," +
           csvField(s.baseline) + "\n";
  }
  return out;
}

std::string latexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("&%$#_{}").find(c) != std::string::npos) out += '\\';
    if (c == '~' || c == '^' || c == '\\') {
      out += c == '~'   ? "\\textasciitilde{}"
             : c == '^' ? "\\textasciicircum{}"
                        : "\\textbackslash{}";
      continue;
    }
    out += c;
  }
  return out;
}

std::string latexTable(const StudySummary& s) {
  std::string out = "% mola study show " + std::to_string(s.study.id) +
                    " --latex (needs \\usepackage{booktabs})\n"
                    "\\begin{tabular}{lrllrrlr}\n\\toprule\n";
  std::vector<std::string> head = studyTableHeader(s);
  for (size_t c = 0; c < head.size(); ++c)
    out += latexEscape(head[c]) + (c + 1 < head.size() ? " & " : " \\\\\n\\midrule\n");
  for (const auto& r : studyTableRows(s))
    for (size_t c = 0; c < r.size(); ++c)
      out += latexEscape(r[c]) + (c + 1 < r.size() ? " & " : " \\\\\n");
  return out + "\\bottomrule\n\\end{tabular}\n";
}

std::string markdownTable(const StudySummary& s) {
  const auto line = [](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const std::string& c : cells) {
      std::string escaped;
      for (char ch : c) escaped += ch == '|' ? std::string("\\|") : std::string(1, ch);
      out += " " + escaped + " |";
    }
    return out + "\n";
  };
  std::string out = line(studyTableHeader(s));
  out += "|---|---:|---|---|---:|---:|---|---:|\n";
  for (const auto& r : studyTableRows(s)) out += line(r);
  return out;
}

}  // namespace

std::string studyTable(const StudySummary& s, TableFormat format) {
  switch (format) {
    case TableFormat::Csv:
      return csvTable(s);
    case TableFormat::Latex:
      return latexTable(s);
    case TableFormat::Markdown:
      return markdownTable(s);
    case TableFormat::Text:
      break;
  }
  return textTable(s);
}

std::string studyRunsTable(const StudySummary& s) {
  std::string out = "variant                  seed    run  state        final   best (step)\n";
  for (const StudyRunResult& r : s.runs) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-24s %4lld  %5s  %-11s  %5s   %5s (%s)\n",
                  printableText(r.variant).c_str(), static_cast<long long>(r.seed),
                  r.run ? std::to_string(r.run).c_str() : "-", r.state.c_str(),
                  fixed(r.final_accuracy).c_str(), fixed(r.best_accuracy).c_str(),
                  r.run ? std::to_string(r.best_step).c_str() : "-");
    out += buf;
  }
  return out;
}

}  // namespace mola

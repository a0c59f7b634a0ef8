// SPDX-License-Identifier: GPL-3.0-or-later
// A study's report from a real run store: which runs count, the figures against hand-computed
// ones, the averaged routing, and the four table formats.
#include "study/study_report.h"

#include <gtest/gtest.h>

#include <cmath>

#include "shared_data.h"
#include "store/run_store.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

// t_{0.975} with 1 and 2 degrees of freedom.
constexpr double kT1 = 12.706204736174698, kT2 = 4.302652729749464;

QueuedRun item(const std::string& variant, int64_t seed, const std::string& alloc) {
  return {variant,
          seed,
          variant + "/" + std::to_string(seed),
          R"({"model": {"path": "builtin:tiny"}, "data": {"train": {"path": "synthetic:largest"}},
              "adapter": {"allocation": ")" +
              alloc + R"("}})",
          alloc,
          "builtin:tiny"};
}

void score(RunStore& store, int64_t run, int64_t step, double accuracy,
           const std::string& benchmark = "bench") {
  EvalScore s;
  s.step = step;
  s.benchmark = benchmark;
  s.protocol = "likelihood";
  s.accuracy = accuracy;
  s.n = 100;
  store.addEvalScore(run, s);
}

// Study "s": variants a (2,2,2,2) and b (1,2,3,4... as 2,2,3,3), seeds 1-3. Run results:
//   a: seed 1 final 0.50 (best 0.60 at step 5), seed 2 0.55, seed 3 0.65
//   b: seed 1 0.60, seed 2 0.70, seed 3 interrupted (left out)
// plus a cancelled item c.
struct Fixture {
  RunStore store;
  int64_t study = 0;
  // Each test its own folder: ctest runs the tests of this file side by side.
  Fixture()
      : store(RunStore::open(
            test::tempDir(std::string("study_report_") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name()) /
            "runs.sqlite")) {
    study =
        store
            .addStudy("s", "{}", "a",
                      {item("a", 1, "2,2,2,2"), item("a", 2, "2,2,2,2"), item("a", 3, "2,2,2,2"),
                       item("b", 1, "2,2,3,3"), item("b", 2, "2,2,3,3"), item("b", 3, "2,2,3,3"),
                       item("c", 1, "2,2,2,2")})
            .id;
    store.cancelQueued(store.queueItems(study).back().id);
    const double finals[] = {0.50, 0.55, 0.65, 0.60, 0.70, 0.90};
    for (int i = 0; i < 6; ++i) {
      const int64_t run = store.startNextQueued(study)->second;
      if (i == 0) score(store, run, 5, 0.60);
      score(store, run, 10, finals[i]);
      score(store, run, 10, 0.99, "other");  // another benchmark: not this study's figure
      store.addMetrics(run, {{1, "tokens_per_s", 100.0 + i},
                             {2, "tokens_per_s", 300.0 + i},
                             {3, "tokens_per_s", 200.0 + i}});
      store.setStatus(run, i == 5 ? RunStatus::Interrupted : RunStatus::Completed);
    }
  }
};

TEST(StudyReport, FiguresMatchHandComputedOnes) {
  Fixture f;
  const StudySummary s = summarizeStudy(f.store, f.study);
  EXPECT_EQ(s.baseline, "a");
  EXPECT_EQ(s.benchmark, "bench");
  EXPECT_EQ(s.eval_n, 100);
  ASSERT_EQ(s.variants.size(), 3u);
  const VariantSummary& a = s.variants[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.allocation, "2,2,2,2");
  EXPECT_EQ(a.planned, 3);
  EXPECT_EQ(a.completed, 3);
  // a's finals 0.50, 0.55, 0.65: mean 0.5667, sd 0.076376.
  EXPECT_NEAR(a.final_accuracy.mean, (0.50 + 0.55 + 0.65) / 3, 1e-12);
  const double sd =
      std::sqrt((std::pow(0.50 - 0.56666666666666667, 2) + std::pow(0.55 - 0.56666666666666667, 2) +
                 std::pow(0.65 - 0.56666666666666667, 2)) /
                2);
  EXPECT_NEAR(a.final_accuracy.high - a.final_accuracy.mean, kT2 * sd / std::sqrt(3.0), 1e-10);
  // Best: seed 1's 0.60 at step 5.
  EXPECT_NEAR(a.best_accuracy.mean, (0.60 + 0.55 + 0.65) / 3, 1e-12);
  // Tokens/s: each run's median (300 + i, 200 + i, 100 + i -> 200 + i), then the mean.
  EXPECT_NEAR(a.tokens_per_s.mean, 201.0, 1e-12);
  EXPECT_FALSE(a.final_vs_baseline.has_value());
  // b: the interrupted seed 3 is left out; paired with a on seeds 1 and 2:
  // differences 0.10 and 0.15, mean 0.125, sd 0.035355, t = 0.125 / (0.035355 / sqrt 2) = 5.
  const VariantSummary& b = s.variants[1];
  EXPECT_EQ(b.planned, 3);
  EXPECT_EQ(b.completed, 2);
  EXPECT_NEAR(b.final_accuracy.mean, 0.65, 1e-12);
  ASSERT_TRUE(b.final_vs_baseline.has_value());
  EXPECT_EQ(b.final_vs_baseline->difference.n, 2);
  EXPECT_NEAR(b.final_vs_baseline->difference.mean, 0.125, 1e-12);
  EXPECT_NEAR(b.final_vs_baseline->t, 5.0, 1e-9);
  EXPECT_NEAR(b.final_vs_baseline->difference.high - 0.125,
              kT1 * std::sqrt(0.00125) / std::sqrt(2.0), 1e-9);
  // The cancelled variant: planned 0, nothing to show.
  EXPECT_EQ(s.variants[2].planned, 0);
  EXPECT_EQ(s.variants[2].final_accuracy.n, 0);
  EXPECT_EQ(s.runs.size(), 7u);
  EXPECT_EQ(s.runs.back().state, "cancelled");
  EXPECT_EQ(s.runs[5].state, "interrupted");
  // Another baseline; an unknown one names the variants.
  const StudySummary by_b = summarizeStudy(f.store, f.study, "b");
  EXPECT_NEAR(by_b.variants[0].final_vs_baseline->difference.mean, -0.125, 1e-12);
  try {
    summarizeStudy(f.store, f.study, "z");
    ADD_FAILURE() << "no error for an unknown baseline";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("no variant 'z' (its variants: a, b, c)"),
              std::string::npos)
        << e.what();
  }
}

TEST(StudyReport, MeanSnapshotAveragesEachLayerByHand) {
  LayerRouterStats l0{0, 10, {0.5, 0.5}, {0.4, 0.6}, 0.6, 0.8, 0.0};
  LayerRouterStats l0b{0, 30, {0.9, 0.1}, {0.8, 0.2}, 0.2, 0.4, 0.8};
  LayerRouterStats l2{2, 20, {0.2, 0.3, 0.5}, {0.3, 0.3, 0.4}, 1.0, 0.9, 0.4};
  const RouterStatsSnapshot mean = meanSnapshot({{10, {l0, l2}}, {12, {l0b}}});
  EXPECT_EQ(mean.step, 12);
  ASSERT_EQ(mean.layers.size(), 2u);
  EXPECT_EQ(mean.layers[0].layer, 0);
  EXPECT_EQ(mean.layers[0].tokens, 40);
  EXPECT_NEAR(mean.layers[0].token_fraction[0], 0.7, 1e-12);
  EXPECT_NEAR(mean.layers[0].token_fraction[1], 0.3, 1e-12);
  EXPECT_NEAR(mean.layers[0].mean_probability[1], 0.4, 1e-12);
  EXPECT_NEAR(mean.layers[0].entropy, 0.4, 1e-12);
  EXPECT_NEAR(mean.layers[0].normalized_entropy, 0.6, 1e-12);
  EXPECT_NEAR(mean.layers[0].load_cv, 0.4, 1e-12);
  // Layer 2 was in one snapshot only: its own values.
  EXPECT_EQ(mean.layers[1].layer, 2);
  EXPECT_NEAR(mean.layers[1].token_fraction[2], 0.5, 1e-12);
  EXPECT_TRUE(meanSnapshot({}).layers.empty());
}

TEST(StudyReport, TablesInEveryFormat) {
  Fixture f;
  const StudySummary s = summarizeStudy(f.store, f.study);
  const std::string text = studyTable(s, TableFormat::Text);
  EXPECT_NE(text.find("final vs a (95% CI)"), std::string::npos) << text;
  EXPECT_NE(text.find("(baseline)"), std::string::npos) << text;
  EXPECT_NE(text.find("+0.125"), std::string::npos) << text;
  const std::string csv = studyTable(s, TableFormat::Csv);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "variant,method,allocation,completed,planned,final_mean,final_low,final_high,final_sd,"
            "best_mean,best_low,best_high,best_sd,parameters,tokens_per_s,final_diff,"
            "final_diff_low,final_diff_high,final_p,best_diff,best_diff_low,best_diff_high,best_p,"
            "baseline");
  EXPECT_NE(csv.find("\nb,mola,\"2,2,3,3\",2,3,0.6499999999999999,"), std::string::npos) << csv;
  // Accuracy intervals stay within [0, 1]: b's t-interval with 1 degree of freedom reaches 1.285.
  EXPECT_NE(csv.find(",0.6499999999999999,0.014689763191266358,1,"), std::string::npos) << csv;
  const std::string latex = studyTable(s, TableFormat::Latex);
  EXPECT_NE(latex.find("\\begin{tabular}{lrllrrlr}"), std::string::npos);
  EXPECT_NE(latex.find("final vs a (95\\% CI)"), std::string::npos) << latex;
  EXPECT_NE(latex.find("\\bottomrule"), std::string::npos);
  const std::string md = studyTable(s, TableFormat::Markdown);
  EXPECT_NE(md.find("| b | 2/3 | 0.650 (0.015-1.000) |"), std::string::npos) << md;
  const std::string runs = studyRunsTable(s);
  EXPECT_NE(runs.find("interrupted"), std::string::npos) << runs;
  EXPECT_NE(runs.find("cancelled"), std::string::npos) << runs;
}

}  // namespace
}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// End-to-end tests of `mola bench`: the JSON report's layout and figures, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "cli_runner.h"
#include "model/model_shape.h"

namespace {

namespace fs = std::filesystem;
using mola::test::has;
using mola::test::Result;
using mola::test::run;

nlohmann::json readJson(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

const nlohmann::json& variant(const nlohmann::json& doc, const std::string& name) {
  for (const auto& v : doc.at("variants"))
    if (v.at("name") == name) return v;
  throw std::runtime_error("no variant " + name);
}

std::vector<mola::TargetModule> all() {
  return {std::begin(mola::kAllTargetModules), std::end(mola::kAllTargetModules)};
}

TEST(CliBench, TinyShapeReportsEveryVariantWithItsParameterCount) {
  const fs::path dir = mola::test::tempDir("cli_bench_tiny");
  const fs::path file = dir / "bench.json";
  const Result r =
      run("bench --shape tiny --seq 32 --batch 2 --steps 2 --warmup 1 --json " + file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json doc = readJson(file);

  for (const char* key : {"cpu", "cores", "threads", "torch", "blas", "device"})
    EXPECT_TRUE(doc.at("machine").contains(key)) << key;
  EXPECT_EQ(doc.at("machine").at("device"), "cpu");
  EXPECT_GE(doc.at("machine").at("cores").get<int>(), 1);
  const nlohmann::json& shape = doc.at("shape");
  EXPECT_EQ(shape.at("num_layers"), 4);
  EXPECT_EQ(shape.at("d_model"), 128);
  EXPECT_EQ(shape.at("seq"), 32);
  EXPECT_EQ(shape.at("batch"), 2);

  std::vector<std::string> names;
  for (const auto& v : doc.at("variants")) {
    names.push_back(v.at("name"));
    EXPECT_GT(v.at("tokens_per_s").get<double>(), 0.0) << v;
    EXPECT_GT(v.at("ms_per_step").get<double>(), 0.0) << v;
    EXPECT_GT(v.at("peak_mem_mb").get<double>(), 0.0) << v;
    // tokens/s is batch * seq over the median step time.
    EXPECT_NEAR(v.at("tokens_per_s").get<double>() * v.at("ms_per_step").get<double>() / 1000.0,
                64.0, 1e-6)
        << v;
    EXPECT_EQ(v.at("step_ms").size(), size_t(2)) << v;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"base", "lora-r8", "lora-equal", "mola-2468",
                                             "mola-2468-loop", "mola-8888"}));

  const mola::ModelShape tiny = *mola::ModelShape::named("tiny");
  const auto count = [&](const char* alloc, int rank) {
    return mola::countTrainableParameters(mola::Allocation::parse(alloc, 4), tiny, rank, all())
        .total();
  };
  EXPECT_EQ(variant(doc, "base").at("trainable_params"), 0);
  EXPECT_EQ(variant(doc, "lora-r8").at("trainable_params"), count("1", 8));
  EXPECT_EQ(variant(doc, "mola-2468").at("trainable_params"), count("2-4-6-8", 8));
  EXPECT_EQ(variant(doc, "mola-2468-loop").at("trainable_params"), count("2-4-6-8", 8));
  EXPECT_EQ(variant(doc, "mola-8888").at("trainable_params"), count("8", 8));
  // By hand, tiny (d 128, ffn 344): one expert of rank 8 on the seven projections of a layer costs
  // 8 * (4 * (128 + 128) + 3 * (128 + 344)) = 19,520; a router 6 * 128 + 344 = 1,112 per expert.
  // 2-4-6-8 has 20 experts: 20 * 19,520 + 20 * 1,112 = 412,640. LoRA r8: 4 * 19,520 = 78,080.
  // lora-equal: rank 42 gives 409,920 (2,720 short); rank 43 would give 419,680 (7,040 over).
  EXPECT_EQ(variant(doc, "mola-2468").at("trainable_params"), 412640);
  EXPECT_EQ(variant(doc, "lora-r8").at("trainable_params"), 78080);
  EXPECT_EQ(variant(doc, "lora-equal").at("trainable_params"), 409920);
  EXPECT_EQ(doc.at("lora_equal_rank"), 42);

  // Four ratios, each with its target and a verdict; the table says the same.
  ASSERT_EQ(doc.at("ratios").size(), size_t(4));
  for (const auto& q : doc.at("ratios")) {
    EXPECT_TRUE(q.at("pass").is_boolean()) << q;
    EXPECT_GT(q.at("value").get<double>(), 0.0) << q;
  }
  const auto& time_ratio = doc.at("ratios").at(0);
  EXPECT_NEAR(time_ratio.at("value").get<double>(),
              variant(doc, "mola-2468").at("ms_per_step").get<double>() /
                  variant(doc, "lora-equal").at("ms_per_step").get<double>(),
              1e-9);
  EXPECT_TRUE(has(r.out, "mola-2468 / lora-equal step time")) << r.out;
  EXPECT_TRUE(has(r.out, ">= 1.50")) << r.out;
  EXPECT_TRUE(has(r.out, "PASS") || has(r.out, "FAIL")) << r.out;
  EXPECT_TRUE(has(r.err, "[6/6] mola-8888")) << "a progress line per variant: " << r.err;
}

TEST(CliBench, ConfigFileShapeAndVariantSubset) {
  const fs::path dir = mola::test::tempDir("cli_bench_config");
  const fs::path config = dir / "config.json";
  std::ofstream(config) << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32,
    "intermediate_size": 88, "num_hidden_layers": 4, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 64})";
  const fs::path file = dir / "bench.json";
  const Result r = run("bench --shape " + config.string() +
                       " --variants mola-2468,base --seq 8 --batch 1 --steps 1 --warmup 0 "
                       "--peak-tflops 0.002 --json " +
                       file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json doc = readJson(file);
  ASSERT_EQ(doc.at("variants").size(), size_t(2));
  EXPECT_EQ(doc.at("variants").at(0).at("name"), "mola-2468");
  EXPECT_EQ(doc.at("shape").at("num_kv_heads"), 2);
  mola::ModelShape shape{4, 32, 88, 4, 2, 8, 300};
  EXPECT_EQ(variant(doc, "mola-2468").at("trainable_params"),
            mola::countTrainableParameters(mola::Allocation::parse("2-4-6-8", 4), shape, 8, all())
                .total());
  // Model TFLOP/s from 4 x the base parameters per token; MFU against the peak given.
  const double flops = 4.0 * double(mola::countBaseParameters(shape));
  EXPECT_DOUBLE_EQ(doc.at("flops_per_token").get<double>(), flops);
  EXPECT_EQ(doc.at("peak_tflops"), 0.002);
  for (const auto& v : doc.at("variants")) {
    const double tflops = v.at("tokens_per_s").get<double>() * flops / 1e12;
    EXPECT_NEAR(v.at("model_tflops").get<double>(), tflops, 1e-12 * tflops) << v;
    EXPECT_NEAR(v.at("mfu").get<double>(), tflops / 0.002, 1e-9) << v;
    EXPECT_EQ(v.at("cuda_graph"), false) << v;
  }
  EXPECT_TRUE(has(r.out, "MFU against 0.002 TFLOP/s")) << r.out;
  // Ratios whose variants were not run are reported as not measured, not as failures.
  EXPECT_TRUE(doc.at("ratios").at(0).at("value").is_null());
  EXPECT_TRUE(has(r.out, "not measured")) << r.out;
  EXPECT_TRUE(has(r.out, "mola-2468 / base step time")) << r.out;
}

// --nproc 2: each variant again as two ranks over Gloo, each with its own batch; the report gives
// both rates and their ratio as the scaling efficiency.
TEST(CliBench, TwoRanksReportTheirScalingEfficiency) {
  const fs::path dir = mola::test::tempDir("cli_bench_nproc");
  const fs::path file = dir / "bench.json";
  const Result r =
      run("bench --shape tiny --variants lora-r8,mola-2468 --seq 16 --batch 2 "
          "--steps 2 --warmup 1 --threads 1 --torch-threads 1 --nproc 2 --json " +
          file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "data-parallel scaling: 2 ranks, each with 1 thread")) << r.out;
  const nlohmann::json doc = readJson(file);
  ASSERT_EQ(doc.at("scaling").size(), size_t(2));
  for (size_t i = 0; i < 2; ++i) {
    const nlohmann::json& s = doc.at("scaling").at(i);
    EXPECT_EQ(s.at("name"), doc.at("variants").at(i).at("name"));
    EXPECT_EQ(s.at("processes"), 2);
    EXPECT_DOUBLE_EQ(s.at("tokens_per_s_1").get<double>(),
                     doc.at("variants").at(i).at("tokens_per_s").get<double>());
    const double n = s.at("tokens_per_s_n").get<double>();
    // Two ranks' tokens over the median step time of rank 0.
    EXPECT_NEAR(n, 2 * 2 * 16 / (s.at("ms_per_step_n").get<double>() / 1000.0), 1e-6 * n);
    EXPECT_NEAR(s.at("efficiency").get<double>(), n / (2.0 * s.at("tokens_per_s_1").get<double>()),
                1e-12);
    EXPECT_GT(s.at("efficiency").get<double>(), 0.0);
  }
}

TEST(CliBench, Bf16CheckpointingAndThreadSettingsAreAppliedAndReported) {
  const fs::path dir = mola::test::tempDir("cli_bench_bf16");
  const fs::path config = dir / "config.json";
  std::ofstream(config) << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32,
    "intermediate_size": 88, "num_hidden_layers": 4, "num_attention_heads": 4,
    "vocab_size": 300, "max_position_embeddings": 64})";
  const fs::path file = dir / "bench.json";
  const Result r = run("bench --shape " + config.string() +
                       " --variants mola-2468 --dtype bf16 --threads 2 --torch-threads 1 "
                       "--activation-checkpointing on --seq 8 "
                       "--batch 1 --steps 1 --warmup 0 --json " +
                       file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "device cpu, bf16, activation checkpointing")) << r.out;
  const nlohmann::json doc = readJson(file);
  EXPECT_EQ(doc.at("shape").at("dtype"), "bf16");
  EXPECT_EQ(doc.at("shape").at("activation_checkpointing"), true);
  const nlohmann::json& v = variant(doc, "mola-2468");
  EXPECT_TRUE(std::isfinite(v.at("final_loss").get<double>())) << v;
  // Two threads for OpenBLAS and one for LibTorch, as asked; without OpenBLAS LibTorch would
  // have them and OpenBLAS's count is 0.
  const nlohmann::json& machine = doc.at("machine");
  EXPECT_EQ(machine.at("threads"), 1);
  const bool openblas = has(machine.at("blas").get<std::string>(), "OpenBLAS");
  EXPECT_EQ(machine.at("openblas_num_threads"), openblas ? 2 : 0) << machine;
}

// --profile counts one training step's operators and host syncs per variant: the fast paths
// make none (the per-expert loop, which asks nonzero() which tokens chose each expert, shows the
// counter sees them), and the report carries the issue's goals.
TEST(CliBench, ProfileCountsOperatorsAndNoHostSyncInAStep) {
  const fs::path dir = mola::test::tempDir("cli_bench_profile");
  const fs::path file = dir / "bench.json";
  const Result r =
      run("bench --shape tiny --variants lora-r8,mola-2468,mola-2468-loop --seq 16 --batch 2 "
          "--steps 1 --warmup 0 --profile --json " +
          file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "per training step (LibTorch's RecordFunction")) << r.out;
  EXPECT_TRUE(has(r.out, "host syncs in a mola-2468 step: 0 (target 0) PASS")) << r.out;
  const nlohmann::json doc = readJson(file);
  for (const char* name : {"lora-r8", "mola-2468"}) {
    const nlohmann::json& p = variant(doc, name).at("profile");
    EXPECT_EQ(p.at("syncs"), 0) << name << ": " << p.dump();
    EXPECT_GT(p.at("kernels").get<int64_t>(), 50) << name;
    EXPECT_LE(p.at("kernels").get<int64_t>(), p.at("ops").get<int64_t>()) << name;
    EXPECT_LE(p.at("leaf_ops").get<int64_t>(), p.at("ops").get<int64_t>()) << name;
    int64_t by_operator = 0;
    for (const auto& [op, count] : p.at("kernel_ops").items()) by_operator += count.get<int64_t>();
    EXPECT_EQ(by_operator, p.at("kernels").get<int64_t>()) << name;
    EXPECT_EQ(p.at("forward_kernels").get<int64_t>() + p.at("backward_kernels").get<int64_t>() +
                  p.at("optimizer_kernels").get<int64_t>(),
              p.at("kernels").get<int64_t>())
        << name;
    EXPECT_GT(p.at("optimizer_kernels").get<int64_t>(), 0) << name;
  }
  // The fast path's routing is one operator per fused group each way, forward and backward.
  const nlohmann::json& fused = variant(doc, "mola-2468").at("profile").at("kernel_ops");
  EXPECT_GT(fused.value("mola::route", 0), 0) << fused.dump();
  EXPECT_EQ(fused.value("mola::route", 0), fused.value("mola::route_backward", -1));
  EXPECT_EQ(fused.value("mola::router_sums", 0), 1) << fused.dump();
  EXPECT_TRUE(has(r.out, "mola-2468's kernels beyond lora-r8's, by operator")) << r.out;
  const nlohmann::json& loop = variant(doc, "mola-2468-loop").at("profile");
  EXPECT_GT(loop.at("syncs").get<int64_t>(), 0) << loop.dump();
  EXPECT_GT(loop.at("sync_ops").at("aten::nonzero").get<int64_t>(), 0) << loop.dump();
  ASSERT_EQ(doc.at("profile_goals").size(), 2u);
  EXPECT_EQ(doc.at("profile_goals")[1].at("name"), "mola_syncs_per_step");
  EXPECT_EQ(doc.at("profile_goals")[1].at("pass"), true);
  const auto kernels = [&](const char* name) {
    return double(variant(doc, name).at("profile").at("kernels").get<int64_t>());
  };
  const double ratio = kernels("mola-2468") / kernels("lora-r8");
  EXPECT_DOUBLE_EQ(doc.at("profile_goals")[0].at("value").get<double>(), ratio);
}

// A variant whose worker dies (killed here as the out-of-memory killer would) is reported as
// failed; the others are still measured and written, and the exit status says that one failed.
TEST(CliBench, AVariantThatFailsLeavesTheOthersMeasured) {
  const fs::path dir = mola::test::tempDir("cli_bench_failed");
  const fs::path file = dir / "bench.json";
  const Result r =
      run("bench --shape tiny --seq 8 --batch 1 --steps 1 --warmup 0 "
          "--variants base,lora-r8,mola-2468 --json " +
              file.string(),
          "MOLA_FAULT_INJECT=bench.lora-r8");
  EXPECT_EQ(r.code, 1) << r.err;
  const nlohmann::json doc = readJson(file);
  ASSERT_EQ(doc.at("variants").size(), size_t(2));
  EXPECT_EQ(doc.at("variants").at(0).at("name"), "base");
  EXPECT_EQ(doc.at("variants").at(1).at("name"), "mola-2468");
  ASSERT_EQ(doc.at("failed").size(), size_t(1));
  EXPECT_EQ(doc.at("failed").at(0).at("name"), "lora-r8");
  EXPECT_TRUE(has(doc.at("failed").at(0).at("error").get<std::string>(), "killed by signal 9"))
      << doc.at("failed");
  EXPECT_TRUE(has(r.err, "1 of 3 variants failed")) << r.err;
  EXPECT_TRUE(has(r.out, "mola-2468 / base step time")) << "the ratios of what was measured";
}

TEST(CliBench, BadArgumentsAreClearErrors) {
  Result r = run("bench --seq 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--seq must be at least 1, got 0")) << r.err;
  r = run("bench --steps two");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--steps expects a whole number, got 'two'")) << r.err;
  r = run("bench --variants base,lora-r9");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown variant 'lora-r9'")) << r.err;
  EXPECT_TRUE(has(r.err, "mola-2468-loop")) << "lists the known variants: " << r.err;
  r = run("bench --variants base,base");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "'base' is listed twice")) << r.err;
  r = run("bench --shape huge");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--shape 'huge' is neither a named shape")) << r.err;
  r = run("bench --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--device must be cpu or cuda")) << r.err;
  r = run("bench --dtype fp8");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--dtype must be fp32, bf16 or fp16, got 'fp8'")) << r.err;
  r = run("bench --dtype fp16");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--dtype fp16 needs --device cuda")) << r.err;
  r = run("bench --activation-checkpointing yes");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--activation-checkpointing must be on or off, got 'yes'")) << r.err;
  r = run("bench --torch-threads -1");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--torch-threads must not be negative, got -1")) << r.err;
  r = run("bench --cuda-graph");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--cuda-graph needs --device cuda")) << r.err;
  r = run("bench --peak-tflops -3");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--peak-tflops must be a positive number of TFLOP/s, got '-3'")) << r.err;
  r = run("bench --peak-tflops lots");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--peak-tflops expects a number, got 'lots'")) << r.err;
  r = run("bench --frobnicate 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown option --frobnicate")) << r.err;

  const fs::path dir = mola::test::tempDir("cli_bench_bad");
  std::ofstream(dir / "config.json") << R"({"architectures": ["GPT2LMHeadModel"]})";
  r = run("bench --shape " + (dir / "config.json").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "config.json")) << r.err;
  EXPECT_TRUE(has(r.err, "GPT2LMHeadModel")) << r.err;
  // Too shallow for four groups of experts: named before any worker starts.
  std::ofstream(dir / "two.json") << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
    "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 50})";
  r = run("bench --shape " + (dir / "two.json").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "needs at least 4 layers, the shape has 2")) << r.err;
  std::ofstream(dir / "short.json") << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 16,
    "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "vocab_size": 50,
    "max_position_embeddings": 64})";
  r = run("bench --shape " + (dir / "short.json").string() + " --seq 65");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--seq 65 exceeds the model's 64 positions")) << r.err;
}

}  // namespace

// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentConfig: defaults, exact parsing, round trip, every error message, --set, paths, files.
#include "experiment/experiment_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

template <typename F>
void expectError(F f, const std::string& needle) {
  test::expectErrorContaining<std::invalid_argument>(f, needle);
}

// The smallest valid document: only the required key.
const char* kMinimal = R"({"data": {"train": {"path": "synthetic:largest"}}})";

// `body` with the required train path added, so that each case shows only what it tests.
ExperimentConfig parseWith(const std::string& body, const std::string& source = "t.json") {
  nlohmann::json doc = nlohmann::json::parse(body);
  if (!doc.contains("data") || !doc["data"].contains("train"))
    doc["data"]["train"]["path"] = "synthetic:largest";
  return parseExperiment(doc.dump(), source);
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Every field away from its default, so that a reader that skips one is caught.
const char* kFull = R"({
  "name": "full",
  "model": {"path": "/models/llama", "tokenizer": "/models/tok.model", "device": "cuda",
            "dtype": "bf16"},
  "adapter": {"method": "lora", "allocation": "8-6-4-2", "rank": 64, "alpha": 128,
              "top_k": 1, "dropout": 0.1, "target_modules": ["q", "v_proj", "down"],
              "balance_coefficient": 0.01},
  "data": {"train": {"path": "/data/train.jsonl", "format": "flat_jsonl", "split": "train",
                     "limit": 1000},
           "eval": {"path": "/data/valid.jsonl", "format": "commonsense_qa", "split": "val",
                    "limit": 200},
           "prompt_template": "compact", "cutoff": 128, "train_on_prompt": false},
  "training": {"batch_size": 8, "grad_accumulation": 16, "epochs": 3, "max_steps": 500,
               "seed": 18446744073709551615, "grad_clip": 0.5, "activation_checkpointing": true,
               "group_by_length": true,
               "optimizer": {"name": "adamw", "lr": 1e-4, "betas": [0.8, 0.95],
                             "weight_decay": 0.01, "eps": 1e-6},
               "schedule": {"type": "cosine", "warmup_steps": 20}},
  "evaluation": {"protocol": "generate", "interval": 50},
  "checkpoint_interval": 100,
  "keep_checkpoints": 3,
  "router_stats_interval": 5
})";

TEST(ExperimentConfig, DefaultsAreMolasReferenceSettings) {
  const ExperimentConfig c = parseExperiment(kMinimal);
  EXPECT_EQ(c.rank, 8);
  EXPECT_EQ(c.keep_checkpoints, 0);  // every checkpoint kept
  EXPECT_EQ(c.alpha, 16.0);
  EXPECT_EQ(c.top_k, 2);
  EXPECT_EQ(c.dropout, 0.05);
  EXPECT_EQ(c.lr, 3e-4);
  EXPECT_EQ(c.warmup_steps, 100);
  EXPECT_EQ(c.cutoff, 256u);
  EXPECT_EQ(c.balance_coefficient, 0.001);
  EXPECT_EQ(c.method, "mola");
  EXPECT_EQ(c.allocation, "inverted-triangle");
  EXPECT_EQ(c.prompt_template, "mola");
  EXPECT_TRUE(c.train_on_prompt);
  EXPECT_EQ(c.target_modules, (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj",
                                                        "gate_proj", "up_proj", "down_proj"}));
  EXPECT_EQ(c.beta1, 0.9);
  EXPECT_EQ(c.beta2, 0.999);
  EXPECT_EQ(c.train.path, "synthetic:largest");
  EXPECT_TRUE(c.eval.path.empty());
  // Everything else is the struct's default.
  ExperimentConfig expected;
  expected.train.path = "synthetic:largest";
  EXPECT_EQ(c, expected);
}

TEST(ExperimentConfig, FullDocumentGivesExactValues) {
  const ExperimentConfig c = parseExperiment(kFull, "full.json");
  EXPECT_EQ(c.name, "full");
  EXPECT_EQ(c.model, "/models/llama");
  EXPECT_EQ(c.tokenizer, "/models/tok.model");
  EXPECT_EQ(c.device, "cuda");
  EXPECT_EQ(c.dtype, "bf16");
  EXPECT_EQ(c.method, "lora");
  EXPECT_EQ(c.allocation, "8-6-4-2");
  EXPECT_EQ(c.rank, 64);
  EXPECT_EQ(c.alpha, 128.0);
  EXPECT_EQ(c.top_k, 1);
  EXPECT_EQ(c.dropout, 0.1);
  EXPECT_EQ(c.target_modules, (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
  EXPECT_EQ(c.balance_coefficient, 0.01);
  EXPECT_EQ(c.train, (DataSpec{"/data/train.jsonl", "flat_jsonl", "train", 1000}));
  EXPECT_EQ(c.eval, (DataSpec{"/data/valid.jsonl", "commonsense_qa", "val", 200}));
  EXPECT_EQ(c.prompt_template, "compact");
  EXPECT_EQ(c.cutoff, 128u);
  EXPECT_FALSE(c.train_on_prompt);
  EXPECT_EQ(c.batch_size, 8);
  EXPECT_EQ(c.grad_accumulation, 16);
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.max_steps, 500);
  EXPECT_EQ(c.seed, UINT64_MAX);
  EXPECT_EQ(c.grad_clip, 0.5);
  EXPECT_TRUE(c.activation_checkpointing);
  EXPECT_TRUE(c.group_by_length);
  EXPECT_EQ(c.lr, 1e-4);
  EXPECT_EQ(c.beta1, 0.8);
  EXPECT_EQ(c.beta2, 0.95);
  EXPECT_EQ(c.weight_decay, 0.01);
  EXPECT_EQ(c.adam_eps, 1e-6);
  EXPECT_EQ(c.schedule, "cosine");
  EXPECT_EQ(c.warmup_steps, 20);
  EXPECT_EQ(c.eval_protocol, "generate");
  EXPECT_EQ(c.eval_interval, 50);
  EXPECT_EQ(c.checkpoint_interval, 100);
  EXPECT_EQ(c.keep_checkpoints, 3);
  EXPECT_EQ(c.router_stats_interval, 5);
}

TEST(ExperimentConfig, WholeNumbersMayBeWrittenAsFloats) {
  EXPECT_EQ(parseWith(R"({"training": {"max_steps": 1e3}})").max_steps, 1000);
  EXPECT_EQ(parseWith(R"({"adapter": {"rank": 16.0}})").rank, 16);
}

TEST(ExperimentConfig, RoundTripIsExact) {
  for (const char* text : {kMinimal, kFull}) {
    const ExperimentConfig c = parseExperiment(text);
    const std::string json = experimentToJson(c);
    EXPECT_EQ(parseExperiment(json), c) << json;
    EXPECT_EQ(experimentToJson(parseExperiment(json)), json);
  }
  // Awkward doubles survive too.
  ExperimentConfig c = parseExperiment(kMinimal);
  c.lr = 0.1 + 0.2;
  c.dropout = 1.0 / 3.0;
  c.alpha = 1e-300;
  c.name = "r\u00e9sum\u00e9 \"quoted\"";
  EXPECT_EQ(parseExperiment(experimentToJson(c)), c);
}

TEST(ExperimentConfig, CanonicalDocumentHasEveryKeyInOrder) {
  const std::string json = experimentToJson(parseExperiment(kMinimal));
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(json);
  std::vector<std::string> top;
  for (const auto& [k, v] : doc.items()) top.push_back(k);
  EXPECT_EQ(top, (std::vector<std::string>{"name", "model", "adapter", "data", "training",
                                           "evaluation", "checkpoint_interval", "keep_checkpoints",
                                           "router_stats_interval"}));
  EXPECT_EQ(doc["training"]["optimizer"]["name"], "adamw");
  EXPECT_EQ(doc["training"]["optimizer"]["betas"], nlohmann::ordered_json::array({0.9, 0.999}));
  EXPECT_EQ(doc["data"]["eval"]["path"], "");
  EXPECT_EQ(doc["adapter"]["target_modules"].size(), 7u);
  EXPECT_NE(json.find("\n  \"model\": {\n    \"path\": \"builtin:tiny\""), std::string::npos)
      << "two-space indentation expected:\n"
      << json;
}

TEST(ExperimentConfig, UnknownKeysAreErrorsWithSuggestions) {
  expectError([] { parseWith(R"({"adapter": {"rnak": 4}})"); },
              "t.json: unknown key 'adapter.rnak' (did you mean 'adapter.rank'?); 'adapter' "
              "takes: method, allocation, rank, alpha, top_k, dropout, target_modules, "
              "balance_coefficient");
  expectError([] { parseWith(R"({"training": {"optimizer": {"learning_rate": 1}}})"); },
              "unknown key 'training.optimizer.learning_rate' (did you mean "
              "'training.optimizer.lr'?)");
  // Misplaced: the same name in another group.
  expectError([] { parseWith(R"({"lr": 0.001})"); },
              "unknown key 'lr' (did you mean 'training.optimizer.lr'?); the top level takes: "
              "name, model, adapter");
  expectError([] { parseWith(R"({"training": {"warmup": 10}})"); },
              "did you mean 'training.schedule.warmup_steps'?");
  // MoLA's script names.
  expectError([] { parseWith(R"({"adapter": {"lora_r": 8}})"); }, "did you mean 'adapter.rank'?");
  expectError([] { parseWith(R"({"cutoff_len": 256})"); }, "did you mean 'data.cutoff'?");
  // Nothing close: no suggestion, but the allowed keys.
  expectError([] { parseWith(R"({"model": {"zzzzzz": 1}})"); },
              "unknown key 'model.zzzzzz'; 'model' takes: path, tokenizer, device, dtype");
  expectError([] { parseWith(R"({"data": {"train": {"path": "x", "limt": 5}}})"); },
              "unknown key 'data.train.limt' (did you mean 'data.train.limit'?)");
}

TEST(ExperimentConfig, WrongTypesNameTheKeyAndTheExpectedType) {
  expectError([] { parseWith(R"({"adapter": {"rank": "8"}})"); },
              "t.json: adapter.rank: expected a whole number, got string \"8\"");
  expectError([] { parseWith(R"({"adapter": {"rank": 8.5}})"); },
              "adapter.rank: expected a whole number, got number 8.5");
  expectError([] { parseWith(R"({"adapter": {"alpha": true}})"); },
              "adapter.alpha: expected a number, got boolean true");
  expectError([] { parseWith(R"({"name": null})"); }, "name: expected a string, got null");
  expectError([] { parseWith(R"({"data": {"train_on_prompt": "yes"}})"); },
              "data.train_on_prompt: expected true or false, got string \"yes\"");
  expectError([] { parseWith(R"({"model": "builtin:tiny"})"); },
              "model: expected an object, got string");
  expectError([] { parseWith(R"({"adapter": {"target_modules": "q,v"}})"); },
              "adapter.target_modules: expected an array of strings, got string");
  expectError([] { parseWith(R"({"adapter": {"target_modules": ["q", 3]}})"); },
              "adapter.target_modules[1]: expected a string, got number 3");
  expectError([] { parseWith(R"({"training": {"optimizer": {"betas": [0.9]}}})"); },
              "training.optimizer.betas: expected 2 numbers [beta1, beta2], got 1");
  expectError([] { parseWith(R"({"training": {"optimizer": {"betas": [0.9, "x"]}}})"); },
              "training.optimizer.betas[1]: expected a number, got string");
  expectError([] { parseExperiment("[1, 2]", "t.json"); },
              "t.json: the document must be a JSON object ({...}), got an array");
  expectError([] { parseWith(R"({"adapter": {"rank": 1e10}})"); },
              "adapter.rank: must be at most 2147483647");
  expectError([] { parseWith(R"({"training": {"seed": -1}})"); },
              "training.seed: must be at least 0 (got -1)");
}

TEST(ExperimentConfig, RangesAreChecked) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"adapter": {"rank": 0}})", "adapter.rank: must be at least 1 (got 0)"},
      {R"({"adapter": {"alpha": 0}})", "adapter.alpha: must be > 0.0 (got 0.0)"},
      {R"({"adapter": {"top_k": 0}})", "adapter.top_k: must be at least 1 (got 0)"},
      {R"({"adapter": {"dropout": 1}})", "adapter.dropout: must be 0.0 <= x < 1.0 (got 1.0)"},
      {R"({"adapter": {"dropout": -0.1}})", "adapter.dropout: must be 0.0 <= x < 1.0"},
      {R"({"adapter": {"balance_coefficient": -1}})",
       "adapter.balance_coefficient: must be >= 0.0 (got -1.0)"},
      {R"({"training": {"optimizer": {"lr": 0}}})", "training.optimizer.lr: must be > 0.0"},
      {R"({"training": {"optimizer": {"lr": -1e-3}}})", "training.optimizer.lr: must be > 0.0"},
      {R"({"training": {"optimizer": {"betas": [0.9, 1.0]}}})",
       "training.optimizer.betas: must be 0.0 <= x < 1.0 (got 1.0)"},
      {R"({"training": {"optimizer": {"betas": [-0.1, 0.9]}}})",
       "training.optimizer.betas: must be 0.0 <= x < 1.0 (got -0.1)"},
      {R"({"training": {"optimizer": {"eps": 0}}})", "training.optimizer.eps: must be > 0.0"},
      {R"({"training": {"optimizer": {"weight_decay": -1}}})",
       "training.optimizer.weight_decay: must be >= 0.0"},
      {R"({"training": {"batch_size": 0}})", "training.batch_size: must be at least 1 (got 0)"},
      {R"({"training": {"grad_accumulation": 0}})",
       "training.grad_accumulation: must be at least 1"},
      {R"({"training": {"epochs": 0}})", "training.epochs: must be at least 1 (got 0)"},
      {R"({"training": {"max_steps": -1}})", "training.max_steps: must be at least 0 (got -1)"},
      {R"({"training": {"grad_clip": -1}})", "training.grad_clip: must be >= 0.0 (got -1.0)"},
      {R"({"training": {"schedule": {"warmup_steps": -5}}})",
       "training.schedule.warmup_steps: must be at least 0 (got -5)"},
      {R"({"data": {"cutoff": 7}})", "data.cutoff: must be at least 8 (got 7)"},
      {R"({"data": {"cutoff": -1}})", "data.cutoff: must be at least 8 (got -1)"},
      {R"({"data": {"train": {"path": "x", "limit": -1}}})",
       "data.train.limit: must be at least 0 (got -1)"},
      {R"({"evaluation": {"interval": -1}})", "evaluation.interval: must be at least 0 (got -1)"},
      {R"({"checkpoint_interval": -1})", "checkpoint_interval: must be at least 0 (got -1)"},
      {R"({"keep_checkpoints": -3})", "keep_checkpoints: must be at least 0 (got -3)"},
      {R"({"router_stats_interval": -2})", "router_stats_interval: must be at least 0 (got -2)"},
      {R"({"name": " "})", "name: must not be empty"},
  };
  for (const auto& [body, message] : cases) expectError([&] { parseWith(body); }, message);
  // The edges themselves are allowed.
  const ExperimentConfig edge = parseWith(
      R"({"adapter": {"dropout": 0, "balance_coefficient": 0, "top_k": 1, "rank": 1},
          "data": {"cutoff": 8}, "training": {"max_steps": 0, "grad_clip": 0,
          "optimizer": {"betas": [0, 0.999999]}}})");
  EXPECT_EQ(edge.cutoff, 8u);
  EXPECT_EQ(edge.beta1, 0.0);
}

TEST(ExperimentConfig, EnumerationsListTheAllowedValues) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"model": {"device": "gpu"}})", "model.device: 'gpu' is not one of auto, cpu, cuda"},
      {R"({"model": {"device": "cdua"}})", "(did you mean 'cuda'?)"},
      {R"({"model": {"dtype": "float32"}})",
       "model.dtype: 'float32' is not one of fp32, bf16, fp16"},
      {R"({"adapter": {"method": "moe"}})",
       "adapter.method: 'moe' is not one of mola, lora, full, moelora"},
      {R"({"data": {"prompt_template": "alpaca"}})",
       "data.prompt_template: 'alpaca' is not one of mola, compact"},
      {R"({"training": {"schedule": {"type": "cosin"}}})",
       "training.schedule.type: 'cosin' is not one of linear, cosine, constant (did you mean "
       "'cosine'?)"},
      {R"({"evaluation": {"protocol": "accuracy"}})",
       "evaluation.protocol: 'accuracy' is not one of likelihood, generate"},
      {R"({"training": {"optimizer": {"name": "adam"}}})",
       "training.optimizer.name: 'adam' is not one of adamw, sgd"},
      {R"({"training": {"optimizer": {"preconditioner": "riemann"}}})",
       "training.optimizer.preconditioner: 'riemann' is not one of none, riemannian"},
      {R"({"data": {"train": {"path": "x.jsonl", "format": "csqa"}}})",
       "data.train.format: 'csqa' is not one of commonsense_qa, "},
      {R"({"adapter": {"target_modules": ["q", "qkv"]}})",
       "adapter.target_modules[1]: 'qkv' is not one of q_proj, k_proj, v_proj, o_proj, "
       "gate_proj, up_proj, down_proj (or the short forms q, k, v, o, gate, up, down)"},
      {R"({"adapter": {"target_modules": ["q", "v", "q_proj"]}})",
       "adapter.target_modules: 'q_proj' is listed twice"},
      {R"({"adapter": {"target_modules": []}})", "adapter.target_modules: must list at least one"},
  };
  for (const auto& [body, message] : cases) expectError([&] { parseWith(body); }, message);
}

TEST(ExperimentConfig, TasksAndTheOtherMethodsKeysRoundTrip) {
  const ExperimentConfig c = parseExperiment(R"({
    "adapter": {"method": "moelora", "allocation": "4", "rank": 8, "task_embedding_dim": 16},
    "data": {"tasks": [
      {"name": "arith", "train": {"path": "synthetic:largest:32"},
       "eval": {"path": "synthetic:largest:8:3"}},
      {"name": "words", "id": 7, "train": {"path": "synthetic:opposite:32"}}]},
    "training": {"optimizer": {"name": "sgd", "momentum": 0.9, "preconditioner": "riemannian",
                               "damping": 0.001, "gate_rescaling": false}}})");
  EXPECT_EQ(c.method, "moelora");
  EXPECT_EQ(c.task_embedding_dim, 16);
  ASSERT_EQ(c.tasks.size(), 2u);
  EXPECT_EQ(c.tasks[0].name, "arith");
  EXPECT_EQ(c.tasks[0].id, 0);  // its position
  EXPECT_EQ(c.tasks[0].eval.path, "synthetic:largest:8:3");
  EXPECT_EQ(c.tasks[1].id, 7);
  EXPECT_EQ(c.tasks[1].train.path, "synthetic:opposite:32");
  EXPECT_EQ(c.optimizer, "sgd");
  EXPECT_EQ(c.momentum, 0.9);
  EXPECT_EQ(c.preconditioner, "riemannian");
  EXPECT_EQ(c.damping, 0.001);
  EXPECT_FALSE(c.gate_rescaling);
  EXPECT_EQ(parseExperiment(experimentToJson(c)), c);
  const std::vector<TaskSpec> tasks = experimentTasks(c);
  EXPECT_EQ(tasks, c.tasks);
  // Without data.tasks: one task named after the training source.
  const std::vector<TaskSpec> one = experimentTasks(parseExperiment(kMinimal));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "synthetic:largest");
  EXPECT_EQ(one[0].train.path, "synthetic:largest");
}

// Keys that must change together are checked together: a single-task experiment becomes a
// two-task one, and MoLA's 2-4-6-8 becomes MOELoRA with an allocation its rank can be shared by,
// whatever order the overrides come in.
TEST(ExperimentConfig, TheEvaluatedBenchmarkIsNamedAsTrainingReportsIt) {
  ExperimentConfig c;
  c.train.path = "/data/arc/train.jsonl";
  EXPECT_EQ(evaluatedBenchmark(c), "");  // nothing evaluated
  c.eval.path = "/data/arc/validation.jsonl";
  EXPECT_EQ(evaluatedBenchmark(c), "validation.jsonl");
  c.eval.path = "synthetic:largest:16:2";
  EXPECT_EQ(evaluatedBenchmark(c), "synthetic:largest:16:2");
  c.train = c.eval = {};
  c.tasks = {{"arith", 0, {"synthetic:largest", "", "", 0}, {}},
             {"words", 1, {"synthetic:opposite", "", "", 0}, {"synthetic:opposite:9", "", "", 0}}};
  EXPECT_EQ(evaluatedBenchmark(c), "words");  // one task scored: by its name
  c.tasks[0].eval.path = "synthetic:largest:9";
  EXPECT_EQ(evaluatedBenchmark(c), "mean of tasks");
}

TEST(ExperimentConfig, OverridesAreValidatedTogether) {
  ExperimentConfig c = parseExperiment(R"({"data": {"train": {"path": "synthetic:largest"}},
                                           "adapter": {"allocation": "2-4-6-8"}})");
  const std::string tasks =
      R"(data.tasks=[{"name": "a", "train": {"path": "synthetic:largest"}},
                     {"name": "b", "train": {"path": "synthetic:opposite"}}])";
  const ExperimentConfig before = c;
  EXPECT_THROW(applyExperimentOverride(c, tasks), std::invalid_argument);  // train is set still
  EXPECT_EQ(c, before);
  applyExperimentOverrides(
      c, {tasks, "data.train.path=", "adapter.method=moelora", "adapter.allocation=4"});
  ASSERT_EQ(c.tasks.size(), 2u);
  EXPECT_EQ(c.tasks[1].name, "b");
  EXPECT_EQ(c.method, "moelora");
  expectError([&] { applyExperimentOverrides(c, {"adapter.allocation=2-4-6-8"}); },
              "adapter.rank: 8 cannot be shared among 6 experts");
  EXPECT_EQ(c.allocation, "4");
}

TEST(ExperimentConfig, TaskAndMethodErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"data": {"train": {"path": "synthetic:largest"},
                    "tasks": [{"name": "a", "train": {"path": "synthetic:largest"}}]}})",
       "data.train.path: must be empty when data.tasks lists the tasks"},
      {R"({"data": {"tasks": [{"name": "a", "train": {"path": "synthetic:largest"}},
                              {"name": "a", "train": {"path": "synthetic:opposite"}}]}})",
       "data.tasks[1].name: 'a' is used twice"},
      {R"({"data": {"tasks": [{"name": "a", "train": {"path": "synthetic:largest"}},
                              {"name": "b", "id": 0, "train": {"path": "synthetic:opposite"}}]}})",
       "data.tasks[1].id: 0 is the id of an earlier task too"},
      {R"({"data": {"tasks": [{"name": "a", "train": {"path": ""}}]}})",
       "data.tasks[0].train.path: is required"},
      {R"({"data": {"tasks": [{"name": "a", "train": {"path": "synthetic:largest"}, "evl": {}}]}})",
       "unknown key 'data.tasks[0].evl' (did you mean 'data.tasks[0].eval'?)"},
      {R"({"data": {"tasks": [{"name": "", "train": {"path": "synthetic:largest"}}]}})",
       "data.tasks[0].name: must not be empty"},
      {R"({"data": {"tasks": [{"name": 3}]}})",
       "data.tasks[0].name: expected a string, got number 3"},
      {R"({"data": {"train": {"path": "synthetic:largest"}},
           "adapter": {"method": "moelora", "allocation": "2-4-6-8", "rank": 8}})",
       "adapter.rank: 8 cannot be shared among 6 experts"},
      {R"({"data": {"train": {"path": "synthetic:largest"}}, "adapter": {"method": "full"},
           "training": {"optimizer": {"preconditioner": "riemannian"}}})",
       "training.optimizer.preconditioner: 'riemannian' preconditions LoRA factors"},
      {R"({"data": {"train": {"path": "synthetic:largest"}},
           "training": {"optimizer": {"damping": 0}}})",
       "training.optimizer.damping: must be > 0"},
  };
  for (const auto& [text, message] : cases) expectError([&] { parseExperiment(text); }, message);
}

TEST(ExperimentConfig, AllocationIsCheckedWithoutTheModel) {
  for (const char* spec : {"inverted-triangle", "square", "hourglass", "diamond", "triangle",
                           "uniform-8", "2-4-6-8", "8", "5-5-5-5", "1,2,3,4,5"}) {
    const ExperimentConfig c =
        parseWith(std::string(R"({"adapter": {"allocation": ")") + spec + R"(", "top_k": 1}})");
    EXPECT_EQ(c.allocation, spec);
  }
  expectError([] { parseWith(R"({"adapter": {"allocation": "pyramid"}})"); },
              "adapter.allocation: unknown allocation 'pyramid': expected a per-layer list");
  expectError([] { parseWith(R"({"adapter": {"allocation": "2-0-6-8"}})"); },
              "adapter.allocation: group 2 of '2-0-6-8' has 0 experts");
  expectError([] { parseWith(R"({"adapter": {"allocation": "2,x,4"}})"); },
              "adapter.allocation: layer 2 of 3: 'x' is not a whole number");
  expectError([] { parseWith(R"({"adapter": {"allocation": ""}})"); }, "adapter.allocation: ");
  // top_k against the fewest experts, for MoLA only.
  expectError([] { parseWith(R"({"adapter": {"allocation": "1-2-3-4", "top_k": 2}})"); },
              "adapter.top_k: 2 exceeds the 1 experts that adapter.allocation '1-2-3-4' gives "
              "its smallest layer");
  EXPECT_NO_THROW(parseWith(R"({"adapter": {"method": "lora", "allocation": "1", "top_k": 2}})"));
}

TEST(ExperimentConfig, PathsAreChecked) {
  expectError([] { parseExperiment(R"({"name": "x"})", "t.json"); },
              "t.json: data.train.path: is required: a benchmark file or "
              "synthetic:TASK[:COUNT[:SEED]] (tasks: largest, category, next_letter, opposite, "
              "mixed)");
  expectError([] { parseWith(R"({"data": {"train": {"path": "synthetic:biggest"}}})"); },
              "data.train.path: unknown synthetic task 'biggest' in 'synthetic:biggest'; tasks: "
              "largest");
  expectError([] { parseWith(R"({"data": {"train": {"path": "synthetic:largest:0"}}})"); },
              "data.train.path: the record count in 'synthetic:largest:0' must be a whole number");
  expectError([] { parseWith(R"({"data": {"eval": {"path": "synthetic:largest:10:x"}}})"); },
              "data.eval.path: the seed in 'synthetic:largest:10:x' must be a whole number");
  expectError([] { parseWith(R"({"data": {"train": {"path": "synthetic:largest:1:2:3"}}})"); },
              "has too many parts");
  expectError(
      [] {
        parseWith(R"({"data": {"train": {"path": "synthetic:largest", "format": "flat_jsonl"}}})");
      },
      "data.train.format: must be empty for synthetic data");
  expectError([] { parseWith(R"({"model": {"path": ""}})"); }, "model.path: must not be empty");
  expectError([] { parseWith(R"({"model": {"path": "builtin:huge"}})"); },
              "model.path: 'builtin:huge' is not a built-in model; use builtin:tiny-pretrained, "
              "builtin:tiny or builtin:tiny:SEED");
  EXPECT_EQ(parseWith(R"({"model": {"path": "builtin:tiny:7"}})").model, "builtin:tiny:7");
  EXPECT_EQ(parseWith(R"({"model": {"path": "builtin:tiny-pretrained"}})").model,
            "builtin:tiny-pretrained");
  EXPECT_EQ(parseWith(R"({"data": {"train": {"path": "synthetic:mixed:500:3"}}})").train.path,
            "synthetic:mixed:500:3");
}

TEST(ExperimentConfig, MalformedJsonNamesLineAndColumn) {
  expectError([] { parseExperiment("{\n  \"name\": \"x\",\n  \"model\": nope\n}", "bad.json"); },
              // nlohmann stops at the first character that cannot continue the token: "no".
              "bad.json:3:13: malformed JSON: syntax error while parsing value - invalid literal");
  expectError([] { parseExperiment("{\"name\": \"x\",}", "bad.json"); },
              "bad.json:1:14: malformed JSON: syntax error while parsing object key");
  expectError([] { parseExperiment("", "empty.json"); },
              "empty.json:1:1: malformed JSON: syntax error while parsing value - unexpected end "
              "of input");
  expectError([] { parseExperiment("{\n\"name\": \"x\"\n"); },
              "experiment:3:1: malformed JSON: syntax error while parsing object - unexpected end "
              "of input; expected '}'");
  expectError(
      [] {
        parseExperiment(R"({"adapter": {"rank": 4, "rank": 8}, "data": {"train": {"path": "x"}}})",
                        "dup.json");
      },
      "dup.json: duplicate key 'adapter.rank' (each key may appear once)");
}

TEST(ExperimentConfig, OverridesReachNestedKeys) {
  ExperimentConfig c = parseExperiment(kMinimal);
  applyExperimentOverride(c, "training.optimizer.lr=1e-3");
  EXPECT_EQ(c.lr, 1e-3);
  applyExperimentOverride(c, "training.optimizer.betas=[0.8, 0.95]");
  EXPECT_EQ(c.beta1, 0.8);
  EXPECT_EQ(c.beta2, 0.95);
  applyExperimentOverride(c, "model.device=cuda");  // not JSON: a string
  EXPECT_EQ(c.device, "cuda");
  applyExperimentOverride(c, "model.device=\"cpu\"");  // JSON string
  EXPECT_EQ(c.device, "cpu");
  applyExperimentOverride(c, "adapter.allocation=8");  // a string key keeps the text
  EXPECT_EQ(c.allocation, "8");
  applyExperimentOverride(c, "name=2024");
  EXPECT_EQ(c.name, "2024");
  applyExperimentOverride(c, "adapter.target_modules=q, v");
  EXPECT_EQ(c.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  applyExperimentOverride(c, "adapter.target_modules=[\"o\"]");
  EXPECT_EQ(c.target_modules, (std::vector<std::string>{"o_proj"}));
  applyExperimentOverride(c, "data.train_on_prompt=false");
  EXPECT_FALSE(c.train_on_prompt);
  applyExperimentOverride(c, "data.eval.path=synthetic:largest:100:9");
  EXPECT_EQ(c.eval.path, "synthetic:largest:100:9");
  applyExperimentOverride(c, "data.eval={\"path\": \"e.jsonl\", \"limit\": 20}");
  EXPECT_EQ(c.eval, (DataSpec{"e.jsonl", "", "", 20}));
  applyExperimentOverride(c, "checkpoint_interval=25");
  EXPECT_EQ(c.checkpoint_interval, 25);
  applyExperimentOverride(c, " training.max_steps = 7 ");
  EXPECT_EQ(c.max_steps, 7);
}

TEST(ExperimentConfig, BadOverridesNameTheKeyAndLeaveTheConfig) {
  const ExperimentConfig before = parseExperiment(kMinimal);
  ExperimentConfig c = before;
  expectError([&] { applyExperimentOverride(c, "training.optimizer.lr"); },
              "--set 'training.optimizer.lr': expected KEY=VALUE");
  expectError([&] { applyExperimentOverride(c, "=3"); }, "expected KEY=VALUE");
  expectError(
      [&] { applyExperimentOverride(c, "training.optimizer.lrr=1"); },
      "--set: unknown key 'training.optimizer.lrr' (did you mean 'training.optimizer.lr'?)");
  expectError([&] { applyExperimentOverride(c, "lr=1"); },
              "--set: unknown key 'lr' (did you mean 'training.optimizer.lr'?)");
  expectError([&] { applyExperimentOverride(c, "training.optimizer.lr.x=1"); },
              "--set: training.optimizer.lr.x: 'training.optimizer.lr' is a value, not a group");
  expectError([&] { applyExperimentOverride(c, "training.optimizer.lr=-1"); },
              "--set: training.optimizer.lr: must be > 0.0 (got -1.0)");
  expectError([&] { applyExperimentOverride(c, "adapter.rank=abc"); },
              "--set: adapter.rank: expected a whole number, got string \"abc\"");
  expectError([&] { applyExperimentOverride(c, "model.device=gpu"); },
              "--set: model.device: 'gpu' is not one of auto, cpu, cuda");
  expectError([&] { applyExperimentOverride(c, "adapter.allocation=1"); },
              "--set: adapter.top_k: 2 exceeds");
  expectError([&] { applyExperimentOverride(c, "data.train.path="); },
              "--set: data.train.path: is required");
  expectError([&] { applyExperimentOverride(c, "model={\"path\": \"x\", \"dtyp\": \"bf16\"}"); },
              "--set: unknown key 'model.dtyp' (did you mean 'model.dtype'?)");
  EXPECT_EQ(c, before);
}

TEST(ExperimentConfig, RelativePathsResolveAgainstTheExperimentFile) {
  const fs::path dir = test::tempDir("experiment_paths");
  writeFile(dir / "runs" / "a.json", R"({
    "model": {"path": "../models/m.bin", "tokenizer": "tok.bin"},
    "data": {"train": {"path": "data/train.jsonl"}, "eval": {"path": "/abs/valid.jsonl"}}
  })");
  const ExperimentConfig c = loadExperiment(dir / "runs" / "a.json");
  const fs::path base = fs::absolute(dir);
  EXPECT_EQ(c.model, (base / "models" / "m.bin").lexically_normal().string());
  EXPECT_EQ(c.tokenizer, (base / "runs" / "tok.bin").lexically_normal().string());
  EXPECT_EQ(c.train.path, (base / "runs" / "data" / "train.jsonl").lexically_normal().string());
  EXPECT_EQ(c.eval.path, "/abs/valid.jsonl");

  writeFile(dir / "b.json", R"({"model": {"path": "builtin:tiny"},
    "data": {"train": {"path": "synthetic:largest:10"}}})");
  const ExperimentConfig b = loadExperiment(dir / "b.json");
  EXPECT_EQ(b.model, "builtin:tiny");
  EXPECT_EQ(b.train.path, "synthetic:largest:10");
  EXPECT_TRUE(b.tokenizer.empty());
  EXPECT_TRUE(b.eval.path.empty());

  // An empty base is the working directory.
  ExperimentConfig d = b;
  d.train.path = "x.jsonl";
  resolveExperimentPaths(d, "");
  EXPECT_EQ(d.train.path, (fs::current_path() / "x.jsonl").string());
}

TEST(ExperimentConfig, LoadNamesTheFileInErrors) {
  const fs::path dir = test::tempDir("experiment_load");
  expectError([&] { loadExperiment(dir / "missing.json"); }, "missing.json: no such file");
  expectError([&] { loadExperiment(dir); }, "not a file");
  writeFile(dir / "typo.json",
            "{\n  \"data\": {\"train\": {\"path\": \"synthetic:largest\"}},\n"
            "  \"adapter\": {\"dropuot\": 0.1}\n}\n");
  expectError([&] { loadExperiment(dir / "typo.json"); },
              (dir / "typo.json").string() +
                  ": unknown key 'adapter.dropuot' (did you mean 'adapter.dropout'?)");
  writeFile(dir / "broken.json", "{\n  \"name\": \"x\"\n  \"model\": {}\n}\n");
  expectError([&] { loadExperiment(dir / "broken.json"); },
              // The missing comma shows at the end of the next token, the string "model".
              (dir / "broken.json").string() +
                  ":3:9: malformed JSON: syntax error while parsing "
                  "object - unexpected string literal; expected '}'");
}

TEST(ExperimentConfig, EveryShippedExperimentLoads) {
  const fs::path dir = MOLA_EXPERIMENTS_DIR;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  EXPECT_GE(files.size(), 14u) << "quickstart, 6 stories260k and 7 llama2-7b files expected";
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    ExperimentConfig c;
    ASSERT_NO_THROW(c = loadExperiment(file));
    EXPECT_EQ(c.name, file.stem().string()) << "the name should match the file name";
    // The canonical form of each file re-reads to the same config.
    EXPECT_EQ(parseExperiment(experimentToJson(c)), c);
  }
}

TEST(ExperimentConfig, ShippedExperimentsHaveTheDocumentedSettings) {
  const fs::path dir = MOLA_EXPERIMENTS_DIR;
  const ExperimentConfig q = loadExperiment(dir / "quickstart.json");
  EXPECT_EQ(q.model, "builtin:tiny-pretrained");
  EXPECT_EQ(q.device, "cpu");
  EXPECT_EQ(q.allocation, "2-4-6-8");
  EXPECT_EQ(q.train.path, "synthetic:opposite:2000:1");
  EXPECT_EQ(q.eval.path, "synthetic:opposite:200:2");
  EXPECT_EQ(q.prompt_template, "compact-text");
  EXPECT_FALSE(q.train_on_prompt);
  EXPECT_EQ(q.cutoff, 160u);
  EXPECT_EQ(q.lr, 1e-2);
  EXPECT_EQ(q.max_steps, 150);
  EXPECT_EQ(q.batch_size, 16);
  EXPECT_EQ(q.warmup_steps, 20);
  EXPECT_EQ(q.eval_interval, 50);

  // The shared model and data, resolved from experiments/ to ../shared beside the repository.
  const fs::path shared =
      fs::absolute(fs::path(MOLA_EXPERIMENTS_DIR) / ".." / ".." / "shared").lexically_normal();
  const std::pair<const char*, const char*> stories[] = {
      {"inverted-triangle", "inverted-triangle"},
      {"square", "square"},
      {"triangle", "triangle"},
      {"hourglass", "hourglass"},
      {"diamond", "diamond"},
  };
  for (const auto& [file, allocation] : stories) {
    const ExperimentConfig s = loadExperiment(dir / (std::string("stories260k-") + file + ".json"));
    EXPECT_EQ(s.allocation, allocation);
    EXPECT_EQ(s.method, "mola");
    EXPECT_EQ(s.model, (shared / "models" / "stories260K" / "stories260K.bin").string());
    EXPECT_EQ(s.tokenizer, (shared / "models" / "stories260K" / "tok512.bin").string());
    EXPECT_EQ(s.train.path, (shared / "data" / "arc_easy" / "train.jsonl").string());
    EXPECT_EQ(s.eval.path, (shared / "data" / "arc_easy" / "validation.jsonl").string());
    EXPECT_EQ(s.eval.limit, 200u);
  }
  EXPECT_EQ(loadExperiment(dir / "stories260k-lora.json").method, "lora");

  const std::pair<const char*, const char*> llama[] = {
      {"2468", "2-4-6-8"}, {"8642", "8-6-4-2"}, {"8228", "8-2-2-8"},
      {"2882", "2-8-8-2"}, {"5555", "5-5-5-5"}, {"8888", "8-8-8-8"},
  };
  for (const auto& [file, allocation] : llama) {
    const ExperimentConfig l = loadExperiment(dir / (std::string("llama2-7b-") + file + ".json"));
    EXPECT_EQ(l.allocation, allocation);
    EXPECT_EQ(l.rank, 8);
    EXPECT_EQ(l.alpha, 16.0);
    EXPECT_EQ(l.top_k, 2);
    EXPECT_EQ(l.dtype, "bf16");
    EXPECT_EQ(l.device, "cuda");
    EXPECT_EQ(l.prompt_template, "mola");
    EXPECT_EQ(l.cutoff, 256u);
  }
  const ExperimentConfig lora = loadExperiment(dir / "llama2-7b-lora-r64.json");
  EXPECT_EQ(lora.method, "lora");
  EXPECT_EQ(lora.rank, 64);
}

}  // namespace
}  // namespace mola

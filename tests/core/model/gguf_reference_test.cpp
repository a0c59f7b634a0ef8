// SPDX-License-Identifier: GPL-3.0-or-later
// GGUF against independent references: every block format as gguf-py (llama.cpp's own Python)
// dequantises it, and the real SmolLM2-135M as transformers loads the same file: token ids of
// every question and choice in ../shared/data, fp32 logits on ten prompts, greedy text.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "adapters/allocation.h"
#include "data/prompt_template.h"
#include "data/qa_importer.h"
#include "eval/qa_evaluator.h"
#include "model/checkpoint_loader.h"
#include "model/generate.h"
#include "model/gguf.h"
#include "python_reference.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

TEST(GgufReference, EveryBlockFormatDequantisesAsGgufPy) {
  MOLA_NEED_REFERENCE(false);
  const fs::path dir = test::tempDir("gguf_reference_quants");
  ASSERT_EQ(test::runReference("quants " + dir.string(), dir / "log"), "");
  const GgufFile f = GgufFile::open(dir / "quants.gguf");
  std::set<std::string> seen;
  for (const GgufTensorInfo& t : f.tensors()) {
    const test::NpyArray want = test::loadNpy(dir / (t.name + ".npy"));
    EXPECT_EQ(t.shape(), want.shape) << t.name;
    EXPECT_EQ(ggmlTypeName(t.type), t.name);
    const std::vector<float> got = f.dequantize(t);
    ASSERT_EQ(got.size(), want.values.size()) << t.name;
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
      bad += !(std::abs(got[i] - want.values[i]) <= 1e-6f * (1.0f + std::abs(want.values[i])));
    EXPECT_EQ(bad, 0u) << t.name << ": values that differ from gguf-py's";
    seen.insert(t.name);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K",
                                         "Q5_K", "Q6_K"}));
}

// Every question, context and choice of every QA file in ../shared/data.
std::vector<std::string> sharedTexts() {
  std::set<std::string> texts;
  for (const auto& entry : fs::recursive_directory_iterator(test::sharedDir() / "data")) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".jsonl" && ext != ".tsv") continue;
    for (const QaRecord& r : importQa(entry.path()).records) {
      texts.insert(r.question);
      if (!r.context.empty()) texts.insert(r.context);
      texts.insert(r.choices.begin(), r.choices.end());
    }
  }
  return {texts.begin(), texts.end()};
}

TEST(SmolLm2, TokensLogitsAndTextMatchTransformers) {
  MOLA_NEED_REFERENCE(true);
  MOLA_NEED_SHARED_FILE(test::sharedDir() / "data/README.md");
  const fs::path dir = test::tempDir("gguf_reference_smollm2");
  const std::vector<std::string> texts = sharedTexts();
  ASSERT_GT(texts.size(), 50000u);
  {
    std::ofstream out(dir / "texts.jsonl");
    for (const std::string& t : texts) out << nlohmann::json{{"text", t}}.dump() << "\n";
  }
  QaRecord example;
  example.question = "Which gas do plants take in for photosynthesis?";
  example.choices = {"oxygen", "carbon dioxide", "nitrogen", "helium"};
  const std::vector<std::string> logit_prompts = {
      "The capital of France is",
      "Once upon a time, there was a little robot who",
      "In 2024, 12,345 people ran the 42.195 km marathon.",
      "def fibonacci(n):\n    if n < 2:\n        return n\n",
      "Ünïcödé, 漢字 and emoji 🙂 mixed: ",
      "Question: Why is the sky blue?\nAnswer:",
      "  leading spaces and\ttabs\n\nand blank lines",
      "<|im_start|>user\nWhat is 7 times 8?<|im_end|>\n<|im_start|>assistant\n",
      renderPrompt(example, PromptTemplate::named("mola")),
      "The quick brown fox jumps over the lazy dog. " + std::string(200, 'x')};
  const std::vector<std::string> generate_prompts = {
      "The capital of France is", "Photosynthesis is the process by which",
      "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"};
  std::ofstream(dir / "prompts.json")
      << nlohmann::json{{"logits", logit_prompts}, {"generate", generate_prompts}}.dump();
  ASSERT_EQ(test::runReference("model " + test::smolLm2Gguf().string() + " --texts " +
                                   (dir / "texts.jsonl").string() + " --prompts " +
                                   (dir / "prompts.json").string() + " --out " + dir.string(),
                               dir / "log"),
            "");

  const std::string model_path = test::smolLm2Gguf().string();
  const auto tokenizer = loadTokenizerFor(model_path);
  // Token ids of every text, exactly.
  const std::vector<nlohmann::json> want_ids = test::readJsonLines(dir / "text_ids.jsonl");
  ASSERT_EQ(want_ids.size(), texts.size());
  size_t differing = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (tokenizer->encode(texts[i], false, false) == want_ids[i].get<std::vector<int>>()) continue;
    EXPECT_LT(++differing, 5u) << "'" << texts[i] << "'";
  }
  EXPECT_EQ(differing, 0u) << "of " << texts.size() << " texts";
  std::printf("token ids of %zu texts compared\n", texts.size());

  // Logits in fp32, position by position.
  torch::NoGradGuard no_grad;
  LlamaModel model = loadModel(model_path, at::kFloat);
  model->eval();
  const auto prompt_ids = nlohmann::json::parse(std::ifstream(dir / "prompt_ids.json"))
                              .get<std::vector<std::vector<int>>>();
  for (size_t i = 0; i < logit_prompts.size(); ++i) {
    const std::vector<int> ids = tokenizer->encode(logit_prompts[i], true, false);
    ASSERT_EQ(ids, prompt_ids[i]) << logit_prompts[i];
    const test::NpyArray want = test::loadNpy(dir / ("logits-" + std::to_string(i) + ".npy"));
    const at::Tensor got = model->forward(
        at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0))[0];
    const at::Tensor ref =
        at::from_blob(const_cast<float*>(want.values.data()), want.shape, at::kFloat);
    ASSERT_TRUE(got.sizes().equals(ref.sizes())) << logit_prompts[i];
    EXPECT_LE((got - ref).abs().max().item<double>(), 1e-3) << logit_prompts[i];
  }
  // Greedy continuations of 32 tokens, identical (EOS does not stop either side).
  const auto generated = nlohmann::json::parse(std::ifstream(dir / "generated.json"));
  GenerateOptions greedy;
  greedy.max_new_tokens = 32;
  greedy.stop_at_eos = false;
  for (size_t i = 0; i < generate_prompts.size(); ++i) {
    const std::vector<int> got =
        generate(model, tokenizer->encode(generate_prompts[i], true, false), greedy);
    EXPECT_EQ(got, generated[i]["ids"].get<std::vector<int>>()) << generate_prompts[i];
    EXPECT_EQ(tokenizer->decode(got), generated[i]["text"].get<std::string>());
  }
}

// How many questions of each benchmark the parity test scores: MOLA_PARITY_LIMIT, 0 for all; 60
// by default (a few minutes on two cores: the transformers scorer takes one forward pass per
// choice; 150 of each agreed on every prediction).
size_t parityLimit() {
  const char* env = std::getenv("MOLA_PARITY_LIMIT");
  return env && *env ? size_t(std::stoul(env)) : 60;
}

TEST(SmolLm2, ZeroShotPredictionsMatchATransformersScorer) {
  MOLA_NEED_REFERENCE(true);
  MOLA_NEED_SHARED_FILE(test::sharedDir() / "data/README.md");
  const fs::path dir = test::tempDir("gguf_reference_parity");
  torch::NoGradGuard no_grad;
  const std::string model_path = test::smolLm2Gguf().string();
  LlamaModel model = loadModel(model_path, at::kFloat);
  const auto tokenizer = loadTokenizerFor(model_path);
  EvalOptions options;
  options.target = LikelihoodTarget::ChoiceText;
  options.prompt = PromptTemplate::named("qa");
  options.limit = parityLimit();
  for (const char* file :
       {"arc_easy/validation.jsonl", "openbookqa/test.tsv", "commonsense_qa/validation.jsonl"}) {
    std::vector<QaRecord> records = importQa(test::sharedDir() / "data" / file).records;
    if (options.limit > 0 && records.size() > options.limit) records.resize(options.limit);
    const fs::path requests = dir / "requests.jsonl", answers = dir / "answers.jsonl";
    {
      std::ofstream out(requests);
      for (size_t i = 0; i < records.size(); ++i) {
        std::vector<std::string> continuations;
        for (const std::string& c : records[i].choices) continuations.push_back(" " + c);
        out << nlohmann::json{{"id", i},
                              {"context", renderPrompt(records[i], options.prompt)},
                              {"continuations", continuations}}
                   .dump()
            << "\n";
      }
    }
    ASSERT_EQ(test::runReference("score " + model_path + " --requests " + requests.string() +
                                     " --out " + answers.string(),
                                 dir / "log"),
              "");
    const EvalResult ours = evaluateQa(model, *tokenizer, records, options);
    const std::vector<nlohmann::json> theirs = test::readJsonLines(answers);
    ASSERT_EQ(theirs.size(), records.size()) << file;
    size_t same = 0, same_norm = 0, correct = 0, correct_norm = 0, repeats = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      // A repeated choice (commonsense_qa's record 22 lists "indestructible" twice) scores as its
      // first: the exact tie goes to the first, as in transformers, whatever the batch's padding.
      const std::vector<std::string>& ch = records[i].choices;
      for (size_t c = 1; c < ch.size(); ++c) {
        const size_t first = size_t(std::find(ch.begin(), ch.end(), ch[c]) - ch.begin());
        if (first == c) continue;
        ++repeats;
        EXPECT_EQ(ours.predictions[i].log_likelihoods.at(c),
                  ours.predictions[i].log_likelihoods.at(first))
            << file << " record " << i << " choice " << c;
      }
      same += ours.predictions[i].predicted == theirs[i]["predicted"].get<int>();
      same_norm += ours.predictions[i].predicted_norm == theirs[i]["predicted_norm"].get<int>();
      correct += theirs[i]["predicted"].get<int>() == records[i].answer;
      correct_norm += theirs[i]["predicted_norm"].get<int>() == records[i].answer;
    }
    const double n = double(records.size());
    std::printf(
        "%s: %zu questions, accuracy %.4f (transformers %.4f), accuracy_norm %.4f "
        "(transformers %.4f), the same prediction on %.2f%% / %.2f%%\n",
        file, records.size(), ours.accuracy, correct / n, ours.accuracy_norm, correct_norm / n,
        100.0 * same / n, 100.0 * same_norm / n);
    if (std::string(file) == "commonsense_qa/validation.jsonl" && records.size() > 22) {
      EXPECT_GT(repeats, 0u) << "record 22's repeated choice is no longer among the records";
    }
    EXPECT_GE(same / n, 0.995) << file;
    EXPECT_GE(same_norm / n, 0.995) << file;
  }
}

// Runs the real `mola` with `args`; "" or what went wrong.
std::string runMola(const std::string& args, const fs::path& log) {
  const std::string cmd = std::string(MOLA_CLI) + " " + args + " >" + log.string() + " 2>&1";
  if (std::system(cmd.c_str()) == 0) return "";
  std::ostringstream s;
  s << std::ifstream(log).rdbuf();
  return "mola " + args + " failed:\n" + s.str();
}

// A plain LoRA adapter with every A and B drawn at random (B is zero when fresh, which would test
// nothing), trained as far as the export and merge are concerned.
fs::path randomLoraAdapter(const std::string& model_path, const fs::path& file) {
  LlamaModel model = loadModel(model_path, at::kFloat);
  MolaSpec spec;
  spec.allocation = Allocation::uniform(1, model->config().num_layers);
  spec.top_k = 1;
  spec.rank = 8;
  spec.alpha = 16;
  model->injectMola(spec);
  torch::manual_seed(5);
  torch::NoGradGuard no_grad;
  for (int j = 0; j < model->config().num_layers; ++j)
    for (TargetModule m : kAllTargetModules) {
      MolaLinear& p = model->layer(j)->projection(m);
      p->lora_A.copy_(at::randn_like(p->lora_A) * 0.05);
      p->lora_B.copy_(at::randn_like(p->lora_B) * 0.05);
    }
  model->saveAdapter(file);
  return file;
}

TEST(SmolLm2, PeftExportAndMergedModelGiveOurLogitsInTransformers) {
  MOLA_NEED_REFERENCE(true);
  const fs::path dir = test::tempDir("gguf_reference_peft");
  const std::string model_path = test::smolLm2Gguf().string();
  const fs::path adapter = randomLoraAdapter(model_path, dir / "adapter.safetensors");
  ASSERT_EQ(runMola("adapter export-peft " + adapter.string() + " --out " +
                        (dir / "peft").string() + " --base HuggingFaceTB/SmolLM2-135M-Instruct",
                    dir / "export.log"),
            "");
  ASSERT_EQ(runMola("merge --model " + model_path + " --adapter " + adapter.string() + " --out " +
                        (dir / "merged").string(),
                    dir / "merge.log"),
            "");
  const std::vector<std::string> prompts = {"The capital of France is",
                                            "Question: Why do leaves change colour?\nAnswer:"};
  std::ofstream(dir / "prompts.json") << nlohmann::json(prompts).dump();
  ASSERT_EQ(test::runReference("peft " + model_path + " --adapter " + (dir / "peft").string() +
                                   " --merged " + (dir / "merged").string() + " --prompts " +
                                   (dir / "prompts.json").string() + " --out " + dir.string(),
                               dir / "log"),
            "");

  torch::NoGradGuard no_grad;
  LlamaModel model = loadModel(model_path, at::kFloat);
  model->loadAdapter(adapter);
  model->eval();
  const auto tokenizer = loadTokenizerFor(model_path);
  const auto merged_ids = nlohmann::json::parse(std::ifstream(dir / "merged_ids.json"))
                              .get<std::vector<std::vector<int>>>();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<int> ids = tokenizer->encode(prompts[i], true, false);
    EXPECT_EQ(ids, merged_ids[i]) << "the merged directory's tokenizer";
    const at::Tensor ours = model->forward(
        at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0))[0];
    for (const char* kind : {"peft", "merged"}) {
      const test::NpyArray want = test::loadNpy(dir / (kind + ("-" + std::to_string(i)) + ".npy"));
      const at::Tensor ref =
          at::from_blob(const_cast<float*>(want.values.data()), want.shape, at::kFloat);
      ASSERT_TRUE(ours.sizes().equals(ref.sizes())) << kind;
      EXPECT_LE((ours - ref).abs().max().item<double>(), 1e-3) << kind << ": " << prompts[i];
    }
  }
  // The adapter changed the model: the comparison above is not one of two unchanged models.
  LlamaModel plain = loadModel(model_path, at::kFloat);
  const std::vector<int> ids = tokenizer->encode(prompts[0], true, false);
  const at::Tensor x =
      at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
  EXPECT_GT((model->forward(x) - plain->forward(x)).abs().max().item<double>(), 0.1);
}

}  // namespace
}  // namespace mola

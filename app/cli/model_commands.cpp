// SPDX-License-Identifier: GPL-3.0-or-later
// mola generate, and the model, data and task arguments that it, mola eval and mola route share.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "data/qa_source.h"
#include "eval/qa_evaluator.h"
#include "experiment/experiment_config.h"
#include "model/checkpoint_loader.h"
#include "model/generate.h"
#include "model_args.h"
#include "runtime.h"
#include "store/run_launch.h"
#include "store_args.h"
#include "text.h"
#include "train/builtin_base.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace mola::cli {

// A bad --dtype or --device name is a usage error (exit 2), not a failed run.
c10::ScalarType dtypeArg(const Args& args) {
  try {
    return dtypeFromName(args.get("--dtype", "fp32"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--dtype: ") + e.what());
  }
}

c10::Device deviceArg(const Args& args) {
  try {
    return deviceFromName(args.get("--device", "auto"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--device: ") + e.what());
  }
}

LlamaModel modelArg(const Args& args) {
  const auto path = args.get("--model");
  if (!path)
    throw UsageError(
        "--model PATH is required (a HF directory, a llama2.c .bin or "
        "builtin:tiny)");
  const c10::ScalarType dtype = dtypeArg(args);
  const c10::Device device = deviceArg(args);
  if (dtype == c10::kHalf && device.is_cpu())
    throw UsageError("--dtype fp16 needs a CUDA device; on the CPU use bf16 or fp32");
  std::cerr << "loading " << *path << "\n";
  BasePreparation preparation;
  preparation.progress = [](int64_t step, int64_t total) {
    if (step == 1 || step % 50 == 0 || step == total)
      std::fprintf(stderr, "training the built-in base (first use only): step %lld/%lld\n",
                   static_cast<long long>(step), static_cast<long long>(total));
  };
  LlamaModel model = loadModelOrBuiltin(*path, dtype, preparation);
  if (auto adapter = args.get("--adapter")) {
    model->loadAdapter(*adapter);
    std::cerr << "adapter " << *adapter << ": " << model->molaSpec().allocation.describe()
              << ", rank " << model->molaSpec().rank << "\n";
  }
  model->to(device);
  model->eval();
  return model;
}

// --task NAME: the row of a MOELoRA adapter's task (required with one: its gate reads the task);
// 0 for other models, which ignore it.
int taskArg(const Args& args, LlamaModel& model) {
  const auto name = args.get("--task");
  if (!model->taskGate()) {
    if (name) throw UsageError("--task applies to a MOELoRA adapter; this model has none");
    return 0;
  }
  const std::vector<std::string>& tasks = model->taskGate()->tasks();
  std::string list;
  for (const std::string& t : tasks) list += (list.empty() ? "" : ", ") + t;
  if (!name)
    throw UsageError("the adapter is MOELoRA over the tasks " + list + ": name one with --task");
  const auto it = std::find(tasks.begin(), tasks.end(), *name);
  if (it == tasks.end())
    throw UsageError("--task '" + *name + "' is not one of the adapter's tasks: " + list);
  const int row = int(it - tasks.begin());
  model->setTasks(at::full({1}, int64_t(row), at::kLong));
  return row;
}

int64_t runArg(const Args& args) {
  const auto run = args.get("--run");
  if (run && (args.get("--model") || args.get("--adapter") || args.get("--tokenizer")))
    throw UsageError(
        "--run takes the model, tokenizer and adapter from the run: leave out "
        "--model, --adapter and --tokenizer");
  if (!run && args.get("--db")) throw UsageError("--db goes with --run ID");
  return run ? parseRunId(*run) : 0;
}

RunStore runStoreArg(const Args& args, bool write) {
  if (!std::filesystem::exists(dbPath(args)))
    throw std::runtime_error("no run database at " + dbPath(args).string());
  return write ? openStoreToWrite(args) : openStoreToRead(args);
}

ModelSubject subjectFromModel(const Args& args) {
  ModelSubject s;
  s.model = modelArg(args);
  s.tokenizer = loadTokenizerFor(*args.get("--model"), args.get("--tokenizer", ""));
  return s;
}

ModelSubject subjectFromRun(const Args& args, const RunStore& store, int64_t id) {
  const RunRecord run = store.run(id);
  const ExperimentConfig c = parseExperiment(run.config_json, "run " + std::to_string(id));
  const CheckpointChoice choice = newestIntactCheckpoint(store, id);
  for (const std::string& why : choice.skipped)
    std::cerr << "passed over the checkpoint of " << printableText(why) << "\n";
  if (!choice.chosen)
    throw std::runtime_error("run " + std::to_string(id) + " has no intact checkpoint to load");
  const c10::ScalarType dtype = args.get("--dtype") ? dtypeArg(args) : dtypeFromName(c.dtype);
  const c10::Device device = args.get("--device") ? deviceArg(args) : deviceFromName(c.device);
  std::cerr << "run " << id << " (" << printableText(run.name) << "): " << printableText(c.model)
            << ", the checkpoint of step " << choice.chosen->first << "\n";

  ModelSubject s;
  BasePreparation preparation;  // a builtin:tiny-pretrained base is in the cache after training
  s.model = loadModelOrBuiltin(c.model, dtype, preparation);
  prepareForTraining(s.model, c);
  CheckpointReader(choice.chosen->second, checkpointIdentity(store, id))
      .restoreModel(s.model, c.method);
  s.model->to(device);
  s.model->eval();
  s.tokenizer = loadTokenizerFor(c.model, c.tokenizer);
  s.prompt_template = c.prompt_template;
  s.protocol = c.eval_protocol;
  if (dtype == c10::kBFloat16 || dtype == c10::kHalf) s.autocast = dtype;
  s.step = choice.chosen->first;
  return s;
}

QaDataset dataArg(const Args& args) {
  const auto data = args.get("--data");
  if (!data) throw UsageError("--data FILE is required");
  QaDataset d = loadQaSource(*data, args.get("--format", ""));
  if (!d.skipped.empty())
    std::cerr << *data << ": " << d.skipped.size() << " rows skipped (see mola data check)\n";
  return d;
}

int cmdGenerate(const Args& args) {
  args.allowOnly({"--model", "--tokenizer", "--adapter", "--prompt", "--max-new-tokens",
                  "--temperature", "--top-p", "--seed", "--dtype", "--device", "--task"});
  LlamaModel model = modelArg(args);
  taskArg(args, model);
  const auto tokenizer = loadTokenizerFor(*args.get("--model"), args.get("--tokenizer", ""));
  GenerateOptions o;
  o.max_new_tokens = args.getNumber<int>("--max-new-tokens", 256);
  o.temperature = args.getNumber<double>("--temperature", 0.0);
  o.top_p = args.getNumber<double>("--top-p", 1.0);
  o.seed = static_cast<uint64_t>(args.getNumber<int>("--seed", 0));
  if (o.max_new_tokens < 0) throw UsageError("--max-new-tokens must not be negative");
  if (o.temperature < 0) throw UsageError("--temperature must not be negative");
  const std::vector<int> prompt = tokenizer->encode(args.get("--prompt", ""), true, false);
  int prev = prompt.back();
  generate(model, prompt, o, [&](int id) {
    std::cout << tokenizer->decodeNext(prev, id) << std::flush;
    prev = id;
  });
  std::cout << "\n";
  return 0;
}

}  // namespace mola::cli

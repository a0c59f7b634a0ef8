// SPDX-License-Identifier: GPL-3.0-or-later
// The model, data and task arguments of mola generate and mola eval (model_commands.cpp).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <optional>
#include <string>

#include "cli_args.h"
#include "data/qa_source.h"
#include "model/llama_model.h"
#include "model/tokenizer.h"
#include "store/run_store.h"

namespace mola::cli {

// --dtype (default fp32) and --device (default auto); a bad name is a usage error (exit 2).
c10::ScalarType dtypeArg(const Args& args);
c10::Device deviceArg(const Args& args);
// --model PATH in --dtype on --device, with --adapter FILE when given, in eval mode.
LlamaModel modelArg(const Args& args);
// --task NAME: the row of a MOELoRA adapter's task (required with one: its gate reads the task),
// set on the model; 0 for other models, which ignore it.
int taskArg(const Args& args, LlamaModel& model);
// A model to score or inspect, and the settings it brings.
struct ModelSubject {
  LlamaModel model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  std::string prompt_template = "mola";
  std::string protocol = "likelihood";
  std::optional<c10::ScalarType> autocast;  // a run trained in half precision is scored so too
  int64_t step = 0;                         // --run: its checkpoint's step
};

// --run ID: the stored run to load, 0 without one. With --run, --model, --adapter and --tokenizer
// are usage errors (the run names them), and so is --db without --run.
int64_t runArg(const Args& args);
// The database of --run, to read or to write; one that does not exist is an error (nothing is
// created).
RunStore runStoreArg(const Args& args, bool write);

// --model PATH (modelArg) with its tokenizer (--tokenizer, else the model's).
ModelSubject subjectFromModel(const Args& args);
// The run's experiment (model, tokenizer, method, template, protocol, dtype, device; --dtype and
// --device override) and the weights of its newest intact checkpoint, as its training evaluated
// them.
ModelSubject subjectFromRun(const Args& args, const RunStore& store, int64_t id);

// --data FILE (or synthetic:...) with --format; skipped rows are counted on stderr.
QaDataset dataArg(const Args& args);

}  // namespace mola::cli

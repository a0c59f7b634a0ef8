// SPDX-License-Identifier: GPL-3.0-or-later
// mola adapter export-peft and mola merge: adapters and merged models for other tools.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "adapters/adapter_file.h"
#include "commands.h"
#include "model/checkpoint_loader.h"
#include "model/gguf.h"
#include "model/gguf_llama.h"
#include "model/hf_export.h"
#include "text.h"

namespace mola::cli {

namespace fs = std::filesystem;

namespace {

// The tokenizer of `model_path` as files of a Hugging Face directory: a GGUF file's byte-level
// vocabulary written out, a Hugging Face directory's files copied. Returns what was written.
std::vector<std::string> writeTokenizerFiles(const std::string& model_path, const fs::path& out) {
  std::vector<std::string> written;
  const fs::path p(model_path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                             "special_tokens_map.json", "generation_config.json"})
      if (fs::exists(p / name)) {
        fs::copy_file(p / name, out / name, fs::copy_options::overwrite_existing);
        written.emplace_back(name);
      }
  } else if (fs::is_regular_file(p, ec) && isGgufFile(p)) {
    if (const auto files = ggufHfTokenizerFiles(GgufFile::open(p))) {
      std::ofstream(out / "tokenizer.json") << files->tokenizer_json;
      std::ofstream(out / "tokenizer_config.json") << files->tokenizer_config_json;
      written = {"tokenizer.json", "tokenizer_config.json"};
    }
  }
  return written;
}

}  // namespace

int cmdAdapterExportPeft(const Args& args) {
  args.allowOnly({"--out", "--base"});
  if (args.positional.size() != 1 || !args.get("--out"))
    throw UsageError("mola adapter export-peft takes FILE --out DIR [--base NAME]");
  const LoadedAdapter adapter = loadAdapterFile(args.positional[0]);
  const fs::path out = *args.get("--out");
  exportPeftAdapter(adapter, out, args.get("--base", ""));
  std::printf("wrote a PEFT LoRA adapter (rank %d, alpha %g, %d layers) to %s\n",
              adapter.config.rank, adapter.config.lora_alpha, adapter.config.allocation.numLayers(),
              printableText(out.string()).c_str());
  return 0;
}

int cmdMerge(const Args& args) {
  args.allowOnly({"--model", "--adapter", "--out", "--dtype"});
  const auto model_path = args.get("--model");
  const auto adapter = args.get("--adapter");
  const auto out = args.get("--out");
  if (!model_path || !adapter || !out)
    throw UsageError("mola merge takes --model PATH --adapter FILE --out DIR [--dtype fp32|bf16]");
  const c10::ScalarType dtype = dtypeFromName(args.get("--dtype", "fp32"));
  if (dtype == c10::kHalf) throw UsageError("--dtype takes fp32 or bf16 for a merged model");
  std::cerr << "loading " << *model_path << "\n";
  LlamaModel model = loadModel(*model_path, at::kFloat);
  model->loadAdapter(*adapter);
  mergeLoraIntoBase(model);
  saveHfModelDirectory(model, *out, dtype);
  const std::vector<std::string> tokenizer = writeTokenizerFiles(*model_path, *out);
  std::printf("wrote %s: config.json, model.safetensors%s\n", printableText(*out).c_str(),
              tokenizer.empty() ? " (no tokenizer files: give the model's own to its users)" : "");
  for (const std::string& f : tokenizer) std::printf("  and %s\n", f.c_str());
  return 0;
}

}  // namespace mola::cli

// SPDX-License-Identifier: GPL-3.0-or-later
// The pretrained built-in base: the tiny LLaMA trained in full on a synthetic task by our own
// trainer, deterministic from its seed, cached in the user's data directory on first use.
#pragma once

#include <c10/core/ScalarType.h>

#include <filesystem>
#include <functional>
#include <string>

#include "model/llama_model.h"

namespace mola {

// The model path that names the pretrained built-in base.
inline constexpr const char* kPretrainedTinyModel = "builtin:tiny-pretrained";

// $MOLA_CACHE_DIR, else $XDG_DATA_HOME/mola-workbench, else ~/.local/share/mola-workbench.
std::filesystem::path userDataDir();

// The cached weights, training them first when absent (about a minute on 2 cores). `progress`
// sees (step, total) while training.
std::filesystem::path ensurePretrainedTinyBase(
    const std::function<void(int64_t, int64_t)>& progress = {});

// Every parameter of `model` as F32, named as named_parameters(), in one safetensors file
// (written atomically); loadFullWeights reads it back, errors naming the file and the tensor.
void saveFullWeights(LlamaModel& model, const std::filesystem::path& file);
void loadFullWeights(LlamaModel& model, const std::filesystem::path& file);

// loadModel, plus builtin:tiny-pretrained.
LlamaModel loadModelOrBuiltin(const std::string& path, c10::ScalarType dtype = c10::kFloat,
                              const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace mola

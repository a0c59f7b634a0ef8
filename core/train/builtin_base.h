// SPDX-License-Identifier: GPL-3.0-or-later
// The pretrained built-in base: the tiny LLaMA trained in full on a synthetic task by our own
// trainer, deterministic from its seed, cached in the user's data directory on first use.
#pragma once

#include <c10/core/ScalarType.h>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "model/llama_model.h"

namespace mola {

// The model path that names the pretrained built-in base.
inline constexpr const char* kPretrainedTinyModel = "builtin:tiny-pretrained";

// $MOLA_CACHE_DIR, else $XDG_DATA_HOME/mola-workbench, else ~/.local/share/mola-workbench.
std::filesystem::path userDataDir();

// What preparing the built-in base reports and is asked, between its training steps: progress
// (step, total), and whether to stop or to wait (paused). Any of them may be empty.
struct BasePreparation {
  std::function<void(int64_t, int64_t)> progress;
  std::function<bool()> stop;
  std::function<bool()> paused;
};

// Thrown when a stop request ends the preparation: nothing is cached, a later call starts over.
class BasePreparationStopped : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The cached weights, training them first when absent (about a minute on 2 cores, deterministic:
// a preparation cut short by a kill or a stop starts over and gives the same weights). Processes
// sharing the cache take turns: one trains, the others wait for its file.
std::filesystem::path ensurePretrainedTinyBase(const BasePreparation& preparation = {});

// Every parameter of `model` as F32, named as named_parameters(), in one safetensors file
// (written atomically); loadFullWeights reads it back, errors naming the file and the tensor.
void saveFullWeights(LlamaModel& model, const std::filesystem::path& file);
void loadFullWeights(LlamaModel& model, const std::filesystem::path& file);

// loadModel, plus builtin:tiny-pretrained.
LlamaModel loadModelOrBuiltin(const std::string& path, c10::ScalarType dtype = c10::kFloat,
                              const BasePreparation& preparation = {});

}  // namespace mola

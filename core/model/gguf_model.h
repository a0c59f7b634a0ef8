// SPDX-License-Identifier: GPL-3.0-or-later
// A LLaMA-architecture GGUF file as a LlamaModel: every tensor dequantised into the dtype asked
// for.
#pragma once

#include <c10/core/ScalarType.h>

#include <filesystem>

#include "model/llama_model.h"

namespace mola {

// llama.cpp stores the rows of attn_q and attn_k permuted for its interleaved RoPE; they are put
// back in Hugging Face's order, so the model uses the rotate-half RoPE of Hugging Face checkpoints
// and its adapters mean what theirs mean. Errors (std::runtime_error) name the file and the tensor:
// a missing tensor, a shape the config does not give, an unknown tensor type.
LlamaModel loadGgufModel(const std::filesystem::path& path, c10::ScalarType dtype = c10::kFloat);

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// traceTokenRouting: one forward pass of a MoLA model over a text, keeping every router's choice
// per token (token_routing.h).
#pragma once

#include <vector>

#include "eval/token_routing.h"
#include "model/llama_model.h"

namespace mola {

class Tokenizer;

// Runs `ids` (one sequence, at most the model's max_seq_len, at least one token) through the
// model without gradients, in its current mode and under any autocast in effect, and reads every
// routed module's probabilities and gates. `tokenizer` names the tokens. Throws
// std::invalid_argument when the model routes nothing (no adapter, plain LoRA, or MOELoRA, whose
// gate reads the task, not the token) or the ids do not fit.
TokenRouting traceTokenRouting(LlamaModel& model, const Tokenizer& tokenizer,
                               const std::vector<int>& ids);

}  // namespace mola

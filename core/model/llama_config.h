// SPDX-License-Identifier: GPL-3.0-or-later
// LlamaConfig: everything that defines a LLaMA-family decoder's architecture (torch-free).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "model/model_shape.h"

namespace mola {

struct LlamaConfig {
  std::string architecture = "llama";  // llama, mistral, qwen2, llama2c, builtin
  int64_t vocab_size = 0;
  int64_t d_model = 0;         // hidden_size
  int64_t ffn_dim = 0;         // intermediate_size (SwiGLU)
  int num_layers = 0;          // num_hidden_layers
  int num_heads = 0;           // num_attention_heads
  int num_kv_heads = 0;        // num_key_value_heads (grouped-query attention when < num_heads)
  int64_t head_dim = 0;        // d_model / num_heads unless the checkpoint says otherwise
  int64_t max_seq_len = 2048;  // max_position_embeddings: the size of the RoPE table
  double rope_theta = 10000.0;
  // llama2.c rotates interleaved pairs (x0,x1),(x2,x3)...; Hugging Face rotates halves
  // (x_i, x_{i+hd/2}) and stores wq/wk permuted to match.
  bool rope_interleaved = false;
  double rms_eps = 1e-5;
  bool tied_embeddings = false;  // output head shares the token embedding
  bool qkv_bias = false;         // Qwen2's q/k/v projections have biases
  int bos_id = 1;
  int eos_id = 2;

  ModelShape shape() const {
    return ModelShape{num_layers,   d_model,  ffn_dim,    num_heads,
                      num_kv_heads, head_dim, vocab_size, tied_embeddings};
  }
  // Throws std::invalid_argument naming the first inconsistent field.
  void validate() const {
    shape().validate();
    if (max_seq_len < 1) throw std::invalid_argument("model config: max_seq_len must be positive");
    if (head_dim % 2 != 0)
      throw std::invalid_argument("model config: head_dim must be even for rotary embeddings");
    if (!(rope_theta > 0)) throw std::invalid_argument("model config: rope_theta must be positive");
    if (!(rms_eps > 0)) throw std::invalid_argument("model config: rms_norm_eps must be positive");
  }
};

}  // namespace mola

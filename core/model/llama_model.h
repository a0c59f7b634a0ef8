// SPDX-License-Identifier: GPL-3.0-or-later
// LlamaModel: a LLaMA-family decoder (RMSNorm, RoPE, GQA, SwiGLU) whose projections take MoLA
// adapters.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <vector>

#include "adapters/adapter_file.h"
#include "adapters/balance_loss.h"
#include "adapters/mola_linear.h"
#include "adapters/task_gate.h"
#include "model/attention.h"
#include "model/llama_config.h"

namespace mola {

// What to wrap with experts, and how.
struct MolaSpec {
  Allocation allocation;  // experts per layer
  std::vector<TargetModule> target_modules = {std::begin(kAllTargetModules),
                                              std::end(kAllTargetModules)};
  int rank = 8;
  double alpha = 16.0;
  int top_k = 2;
  double dropout = 0.05;
  ExpertImpl impl = ExpertImpl::Stacked;
  // The adapters' dtype; Undefined: the base's. The trainer asks for fp32 master weights on a
  // bf16/fp16 base (MolaLinearOptions::adapter_dtype).
  c10::ScalarType adapter_dtype = c10::ScalarType::Undefined;
  // MOELoRA: no routers; layer j's N_j experts have rank rank / N_j and are weighted by the task
  // gate (TaskGate over `tasks`, embedding width task_dim), alpha / rank scaling.
  bool task_gated = false;
  std::vector<std::string> tasks;
  int task_dim = 64;
  // Training only (not in the adapter file): MolaLinearOptions::gate_rescaling.
  bool gate_rescaling = false;

  static MolaSpec fromAdapterConfig(const AdapterConfig& c);
};

// Keys and values of the positions seen so far, per layer: [B, kv_heads, capacity, head_dim].
struct KvCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;  // positions filled
};

class LlamaLayerImpl : public torch::nn::Module {
 public:
  // Projections as MolaLinearImpl initialises a fresh one (fp32), or, with `empty` defined,
  // uninitialised in empty's dtype and device (for a loader that fills them).
  explicit LlamaLayerImpl(const LlamaConfig& config, const c10::TensorOptions& empty = {},
                          bool uninitialised = false);
  MolaLinear& projection(TargetModule m) { return m_proj[static_cast<size_t>(m)]; }
  const MolaLinear& projection(TargetModule m) const { return m_proj[static_cast<size_t>(m)]; }
  // Swaps the projection for `replacement` (same base weight), keeping the parameter name.
  void replaceProjection(TargetModule m, MolaLinear replacement);

  torch::Tensor attn_norm;  // [d_model]
  torch::Tensor ffn_norm;   // [d_model]

 private:
  std::array<MolaLinear, 7> m_proj{nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
};
TORCH_MODULE(LlamaLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  // Random weights (normal, std 0.02; norms 1) from the current torch seed, in fp32.
  explicit LlamaModelImpl(const LlamaConfig& config);
  // Uninitialised weights in `dtype`, for a loader that fills every one: no random draws and no
  // fp32 copy of a half-precision model (LLaMA-2-7B is 13.5 GB in bf16, 27 GB in fp32).
  struct Uninitialised {
    c10::ScalarType dtype = c10::kFloat;
  };
  LlamaModelImpl(const LlamaConfig& config, Uninitialised weights);

  // ids: [B, T] int64. key_mask: [B, T_total] bool, true for real tokens (T_total = positions in
  // the cache plus T), or undefined for no padding. With a cache, the T new positions are appended
  // to it. Returns logits [B, T, vocab] in fp32 (fp64 for an fp64 model).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& key_mask = {},
                        KvCache* cache = nullptr);
  // forward() in two halves: the final hidden states [B, T, d_model] (after the last norm), and
  // the head's logits of any rows of them [..., d_model] -> [..., vocab] (fp32, fp64 for fp64).
  // Training takes the loss of the positions it has targets for only (linearCrossEntropySum over
  // headWeight(), without their logits in memory).
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& key_mask = {},
                       KvCache* cache = nullptr);
  torch::Tensor logits(const torch::Tensor& hidden) const;
  // The output head's weight [vocab, d_model]: lm_head, or the embedding when they are tied.
  const torch::Tensor& headWeight() const { return lm_head.defined() ? lm_head : embed; }
  KvCache makeCache(int64_t batch, int64_t capacity) const;

  // Wraps the targeted projections of every layer with MolaLinear experts (B = 0: the model's
  // output is unchanged until trained or loaded), in spec.adapter_dtype (A and the router are drawn
  // in that dtype). Base weights stay frozen.
  void injectMola(const MolaSpec& spec);
  // Back to the plain base model: every projection without experts, its weight as it is.
  void removeAdapters();
  bool hasAdapters() const { return m_spec.allocation.numLayers() > 0; }
  const MolaSpec& molaSpec() const { return m_spec; }
  // The adapter as the adapter file sees it (shares the model's modules).
  AdapterModules adapterModules();
  // Loads the file's tensors, into the existing modules when they have the file's layout (their
  // parameter tensors stay the same objects and keep their dtype), else after injecting the file's
  // configuration (keeping the current adapters' dropout, impl and adapter dtype).
  // Errors name the file and key.
  void loadAdapter(const std::filesystem::path& path);
  void saveAdapter(const std::filesystem::path& path, AdapterDtype dtype = AdapterDtype::F32);
  // MOELoRA: the task row (index into molaSpec().tasks) of each sequence of the next forward
  // calls, [B] int64; errors name a row outside the tasks. Ignored by models without task gates.
  void setTasks(const torch::Tensor& rows);
  // The task gate of a MOELoRA adapter, else null.
  const TaskGate& taskGate() const { return m_task_gate; }
  // The last forward's routings, per layer (routing blocks: one per fused group), for the
  // balance loss and router statistics.
  std::vector<LayerRoutings> layerRoutings() const;
  // Drops every module's last routing (and the autograd graph it holds) after a backward pass.
  void clearRoutings();
  // Every parameter that requires a gradient (the adapters, or everything for full fine-tuning).
  std::vector<torch::Tensor> trainableParameters() const;
  // Freezes or unfreezes the base weights (embedding, norms, projections, head).
  void setBaseTrainable(bool trainable);
  // Whether q/k/v and gate/up, which read the same input, run as one fused adapter call each
  // (MolaLinearImpl::forwardShared; on by default). Off: every projection runs on its own, with its
  // own dropout mask. The outputs agree within rounding when dropout is inactive.
  void setFuseSharedInputs(bool fuse) { m_fuse_shared = fuse; }
  bool fuseSharedInputs() const { return m_fuse_shared; }
  // Activation checkpointing (off by default): while training with gradients, each layer runs
  // without keeping its intermediate tensors and runs again in the backward pass, with the random
  // generators rewound (the same dropout masks) and the forward's autocast state. Memory for one
  // layer's activations at a time instead of all, for one more forward per layer.
  void setActivationCheckpointing(bool on) { m_checkpoint = on; }
  bool activationCheckpointing() const { return m_checkpoint; }

  // Module::to, and the RoPE tables rebuilt on the new device in the new compute precision (a
  // table cast to bf16 with the weights would lose the angles' precision).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  LlamaLayer& layer(int j) { return m_layers[static_cast<size_t>(j)]; }
  const LlamaConfig& config() const { return m_config; }

  torch::Tensor embed;    // [vocab, d_model]
  torch::Tensor norm;     // [d_model]
  torch::Tensor lm_head;  // [vocab, d_model], undefined when tied
  // RoPE: cos and sin of position * theta^(-2i / head_dim), [max_seq_len, head_dim / 2], buffers
  // on the model's device, fp64 for an fp64 model and fp32 otherwise (never half precision).
  torch::Tensor rope_cos, rope_sin;

 private:
  friend class LayerCheckpoint;
  // One decoder layer: h + attention(norm(h)), then + MLP(norm(.)).
  torch::Tensor layerForward(int j, const torch::Tensor& h, const AttentionMask& mask,
                             KvCache* cache, int64_t offset);
  // layerForward through a LayerCheckpoint node (training only: no cache).
  torch::Tensor checkpointedLayer(int j, const torch::Tensor& h, const AttentionMask& mask);
  // Computes rope_cos / rope_sin (in fp64, stored in the model's table dtype on its device).
  void resetRopeTables();
  // The projections of layer j that route (in target-module order).
  std::vector<MolaLinearImpl*> routedProjections(int j);
  torch::Tensor attention(LlamaLayer& layer, int j, const torch::Tensor& h,
                          const AttentionMask& mask, KvCache* cache, int64_t offset);
  torch::Tensor rope(const torch::Tensor& x, int64_t offset) const;
  // MOELoRA: hands every targeted projection its layer's expert weights for a batch of b.
  void applyTaskGates(int64_t b);
  // MOELoRA: layer j's expert weights [B, N_j] to every one of its targeted projections.
  void setLayerTaskGates(int j, const torch::Tensor& weights);
  void setTaskGate(TaskGate gate);
  // The projections `modules` of one layer on their shared input x, fused when they can be.
  std::vector<torch::Tensor> projectShared(LlamaLayer& layer,
                                           const std::vector<TargetModule>& modules,
                                           const torch::Tensor& x);

  LlamaConfig m_config;
  MolaSpec m_spec;
  std::vector<LlamaLayer> m_layers;
  TaskGate m_task_gate{nullptr};
  torch::Tensor m_task_rows;  // [B] int64 on the CPU
  bool m_fuse_shared = true;
  bool m_checkpoint = false;
};
TORCH_MODULE(LlamaModel);

}  // namespace mola

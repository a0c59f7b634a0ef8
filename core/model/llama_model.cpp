// SPDX-License-Identifier: GPL-3.0-or-later
// LlamaModel forward: one loop over layers; attention with a KV cache; MoLA injection.
#include "model/llama_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "random_state.h"
#include "runtime.h"

namespace mola {

namespace {

constexpr const char* kProjectionNames[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                            "gate_proj", "up_proj", "down_proj"};

// Reductions and rotations run in at least fp32 (fp64 stays fp64, for the reference checks).
at::ScalarType upcast(const torch::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// x * rsqrt(mean(x^2) + eps), in fp32, then scaled by the weight in the compute dtype.
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const torch::Tensor xf = x.to(upcast(x));
  const torch::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

// Every id in [0, vocab). On the CPU a loop over the values (no operator, no device); on a device
// an asynchronous assert, so that a training step never waits for the device (a bad id then
// fails at the next synchronisation with a device-side assertion).
void checkTokenIds(const torch::Tensor& ids, int64_t vocab) {
  TORCH_CHECK(ids.scalar_type() == at::kLong || ids.scalar_type() == at::kInt,
              "model input ids must be int64 or int32, got ", ids.scalar_type());
  if (ids.numel() == 0) return;
  if (!ids.is_cpu()) {
    at::_assert_async(at::logical_and(ids.ge(0), ids.lt(vocab)).all());
    return;
  }
  int64_t bad = 0;
  bool found = false;
  const auto scan = [&](auto accessor) {
    for (int64_t b = 0; b < ids.size(0) && !found; ++b)
      for (int64_t t = 0; t < ids.size(1); ++t)
        if (accessor[b][t] < 0 || accessor[b][t] >= vocab) {
          bad = int64_t(accessor[b][t]);
          found = true;
          break;
        }
  };
  if (ids.scalar_type() == at::kLong)
    scan(ids.accessor<int64_t, 2>());
  else
    scan(ids.accessor<int32_t, 2>());
  TORCH_CHECK(!found, "token id ", bad, " is outside the vocabulary of ", vocab);
}

}  // namespace

MolaSpec MolaSpec::fromAdapterConfig(const AdapterConfig& c) {
  MolaSpec s;
  s.allocation = c.allocation;
  s.target_modules = c.target_modules;
  s.rank = c.rank;
  s.alpha = c.lora_alpha;
  s.top_k = c.top_k;
  s.task_gated = c.method == "moelora";
  s.tasks = c.tasks;
  s.task_dim = c.task_dim;
  return s;
}

LlamaLayerImpl::LlamaLayerImpl(const LlamaConfig& c, const c10::TensorOptions& empty,
                               bool uninitialised) {
  const ModelShape shape = c.shape();
  for (TargetModule m : kAllTargetModules) {
    const ModuleDims d = shape.dims(m);
    const bool bias = c.qkv_bias && (m == TargetModule::QProj || m == TargetModule::KProj ||
                                     m == TargetModule::VProj);
    const MolaLinearOptions o =
        MolaLinearOptions(d.in_features, d.out_features).num_experts(0).bias(bias);
    m_proj[static_cast<size_t>(m)] = register_module(
        kProjectionNames[static_cast<int>(m)],
        uninitialised ? MolaLinear(o, torch::empty({d.out_features, d.in_features}, empty),
                                   bias ? torch::empty({d.out_features}, empty) : torch::Tensor())
                      : MolaLinear(o));
  }
  const c10::TensorOptions norms = uninitialised ? empty : c10::TensorOptions();
  attn_norm = register_parameter("input_layernorm", torch::ones({c.d_model}, norms), false);
  ffn_norm = register_parameter("post_attention_layernorm", torch::ones({c.d_model}, norms), false);
}

void LlamaLayerImpl::replaceProjection(TargetModule m, MolaLinear replacement) {
  m_proj[static_cast<size_t>(m)] =
      MolaLinear(replace_module(kProjectionNames[static_cast<int>(m)], replacement.ptr()));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config) : m_config(config) {
  m_config.validate();
  torch::NoGradGuard no_grad;
  embed = register_parameter("embed_tokens",
                             torch::randn({config.vocab_size, config.d_model}) * 0.02, false);
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int j = 0; j < config.num_layers; ++j) {
    LlamaLayer layer(config);
    for (TargetModule m : kAllTargetModules) layer->projection(m)->weight.normal_(0.0, 0.02);
    list->push_back(layer);
    m_layers.push_back(layer);
  }
  norm = register_parameter("norm", torch::ones({config.d_model}), false);
  if (!config.tied_embeddings)
    lm_head = register_parameter("lm_head",
                                 torch::randn({config.vocab_size, config.d_model}) * 0.02, false);
  resetRopeTables();
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config, Uninitialised weights)
    : m_config(config) {
  m_config.validate();
  torch::NoGradGuard no_grad;
  const auto opts = torch::TensorOptions().dtype(weights.dtype);
  embed = register_parameter("embed_tokens",
                             torch::empty({config.vocab_size, config.d_model}, opts), false);
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int j = 0; j < config.num_layers; ++j) {
    LlamaLayer layer(config, opts, /*uninitialised=*/true);
    list->push_back(layer);
    m_layers.push_back(layer);
  }
  norm = register_parameter("norm", torch::ones({config.d_model}, opts), false);
  if (!config.tied_embeddings)
    lm_head = register_parameter("lm_head", torch::empty({config.vocab_size, config.d_model}, opts),
                                 false);
  resetRopeTables();
}

void LlamaModelImpl::resetRopeTables() {
  // angle[p, i] = p * theta^(-2i / head_dim), in double as the reference implementations do, then
  // once to the device: forward passes only slice these.
  const int64_t half = m_config.head_dim / 2;
  const at::Tensor i = torch::arange(half, at::kDouble);
  const at::Tensor inv_freq = at::pow(m_config.rope_theta, i * (-2.0 / double(m_config.head_dim)));
  const at::Tensor angles =
      at::outer(torch::arange(m_config.max_seq_len, at::kDouble), inv_freq);  // [max_seq_len, hd/2]
  const auto opts = torch::TensorOptions()
                        .dtype(embed.scalar_type() == at::kDouble ? at::kDouble : at::kFloat)
                        .device(embed.device());
  if (!rope_cos.defined()) {
    rope_cos = register_buffer("rope_cos", angles.cos().to(opts));
    rope_sin = register_buffer("rope_sin", angles.sin().to(opts));
  } else {
    // set_data: the registered buffers are these same tensors.
    rope_cos.set_data(angles.cos().to(opts));
    rope_sin.set_data(angles.sin().to(opts));
  }
}

void LlamaModelImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  resetRopeTables();
}

void LlamaModelImpl::to(torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(dtype, non_blocking);
  resetRopeTables();
}

void LlamaModelImpl::to(torch::Device device, bool non_blocking) {
  torch::nn::Module::to(device, non_blocking);
  resetRopeTables();
}

KvCache LlamaModelImpl::makeCache(int64_t batch, int64_t capacity) const {
  TORCH_CHECK(capacity <= m_config.max_seq_len, "a KV cache of ", capacity,
              " positions exceeds the model's maximum sequence length ", m_config.max_seq_len);
  KvCache cache;
  const auto opts = embed.options().requires_grad(false);
  for (int j = 0; j < m_config.num_layers; ++j) {
    cache.k.push_back(
        torch::empty({batch, m_config.num_kv_heads, capacity, m_config.head_dim}, opts));
    cache.v.push_back(torch::empty_like(cache.k.back()));
  }
  return cache;
}

torch::Tensor LlamaModelImpl::rope(const torch::Tensor& x, int64_t offset) const {
  // x: [B, heads, T, hd]; cos, sin: [T, hd/2]
  const int64_t t = x.size(2), half = m_config.head_dim / 2;
  TORCH_CHECK(rope_cos.device() == x.device(), "RoPE tables on ", rope_cos.device(),
              " but the input on ", x.device(), ": move the model with to()");
  const at::ScalarType ct = upcast(x);  // no-op casts: the tables are in the model's precision
  const torch::Tensor cos = rope_cos.narrow(0, offset, t).to(ct);
  const torch::Tensor sin = rope_sin.narrow(0, offset, t).to(ct);
  const torch::Tensor xf = x.to(ct);
  torch::Tensor out;
  if (m_config.rope_interleaved) {
    const torch::Tensor pairs = xf.unflatten(-1, {half, 2});  // [B, H, T, hd/2, 2]
    const torch::Tensor x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
    out = at::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1).flatten(-2);
  } else {
    const torch::Tensor x0 = xf.narrow(-1, 0, half), x1 = xf.narrow(-1, half, half);
    out = at::cat({x0 * cos - x1 * sin, x1 * cos + x0 * sin}, -1);
  }
  return out.to(x.scalar_type());
}

std::vector<torch::Tensor> LlamaModelImpl::projectShared(LlamaLayer& layer,
                                                         const std::vector<TargetModule>& modules,
                                                         const torch::Tensor& x) {
  std::vector<MolaLinearImpl*> impls;
  for (TargetModule m : modules) impls.push_back(layer->projection(m).get());
  if (m_fuse_shared && MolaLinearImpl::canFuse(impls, x))
    return MolaLinearImpl::forwardShared(impls, x);
  std::vector<torch::Tensor> out;
  for (MolaLinearImpl* p : impls) out.push_back(p->forward(x));
  return out;
}

torch::Tensor LlamaModelImpl::attention(LlamaLayer& layer, int j, const torch::Tensor& x,
                                        const AttentionMask& mask, KvCache* cache, int64_t offset) {
  const int64_t b = x.size(0), t = x.size(1), hd = m_config.head_dim;
  const int64_t heads = m_config.num_heads, kv_heads = m_config.num_kv_heads;
  // [B, T, heads * hd] -> [B, heads, T, hd]
  const std::vector<torch::Tensor> qkv =
      projectShared(layer, {TargetModule::QProj, TargetModule::KProj, TargetModule::VProj}, x);
  torch::Tensor q = qkv[0].view({b, t, heads, hd}).transpose(1, 2);
  torch::Tensor k = qkv[1].view({b, t, kv_heads, hd}).transpose(1, 2);
  torch::Tensor v = qkv[2].view({b, t, kv_heads, hd}).transpose(1, 2);
  q = rope(q, offset);
  k = rope(k, offset);
  if (cache) {
    cache->k[size_t(j)].narrow(2, offset, t).copy_(k);
    cache->v[size_t(j)].narrow(2, offset, t).copy_(v);
    k = cache->k[size_t(j)].narrow(2, 0, offset + t);
    v = cache->v[size_t(j)].narrow(2, 0, offset + t);
  }
  if (kv_heads != heads) {  // grouped-query attention: each kv head serves heads/kv_heads queries
    k = k.repeat_interleave(heads / kv_heads, /*dim=*/1);
    v = v.repeat_interleave(heads / kv_heads, /*dim=*/1);
  }
  torch::Tensor out = attend(q, k, v, mask);  // [B, heads, T, hd]
  out = out.transpose(1, 2).reshape({b, t, heads * hd});
  return layer->projection(TargetModule::OProj)(out);
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& ids, const torch::Tensor& key_mask,
                                      KvCache* cache) {
  return logits(hidden(ids, key_mask, cache));
}

torch::Tensor LlamaModelImpl::logits(const torch::Tensor& h) const {
  return at::linear(h, headWeight()).to(upcast(h));
}

torch::Tensor LlamaModelImpl::hidden(const torch::Tensor& ids, const torch::Tensor& key_mask,
                                     KvCache* cache) {
  TORCH_CHECK(ids.dim() == 2, "model input ids must be [batch, time], got ", ids.sizes());
  const int64_t b = ids.size(0), t = ids.size(1);
  const int64_t offset = cache ? cache->length : 0, total = offset + t;
  TORCH_CHECK(total <= m_config.max_seq_len, "sequence of ", total,
              " positions exceeds the model's maximum of ", m_config.max_seq_len);
  if (cache)
    TORCH_CHECK(!cache->k.empty() && cache->k[0].size(0) == b && cache->k[0].size(2) >= total,
                "KV cache holds ", cache->k.empty() ? 0 : cache->k[0].size(2),
                " positions for batch ", cache->k.empty() ? 0 : cache->k[0].size(0), ", needs ",
                total, " for batch ", b);
  if (key_mask.defined())
    TORCH_CHECK(key_mask.dim() == 2 && key_mask.size(0) == b && key_mask.size(1) == total,
                "key mask must be [", b, ", ", total, "] (cached + new positions), got ",
                key_mask.sizes());
  checkTokenIds(ids, m_config.vocab_size);

  const AttentionMask mask = attentionMask(t, offset, key_mask, ids.device());

  torch::Tensor h = at::embedding(embed, ids);  // [B, T, d_model]
  if (m_task_gate) applyTaskGates(b);
  const bool checkpoint = m_checkpoint && is_training() && at::GradMode::is_enabled() && !cache;
  for (int j = 0; j < m_config.num_layers; ++j)
    h = checkpoint ? checkpointedLayer(j, h, mask) : layerForward(j, h, mask, cache, offset);
  if (cache) cache->length = total;
  return rmsNorm(h, norm, m_config.rms_eps);
}

torch::Tensor LlamaModelImpl::layerForward(int j, const torch::Tensor& h0,
                                           const AttentionMask& mask, KvCache* cache,
                                           int64_t offset) {
  LlamaLayer& layer = m_layers[size_t(j)];
  const torch::Tensor h = h0 + attention(layer, j, rmsNorm(h0, layer->attn_norm, m_config.rms_eps),
                                         mask, cache, offset);
  const torch::Tensor x = rmsNorm(h, layer->ffn_norm, m_config.rms_eps);
  const std::vector<torch::Tensor> gate_up =
      projectShared(layer, {TargetModule::GateProj, TargetModule::UpProj}, x);
  return h + layer->projection(TargetModule::DownProj)(at::silu(gate_up[0]) * gate_up[1]);
}

std::vector<MolaLinearImpl*> LlamaModelImpl::routedProjections(int j) {
  std::vector<MolaLinearImpl*> out;
  for (TargetModule m : m_spec.target_modules) {
    MolaLinearImpl* p = m_layers[size_t(j)]->projection(m).get();
    if (p->hasRouter()) out.push_back(p);
  }
  return out;
}

// What a LayerCheckpoint node needs besides its tensor inputs; the routing its forward pass chose
// comes back in topk_idx / topk_gate (no gradient flows through either).
struct LayerCheckpointArgs {
  LlamaModelImpl* model = nullptr;
  int layer = 0;
  AttentionMask mask;
  std::vector<torch::Tensor> topk_idx, topk_gate;
  bool task_gated = false;  // inputs[1] is the layer's task gate weights
};

// One layer as one autograd node that keeps only its inputs. Inputs: h [B, T, d], a MOELoRA
// layer's task gate weights [B, N] (computed outside the layer, from the task gate's parameters),
// then the layer's parameters that require gradients. Outputs: the layer's output, then the router
// probabilities of each routed projection (so that the balance loss reaches the routers). The
// backward pass rewinds the CPU (and the device's) random generator to where the forward found
// it, runs the layer again with gradients under the forward's autocast state, and
// back-propagates through that.
class LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                at::TensorList inputs, LayerCheckpointArgs* args) {
    const c10::Device device = inputs[0].device();
    ctx->saved_data["cpu_rng"] = generatorState(at::kCPU);
    if (!device.is_cpu()) ctx->saved_data["device_rng"] = generatorState(device);
    ctx->saved_data["autocast"] = autocastEnabled(device.type());
    ctx->saved_data["autocast_dtype"] = int64_t(autocastDtype(device.type()));
    ctx->saved_data["model"] = int64_t(reinterpret_cast<intptr_t>(args->model));
    ctx->saved_data["layer"] = int64_t(args->layer);
    ctx->saved_data["causal"] = args->mask.causal;
    ctx->saved_data["task_gated"] = args->task_gated;
    if (args->mask.allowed.defined()) ctx->saved_data["allowed"] = args->mask.allowed;
    ctx->save_for_backward(inputs.vec());

    torch::NoGradGuard no_grad;
    torch::autograd::variable_list out = {
        args->model->layerForward(args->layer, inputs[0], args->mask, nullptr, 0)};
    for (MolaLinearImpl* p : args->model->routedProjections(args->layer)) {
      const Routing& r = p->routing();
      out.push_back(r.probs.contiguous());
      args->topk_idx.push_back(r.topk_idx);
      args->topk_gate.push_back(r.topk_gate);
    }
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    auto* model = reinterpret_cast<LlamaModelImpl*>(intptr_t(ctx->saved_data["model"].toInt()));
    const int layer = int(ctx->saved_data["layer"].toInt());
    AttentionMask mask;
    mask.causal = ctx->saved_data["causal"].toBool();
    if (ctx->saved_data.count("allowed")) mask.allowed = ctx->saved_data["allowed"].toTensor();
    const at::Tensor h = saved[0].detach().requires_grad_(true);
    const c10::Device device = h.device();
    // A MOELoRA layer recomputes with its task gate weights as a leaf of its own, whose gradient
    // goes back to the task gate; the forward's weights are set again afterwards.
    const bool task_gated = ctx->saved_data["task_gated"].toBool();
    const at::Tensor gates =
        task_gated ? saved[1].detach().requires_grad_(saved[1].requires_grad()) : at::Tensor();
    if (task_gated) model->setLayerTaskGates(layer, gates);

    // The recomputation draws the forward's random numbers; whatever follows keeps its own.
    const at::Tensor cpu_now = generatorState(at::kCPU);
    const at::Tensor device_now = device.is_cpu() ? at::Tensor() : generatorState(device);
    setGeneratorState(at::kCPU, ctx->saved_data["cpu_rng"].toTensor());
    if (!device.is_cpu()) setGeneratorState(device, ctx->saved_data["device_rng"].toTensor());
    std::vector<at::Tensor> outputs, output_grads;
    {
      torch::AutoGradMode grad_mode(true);
      std::optional<AutocastGuard> amp;
      if (ctx->saved_data["autocast"].toBool())
        amp.emplace(device.type(), c10::ScalarType(ctx->saved_data["autocast_dtype"].toInt()));
      const at::Tensor out = model->layerForward(layer, h, mask, nullptr, 0);
      if (grads[0].defined()) {
        outputs.push_back(out);
        output_grads.push_back(grads[0]);
      }
      size_t i = 1;
      for (MolaLinearImpl* p : model->routedProjections(layer)) {
        if (i < grads.size() && grads[i].defined()) {
          outputs.push_back(p->routing().probs);
          output_grads.push_back(grads[i]);
        }
        ++i;
      }
    }
    setGeneratorState(at::kCPU, cpu_now);
    if (!device.is_cpu()) setGeneratorState(device, device_now);
    if (task_gated) model->setLayerTaskGates(layer, saved[1]);

    // Gradient slots: h, the task gates, the parameters, then the LayerCheckpointArgs pointer
    // (never one).
    torch::autograd::variable_list result(saved.size() + 1);
    if (outputs.empty()) return result;
    std::vector<at::Tensor> inputs = {h};
    if (task_gated) inputs.push_back(gates);
    inputs.insert(inputs.end(), saved.begin() + 1 + task_gated, saved.end());
    const torch::autograd::variable_list g =
        torch::autograd::grad(outputs, inputs, output_grads, /*retain_graph=*/false,
                              /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t k = 0; k < saved.size(); ++k)
      if (ctx->needs_input_grad(k)) result[k] = g[k];
    return result;
  }
};

torch::Tensor LlamaModelImpl::checkpointedLayer(int j, const torch::Tensor& h,
                                                const AttentionMask& mask) {
  LayerCheckpointArgs args;
  args.model = this;
  args.layer = j;
  args.mask = mask;
  std::vector<torch::Tensor> inputs = {h};
  if (m_task_gate) {
    args.task_gated = true;
    inputs.push_back(m_layers[size_t(j)]->projection(m_spec.target_modules.front())->taskGates());
  }
  for (const torch::Tensor& p : m_layers[size_t(j)]->parameters())
    if (p.requires_grad()) inputs.push_back(p);
  const torch::autograd::variable_list out = LayerCheckpoint::apply(at::TensorList(inputs), &args);
  size_t i = 1;
  for (MolaLinearImpl* p : routedProjections(j)) {
    p->setRouting(Routing{out[i], args.topk_idx[i - 1], args.topk_gate[i - 1]});
    ++i;
  }
  return out[0];
}

void LlamaModelImpl::setTasks(const torch::Tensor& rows) {
  if (!m_task_gate) return;
  const at::Tensor r = rows.to(at::kCPU, at::kLong).contiguous();
  TORCH_CHECK(r.dim() == 1, "task rows must be [batch], got ", r.sizes());
  const int64_t tasks = int64_t(m_spec.tasks.size());
  const int64_t* row = r.data_ptr<int64_t>();
  for (int64_t i = 0; i < r.numel(); ++i)
    TORCH_CHECK(row[i] >= 0 && row[i] < tasks, "task row ", row[i], " is outside the adapter's ",
                tasks, " task(s)");
  m_task_rows = r;
}

void LlamaModelImpl::applyTaskGates(int64_t b) {
  TORCH_CHECK(m_task_rows.defined() && m_task_rows.size(0) == b,
              "a MOELoRA adapter needs the task of every sequence: ",
              m_task_rows.defined() ? std::to_string(m_task_rows.size(0)) : std::string("no"),
              " task rows were set for a batch of ", b);
  const std::vector<torch::Tensor> w = m_task_gate->weights(m_task_rows);
  for (int j = 0; j < m_config.num_layers; ++j) setLayerTaskGates(j, w[size_t(j)]);
}

void LlamaModelImpl::setLayerTaskGates(int j, const torch::Tensor& weights) {
  for (TargetModule m : m_spec.target_modules)
    m_layers[size_t(j)]->projection(m)->setTaskGates(weights);
}

void LlamaModelImpl::setTaskGate(TaskGate gate) {
  if (m_task_gate) unregister_module("task_gate");
  m_task_gate = gate ? register_module("task_gate", gate) : TaskGate(nullptr);
  m_task_rows = torch::Tensor();
}

void LlamaModelImpl::injectMola(const MolaSpec& spec) {
  if (spec.allocation.numLayers() != m_config.num_layers)
    throw std::invalid_argument("the allocation has " +
                                std::to_string(spec.allocation.numLayers()) +
                                " layers but the model has " + std::to_string(m_config.num_layers));
  if (!spec.task_gated) spec.allocation.checkTopK(spec.top_k);
  if (spec.target_modules.empty()) throw std::invalid_argument("no target modules given");
  if (spec.rank < 1) throw std::invalid_argument("rank must be at least 1");
  if (spec.task_gated) {
    if (spec.tasks.empty())
      throw std::invalid_argument("a MOELoRA adapter needs at least one task");
    for (int j = 0; j < m_config.num_layers; ++j)
      if (spec.rank % spec.allocation.experts(j) != 0)
        throw std::invalid_argument(
            "rank " + std::to_string(spec.rank) + " cannot be shared among the " +
            std::to_string(spec.allocation.experts(j)) + " experts of layer " +
            std::to_string(j + 1) + " (MOELoRA gives each expert rank r / N)");
  }
  for (int j = 0; j < m_config.num_layers; ++j) {
    LlamaLayer& layer = m_layers[size_t(j)];
    // Un-targeted projections go back to plain linears (re-injection with fewer targets).
    for (TargetModule m : kAllTargetModules) {
      const MolaLinear& old = layer->projection(m);
      const bool targeted = std::find(spec.target_modules.begin(), spec.target_modules.end(), m) !=
                            spec.target_modules.end();
      const int n = spec.allocation.experts(j);
      MolaLinearOptions o(old->options.in_features(), old->options.out_features());
      o.bias(old->options.bias()).num_experts(targeted ? n : 0);
      o.rank(spec.rank).alpha(spec.alpha).top_k(spec.top_k).dropout(spec.dropout).impl(spec.impl);
      o.adapter_dtype(spec.adapter_dtype).gate_rescaling(spec.gate_rescaling);
      if (spec.task_gated) o.task_gated(true).rank(spec.rank / n).scaling_rank(spec.rank).top_k(1);
      layer->replaceProjection(m, MolaLinear(o, old->weight, old->bias));
    }
  }
  if (spec.task_gated) {
    const c10::ScalarType type =
        spec.adapter_dtype == c10::ScalarType::Undefined ? embed.scalar_type() : spec.adapter_dtype;
    setTaskGate(TaskGate(spec.tasks, spec.task_dim, spec.allocation.perLayer(),
                         embed.options().dtype(type)));
  } else {
    setTaskGate(nullptr);
  }
  m_spec = spec;
  sortTargetModules(m_spec.target_modules);  // as adapter files list them
}

void LlamaModelImpl::removeAdapters() {
  for (LlamaLayer& layer : m_layers)
    for (TargetModule m : kAllTargetModules) {
      const MolaLinear& old = layer->projection(m);
      MolaLinearOptions o(old->options.in_features(), old->options.out_features());
      o.bias(old->options.bias()).num_experts(0);
      layer->replaceProjection(m, MolaLinear(o, old->weight, old->bias));
    }
  setTaskGate(nullptr);
  m_spec = MolaSpec{};
  m_spec.allocation = Allocation();
}

AdapterModules LlamaModelImpl::adapterModules() {
  if (!hasAdapters()) return {};
  AdapterModules out(m_layers.size());
  for (size_t j = 0; j < m_layers.size(); ++j)
    for (TargetModule m : m_spec.target_modules) out[j].emplace(m, m_layers[j]->projection(m));
  return out;
}

void LlamaModelImpl::loadAdapter(const std::filesystem::path& path) {
  const ModelShape shape = m_config.shape();
  const LoadedAdapter adapter = loadAdapterFile(path, &shape);
  MolaSpec spec = MolaSpec::fromAdapterConfig(adapter.config);
  // Modules that already have the file's layout are filled in place: whoever holds their
  // parameters (an optimizer resuming) keeps holding the live ones.
  const bool same_layout =
      hasAdapters() && m_spec.allocation == spec.allocation &&
      m_spec.target_modules == spec.target_modules && m_spec.rank == spec.rank &&
      m_spec.alpha == spec.alpha && m_spec.top_k == spec.top_k &&
      m_spec.task_gated == spec.task_gated &&
      (!spec.task_gated || (m_spec.tasks == spec.tasks && m_spec.task_dim == spec.task_dim));
  if (!same_layout) {
    if (hasAdapters()) {
      spec.dropout = m_spec.dropout;
      spec.impl = m_spec.impl;
      spec.adapter_dtype = m_spec.adapter_dtype;
      spec.gate_rescaling = m_spec.gate_rescaling;
    }
    injectMola(spec);
  }
  AdapterModules modules = adapterModules();
  applyAdapter(adapter, modules);
  if (m_task_gate) {
    torch::NoGradGuard no_grad;
    m_task_gate->embedding.copy_(adapter.tensors.at(kAdapterKeyTaskEmbedding));
    for (int j = 0; j < m_config.num_layers; ++j)
      m_task_gate->gates[size_t(j)].copy_(adapter.tensors.at(adapterKeyTaskGate(j)));
  }
}

void LlamaModelImpl::saveAdapter(const std::filesystem::path& path, AdapterDtype dtype) {
  if (!hasAdapters()) throw std::invalid_argument("the model has no adapters to save");
  const AdapterModules modules = adapterModules();
  AdapterConfig config = adapterConfigOf(modules);
  AdapterTensors tensors = collectAdapterTensors(modules);
  if (m_task_gate) {
    config.method = "moelora";
    config.tasks = m_task_gate->tasks();
    config.task_dim = int(m_task_gate->dim());
    tensors[kAdapterKeyTaskEmbedding] = m_task_gate->embedding.detach().cpu().clone();
    for (int j = 0; j < m_config.num_layers; ++j)
      tensors[adapterKeyTaskGate(j)] = m_task_gate->gates[size_t(j)].detach().cpu().clone();
  }
  saveAdapterFile(path, config, tensors, dtype);
}

std::vector<LayerRoutings> LlamaModelImpl::layerRoutings() const {
  std::vector<LayerRoutings> out(m_layers.size());
  for (size_t j = 0; j < m_layers.size(); ++j)
    for (TargetModule m : m_spec.target_modules) {
      const MolaLinear& p = m_layers[j]->projection(m);
      if (!p->hasRouter()) continue;
      if (const Routing* r = p->routingBlock()) out[j].push_back(r);
    }
  return out;
}

void LlamaModelImpl::clearRoutings() {
  for (LlamaLayer& layer : m_layers)
    for (TargetModule m : kAllTargetModules) {
      layer->projection(m)->clearRouting();
      layer->projection(m)->setTaskGates(torch::Tensor());
    }
}

std::vector<torch::Tensor> LlamaModelImpl::trainableParameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

void LlamaModelImpl::setBaseTrainable(bool trainable) {
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    const bool adapter = name.find("lora_") != std::string::npos ||
                         name.find("router") != std::string::npos ||
                         name.rfind("task_gate.", 0) == 0;
    if (!adapter) p.value().set_requires_grad(trainable);
  }
}

}  // namespace mola

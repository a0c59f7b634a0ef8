// SPDX-License-Identifier: GPL-3.0-or-later
// loadGgufModel: GGUF tensor names to the model's tensors, each dequantised and converted on its
// own (no second copy of the model), with llama.cpp's Q/K row order undone.
#include "model/gguf_model.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <map>
#include <set>
#include <stdexcept>

#include "model/gguf.h"
#include "model/gguf_llama.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

// GGUF name -> the model's tensor, and for attn_q / attn_k the number of heads whose rows
// llama.cpp's converter permuted (0: none).
struct Destination {
  torch::Tensor* tensor;
  int64_t permuted_heads = 0;
};

std::map<std::string, Destination> ggufTensorTable(LlamaModel& model) {
  const LlamaConfig& c = model->config();
  std::map<std::string, Destination> t;
  t["token_embd.weight"] = {&model->embed};
  t["output_norm.weight"] = {&model->norm};
  if (!c.tied_embeddings) t["output.weight"] = {&model->lm_head};
  static const std::pair<TargetModule, const char*> kProj[] = {
      {TargetModule::QProj, "attn_q"},      {TargetModule::KProj, "attn_k"},
      {TargetModule::VProj, "attn_v"},      {TargetModule::OProj, "attn_output"},
      {TargetModule::GateProj, "ffn_gate"}, {TargetModule::UpProj, "ffn_up"},
      {TargetModule::DownProj, "ffn_down"}};
  for (int j = 0; j < c.num_layers; ++j) {
    const std::string p = "blk." + std::to_string(j) + ".";
    LlamaLayer& layer = model->layer(j);
    t[p + "attn_norm.weight"] = {&layer->attn_norm};
    t[p + "ffn_norm.weight"] = {&layer->ffn_norm};
    for (const auto& [m, name] : kProj) {
      const int64_t heads = m == TargetModule::QProj   ? c.num_heads
                            : m == TargetModule::KProj ? c.num_kv_heads
                                                       : 0;
      t[p + name + ".weight"] = {&layer->projection(m)->weight, heads};
      if (layer->projection(m)->bias.defined())
        t[p + name + ".bias"] = {&layer->projection(m)->bias, heads};
    }
  }
  return t;
}

// llama.cpp's converter stores each head's rows as (first half, second half) interleaved:
// row h*hd + 2i + t holds Hugging Face's row h*hd + t*hd/2 + i. Undone here.
at::Tensor unpermuteRows(const at::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0);
  std::vector<int64_t> split = {heads, rows / heads / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) split.push_back(w.size(d));
  return w.reshape(split).transpose(1, 2).reshape(w.sizes());
}

}  // namespace

LlamaModel loadGgufModel(const fs::path& path, c10::ScalarType dtype) {
  const GgufFile file = GgufFile::open(path);
  const LlamaConfig config = ggufLlamaConfig(file);
  LlamaModel model(config, LlamaModelImpl::Uninitialised{dtype});  // every tensor from the file
  std::map<std::string, Destination> table = ggufTensorTable(model);
  torch::NoGradGuard no_grad;
  for (auto& [name, dst] : table) {
    const GgufTensorInfo* info = file.find(name);
    if (!info)
      fail(path, "tensor '" + name + "' is missing (a " + std::to_string(config.num_layers) +
                     "-layer llama model needs it)");
    const std::vector<int64_t> shape = info->shape();
    if (!dst.tensor->sizes().equals(shape))
      fail(path, "tensor '" + name + "' has shape " + c10::str(at::IntArrayRef(shape)) +
                     ", the model expects " + c10::str(dst.tensor->sizes()));
    std::vector<float> values = file.dequantize(*info);
    at::Tensor src = at::from_blob(values.data(), shape, at::kFloat);
    if (dst.permuted_heads > 0) {
      if (shape[0] % (2 * dst.permuted_heads) != 0)
        fail(path, "tensor '" + name + "': " + std::to_string(shape[0]) +
                       " rows do not split into " + std::to_string(dst.permuted_heads) +
                       " heads of rotary pairs");
      src = unpermuteRows(src, dst.permuted_heads);
    }
    dst.tensor->copy_(src);
  }
  // Tensors a llama model does not have are named rather than ignored (rope_freqs for scaled RoPE,
  // another architecture's extras).
  for (const GgufTensorInfo& t : file.tensors())
    if (!table.count(t.name))
      fail(path, "tensor '" + t.name + "' is not part of a " + std::to_string(config.num_layers) +
                     "-layer llama model");
  return model;
}

}  // namespace mola

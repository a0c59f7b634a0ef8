// SPDX-License-Identifier: GPL-3.0-or-later
// Balance loss and router statistics from every layer's routing sums (ops::routerSums), with the
// loss's gradient from ops::balanceFromSums: a few launches per step whatever the layer count.
#include "adapters/balance_loss.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "adapters/routing_ops.h"

namespace mola {

namespace {

// The blocks of every layer, checked, in the order routerSums takes them.
struct Blocks {
  std::vector<at::Tensor> probs, idx;
  std::vector<int64_t> layer;
};

Blocks blocksOf(const std::vector<LayerRoutings>& layers, std::vector<int64_t>& experts,
                std::vector<int64_t>& top_k) {
  Blocks b;
  for (size_t j = 0; j < layers.size(); ++j) {
    for (size_t m = 0; m < layers[j].size(); ++m) {
      const Routing* r = layers[j][m];
      TORCH_CHECK(r && r->probs.defined() && r->topk_idx.defined(), "balance loss: module ", m,
                  " of layer ", j, " has no routing (no router, or no forward call yet)");
      const int64_t n = r->probs.size(-1), k = r->topk_idx.size(-1);
      if (experts[j] == 0) experts[j] = n;
      if (top_k[j] == 0) top_k[j] = k;
      TORCH_CHECK(n == experts[j] && k == top_k[j], "router statistics: layer ", j, " routes over ",
                  n, " experts with top-", k, ", expected ", experts[j], " experts with top-",
                  top_k[j], " (the allocation, or the layer's other modules)");
      b.probs.push_back(r->probs.detach());
      b.idx.push_back(r->topk_idx);
      b.layer.push_back(int64_t(j));
    }
  }
  return b;
}

// The autograd node of the balance loss: its value and d loss / d probs come from
// ops::balanceFromSums; the gradient of a block is coef (of its layer) times its tokens' weights,
// broadcast over modules and tokens (an expanded view: no copy per module).
struct BalanceArgs {
  at::Tensor loss, coef, weights;
  std::vector<int64_t> coef_offset;  // per block: where its layer's coef starts
};

class BalanceLossNode : public torch::autograd::Function<BalanceLossNode> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                at::TensorList probs, const BalanceArgs* args) {
    std::vector<at::Tensor> saved = {args->coef, args->weights};
    ctx->save_for_backward(saved);
    ctx->saved_data["offsets"] = c10::IValue(args->coef_offset);
    std::vector<int64_t> shapes;  // per block: its dim, then its sizes
    for (const at::Tensor& p : probs) {
      shapes.push_back(p.dim());
      for (const int64_t s : p.sizes()) shapes.push_back(s);
    }
    ctx->saved_data["shapes"] = c10::IValue(shapes);
    return {args->loss};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> offsets = ctx->saved_data["offsets"].toIntVector();
    const std::vector<int64_t> shapes = ctx->saved_data["shapes"].toIntVector();
    torch::autograd::variable_list out(offsets.size() + 1);  // + the BalanceArgs pointer
    if (!grads[0].defined()) return out;
    const at::Tensor coef = saved[0] * grads[0];
    const at::Tensor& weights = saved[1];
    std::map<std::pair<int64_t, int64_t>, at::Tensor> per_layer;  // (offset, dim) -> gradient
    size_t at_shape = 0;
    for (size_t b = 0; b < offsets.size(); ++b) {
      const int64_t dim = shapes[at_shape];
      const std::vector<int64_t> sizes(shapes.begin() + int64_t(at_shape) + 1,
                                       shapes.begin() + int64_t(at_shape) + 1 + dim);
      at_shape += size_t(dim) + 1;
      const int64_t n = sizes.back();
      at::Tensor& g = per_layer[{offsets[b], dim}];
      if (!g.defined()) {
        std::vector<int64_t> view(size_t(dim), 1);  // [1, (1,) n] or [T, (1,) n] weighted
        view.back() = n;
        g = coef.narrow(0, offsets[b], n).view(view);
        if (weights.defined()) {
          std::vector<int64_t> w(size_t(dim), 1);
          w.front() = weights.size(0);
          g = g * weights.view(w);
        }
      }
      out[b] = g.expand(sizes);
    }
    return out;
  }
};

}  // namespace

RoutingSums routingSums(const std::vector<LayerRoutings>& layers, const torch::Tensor& token_mask,
                        const std::vector<int>& experts_per_layer) {
  TORCH_CHECK(experts_per_layer.empty() || experts_per_layer.size() == layers.size(),
              "router statistics: ", layers.size(), " layers routed, the allocation has ",
              experts_per_layer.size());
  RoutingSums s;
  s.experts.assign(layers.size(), 0);
  s.top_k.assign(layers.size(), 0);
  for (size_t j = 0; j < experts_per_layer.size(); ++j)
    s.experts[j] = experts_per_layer[j] > 1 ? experts_per_layer[j] : 0;
  const Blocks b = blocksOf(layers, s.experts, s.top_k);
  if (!experts_per_layer.empty())  // a layer with one expert keeps its place in the layout
    for (size_t j = 0; j < layers.size(); ++j)
      if (layers[j].empty()) s.experts[j] = experts_per_layer[j];
  if (b.probs.empty()) {  // plain LoRA: nothing routed, every sum zero
    const c10::Device device = token_mask.defined() ? token_mask.device() : c10::Device(at::kCPU);
    s.values = at::zeros({ops::sumsOffsets(s.experts).back()},
                         at::TensorOptions(at::kDouble).device(device));
    return s;
  }
  const int64_t tokens = b.probs.front().size(0);
  if (token_mask.defined()) {
    TORCH_CHECK(token_mask.numel() == tokens, "balance loss: token mask has ", token_mask.numel(),
                " entries but the modules routed ", tokens, " tokens");
    s.weights =
        token_mask.reshape({-1}).to(b.probs.front().device(), b.probs.front().scalar_type());
  }
  s.values = ops::routerSums(b.probs, b.idx, s.weights, b.layer, s.experts);
  return s;
}

torch::Tensor balanceLoss(const RoutingSums& sums, const std::vector<LayerRoutings>& layers,
                          double coefficient, const TensorReducer& reduce) {
  std::vector<at::Tensor> probs;
  BalanceArgs args;
  args.weights = sums.weights;
  std::vector<int64_t> offsets = {0};
  for (const int64_t n : sums.experts) offsets.push_back(offsets.back() + n);
  for (size_t j = 0; j < layers.size(); ++j)
    for (const Routing* r : layers[j]) {
      probs.push_back(r->probs);
      args.coef_offset.push_back(offsets[j]);
    }
  if (probs.empty()) return at::zeros({}, at::kFloat);  // nothing routed: no loss
  at::Tensor global = sums.values;
  if (reduce) {
    global = sums.values.clone();
    reduce(global);
  }
  std::tie(args.loss, args.coef) = ops::balanceFromSums(
      sums.values, global, sums.experts, sums.top_k, coefficient, probs.front().scalar_type());
  return BalanceLossNode::apply(at::TensorList(probs), &args)[0];
}

torch::Tensor balanceLoss(const std::vector<LayerRoutings>& layers, const torch::Tensor& token_mask,
                          double coefficient, const TensorReducer& reduce) {
  return balanceLoss(routingSums(layers, token_mask), layers, coefficient, reduce);
}

torch::Tensor layerBalanceLoss(const LayerRoutings& modules, const torch::Tensor& token_mask) {
  TORCH_CHECK(!modules.empty(), "balance loss: a layer needs at least one routed module");
  return balanceLoss({modules}, token_mask, 1.0);
}

RouterStatsAccumulator::RouterStatsAccumulator(std::vector<int> experts_per_layer)
    : m_experts(std::move(experts_per_layer)),
      m_offsets(ops::sumsOffsets(std::vector<int64_t>(m_experts.begin(), m_experts.end()))) {}

void RouterStatsAccumulator::add(const RoutingSums& sums) {
  TORCH_CHECK(sums.values.defined() && sums.values.numel() == m_offsets.back(),
              "router statistics: the sums do not have this allocation's layout (",
              m_offsets.back(), " values)");
  for (size_t j = 0; j < m_experts.size(); ++j)
    TORCH_CHECK(sums.experts[j] == m_experts[j], "router statistics: layer ", j, " routes over ",
                sums.experts[j], " experts but the allocation gives it ", m_experts[j]);
  if (!m_values.defined())
    m_values = sums.values.clone();
  else
    m_values.add_(sums.values.to(m_values.device()));
}

void RouterStatsAccumulator::add(int layer, const LayerRoutings& modules,
                                 const torch::Tensor& token_mask) {
  if (layer < 0 || layer >= static_cast<int>(m_experts.size()))
    throw std::out_of_range("router statistics: layer " + std::to_string(layer) +
                            " is outside the model's " + std::to_string(m_experts.size()) +
                            " layers");
  if (modules.empty()) return;
  std::vector<LayerRoutings> layers(m_experts.size());
  layers[size_t(layer)] = modules;
  add(routingSums(layers, token_mask, m_experts));
}

RouterStatsSnapshot RouterStatsAccumulator::snapshot(int64_t step) const {
  RouterStatsSnapshot snap;
  snap.step = step;
  if (!m_values.defined()) return snap;
  const at::Tensor all = m_values.to(at::kCPU).contiguous();
  const double* v = all.data_ptr<double>();
  for (size_t j = 0; j < m_experts.size(); ++j) {
    const int n = m_experts[j];
    const double* sel = v + m_offsets[j];
    const double* prob = sel + n;
    const double entropy_sum = sel[2 * n], tokens = sel[2 * n + 1];
    if (tokens <= 0) continue;  // nothing routed in this layer since the last reset
    LayerRouterStats st;
    st.layer = static_cast<int>(j);
    double selections = 0.0;
    for (int i = 0; i < n; ++i) selections += sel[i];
    st.tokens = static_cast<int64_t>(std::llround(tokens));
    double mean_f = 0.0;
    for (int i = 0; i < n; ++i) {
      const double f = selections > 0 ? sel[i] / selections : 0.0;
      st.token_fraction.push_back(f);
      st.mean_probability.push_back(prob[i] / tokens);
      mean_f += f / n;
    }
    double var = 0.0;
    for (double f : st.token_fraction) var += (f - mean_f) * (f - mean_f) / n;
    st.load_cv = mean_f > 0 ? std::sqrt(var) / mean_f : 0.0;
    st.entropy = entropy_sum / tokens;
    st.normalized_entropy = n > 1 ? st.entropy / std::log(double(n)) : 0.0;
    snap.layers.push_back(std::move(st));
  }
  return snap;
}

void RouterStatsAccumulator::reduce(const TensorReducer& sum) {
  // Every rank joins the collective, with zeros where it has counted nothing.
  if (!m_values.defined()) m_values = at::zeros({m_offsets.back()}, at::kDouble);
  sum(m_values);
}

void RouterStatsAccumulator::reset() {
  m_values = at::Tensor();
}

namespace {

// The four parts of one layer's slots with their archive keys: [N], [N], [] and [].
std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> namedParts(size_t layer, int n) {
  const std::string p = "router." + std::to_string(layer) + ".";
  return {{p + "selections", {0, n}},
          {p + "prob_sum", {n, n}},
          {p + "entropy_sum", {2 * n, 0}},
          {p + "tokens", {2 * n + 1, 0}}};
}

}  // namespace

void RouterStatsAccumulator::save(torch::serialize::OutputArchive& archive) const {
  if (!m_values.defined()) return;
  const at::Tensor all = m_values.to(at::kCPU);
  for (size_t j = 0; j < m_experts.size(); ++j) {
    const at::Tensor layer = all.narrow(0, m_offsets[j], m_offsets[j + 1] - m_offsets[j]);
    if (layer[2 * m_experts[j] + 1].item<double>() <= 0) continue;  // nothing routed here
    for (const auto& [key, part] : namedParts(j, m_experts[j])) {
      const at::Tensor t =
          part.second > 0 ? layer.narrow(0, part.first, part.second) : layer[part.first];
      archive.write(key, t.clone());
    }
  }
}

void RouterStatsAccumulator::load(torch::serialize::InputArchive& archive,
                                  const c10::Device& device) {
  reset();
  at::Tensor all = at::zeros({m_offsets.back()}, at::kDouble);
  bool any = false;
  for (size_t j = 0; j < m_experts.size(); ++j) {
    const auto parts = namedParts(j, m_experts[j]);
    std::vector<at::Tensor> read(parts.size());
    bool complete = true;
    for (size_t i = 0; i < parts.size(); ++i)
      complete = archive.try_read(parts[i].first, read[i]) && complete;
    if (!complete) continue;  // no routing counted in this layer since the last snapshot
    TORCH_CHECK(read[0].numel() == m_experts[j], "router statistics of layer ", j, ": ",
                read[0].numel(), " experts in the checkpoint, ", m_experts[j], " in the model");
    for (size_t i = 0; i < parts.size(); ++i)
      all.narrow(0, m_offsets[j] + parts[i].second.first,
                 std::max<int64_t>(parts[i].second.second, 1))
          .copy_(read[i].reshape({-1}).to(at::kDouble));
    any = true;
  }
  if (any) m_values = all.to(device);
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Balance loss and router statistics: masked counts of top-K selections and mean probabilities.
#include "adapters/balance_loss.h"

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

namespace mola {

namespace {

struct Pooled {
  torch::Tensor probs;     // [M*T, N] fp32
  torch::Tensor selected;  // [M*T, N] fp32, 1 where the token chose the expert
  torch::Tensor weight;    // [M*T] fp32, 1 for real tokens and 0 for padding
  int64_t k = 0;
};

// Concatenates a layer's module routings along the token axis, checking they agree.
Pooled pool(const LayerRoutings& modules, const torch::Tensor& token_mask) {
  TORCH_CHECK(!modules.empty(), "balance loss: a layer needs at least one routed module");
  const int64_t n = modules.front()->probs.size(1);
  const int64_t k = modules.front()->topk_idx.size(1);
  std::vector<torch::Tensor> probs, idx;
  for (size_t m = 0; m < modules.size(); ++m) {
    const Routing& r = *modules[m];
    TORCH_CHECK(r.probs.defined() && r.topk_idx.defined(), "balance loss: module ", m,
                " of the layer has no routing (no router, or no forward call yet)");
    TORCH_CHECK(r.probs.dim() == 2 && r.probs.size(1) == n && r.topk_idx.size(1) == k,
                "balance loss: module ", m, " routes over ", r.probs.sizes(), " with top-",
                r.topk_idx.size(1), ", other modules of the layer over ", n, " experts, top-", k);
    if (token_mask.defined())
      TORCH_CHECK(token_mask.numel() == r.probs.size(0), "balance loss: token mask has ",
                  token_mask.numel(), " entries but module ", m, " routed ", r.probs.size(0),
                  " tokens");
    probs.push_back(r.probs);
    idx.push_back(r.topk_idx);
  }
  Pooled p;
  p.k = k;
  p.probs = at::cat(probs, 0);
  const torch::Tensor all_idx = at::cat(idx, 0);
  p.selected =
      at::zeros_like(p.probs, p.probs.options().requires_grad(false)).scatter_(1, all_idx, 1.0);
  p.weight =
      token_mask.defined()
          ? token_mask.reshape({-1}).to(p.probs.scalar_type()).repeat({int64_t(modules.size())})
          : at::ones({p.probs.size(0)}, p.probs.options().requires_grad(false));
  return p;
}

// A pooled layer's selection counts per expert, then its (real) token count: [N + 1], no grad.
torch::Tensor layerCounts(const Pooled& p) {
  return at::cat({(p.selected * p.weight.unsqueeze(1)).sum(0), p.weight.sum().reshape({1})})
      .detach();
}

// N * sum_i f_i * P_i of a pooled layer, with f and the token count from `counts` (layerCounts,
// of this layer or summed over every rank's share) and P from this layer's own probabilities.
torch::Tensor layerLoss(const Pooled& p, const torch::Tensor& counts) {
  const int64_t n = p.probs.size(1);
  // clamp: an all-padding batch gives 0 instead of NaN
  const torch::Tensor tokens = counts.narrow(0, n, 1).clamp_min(1.0);
  const torch::Tensor f = counts.narrow(0, 0, n) / (tokens * double(p.k));         // [N], no grad
  const torch::Tensor mean_p = (p.probs * p.weight.unsqueeze(1)).sum(0) / tokens;  // [N]
  return (f * mean_p).sum() * double(n);
}

}  // namespace

torch::Tensor layerBalanceLoss(const LayerRoutings& modules, const torch::Tensor& token_mask) {
  const Pooled p = pool(modules, token_mask);
  return layerLoss(p, layerCounts(p));
}

torch::Tensor balanceLoss(const std::vector<LayerRoutings>& layers, const torch::Tensor& token_mask,
                          double coefficient, const TensorReducer& reduce) {
  // Every layer's counts in one tensor: summed across ranks at once when there are ranks.
  std::vector<Pooled> pooled;
  std::vector<torch::Tensor> counts;
  for (const LayerRoutings& layer : layers) {
    if (layer.empty()) continue;
    pooled.push_back(pool(layer, token_mask));
    counts.push_back(layerCounts(pooled.back()));
  }
  if (pooled.empty()) return at::zeros({}, at::kFloat);
  torch::Tensor all = at::cat(counts);
  if (reduce) reduce(all);
  torch::Tensor total;
  int64_t offset = 0;
  for (const Pooled& p : pooled) {
    const int64_t n = p.probs.size(1);
    const torch::Tensor l = layerLoss(p, all.narrow(0, offset, n + 1));
    offset += n + 1;
    total = total.defined() ? total + l : l;
  }
  return total * coefficient;
}

RouterStatsAccumulator::RouterStatsAccumulator(std::vector<int> experts_per_layer)
    : m_experts(std::move(experts_per_layer)), m_sums(m_experts.size()) {}

void RouterStatsAccumulator::add(int layer, const LayerRoutings& modules,
                                 const torch::Tensor& token_mask) {
  if (layer < 0 || layer >= static_cast<int>(m_experts.size()))
    throw std::out_of_range("router statistics: layer " + std::to_string(layer) +
                            " is outside the model's " + std::to_string(m_experts.size()) +
                            " layers");
  if (modules.empty()) return;
  at::NoGradGuard no_grad;
  const Pooled p = pool(modules, token_mask);
  TORCH_CHECK(p.probs.size(1) == m_experts[size_t(layer)], "router statistics: layer ", layer,
              " routes over ", p.probs.size(1), " experts but the allocation gives it ",
              m_experts[size_t(layer)]);
  const torch::Tensor probs = p.probs.detach();
  const torch::Tensor w = p.weight.unsqueeze(1);
  const torch::Tensor entropy = -(probs * probs.clamp_min(1e-30).log()).sum(1);  // [M*T]
  Sums& s = m_sums[size_t(layer)];
  Sums now{(p.selected * w).sum(0).to(at::kDouble), (probs * w).sum(0).to(at::kDouble),
           (entropy * p.weight).sum().to(at::kDouble), p.weight.sum().to(at::kDouble)};
  if (!s.tokens.defined()) {
    s = now;
  } else {
    s.selections += now.selections;
    s.prob_sum += now.prob_sum;
    s.entropy_sum += now.entropy_sum;
    s.tokens += now.tokens;
  }
}

RouterStatsSnapshot RouterStatsAccumulator::snapshot(int64_t step) const {
  RouterStatsSnapshot snap;
  snap.step = step;
  for (size_t j = 0; j < m_sums.size(); ++j) {
    const Sums& s = m_sums[j];
    if (!s.tokens.defined()) continue;
    LayerRouterStats st;
    st.layer = static_cast<int>(j);
    const int n = m_experts[j];
    const torch::Tensor sel = s.selections.cpu(), prob = s.prob_sum.cpu();
    const double tokens = s.tokens.item<double>();
    const double selections = sel.sum().item<double>();
    st.tokens = static_cast<int64_t>(std::llround(tokens));
    double mean_f = 0.0;
    for (int i = 0; i < n; ++i) {
      const double f = selections > 0 ? sel[i].item<double>() / selections : 0.0;
      st.token_fraction.push_back(f);
      st.mean_probability.push_back(tokens > 0 ? prob[i].item<double>() / tokens : 0.0);
      mean_f += f / n;
    }
    double var = 0.0;
    for (double f : st.token_fraction) var += (f - mean_f) * (f - mean_f) / n;
    st.load_cv = mean_f > 0 ? std::sqrt(var) / mean_f : 0.0;
    st.entropy = tokens > 0 ? s.entropy_sum.item<double>() / tokens : 0.0;
    st.normalized_entropy = n > 1 ? st.entropy / std::log(double(n)) : 0.0;
    snap.layers.push_back(std::move(st));
  }
  return snap;
}

void RouterStatsAccumulator::reduce(const TensorReducer& sum) {
  // One device for the collective: the first defined sums', else the CPU.
  std::optional<c10::Device> device;
  for (const Sums& s : m_sums)
    if (s.tokens.defined() && !device) device = s.tokens.device();
  const auto options = at::TensorOptions(at::kDouble).device(device.value_or(c10::kCPU));
  std::vector<torch::Tensor> parts;
  for (size_t j = 0; j < m_sums.size(); ++j) {
    const Sums& s = m_sums[j];
    if (!s.tokens.defined()) {
      parts.push_back(at::zeros({2 * m_experts[j] + 2}, options));
      continue;
    }
    for (const torch::Tensor& t : {s.selections, s.prob_sum, s.entropy_sum, s.tokens})
      parts.push_back(t.reshape({-1}).to(options));
  }
  if (parts.empty()) return;
  torch::Tensor all = at::cat(parts);
  sum(all);
  int64_t offset = 0;
  for (size_t j = 0; j < m_sums.size(); ++j) {
    const int64_t n = m_experts[j];
    Sums summed{all.narrow(0, offset, n).clone(), all.narrow(0, offset + n, n).clone(),
                all.narrow(0, offset + 2 * n, 1).reshape({}).clone(),
                all.narrow(0, offset + 2 * n + 1, 1).reshape({}).clone()};
    offset += 2 * n + 2;
    // A layer no rank has counted stays empty, as in a single process.
    m_sums[j] = summed.tokens.item<double>() > 0 ? summed : Sums{};
  }
}

void RouterStatsAccumulator::reset() {
  m_sums.assign(m_experts.size(), Sums{});
}

namespace {

// The four sums of one layer with their archive keys.
template <typename Sums>
auto namedSums(Sums& s, size_t layer) {
  const std::string p = "router." + std::to_string(layer) + ".";
  return std::array{
      std::pair{p + "selections", &s.selections}, std::pair{p + "prob_sum", &s.prob_sum},
      std::pair{p + "entropy_sum", &s.entropy_sum}, std::pair{p + "tokens", &s.tokens}};
}

}  // namespace

void RouterStatsAccumulator::save(torch::serialize::OutputArchive& archive) const {
  for (size_t j = 0; j < m_sums.size(); ++j) {
    if (!m_sums[j].tokens.defined()) continue;
    for (const auto& [key, tensor] : namedSums(m_sums[j], j)) archive.write(key, tensor->cpu());
  }
}

void RouterStatsAccumulator::load(torch::serialize::InputArchive& archive,
                                  const c10::Device& device) {
  reset();
  for (size_t j = 0; j < m_sums.size(); ++j) {
    Sums s;
    bool complete = true;
    for (auto& [key, tensor] : namedSums(s, j))
      complete = archive.try_read(key, *tensor) && complete;
    if (!complete) continue;  // no routing counted in this layer since the last snapshot
    TORCH_CHECK(s.selections.numel() == m_experts[j], "router statistics of layer ", j, ": ",
                s.selections.numel(), " experts in the checkpoint, ", m_experts[j],
                " in the model");
    for (auto& [key, tensor] : namedSums(s, j)) *tensor = tensor->to(device);
    m_sums[j] = std::move(s);
  }
}

}  // namespace mola

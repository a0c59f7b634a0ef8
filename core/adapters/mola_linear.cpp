// SPDX-License-Identifier: GPL-3.0-or-later
// MolaLinear: the MoLA equations of DESIGN.md, stacked (gate-masked) and per-expert loop forms.
#include "adapters/mola_linear.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>
#include <ostream>

namespace mola {

namespace {

void checkOptions(const MolaLinearOptions& o) {
  TORCH_CHECK(o.in_features() > 0 && o.out_features() > 0,
              "MolaLinear: in_features and out_features must be positive, got ", o.in_features(),
              " and ", o.out_features());
  TORCH_CHECK(o.num_experts() >= 0, "MolaLinear: num_experts must not be negative, got ",
              o.num_experts());
  if (o.num_experts() == 0) return;  // a plain frozen linear layer: no adapter to check
  TORCH_CHECK(o.rank() >= 1, "MolaLinear: rank must be at least 1, got ", o.rank());
  TORCH_CHECK(o.top_k() >= 1 && o.top_k() <= o.num_experts(), "MolaLinear: top_k = ", o.top_k(),
              " must lie in [1, num_experts = ", o.num_experts(), "]");
  TORCH_CHECK(o.dropout() >= 0.0 && o.dropout() < 1.0,
              "MolaLinear: dropout must lie in [0, 1), got ", o.dropout());
}

}  // namespace

MolaLinearImpl::MolaLinearImpl(const MolaLinearOptions& options_) : options(options_) {
  checkOptions(options);
  torch::NoGradGuard no_grad;
  // As torch::nn::Linear initialises its weight and bias.
  torch::Tensor w = torch::empty({options.out_features(), options.in_features()});
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  torch::Tensor b;
  if (options.bias()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features()));
    b = torch::empty({options.out_features()}).uniform_(-bound, bound);
  }
  weight = register_parameter("weight", w, /*requires_grad=*/false);
  if (b.defined()) bias = register_parameter("bias", b, /*requires_grad=*/false);
  registerAdapter();
}

MolaLinearImpl::MolaLinearImpl(const MolaLinearOptions& options_, torch::Tensor base_weight,
                               torch::Tensor base_bias)
    : options(options_) {
  checkOptions(options);
  TORCH_CHECK(base_weight.dim() == 2 && base_weight.size(0) == options.out_features() &&
                  base_weight.size(1) == options.in_features(),
              "MolaLinear: base weight has shape ", base_weight.sizes(), ", expected [",
              options.out_features(), ", ", options.in_features(), "]");
  TORCH_CHECK(base_bias.defined() == options.bias(), "MolaLinear: options.bias() says ",
              options.bias(), " but a bias was", base_bias.defined() ? "" : " not", " given");
  if (base_bias.defined())
    TORCH_CHECK(base_bias.dim() == 1 && base_bias.size(0) == options.out_features(),
                "MolaLinear: base bias has shape ", base_bias.sizes(), ", expected [",
                options.out_features(), "]");
  weight = register_parameter("weight", base_weight.detach(), /*requires_grad=*/false);
  if (base_bias.defined())
    bias = register_parameter("bias", base_bias.detach(), /*requires_grad=*/false);
  registerAdapter();
}

void MolaLinearImpl::registerAdapter() {
  if (!hasAdapter()) return;
  const int64_t n = options.num_experts(), r = options.rank();
  const auto like = weight.options().requires_grad(false);
  lora_A = register_parameter("lora_A", torch::empty({n * r, options.in_features()}, like));
  lora_B = register_parameter("lora_B", torch::empty({options.out_features(), n * r}, like));
  if (hasRouter())
    router = register_parameter("router", torch::empty({n, options.in_features()}, like));
  reset();
}

void MolaLinearImpl::reset() {
  if (!hasAdapter()) return;
  torch::NoGradGuard no_grad;
  // Each expert's A block has fan_in = in_features, as a PEFT LoRA A of its own would.
  torch::nn::init::kaiming_uniform_(lora_A, std::sqrt(5.0));
  lora_B.zero_();
  if (router.defined()) torch::nn::init::kaiming_uniform_(router, std::sqrt(5.0));
}

void MolaLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "mola::MolaLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", experts=" << options.num_experts()
         << ", top_k=" << options.top_k() << ", rank=" << options.rank()
         << ", alpha=" << options.alpha() << ", dropout=" << options.dropout()
         << ", impl=" << (options.impl() == ExpertImpl::Stacked ? "stacked" : "loop") << ")";
}

Routing MolaLinearImpl::route(const torch::Tensor& x2) const {
  Routing r;
  // p = softmax(W_r x) over all N experts in fp32 (bf16/fp16 compute) or fp64 (double checks).
  const auto type = x2.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  r.probs = at::softmax(at::linear(x2, router).to(type), /*dim=*/-1);  // [T, N]
  auto [values, indices] = r.probs.topk(options.top_k(), /*dim=*/-1);  // [T, K]
  r.topk_idx = indices;
  r.topk_gate = values / values.sum(-1, /*keepdim=*/true);  // g = v / sum(v)
  return r;
}

torch::Tensor MolaLinearImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(), "MolaLinear: input has shape ",
              x.sizes(), ", its last dimension must be in_features = ", options.in_features());
  const torch::Tensor x2 = x.reshape({-1, options.in_features()});  // [T, in]
  const torch::Tensor base = at::linear(x2, weight, bias);          // [T, out]
  if (!hasAdapter()) return base.view(outputShape(x));
  torch::Tensor out =
      options.impl() == ExpertImpl::Stacked ? forwardStacked(x2, base) : forwardLoop(x2, base);
  return out.view(outputShape(x));
}

std::vector<int64_t> MolaLinearImpl::outputShape(const torch::Tensor& x) const {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = options.out_features();
  return shape;
}

torch::Tensor MolaLinearImpl::forwardStacked(const torch::Tensor& x2, const torch::Tensor& base) {
  const int64_t t = x2.size(0), n = options.num_experts(), r = options.rank();
  const torch::Tensor xd = at::dropout(x2, options.dropout(), is_training());
  torch::Tensor z = at::linear(xd, lora_A);  // [T, N*r]: every expert's A x at once
  if (hasRouter()) {
    m_routing = route(x2);
    // Dense gates [T, N]: g on the K chosen experts, 0 elsewhere; alpha/r folded in.
    const torch::Tensor gates =
        at::zeros({t, n}, m_routing.topk_gate.options())
            .scatter(1, m_routing.topk_idx, m_routing.topk_gate * scaling());
    z = (z.view({t, n, r}) * gates.to(z.scalar_type()).unsqueeze(-1)).view({t, n * r});
  } else {
    z = z * scaling();
  }
  // h = W0 x + B z in one fused matmul-accumulate: [T, out]
  return at::addmm(base, z, lora_B.t());
}

torch::Tensor MolaLinearImpl::forwardLoop(const torch::Tensor& x2, const torch::Tensor& base) {
  const int64_t n = options.num_experts(), r = options.rank();
  const torch::Tensor xd = at::dropout(x2, options.dropout(), is_training());
  if (!hasRouter()) return base + at::linear(at::linear(xd, lora_A), lora_B) * scaling();
  m_routing = route(x2);
  torch::Tensor out = base;
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor chosen = m_routing.topk_idx.eq(i);                  // [T, K]
    const torch::Tensor rows = chosen.any(/*dim=*/1).nonzero().squeeze(1);  // host sync
    if (rows.numel() == 0) continue;
    const torch::Tensor gate =
        (m_routing.topk_gate * chosen).sum(1).index_select(0, rows) * scaling();  // [n_i]
    const torch::Tensor a_i = lora_A.narrow(0, i * r, r);                         // [r, in]
    const torch::Tensor b_i = lora_B.narrow(1, i * r, r);                         // [out, r]
    const torch::Tensor h = at::linear(at::linear(xd.index_select(0, rows), a_i), b_i);
    out = out.index_add(0, rows, h * gate.to(h.scalar_type()).unsqueeze(1));
  }
  return out;
}

torch::Tensor MolaLinearImpl::expertsA() const {
  TORCH_CHECK(hasAdapter(), "MolaLinear: this layer has no adapter");
  return lora_A.view({options.num_experts(), options.rank(), options.in_features()});
}

torch::Tensor MolaLinearImpl::expertsB() const {
  TORCH_CHECK(hasAdapter(), "MolaLinear: this layer has no adapter");
  // [out, N*r] -> [N, out, r]
  return lora_B.view({options.out_features(), options.num_experts(), options.rank()})
      .permute({1, 0, 2})
      .contiguous();
}

void MolaLinearImpl::loadExperts(const torch::Tensor& a, const torch::Tensor& b,
                                 const torch::Tensor& router_weight) {
  const int64_t n = options.num_experts(), r = options.rank();
  const int64_t in = options.in_features(), out = options.out_features();
  TORCH_CHECK(hasAdapter(), "MolaLinear: this layer has no adapter to load experts into");
  TORCH_CHECK(a.dim() == 3 && a.size(0) == n && a.size(1) == r && a.size(2) == in,
              "experts.A has shape ", a.sizes(), ", expected [", n, ", ", r, ", ", in, "]");
  TORCH_CHECK(b.dim() == 3 && b.size(0) == n && b.size(1) == out && b.size(2) == r,
              "experts.B has shape ", b.sizes(), ", expected [", n, ", ", out, ", ", r, "]");
  TORCH_CHECK(router_weight.defined() == hasRouter(), "router.weight is ",
              router_weight.defined() ? "present" : "missing", " but this module has ", n,
              " expert(s)", hasRouter() ? "" : " and no router");
  torch::NoGradGuard no_grad;
  lora_A.copy_(a.reshape({n * r, in}));
  lora_B.copy_(b.permute({1, 0, 2}).reshape({out, n * r}));
  if (hasRouter()) {
    TORCH_CHECK(
        router_weight.dim() == 2 && router_weight.size(0) == n && router_weight.size(1) == in,
        "router.weight has shape ", router_weight.sizes(), ", expected [", n, ", ", in, "]");
    router.copy_(router_weight);
  }
}

}  // namespace mola

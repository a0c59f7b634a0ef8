// SPDX-License-Identifier: GPL-3.0-or-later
// MolaLinear: the MoLA equations of DESIGN.md, stacked (gate-masked) and per-expert loop forms.
#include "adapters/mola_linear.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/nn/init.h>

#include <cmath>
#include <ostream>

#include "adapters/lora_dropout.h"
#include "adapters/routing_ops.h"
#include "runtime.h"

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
  TORCH_CHECK(o.scaling_rank() >= 0, "MolaLinear: scaling_rank must not be negative, got ",
              o.scaling_rank());
}

// A value whose forward is v_fwd * x and whose gradient to x is v_bwd (no gradient through
// v_bwd): x * v_bwd + x.detach() * (v_fwd - v_bwd), the "engineering" form of the gate-aware
// rescaling.
at::Tensor scaleWithGradient(const at::Tensor& x, const at::Tensor& v_fwd,
                             const at::Tensor& v_bwd) {
  return x * v_bwd + x.detach() * (v_fwd - v_bwd);
}

// An adapter weight in the compute dtype of x: fp32 master weights meet a bf16/fp16 input through a
// differentiable cast, so their gradients arrive in fp32 (a no-op when the dtypes agree).
at::Tensor castLike(const at::Tensor& weight, const at::Tensor& x) {
  return weight.scalar_type() == x.scalar_type() ? weight : weight.to(x.scalar_type());
}

// Whether adapter weights of dtype `w` can run with an input of dtype `x`: the same, or fp32
// master weights under half precision.
bool adapterTypeFits(at::ScalarType w, at::ScalarType x) {
  return w == x || (w == at::kFloat && (x == at::kBFloat16 || x == at::kHalf));
}

// a b, times scale through the GEMM's alpha (no pass of its own; beta 0 ignores the output's
// contents).
at::Tensor scaledProduct(const at::Tensor& a, const at::Tensor& b, double scale) {
  if (scale == 1.0) return at::mm(a, b);
  const at::Tensor out = at::empty({a.size(0), b.size(1)}, a.options());
  return at::addmm(out, a, b, 0.0, scale);
}

// The same into `out` (a view, such as a column block).
void scaledProductInto(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double scale) {
  if (scale == 1.0)
    at::mm_out(out, a, b);
  else
    at::addmm_out(out, out, a, b, 0.0, scale);
}

// Indices into the saved tensors of FusedExperts.
// Then the M base weights and the M B's.
enum Saved : size_t { kX, kXd, kMask, kZ, kZg, kProbs, kIdx, kGate, kACat, kRCat, kFirstWeight };

// The experts of M modules that read the same input x [T, d], all with N experts of rank r:
//   logits = x R_cat^T [T, M*N]    z = dropout(x) A_cat^T [T, M*N*r]   (one matmul without dropout)
//   p = softmax per module (fp32 or fp64), top-K, g = v / sum(v), gates = scatter(g) * alpha/r
//   out_m = W_m x + b_m, then += (z_m * gates_m) B_m^T in place
// (plain LoRA, N = 1: += alpha/r z_m B_m^T, the GEMM's alpha carrying alpha / r)
// The routing (softmax to the gated z, and its backward) is one operator each way (ops::route,
// ops::gateExperts, ops::routeBackward: one kernel each on a GPU).
// With gate rescaling the backward pass takes the experts' gradients (A, B, x through them)
// through scatter(sqrt(g)) * alpha/r instead of the gates (MolaLinearOptions::gate_rescaling).
// Tensor inputs: x, A_0..A_{M-1} [N*r, d], B_0..B_{M-1} [out_m, N*r], then R_0..R_{M-1} [N, d]
// when N > 1. Outputs: out_0..out_{M-1} [T, out_m], then with a router probs [T, M, N] (with
// gradient, for the balance loss), topk indices and renormalised gates [T, M, K] (no gradient).
// The frozen base weights and biases travel in FusedBase, not as differentiable inputs.
struct FusedBase {
  std::vector<torch::Tensor> weight, bias;
  int64_t experts = 1, rank = 1, top_k = 1;
  double scaling = 1.0, dropout = 0.0;
  bool gate_rescaling = false;
};

class FusedExperts : public torch::autograd::Function<FusedExperts> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                at::TensorList inputs, const FusedBase* base) {
    const at::Tensor& x = inputs[0];
    const int64_t m = int64_t(base->weight.size()), n = base->experts, r = base->rank;
    const int64_t nr = n * r;
    const bool routed = n > 1;
    const std::vector<at::Tensor> a(inputs.begin() + 1, inputs.begin() + 1 + m);
    const std::vector<at::Tensor> b(inputs.begin() + 1 + m, inputs.begin() + 1 + 2 * m);
    std::vector<at::Tensor> router;
    if (routed) router.assign(inputs.begin() + 1 + 2 * m, inputs.begin() + 1 + 3 * m);

    // The dropout every expert path draws (so that one module matches the composite path bit for
    // bit); the bool mask is kept for the backward pass.
    const auto [xd, mask] = loraDropout(x, base->dropout);
    // The modules' routers and A's stacked, kept for the backward pass (which would otherwise
    // stack them again): R_cat [M*N, d], A_cat [M*N*r, d].
    at::Tensor r_cat, a_cat;
    at::Tensor logits, z;  // [T, M*N], [T, M*N*r]
    if (routed && !mask.defined()) {
      std::vector<at::Tensor> w = router;
      w.insert(w.end(), a.begin(), a.end());
      const at::Tensor stacked = at::cat(w, 0);
      r_cat = stacked.narrow(0, 0, m * n);
      a_cat = stacked.narrow(0, m * n, m * nr);
      const at::Tensor y = at::mm(x, stacked.t());  // [T, M*N + M*N*r]
      logits = y.narrow(1, 0, m * n);
      z = y.narrow(1, m * n, m * nr);
    } else {
      if (routed) {
        r_cat = m == 1 ? router[0] : at::cat(router, 0);
        logits = at::mm(x, r_cat.t());
      }
      a_cat = m == 1 ? a[0] : at::cat(a, 0);
      z = at::mm(xd, a_cat.t());
    }
    at::Tensor probs, idx, gate, zg;
    if (routed) {
      std::tie(probs, idx, gate) = ops::route(logits, m, base->top_k);  // [T, M, N], [T, M, K]
      zg = ops::gateExperts(z, idx, gate, r, base->scaling, /*root=*/false);
    } else {
      zg = z;  // plain LoRA: alpha / r is folded into the B products (a GEMM's alpha)
    }
    torch::autograd::variable_list out;
    for (int64_t i = 0; i < m; ++i) {
      const at::Tensor& w = base->weight[size_t(i)];
      const at::Tensor& bias = base->bias[size_t(i)];
      at::Tensor o = bias.defined() ? at::addmm(bias, x, w.t()) : at::mm(x, w.t());
      // [T, out_m], in place
      o.addmm_(zg.narrow(1, i * nr, nr), b[size_t(i)].t(), 1.0, routed ? 1.0 : base->scaling);
      out.push_back(o);
    }
    if (routed) {
      out.push_back(probs);
      out.push_back(idx);
      out.push_back(gate);
      ctx->mark_non_differentiable({idx, gate});
    }
    // Undefined output gradients stay undefined: a balance-loss-only backward must leave the
    // experts' gradients undefined, as the composite path does.
    ctx->set_materialize_grads(false);
    std::vector<at::Tensor> saved = {
        x, mask.defined() ? xd : at::Tensor(), mask, z, zg, probs, idx, gate, a_cat, r_cat};
    saved.insert(saved.end(), base->weight.begin(), base->weight.end());
    saved.insert(saved.end(), b.begin(), b.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["m"] = m;
    ctx->saved_data["n"] = n;
    ctx->saved_data["r"] = r;
    ctx->saved_data["scaling"] = base->scaling;
    ctx->saved_data["dropout"] = base->dropout;
    ctx->saved_data["rescaled"] = routed && base->gate_rescaling;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list s = ctx->get_saved_variables();
    const int64_t m = ctx->saved_data["m"].toInt(), n = ctx->saved_data["n"].toInt();
    const int64_t r = ctx->saved_data["r"].toInt(), nr = n * r;
    const double scaling = ctx->saved_data["scaling"].toDouble();
    const double dropout = ctx->saved_data["dropout"].toDouble();
    const bool routed = n > 1;
    const at::Tensor& x = s[kX];
    const at::Tensor& xd = s[kMask].defined() ? s[kXd] : x;
    const int64_t t = x.size(0);
    auto lora_b = [&](int64_t i) { return s[kFirstWeight + size_t(m + i)]; };
    // Gradient slots: x, A_0.., B_0.., R_0.., then the FusedBase pointer (never a gradient).
    torch::autograd::variable_list out(size_t(1 + (routed ? 3 : 2) * m + 1));
    const size_t ga = 1, gb = 1 + size_t(m), gr = 1 + 2 * size_t(m);

    bool any_out = false;
    for (int64_t i = 0; i < m; ++i) any_out = any_out || grads[size_t(i)].defined();
    const at::Tensor gprobs = routed ? grads[size_t(m)] : at::Tensor();

    at::Tensor gz, glogits;  // [T, M*N*r], [T, M*N] in the compute dtype
    // The experts' products as B's gradient sees them: through sqrt(g) when rescaled.
    const bool rescaled = ctx->saved_data["rescaled"].toBool();
    at::Tensor gzg;  // d loss / d (z * gates)
    // Plain LoRA saved z unscaled: alpha / r goes into the products with it.
    const double z_scale = routed ? 1.0 : scaling;
    if (any_out) {
      const at::Tensor zg_bw =
          rescaled ? ops::gateExperts(s[kZ], s[kIdx], s[kGate], r, scaling, /*root=*/true) : s[kZg];
      gzg = at::empty({t, m * nr}, x.options());
      for (int64_t i = 0; i < m; ++i) {
        const at::Tensor& go = grads[size_t(i)];
        at::Tensor slot = gzg.narrow(1, i * nr, nr);
        if (!go.defined()) {
          slot.zero_();
          continue;
        }
        scaledProductInto(slot, go, lora_b(i), z_scale);
        if (ctx->needs_input_grad(gb + size_t(i)))
          out[gb + size_t(i)] = scaledProduct(go.t(), zg_bw.narrow(1, i * nr, nr), z_scale);
      }
    }
    if (routed && (any_out || gprobs.defined())) {
      std::tie(gz, glogits) = ops::routeBackward(gzg, s[kZ], s[kProbs], s[kIdx], s[kGate], gprobs,
                                                 r, scaling, rescaled);
    } else if (any_out) {
      gz = gzg;  // alpha / r already in
    }

    if (gz.defined()) {
      const at::Tensor ga_cat = at::mm(gz.t(), xd);  // [M*N*r, d]
      for (int64_t i = 0; i < m; ++i)
        if (ctx->needs_input_grad(ga + size_t(i)))
          out[ga + size_t(i)] = ga_cat.narrow(0, i * nr, nr);
    }
    if (glogits.defined()) {
      const at::Tensor gr_cat = at::mm(glogits.t(), x);  // [M*N, d]
      for (int64_t i = 0; i < m; ++i)
        if (ctx->needs_input_grad(gr + size_t(i))) out[gr + size_t(i)] = gr_cat.narrow(0, i * n, n);
    }
    if (ctx->needs_input_grad(0) && (any_out || glogits.defined()))
      out[0] = inputGradient(grads, s, m, gz, glogits, dropout);
    return out;
  }

 private:
  // d loss / d x: through each module's frozen base weight, the routers' logits and the experts'
  // A products (and dropout's mask, scaled as its forward was). `s` holds the saved tensors.
  static at::Tensor inputGradient(const torch::autograd::variable_list& grads,
                                  const torch::autograd::variable_list& s, int64_t m,
                                  const at::Tensor& gz, const at::Tensor& glogits, double dropout) {
    at::Tensor gx;
    for (int64_t i = 0; i < m; ++i) {
      const at::Tensor& go = grads[size_t(i)];
      if (!go.defined()) continue;
      const at::Tensor& weight = s[kFirstWeight + size_t(i)];
      if (gx.defined())
        gx.addmm_(go, weight);
      else
        gx = at::mm(go, weight);
    }
    if (!gx.defined()) gx = at::zeros_like(s[kX]);
    if (glogits.defined()) gx.addmm_(glogits, s[kRCat]);
    if (gz.defined()) {
      if (s[kMask].defined()) {
        at::Tensor gxd = at::mm(gz, s[kACat]).mul_(s[kMask]);
        gx.add_(gxd, 1.0 / (1.0 - dropout));
      } else {
        gx.addmm_(gz, s[kACat]);
      }
    }
    return gx;
  }
};

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
  const c10::ScalarType type = options.adapter_dtype() == c10::ScalarType::Undefined
                                   ? weight.scalar_type()
                                   : options.adapter_dtype();
  const auto like = weight.options().dtype(type).requires_grad(false);
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
         << (options.task_gated() ? ", task_gated" : "") << ", alpha=" << options.alpha()
         << ", dropout=" << options.dropout()
         << ", impl=" << (options.impl() == ExpertImpl::Stacked ? "stacked" : "loop") << ")";
}

Routing MolaLinearImpl::route(const torch::Tensor& x2) const {
  Routing r;
  // p = softmax(W_r x) over all N experts in fp32 (bf16/fp16 compute) or fp64 (double checks).
  const auto type = x2.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  r.probs = at::softmax(at::linear(x2, castLike(router, x2)).to(type), /*dim=*/-1);  // [T, N]
  auto [values, indices] = r.probs.topk(options.top_k(), /*dim=*/-1);                // [T, K]
  r.topk_idx = indices;
  r.topk_gate = values / values.sum(-1, /*keepdim=*/true);  // g = v / sum(v)
  return r;
}

torch::Tensor MolaLinearImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(), "MolaLinear: input has shape ",
              x.sizes(), ", its last dimension must be in_features = ", options.in_features());
  if (hasAdapter() && canFuse({this}, x)) return forwardShared({this}, x)[0];
  clearRouting();
  const torch::Tensor x2 = x.reshape({-1, options.in_features()});  // [T, in]
  const torch::Tensor base = at::linear(x2, weight, bias);          // [T, out]
  if (!hasAdapter()) return base.view(outputShape(x));
  torch::Tensor out = options.task_gated()                    ? forwardTaskGated(x, base)
                      : options.impl() == ExpertImpl::Stacked ? forwardStacked(x2, base)
                                                              : forwardLoop(x2, base);
  return out.view(outputShape(x));
}

bool MolaLinearImpl::canFuse(const std::vector<MolaLinearImpl*>& modules, const torch::Tensor& x) {
  if (modules.empty() || !x.defined() || x.numel() == 0) return false;
  const MolaLinearImpl* first = modules.front();
  if (!first) return false;
  // Autocast would run the node's matmuls in half precision on fp32 tensors and leave its in-place
  // accumulation with mixed dtypes; the composite path lets autocast cast every op.
  if (x.scalar_type() == at::kFloat && autocastEnabled(x.device().type())) return false;
  const MolaLinearOptions& f = first->options;
  for (const MolaLinearImpl* m : modules) {
    if (!m || !m->hasAdapter() || m->options.impl() != ExpertImpl::Stacked) return false;
    // The fused node knows no task gates.
    if (m->options.task_gated()) return false;
    const MolaLinearOptions& o = m->options;
    if (o.num_experts() != f.num_experts() || o.rank() != f.rank() || o.top_k() != f.top_k() ||
        o.alpha() != f.alpha() || o.dropout() != f.dropout() ||
        o.gate_rescaling() != f.gate_rescaling() || o.in_features() != f.in_features() ||
        m->is_training() != first->is_training())
      return false;
    if (m->weight.requires_grad() || (m->bias.defined() && m->bias.requires_grad())) return false;
    if (m->weight.scalar_type() != x.scalar_type() || m->weight.device() != x.device())
      return false;
    for (const torch::Tensor* t : {&m->lora_A, &m->lora_B, &m->router}) {
      if (t == &m->router && !m->hasRouter()) continue;
      if (!adapterTypeFits(t->scalar_type(), x.scalar_type()) || t->device() != x.device())
        return false;
    }
  }
  return x.size(-1) == f.in_features();
}

std::vector<torch::Tensor> MolaLinearImpl::forwardShared(
    const std::vector<MolaLinearImpl*>& modules, const torch::Tensor& x) {
  TORCH_CHECK(!modules.empty(), "MolaLinear::forwardShared: no modules given");
  std::vector<torch::Tensor> out;
  if (!canFuse(modules, x)) {
    for (MolaLinearImpl* m : modules) {
      TORCH_CHECK(m, "MolaLinear::forwardShared: a module is null");
      out.push_back(m->forward(x));
    }
    return out;
  }
  const MolaLinearOptions& o = modules.front()->options;
  FusedBase base;
  base.experts = o.num_experts();
  base.rank = o.rank();
  base.top_k = o.top_k();
  base.scaling = modules.front()->scaling();
  base.dropout = modules.front()->is_training() ? o.dropout() : 0.0;
  base.gate_rescaling = o.gate_rescaling();
  // Every input in the dtype of x: the casts of fp32 master weights sit outside the fused node, so
  // autograd takes the gradients back to fp32 through them.
  std::vector<torch::Tensor> inputs = {x.reshape({-1, o.in_features()})};  // [T, in]
  for (MolaLinearImpl* m : modules) inputs.push_back(castLike(m->lora_A, x));
  for (MolaLinearImpl* m : modules) inputs.push_back(castLike(m->lora_B, x));
  if (base.experts > 1)
    for (MolaLinearImpl* m : modules) inputs.push_back(castLike(m->router, x));
  for (MolaLinearImpl* m : modules) {
    base.weight.push_back(m->weight);
    base.bias.push_back(m->bias);
  }
  const torch::autograd::variable_list res = FusedExperts::apply(at::TensorList(inputs), &base);
  const size_t count = modules.size();
  for (size_t i = 0; i < count; ++i) {
    MolaLinearImpl& module = *modules[i];
    out.push_back(res[i].view(module.outputShape(x)));
    module.clearRouting();
    if (base.experts <= 1) continue;
    const int64_t j = static_cast<int64_t>(i);
    // Views into [T, M, N] and [T, M, K] for each module; the group's whole tensors on the first
    // (routingBlock): the balance loss reaches the routers through them.
    module.m_routing =
        Routing{res[count].select(1, j), res[count + 1].select(1, j), res[count + 2].select(1, j)};
    module.m_in_group = true;
    if (i == 0) module.m_group_routing = Routing{res[count], res[count + 1], res[count + 2]};
  }
  return out;
}

const Routing* MolaLinearImpl::routingBlock() const {
  if (m_group_routing.probs.defined()) return &m_group_routing;
  if (m_in_group || !m_routing.probs.defined()) return nullptr;
  return &m_routing;
}

std::vector<int64_t> MolaLinearImpl::outputShape(const torch::Tensor& x) const {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = options.out_features();
  return shape;
}

torch::Tensor MolaLinearImpl::forwardStacked(const torch::Tensor& x2, const torch::Tensor& base) {
  const int64_t t = x2.size(0), n = options.num_experts(), r = options.rank();
  const torch::Tensor xd = is_training() ? loraDropout(x2, options.dropout()).x : x2;
  const torch::Tensor z = at::linear(xd, castLike(lora_A, x2));  // [T, N*r]: every A x at once
  const torch::Tensor b = castLike(lora_B, x2);
  // h = W0 x + B z in one fused matmul-accumulate: [T, out]
  if (!hasRouter()) return at::addmm(base, z * scaling(), b.t());
  m_routing = route(x2);
  const torch::Tensor z3 = z.view({t, n, r});
  const torch::Tensor gates = denseGates(m_routing.topk_gate, z);
  if (!options.gate_rescaling()) return at::addmm(base, (z3 * gates).view({t, n * r}), b.t());
  // Gate-aware rescaling: the value is B (z g) as above, but the experts (A, B and x through
  // them) take gradient through B (z sqrt(g)), the gate through the detached rest.
  const torch::Tensor root = denseGates(m_routing.topk_gate.detach().sqrt(), z);
  const torch::Tensor rest = (z3.detach() * (gates - root)).view({t, n * r});
  return at::addmm(at::addmm(base, (z3 * root).view({t, n * r}), b.t()), rest, b.detach().t());
}

torch::Tensor MolaLinearImpl::denseGates(const torch::Tensor& g, const torch::Tensor& like) const {
  // [T, N]: g on the K chosen experts, 0 elsewhere; alpha/r folded in.
  return at::zeros({like.size(0), options.num_experts()}, g.options())
      .scatter(1, m_routing.topk_idx, g * scaling())
      .to(like.scalar_type())
      .unsqueeze(-1);  // [T, N, 1]
}

torch::Tensor MolaLinearImpl::forwardTaskGated(const torch::Tensor& x, const torch::Tensor& base) {
  const int64_t n = options.num_experts(), r = options.rank(), in = options.in_features();
  TORCH_CHECK(m_task_gates.defined(),
              "MolaLinear (MOELoRA): no task gates were set for this forward pass; the model "
              "sets them from the tasks of the batch");
  TORCH_CHECK(x.dim() >= 2 && m_task_gates.dim() == 2 && m_task_gates.size(0) == x.size(0) &&
                  m_task_gates.size(1) == n,
              "MolaLinear (MOELoRA): task gates have shape ", m_task_gates.sizes(),
              " but the input has shape ", x.sizes(), "; expected [", x.size(0), ", ", n, "]");
  const int64_t b = x.size(0), t = x.numel() / (b * in);
  const torch::Tensor x2 = x.reshape({-1, in});
  const torch::Tensor xd = is_training() ? loraDropout(x2, options.dropout()).x : x2;
  const torch::Tensor z = at::linear(xd, castLike(lora_A, x2)).view({b, t, n, r});
  // Every token of sequence s weighs expert i by w_{s,i}; alpha/r folded in.
  const torch::Tensor w = (m_task_gates * scaling()).to(z.scalar_type()).view({b, 1, n, 1});
  return at::addmm(base, (z * w).view({b * t, n * r}), castLike(lora_B, x2).t());
}

torch::Tensor MolaLinearImpl::forwardLoop(const torch::Tensor& x2, const torch::Tensor& base) {
  const int64_t n = options.num_experts(), r = options.rank();
  const torch::Tensor xd = is_training() ? loraDropout(x2, options.dropout()).x : x2;
  if (!hasRouter())
    return base +
           at::linear(at::linear(xd, castLike(lora_A, x2)), castLike(lora_B, x2)) * scaling();
  m_routing = route(x2);
  torch::Tensor out = base;
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor chosen = m_routing.topk_idx.eq(i);                  // [T, K]
    const torch::Tensor rows = chosen.any(/*dim=*/1).nonzero().squeeze(1);  // host sync
    if (rows.numel() == 0) continue;
    const torch::Tensor g = (m_routing.topk_gate * chosen).sum(1).index_select(0, rows);  // [n_i]
    const torch::Tensor a_i = castLike(lora_A.narrow(0, i * r, r), x2);                   // [r, in]
    const torch::Tensor b_i = castLike(lora_B.narrow(1, i * r, r), x2);  // [out, r]
    const torch::Tensor h = at::linear(at::linear(xd.index_select(0, rows), a_i), b_i);
    const auto col = [&](const torch::Tensor& v) {
      return (v * scaling()).to(h.scalar_type()).unsqueeze(1);
    };
    out = out.index_add(0, rows,
                        options.gate_rescaling()
                            ? scaleWithGradient(h, col(g), col(g.detach().sqrt()))
                            : h * col(g));
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

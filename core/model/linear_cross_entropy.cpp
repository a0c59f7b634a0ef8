// SPDX-License-Identifier: GPL-3.0-or-later
// linearCrossEntropySum: a custom autograd node whose forward computes the loss and its gradients
// chunk by chunk, and whose backward only scales them.
#include "model/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <vector>

namespace mola {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kChunkLogits = int64_t(64) << 20;

struct Wanted {
  bool h = false, weight = false;
};

// fp64 stays fp64; everything else takes its softmax and sums in fp32.
at::ScalarType mathType(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

class LinearCrossEntropyNode : public torch::autograd::Function<LinearCrossEntropyNode> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& weight,
                            const at::Tensor& targets, int64_t chunk, Wanted wanted) {
    const int64_t n = h.size(0);
    at::Tensor loss = at::zeros({}, h.options().dtype(mathType(h.scalar_type())));
    std::vector<at::Tensor> grad_h;
    at::Tensor grad_w;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t rows = std::min(chunk, n - start);
      const at::Tensor hc = h.narrow(0, start, rows);
      const at::Tensor tc = targets.narrow(0, start, rows).unsqueeze(1);
      const at::Tensor z = at::linear(hc, weight);  // [rows, V], the head's own product
      // log p, then d loss / d z = p - onehot(target) written over it.
      at::Tensor g = at::log_softmax(z, 1, mathType(z.scalar_type()));
      loss.sub_(g.gather(1, tc).sum());
      if (!wanted.h && !wanted.weight) continue;
      g.exp_().scatter_add_(1, tc, at::full({rows, 1}, -1.0, g.options()));
      const at::Tensor gz = g.to(z.scalar_type());  // as the product's backward would see it
      if (wanted.h) grad_h.push_back(at::mm(gz, weight).to(h.scalar_type()));
      if (wanted.weight) {
        const at::Tensor gw = at::mm(gz.t(), hc).to(mathType(weight.scalar_type()));
        grad_w = grad_w.defined() ? grad_w.add_(gw) : gw;
      }
    }
    at::Tensor gh;
    if (wanted.h)
      gh = grad_h.empty() ? at::zeros_like(h) : grad_h.size() == 1 ? grad_h[0] : at::cat(grad_h);
    if (grad_w.defined()) grad_w = grad_w.to(weight.scalar_type());
    ctx->save_for_backward({gh, grad_w});
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    variable_list out(5);  // h, weight, targets, chunk, wanted
    const at::Tensor& go = grads[0];
    if (!go.defined()) return out;
    for (size_t i = 0; i < 2; ++i)
      if (saved[i].defined()) out[i] = saved[i] * go.to(saved[i].scalar_type());
    return out;
  }
};

}  // namespace

at::Tensor linearCrossEntropySum(const at::Tensor& h, const at::Tensor& weight,
                                 const at::Tensor& targets, int64_t chunk_rows) {
  TORCH_CHECK(h.dim() == 2 && weight.dim() == 2 && h.size(1) == weight.size(1),
              "linearCrossEntropySum: hidden states ", h.sizes(), " do not fit the head weight ",
              weight.sizes(), " ([rows, d] and [vocab, d])");
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == h.size(0), "linearCrossEntropySum: targets ",
              targets.sizes(), " for ", h.size(0), " rows");
  TORCH_CHECK(chunk_rows >= 0, "linearCrossEntropySum: chunk_rows ", chunk_rows, " < 0");
  const int64_t chunk =
      chunk_rows > 0 ? chunk_rows : std::max<int64_t>(1, kChunkLogits / weight.size(0));
  Wanted wanted;
  wanted.h = at::GradMode::is_enabled() && h.requires_grad();
  wanted.weight = at::GradMode::is_enabled() && weight.requires_grad();
  return LinearCrossEntropyNode::apply(h, weight, targets, chunk, wanted);
}

}  // namespace mola

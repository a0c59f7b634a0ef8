// SPDX-License-Identifier: GPL-3.0-or-later
// RiemannianPreconditioner: per-expert r x r Gram matrices, inverted in batches, applied to the
// gradients of A and B.
#include "train/riemannian_preconditioner.h"

#include <ATen/ATen.h>

#include <map>
#include <stdexcept>

#include "adapters/mola_linear.h"

namespace mola {

RiemannianPreconditioner::RiemannianPreconditioner(std::vector<MolaLinearImpl*> modules,
                                                   double damping)
    : m_modules(std::move(modules)), m_damping(damping) {
  if (!(damping > 0.0))
    throw std::invalid_argument("the Riemannian preconditioner's damping must be > 0");
}

void RiemannianPreconditioner::apply() const {
  at::NoGradGuard no_grad;
  struct Item {
    MolaLinearImpl* module;
    int64_t first;  // row of its first Gram matrix in the batch of its rank
  };
  // Per expert rank: the modules, and their Gram matrices [2N, r, r] (B^T B of each expert, then
  // A A^T of each).
  std::map<int64_t, std::vector<Item>> by_rank;
  std::map<int64_t, std::vector<at::Tensor>> grams;
  for (MolaLinearImpl* m : m_modules) {
    if (!m->hasAdapter() || (!m->lora_A.grad().defined() && !m->lora_B.grad().defined())) continue;
    const int64_t r = m->options.rank();
    const at::Tensor a = m->expertsA().detach();  // [N, r, in]
    const at::Tensor b = m->lora_B.detach()
                             .view({m->options.out_features(), m->options.num_experts(), r})
                             .permute({1, 0, 2});  // [N, out, r]
    std::vector<at::Tensor>& list = grams[r];
    int64_t first = 0;
    for (const at::Tensor& g : list) first += g.size(0);
    by_rank[r].push_back({m, first});
    list.push_back(at::cat({at::bmm(b.transpose(1, 2), b), at::bmm(a, a.transpose(1, 2))}));
  }
  for (auto& [r, list] : grams) {
    const at::Tensor g = at::cat(list).to(at::kDouble);  // [E, r, r]
    const at::Tensor eye = at::eye(r, g.options()).expand_as(g);
    // Batched (G + dI)^-1 = L^-T L^-1 from the Cholesky factor L: G + dI is positive definite
    // (damping > 0), so nothing needs the error checks of LibTorch's solvers and inverses, which
    // read a value on the host (a wait on a GPU).
    const at::Tensor l = std::get<0>(at::linalg_cholesky_ex(g + m_damping * eye));
    const at::Tensor l_inv = at::linalg_solve_triangular(l, eye, /*upper=*/false);
    const at::Tensor inv = at::bmm(l_inv.transpose(1, 2), l_inv);
    for (const Item& item : by_rank[r]) {
      MolaLinearImpl* m = item.module;
      const int64_t n = m->options.num_experts(), in = m->options.in_features();
      const int64_t out = m->options.out_features();
      const at::Tensor inv_b = inv.narrow(0, item.first, n);      // (B^T B + dI)^-1 [N, r, r]
      const at::Tensor inv_a = inv.narrow(0, item.first + n, n);  // (A A^T + dI)^-1 [N, r, r]
      if (at::Tensor ga = m->lora_A.mutable_grad(); ga.defined()) {
        const at::Tensor g3 = ga.view({n, r, in});
        g3.copy_(at::bmm(inv_b.to(ga.scalar_type()), g3));
      }
      if (at::Tensor gb = m->lora_B.mutable_grad(); gb.defined()) {
        const at::Tensor g3 = gb.view({out, n, r}).permute({1, 0, 2});  // [N, out, r]
        // The inverse is symmetric: grad B_i M^-1 = grad B_i (M^-1)^T.
        g3.copy_(at::bmm(g3, inv_a.to(gb.scalar_type())));
      }
    }
  }
}

}  // namespace mola

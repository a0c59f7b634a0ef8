// SPDX-License-Identifier: GPL-3.0-or-later
// Riemannian preconditioning of LoRA experts' gradients (Zhang & Pilanci 2024; per expert, as the
// MoE-LoRA optimizer of Sun et al., ICML 2025).
#pragma once

#include <vector>

namespace mola {

class MolaLinearImpl;

class RiemannianPreconditioner {
 public:
  // `modules`: the adapters whose expert gradients are preconditioned (routers, task gates and
  // base weights never are). damping: the delta of (G + delta I)^-1, > 0.
  RiemannianPreconditioner(std::vector<MolaLinearImpl*> modules, double damping);

  // For every expert i of every module, from the current A_i [r, in] and B_i [out, r]:
  //   grad A_i <- (B_i^T B_i + delta I)^-1 grad A_i
  //   grad B_i <- grad B_i (A_i A_i^T + delta I)^-1
  // in place, before the optimizer's step. The r x r systems of all experts of one rank are
  // solved in one batched call, in fp64 (B = 0 at the start makes B^T B + delta I as badly
  // conditioned as delta is small). Gradients that are undefined stay so.
  void apply() const;

 private:
  std::vector<MolaLinearImpl*> m_modules;
  double m_damping;
};

}  // namespace mola

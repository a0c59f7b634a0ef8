// SPDX-License-Identifier: GPL-3.0-or-later
// The routing of one token in one module, as plain functions that the CPU operators (a loop over
// rows) and the CUDA kernels (a thread per row) share, so the tests on the CPU check the
// arithmetic a GPU runs. S: the compute dtype (float, double, c10::BFloat16, c10::Half); A: the
// routing dtype (double for double, float otherwise). No allocation, no library call but exp and
// sqrt: the same code compiles for the host and the device.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define MOLA_HD __host__ __device__
#else
#define MOLA_HD
#endif

namespace mola::rows {

MOLA_HD inline float expOf(float v) {
  return ::expf(v);
}
MOLA_HD inline double expOf(double v) {
  return ::exp(v);
}
MOLA_HD inline float sqrtOf(float v) {
  return ::sqrtf(v);
}
MOLA_HD inline double sqrtOf(double v) {
  return ::sqrt(v);
}

// Whether a beats b in top-K: larger, or NaN over a number (as torch.topk orders NaN first).
template <typename A>
MOLA_HD inline bool ranksAbove(A a, A b) {
  return a > b || (a != a && b == b);
}

// p = softmax(logits) over n experts in A; the k largest (ties: the lower index) in descending
// order as idx, and g = p[idx] / sum(p[idx]). Every index is valid, even for NaN logits.
template <typename S, typename A>
MOLA_HD void route(const S* logits, int64_t n, int64_t k, A* probs, int64_t* idx, A* gate) {
  A top = static_cast<A>(logits[0]);
  for (int64_t e = 1; e < n; ++e) {
    const A v = static_cast<A>(logits[e]);
    if (v > top) top = v;
  }
  A sum = 0;
  for (int64_t e = 0; e < n; ++e) {
    probs[e] = expOf(static_cast<A>(logits[e]) - top);
    sum += probs[e];
  }
  for (int64_t e = 0; e < n; ++e) probs[e] /= sum;
  A kept = 0;
  for (int64_t i = 0; i < k; ++i) {
    int64_t best = -1;
    for (int64_t e = 0; e < n; ++e) {
      bool taken = false;
      for (int64_t j = 0; j < i; ++j) taken = taken || idx[j] == e;
      if (!taken && (best < 0 || ranksAbove(probs[e], probs[best]))) best = e;
    }
    idx[i] = best;
    kept += probs[best];
  }
  for (int64_t i = 0; i < k; ++i) gate[i] = probs[idx[i]] / kept;
}

// Products are taken in A (float for bf16/fp16 storage, as ATen's element-wise kernels do).
// The factor expert e's rank-r block is multiplied by: alpha/r times its gate (or the gate's
// square root), 0 for an expert not chosen; rounded to S as a dense gate tensor in S would be.
template <typename S, typename A>
MOLA_HD S expertFactor(int64_t e, const int64_t* idx, const A* gate, int64_t k, A scaling,
                       bool root) {
  A f = 0;
  for (int64_t i = 0; i < k; ++i)
    if (idx[i] == e) f = (root ? sqrtOf(gate[i]) : gate[i]) * scaling;
  return static_cast<S>(f);
}

// out[e*r + j] = z[e*r + j] * expertFactor(e): the expert products weighted by their gates.
template <typename S, typename A>
MOLA_HD void gateExperts(const S* z, const int64_t* idx, const A* gate, int64_t n, int64_t k,
                         int64_t r, A scaling, bool root, S* out) {
  for (int64_t e = 0; e < n; ++e) {
    const A f = static_cast<A>(expertFactor<S, A>(e, idx, gate, k, scaling, root));
    for (int64_t j = 0; j < r; ++j)
      out[e * r + j] = static_cast<S>(static_cast<A>(z[e * r + j]) * f);
  }
}

// d loss / d gate_i * alpha/r for the i-th chosen expert: its block of gzg against z.
template <typename S, typename A>
MOLA_HD A chosenGateGradient(const S* gzg, const S* z, int64_t e, int64_t r, A scaling) {
  A sum = 0;
  for (int64_t j = 0; j < r; ++j)
    sum += static_cast<A>(gzg[e * r + j]) * static_cast<A>(z[e * r + j]);
  return sum * scaling;
}

// d loss / d p_e: through the renormalised gates of the chosen experts (g = v / sum v, v = p[idx];
// dot = sum_i dgate_i g_i, kept = sum_i v_i) when gzg is given, plus gprobs (the balance loss's
// gradient, element stride gp_stride) when given.
template <typename S, typename A>
MOLA_HD A probGradient(int64_t e, const S* gzg, const S* z, const int64_t* idx, const A* gprobs,
                       int64_t gp_stride, int64_t k, int64_t r, A scaling, A dot, A kept) {
  A g = gprobs ? gprobs[e * gp_stride] : A(0);
  if (gzg)
    for (int64_t i = 0; i < k; ++i)
      if (idx[i] == e) g += (chosenGateGradient<S, A>(gzg, z, e, r, scaling) - dot) / kept;
  return g;
}

// The backward pass of route + gateExperts for one row. gzg: d loss / d out of gateExperts, or
// null; gprobs: d loss / d probs, or null (not both). Writes gz = gzg * expertFactor (the
// factor with the gate's square root when `root`: the gate-aware rescaling) when gzg is given,
// and glogits = d loss / d logits through the softmax.
template <typename S, typename A>
MOLA_HD void routeBackward(const S* gzg, const S* z, const A* probs, const int64_t* idx,
                           const A* gate, const A* gprobs, int64_t gp_stride, int64_t n, int64_t k,
                           int64_t r, A scaling, bool root, S* gz, S* glogits) {
  A dot = 0, kept = 0;  // sum_i dgate_i * g_i, sum_i v_i
  for (int64_t i = 0; i < k; ++i) {
    kept += probs[idx[i]];
    if (gzg) dot += chosenGateGradient<S, A>(gzg, z, idx[i], r, scaling) * gate[i];
  }
  if (gzg) {
    for (int64_t e = 0; e < n; ++e) {
      const A f = static_cast<A>(expertFactor<S, A>(e, idx, gate, k, scaling, root));
      for (int64_t j = 0; j < r; ++j)
        gz[e * r + j] = static_cast<S>(static_cast<A>(gzg[e * r + j]) * f);
    }
  }
  A mean = 0;  // sum_e dp_e * p_e
  for (int64_t e = 0; e < n; ++e)
    mean +=
        probGradient<S, A>(e, gzg, z, idx, gprobs, gp_stride, k, r, scaling, dot, kept) * probs[e];
  for (int64_t e = 0; e < n; ++e) {
    const A gp = probGradient<S, A>(e, gzg, z, idx, gprobs, gp_stride, k, r, scaling, dot, kept);
    glogits[e] = static_cast<S>(probs[e] * (gp - mean));
  }
}

}  // namespace mola::rows

namespace mola::rows {

// One row's (one token in one module) part of slot `slot` of its layer's routing sums:
// [0, n) whether the row chose that expert, [n, 2n) its probability, 2n its entropy
// -sum p ln max(p, 1e-30), 2n + 1 one (the row counts as a token).
template <typename A>
MOLA_HD double sumsContribution(int64_t slot, const A* probs, const int64_t* idx, int64_t n,
                                int64_t k) {
  if (slot < n) {
    for (int64_t i = 0; i < k; ++i)
      if (idx[i] == slot) return 1.0;
    return 0.0;
  }
  if (slot < 2 * n) return static_cast<double>(probs[slot - n]);
  if (slot == 2 * n) {
    double h = 0;
    for (int64_t e = 0; e < n; ++e) {
      const double p = static_cast<double>(probs[e]);
      h -= p * ::log(p > 1e-30 ? p : 1e-30);
    }
    return h;
  }
  return 1.0;
}

// The balance loss of one layer from its sums (layout of sumsContribution): with f_i the share
// of the K selections per token that chose expert i and T the tokens, both from `global` (summed
// over ranks), and P_i's numerator from `local` (this rank's probability sums), writes the
// gradient of the loss with respect to each row's probability of expert i,
// coef_i = coefficient * n * f_i / T (times the row's weight), and returns the loss
// sum_i coef_i * local probability sum_i. A layer without tokens or choices gives 0.
template <typename A>
MOLA_HD double layerBalance(const double* local, const double* global, int64_t n, int64_t k,
                            double coefficient, A* coef) {
  const double tokens = global[2 * n + 1] > 1.0 ? global[2 * n + 1] : 1.0;  // no NaN when empty
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double f = k > 0 ? global[i] / (tokens * double(k)) : 0.0;
    const double c = coefficient * double(n) * f / tokens;
    coef[i] = static_cast<A>(c);
    loss += c * local[n + i];
  }
  return loss;
}

// The balance loss of `layers` layers laid out one after another (2 n_j + 2 sums each; coef n_j
// each): the sum of layerBalance over them.
template <typename A>
MOLA_HD double balanceOfLayers(const double* local, const double* global, const int64_t* experts,
                               const int64_t* top_k, int64_t layers, double coefficient, A* coef) {
  double total = 0;
  for (int64_t j = 0; j < layers; ++j) {
    total += layerBalance<A>(local, global, experts[j], top_k[j], coefficient, coef);
    local += 2 * experts[j] + 2;
    global += 2 * experts[j] + 2;
    coef += experts[j];
  }
  return total;
}

}  // namespace mola::rows

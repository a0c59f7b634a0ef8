// SPDX-License-Identifier: GPL-3.0-or-later
#include "dist/gradient_buckets.h"

#include <ATen/ATen.h>

#include <exception>
#include <stdexcept>

#include "dist/rank_group.h"

namespace mola {

GradientBuckets::GradientBuckets(RankGroup& group, std::vector<at::Tensor> params,
                                 int64_t bucket_bytes)
    : m_group(group), m_params(std::move(params)) {
  m_bucket_of.assign(m_params.size(), 0);
  m_slot_of.assign(m_params.size(), 0);
  m_arrived.assign(m_params.size(), false);
  // Last parameter first; a bucket holds one dtype on one device.
  std::vector<int64_t> sizes;
  for (size_t i = m_params.size(); i-- > 0;) {
    const at::Tensor& p = m_params[i];
    const bool fits = !m_buckets.empty() &&
                      m_params[m_buckets.back().params.front()].scalar_type() == p.scalar_type() &&
                      m_params[m_buckets.back().params.front()].device() == p.device() &&
                      (sizes.back() + p.numel()) * int64_t(p.element_size()) <=
                          std::max<int64_t>(1, bucket_bytes);
    if (!fits) {
      m_buckets.emplace_back();
      sizes.push_back(0);
    }
    Bucket& b = m_buckets.back();
    m_slot_of[i] = b.params.size();
    b.params.push_back(i);
    b.offsets.push_back(sizes.back());
    sizes.back() += p.numel();
    m_bucket_of[i] = m_buckets.size() - 1;
  }
  for (size_t k = 0; k < m_buckets.size(); ++k) {
    const at::Tensor& first = m_params[m_buckets[k].params.front()];
    m_buckets[k].flat = at::zeros({sizes[k]}, first.options().requires_grad(false));
  }
  for (size_t i = 0; i < m_params.size(); ++i)
    m_hooks.push_back(m_params[i].register_hook([this, i](const at::TensorBase& grad) {
      if (m_armed) arrive(i, at::Tensor(grad));
    }));
}

GradientBuckets::~GradientBuckets() {
  for (size_t i = 0; i < m_params.size(); ++i) m_params[i].remove_hook(m_hooks[i]);
}

void GradientBuckets::arm(const std::string& what) {
  m_what = what;
  m_armed = true;
  m_next = 0;
  m_arrived.assign(m_params.size(), false);
  for (Bucket& b : m_buckets) {
    b.arrived = 0;
    b.wait = nullptr;
  }
}

void GradientBuckets::arrive(size_t i, const at::Tensor& grad) {
  // The hook runs before autograd adds `grad` to .grad, which holds the step's earlier
  // micro-batches: the bucket gets their sum.
  if (m_arrived[i]) throw std::logic_error("GradientBuckets: a gradient arrived twice");
  m_arrived[i] = true;
  Bucket& b = m_buckets[m_bucket_of[i]];
  const at::Tensor& p = m_params[i];
  at::Tensor dst = b.flat.narrow(0, b.offsets[m_slot_of[i]], p.numel()).view(p.sizes());
  const at::Tensor& earlier = p.grad();
  if (earlier.defined())
    at::add_out(dst, earlier, grad);
  else
    dst.copy_(grad);
  ++b.arrived;
  startReady();
}

void GradientBuckets::startReady() {
  while (m_next < m_buckets.size() && m_buckets[m_next].arrived == m_buckets[m_next].params.size())
    start(m_buckets[m_next++]);
}

void GradientBuckets::start(Bucket& b) {
  // Called from autograd's hooks: a failure waits for finish() (autograd would rewrap it).
  try {
    b.wait = m_group.allReduceSumAsync(b.flat, "the gradient all-reduce of " + m_what);
  } catch (...) {
    b.wait = [failure = std::current_exception()] { std::rethrow_exception(failure); };
  }
}

void GradientBuckets::finish() {
  if (!m_armed) throw std::logic_error("GradientBuckets::finish without arm");
  m_armed = false;
  // Parameters the last backward pass did not reach: their earlier gradient, or zeros.
  for (size_t i = 0; i < m_params.size(); ++i) {
    if (m_arrived[i]) continue;
    m_arrived[i] = true;
    Bucket& b = m_buckets[m_bucket_of[i]];
    const at::Tensor& p = m_params[i];
    at::Tensor dst = b.flat.narrow(0, b.offsets[m_slot_of[i]], p.numel());
    if (p.grad().defined())
      dst.copy_(p.grad().reshape({-1}));
    else
      dst.zero_();
    ++b.arrived;
  }
  startReady();
  for (Bucket& b : m_buckets) {
    b.wait();
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      at::Tensor& p = m_params[b.params[slot]];
      const at::Tensor sum = b.flat.narrow(0, b.offsets[slot], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(sum);
      else
        p.mutable_grad() = sum.clone();
    }
  }
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// OpCounter against operator sequences whose calls are known.
#include "bench/op_counter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace mola {
namespace {

TEST(OpCounter, CountsCallsLeavesAndTheHostSyncsOfKnownOperators) {
  const at::Tensor a = at::ones({3}), b = at::full({3}, 2.0);
  OpCounts c;
  {
    const OpCounter counter;
    const at::Tensor s = at::add(a, b);  // one leaf call, a kernel
    EXPECT_EQ(counter.counts().ops, 1);
    EXPECT_EQ(counter.counts().leaf_ops, 1);
    EXPECT_EQ(counter.counts().kernels, 1);
    EXPECT_EQ(counter.counts().syncs, 0);
    (void)s.t().unsqueeze(0);  // views: leaves, no kernel
    EXPECT_EQ(counter.counts().leaf_ops, 3);
    EXPECT_EQ(counter.counts().kernels, 1);
    const double v = s[0].item<double>();  // select, then item -> _local_scalar_dense
    EXPECT_EQ(v, 3.0);
    (void)at::nonzero(s);
    c = counter.counts();
  }
  EXPECT_EQ(c.syncs, 2);
  EXPECT_EQ(c.sync_ops.at("aten::_local_scalar_dense"), 1);
  EXPECT_EQ(c.sync_ops.at("aten::nonzero"), 1);
  EXPECT_GE(c.ops, 7);  // add, t, unsqueeze, select, item, _local_scalar_dense, nonzero, ...
  EXPECT_LT(c.leaf_ops, c.ops);  // item calls _local_scalar_dense: not a leaf
  // Nothing is counted once the counter is gone, and a second one starts from zero.
  (void)at::add(a, b);
  const OpCounter again;
  EXPECT_EQ(again.counts().ops, 0);
  EXPECT_THROW(OpCounter(), std::logic_error);
}

TEST(OpCounter, AKernelThatAllocatesItsOutputCountsOnceAndACompositeCountsItsParts) {
  const at::Tensor m = at::rand({4, 4});
  std::vector<at::Tensor> list = {m.clone(), m.clone(), m.clone()};
  const OpCounter counter;
  (void)at::mm(m, m);  // allocates its output through the dispatcher: one kernel
  EXPECT_EQ(counter.counts().kernels, 1);
  EXPECT_EQ(counter.counts().kernel_ops.at("aten::mm"), 1);
  (void)at::softmax(m, 1);  // a composite over _softmax: that one kernel
  EXPECT_EQ(counter.counts().kernels, 2);
  EXPECT_EQ(counter.counts().kernel_ops.at("aten::_softmax"), 1);
  at::_foreach_add_(list, 1.0);  // one multi-tensor launch for three tensors
  EXPECT_EQ(counter.counts().kernels, 3);
  EXPECT_EQ(counter.counts().kernel_ops.at("aten::_foreach_add_"), 1);
  (void)(m * 2.0 + 1.0);  // two kernels; the scalars' casts on the CPU are none
  EXPECT_EQ(counter.counts().kernels, 5);
  (void)(m * (m > 0.5));  // the bool operand's cast is part of the product's kernel on a GPU
  EXPECT_EQ(counter.counts().kernels, 7);
  EXPECT_EQ(counter.counts().kernel_ops.count("aten::copy_"), 0u);
  (void)m.to(at::kDouble);  // a conversion of its own is a kernel
  EXPECT_EQ(counter.counts().kernels, 8);
}

}  // namespace
}  // namespace mola

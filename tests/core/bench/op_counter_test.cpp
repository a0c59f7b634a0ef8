// SPDX-License-Identifier: GPL-3.0-or-later
// OpCounter against operator sequences whose calls are known.
#include "bench/op_counter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>

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

}  // namespace
}  // namespace mola

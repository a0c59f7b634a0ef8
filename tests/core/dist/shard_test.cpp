// SPDX-License-Identifier: GPL-3.0-or-later
// Each rank's share of a batch: contiguous, in rank order, covering every item once.
#include <gtest/gtest.h>

#include "train/data_parallel.h"

namespace mola {
namespace {

TEST(Shard, SplitsContiguouslyWithTheRemainderFirst) {
  // 7 items over 3 ranks: 3, 2, 2.
  EXPECT_EQ(shardOf(7, 0, 3).begin, 0u);
  EXPECT_EQ(shardOf(7, 0, 3).end, 3u);
  EXPECT_EQ(shardOf(7, 1, 3).begin, 3u);
  EXPECT_EQ(shardOf(7, 1, 3).end, 5u);
  EXPECT_EQ(shardOf(7, 2, 3).begin, 5u);
  EXPECT_EQ(shardOf(7, 2, 3).end, 7u);
  // Fewer items than ranks: the last ranks get none.
  EXPECT_EQ(shardOf(1, 0, 2).size(), 1u);
  EXPECT_EQ(shardOf(1, 1, 2).size(), 0u);
  for (size_t n : {0u, 1u, 5u, 16u, 17u})
    for (int world : {1, 2, 3, 8}) {
      size_t next = 0;
      for (int r = 0; r < world; ++r) {
        const Shard s = shardOf(n, r, world);
        EXPECT_EQ(s.begin, next) << n << " items, rank " << r << " of " << world;
        EXPECT_LE(s.size(), n / size_t(world) + 1);
        EXPECT_GE(s.size(), n / size_t(world));
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
}

}  // namespace
}  // namespace mola

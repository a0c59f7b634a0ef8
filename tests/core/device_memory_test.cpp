// SPDX-License-Identifier: GPL-3.0-or-later
// The CPU's memory figures against memory mapped and released by hand: the peak counts what was
// resident, and a reset starts it again from the resident set (per training step).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "device_memory.h"

namespace mola {
namespace {

TEST(DeviceMemory, TheCpuPeakStartsAgainAtEachReset) {
  const c10::Device cpu(c10::kCPU);
  constexpr size_t kBytes = size_t(256) << 20;
  void* block = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  std::memset(block, 1, kBytes);  // every page resident
  const double with_block = processRssMb();
  const double high = peakMemoryMb(cpu);
  ASSERT_EQ(munmap(block, kBytes), 0);
  const double rss = processRssMb();
  EXPECT_GE(with_block, rss + 250.0) << "the 256 MiB were resident, then released";
  EXPECT_GE(high, with_block - 1.0);
  if (!resetPeakMemory(cpu)) GTEST_SKIP() << "this kernel cannot reset the high-water mark";
  const double after = peakMemoryMb(cpu);
  EXPECT_LT(after, rss + 50.0) << "the peak starts again from the resident set";
  EXPECT_GE(after, rss - 50.0);
}

}  // namespace
}  // namespace mola

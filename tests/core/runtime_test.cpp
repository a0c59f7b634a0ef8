// SPDX-License-Identifier: GPL-3.0-or-later
// configureCpuRuntime: the thread split it reports, and (glibc) large tensors served from the heap
// and kept there for reuse until releaseFreedMemory().
#include "runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#ifdef __GLIBC__
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#endif

namespace mola {
namespace {

TEST(CpuRuntime, ThreadsAreSplitBetweenOpenBlasAndLibTorch) {
  const CpuThreads t = configureCpuRuntime(2);
  EXPECT_EQ(t.torch, at::get_num_threads());
  if (t.blas > 0) {
    EXPECT_EQ(t.blas, 2) << "OpenBLAS gets the threads";
    EXPECT_EQ(t.torch, 1) << "and LibTorch's own ops one";
  } else {
    EXPECT_EQ(t.torch, 2) << "without OpenBLAS LibTorch gets them";
  }
  EXPECT_EQ(configureCpuRuntime(2, 2).torch, 2) << "torch_threads overrides LibTorch's share";
  configureCpuRuntime();
}

#ifdef __GLIBC__
// Resident memory in MiB (/proc/self/statm: pages).
double residentMb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

TEST(CpuRuntime, LargeTensorsComeFromTheHeapAndStayForReuse) {
  configureCpuRuntime();
  const size_t mapped_before = mallinfo2().hblkhd;
  const size_t bytes = size_t(256) << 20;
  const double before = residentMb();
  {
    at::Tensor big = at::empty({int64_t(bytes / sizeof(float))});
    big.fill_(1.0f);
    EXPECT_LT(mallinfo2().hblkhd, mapped_before + bytes / 2) << "not a private mapping";
    EXPECT_GE(mallinfo2().arena, bytes) << "but the heap";
    EXPECT_GT(residentMb(), before + 200);
  }
  EXPECT_GT(residentMb(), before + 200) << "freed, its pages stay for the next step";
  releaseFreedMemory();
  EXPECT_LT(residentMb(), before + 56) << "releaseFreedMemory gives them back";
}
#endif

}  // namespace
}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// loraDropout: a splitmix64 keep mask drawn in parallel blocks on the CPU, rand on other devices.
#include "adapters/lora_dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <mutex>

namespace mola {

namespace {

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

// The splitmix64 output function (Steele, Lea and Flood 2014) of one counter value.
inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One 64-bit draw from LibTorch's default CPU generator, under its lock as ATen's own kernels take.
uint64_t seedFromDefaultGenerator() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

}  // namespace

at::Tensor dropoutKeepMask(const at::Tensor& like, double p) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must lie in [0, 1), got ", p);
  if (!like.device().is_cpu())
    return at::rand(like.sizes(), like.options().dtype(at::kFloat)).lt(1.0 - p);
  at::Tensor keep = at::empty(like.sizes(), like.options().dtype(at::kBool));
  bool* out = keep.data_ptr<bool>();
  const int64_t n = keep.numel();
  // Keep where a uniform 32-bit draw u satisfies u < threshold: probability threshold / 2^32.
  const uint64_t threshold = uint64_t(std::llround((1.0 - p) * 4294967296.0));
  const uint64_t seed = seedFromDefaultGenerator();
  const int64_t pairs = (n + 1) / 2;
  at::parallel_for(0, pairs, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const uint64_t z = splitmix64(seed + uint64_t(j + 1) * kGoldenGamma);
      out[2 * j] = (z & 0xffffffffULL) < threshold;
      if (2 * j + 1 < n) out[2 * j + 1] = (z >> 32) < threshold;
    }
  });
  return keep;
}

DroppedInput loraDropout(const at::Tensor& x, double p) {
  if (p == 0.0) return {x, at::Tensor()};  // dropoutKeepMask checks every other p
  at::Tensor keep = dropoutKeepMask(x, p);
  return {at::mul(x, keep).mul_(1.0 / (1.0 - p)), keep};
}

}  // namespace mola

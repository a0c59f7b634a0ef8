// SPDX-License-Identifier: GPL-3.0-or-later
// SplitMix64: a small pseudo-random generator whose stream is the same on every platform
// (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mola {

// splitmix64 (Steele, Lea and Flood 2014, as in Vigna's reference code): a fixed recurrence, so
// unlike <random>'s distributions (whose algorithms the standard leaves to the library) the
// numbers, ranges, shuffles and samples below are identical wherever the project is built.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : m_state(seed) {}

  uint64_t next() {
    uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n) for n >= 1: draws below 2^64 mod n are rejected so that every residue is
  // equally likely.
  size_t below(size_t n) {
    const uint64_t bound = static_cast<uint64_t>(n);
    const uint64_t threshold = (0 - bound) % bound;
    while (true) {
      const uint64_t r = next();
      if (r >= threshold) return static_cast<size_t>(r % bound);
    }
  }

  // Fisher-Yates from the back.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

  // `k` (<= pool.size()) distinct items of `pool`, in random order.
  template <typename T>
  std::vector<T> sample(std::vector<T> pool, size_t k) {
    for (size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + below(pool.size() - i)]);
    pool.resize(k);
    return pool;
  }

 private:
  uint64_t m_state;
};

}  // namespace mola

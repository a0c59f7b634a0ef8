// SPDX-License-Identifier: GPL-3.0-or-later
// parallelMap: f(0), ..., f(n - 1) on several threads, the results in order (torch-free).
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace mola {

// f(i) for every i < n, in contiguous blocks on up to `max_threads` threads (the machine's cores
// when 0), none for fewer than `min_per_thread` calls each. f must be safe to call from several
// threads at once (our tokenizers' const encode keeps no cache, for one). When calls throw, the
// exception of the lowest index is rethrown, as a plain loop would throw it; T must be
// default-constructible.
template <typename T, typename F>
std::vector<T> parallelMap(size_t n, const F& f, size_t min_per_thread = 64,
                           size_t max_threads = 0) {
  std::vector<T> out(n);
  const size_t cores = max_threads > 0 ? max_threads : std::thread::hardware_concurrency();
  const size_t threads =
      std::clamp<size_t>(n / std::max<size_t>(1, min_per_thread), 1, std::max<size_t>(1, cores));
  const size_t block = (n + threads - 1) / std::max<size_t>(1, threads);
  std::vector<std::exception_ptr> errors(threads);
  const auto work = [&](size_t t) {
    for (size_t i = t * block; i < std::min(n, (t + 1) * block); ++i) {
      try {
        out[i] = f(i);
      } catch (...) {  // this block's first failure; a lower block's, if any, wins below
        errors[t] = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& thread : pool) thread.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace mola

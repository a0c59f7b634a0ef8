// SPDX-License-Identifier: GPL-3.0-or-later
// parallelMap: the results in order whatever thread computed them, the work spread over the
// threads asked for, and the exception a plain loop would have thrown (the lowest index's).
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "parallel_map.h"

namespace mola {
namespace {

TEST(ParallelMap, ResultsInOrderFromSeveralThreads) {
  std::mutex lock;
  std::set<std::thread::id> threads;
  const std::vector<long> squares = parallelMap<long>(
      1000,
      [&](size_t i) {
        {
          const std::lock_guard<std::mutex> hold(lock);
          threads.insert(std::this_thread::get_id());
        }
        return long(i) * long(i);
      },
      10, 4);
  ASSERT_EQ(squares.size(), size_t(1000));
  for (size_t i = 0; i < squares.size(); ++i) EXPECT_EQ(squares[i], long(i * i)) << i;
  EXPECT_EQ(threads.size(), size_t(4));
  // Too little work for a second thread: the caller's alone.
  threads.clear();
  parallelMap<int>(
      30,
      [&](size_t) {
        const std::lock_guard<std::mutex> hold(lock);
        threads.insert(std::this_thread::get_id());
        return 0;
      },
      64, 4);
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_TRUE(parallelMap<int>(0, [](size_t) { return 1; }).empty());
}

TEST(ParallelMap, TheLowestFailingIndexIsWhatThrows) {
  // Indices 700 (the last block) and 300 (the second of four blocks of 250) fail.
  try {
    parallelMap<int>(
        1000,
        [](size_t i) {
          if (i == 700 || i == 300) throw std::invalid_argument("record " + std::to_string(i));
          return int(i);
        },
        10, 4);
    ADD_FAILURE() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "record 300");
  }
}

}  // namespace
}  // namespace mola

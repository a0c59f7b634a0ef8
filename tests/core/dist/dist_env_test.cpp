// SPDX-License-Identifier: GPL-3.0-or-later
// torchrun's environment contract, read and checked.
#include "dist/dist_env.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace mola {
namespace {

std::optional<DistEnv> read(const std::map<std::string, std::string>& vars) {
  return distEnvFromEnvironment([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string errorOf(const std::map<std::string, std::string>& vars) {
  try {
    read(vars);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(DistEnv, ASingleProcessWithoutWorldSize) {
  EXPECT_FALSE(read({}).has_value());
  EXPECT_FALSE(read({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).has_value());
}

TEST(DistEnv, ReadsTorchrunsVariables) {
  const auto env = read({{"WORLD_SIZE", "4"},
                         {"RANK", "3"},
                         {"LOCAL_RANK", "1"},
                         {"MASTER_ADDR", "node7"},
                         {"MASTER_PORT", "29411"}});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->world, 4);
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "node7");
  EXPECT_EQ(env->master_port, 29411);
  // What a launcher sets reads back as the same place.
  std::map<std::string, std::string> vars;
  for (const auto& [k, v] : distEnvVariables(*env)) vars[k] = v;
  const auto again = read(vars);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->rank, 3);
  EXPECT_EQ(again->local_rank, 1);
  EXPECT_EQ(again->master_addr, "node7");
}

TEST(DistEnv, NamesTheVariableAtFault) {
  EXPECT_NE(errorOf({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}})
                .find("RANK is not set"),
            std::string::npos);
  EXPECT_NE(errorOf({{"WORLD_SIZE", "two"}}).find("WORLD_SIZE must be a whole number (got 'two')"),
            std::string::npos);
  EXPECT_NE(
      errorOf({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29500"}})
          .find("RANK must lie in 0..1 (got 2)"),
      std::string::npos);
  EXPECT_NE(
      errorOf({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
          .find("MASTER_PORT must lie in 1..65535"),
      std::string::npos);
  EXPECT_NE(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "29500"}})
                .find("MASTER_ADDR is not set"),
            std::string::npos);
}

}  // namespace
}  // namespace mola

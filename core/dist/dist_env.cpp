// SPDX-License-Identifier: GPL-3.0-or-later
#include "dist/dist_env.h"

#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace mola {

namespace {

int integerVariable(const char* name, const char* value, int min, int max) {
  const std::string text = value ? value : "";
  size_t used = 0;
  long parsed = 0;
  try {
    parsed = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size())
    throw std::invalid_argument(std::string("environment variable ") + name + " must be a whole " +
                                "number (got '" + text + "')");
  if (parsed < min || parsed > max)
    throw std::invalid_argument(std::string("environment variable ") + name + " must lie in " +
                                std::to_string(min) + ".." + std::to_string(max) + " (got " + text +
                                ")");
  return int(parsed);
}

}  // namespace

std::optional<DistEnv> distEnvFromEnvironment(
    const std::function<const char*(const char*)>& lookup) {
  const auto get = [&](const char* name) -> const char* {
    return lookup ? lookup(name) : std::getenv(name);
  };
  const char* world = get("WORLD_SIZE");
  if (!world) return std::nullopt;
  DistEnv env;
  env.world = integerVariable("WORLD_SIZE", world, 1, 1 << 20);
  if (env.world == 1) return std::nullopt;
  const auto required = [&](const char* name) {
    const char* v = get(name);
    if (!v || !*v)
      throw std::invalid_argument(std::string("WORLD_SIZE is ") + world + " but " + name +
                                  " is not set: a launcher (torchrun, mola train --nproc) sets "
                                  "RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT as well");
    return v;
  };
  env.rank = integerVariable("RANK", required("RANK"), 0, env.world - 1);
  const char* local = get("LOCAL_RANK");
  env.local_rank = local ? integerVariable("LOCAL_RANK", local, 0, env.world - 1) : env.rank;
  env.master_addr = required("MASTER_ADDR");
  env.master_port = integerVariable("MASTER_PORT", required("MASTER_PORT"), 1, 65535);
  return env;
}

std::vector<std::pair<std::string, std::string>> distEnvVariables(const DistEnv& env) {
  return {{"RANK", std::to_string(env.rank)},
          {"WORLD_SIZE", std::to_string(env.world)},
          {"LOCAL_RANK", std::to_string(env.local_rank)},
          {"LOCAL_WORLD_SIZE", std::to_string(env.world)},
          {"MASTER_ADDR", env.master_addr},
          {"MASTER_PORT", std::to_string(env.master_port)}};
}

}  // namespace mola

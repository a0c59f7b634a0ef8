// SPDX-License-Identifier: GPL-3.0-or-later
// Where a process stands in a data-parallel run: torchrun's environment contract (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), read and checked without Torch.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mola {

struct DistEnv {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool distributed() const { return world > 1; }
};

// The environment's contract, or nullopt when WORLD_SIZE is unset or 1 (a single process).
// Throws std::invalid_argument naming the variable when one is missing, not a number, or out of
// range (RANK >= WORLD_SIZE, a port outside 1..65535). `lookup` stands in for getenv in tests.
std::optional<DistEnv> distEnvFromEnvironment(
    const std::function<const char*(const char*)>& lookup = nullptr);

// The variables a launcher sets for rank `rank` of `world` on this machine (torchrun's names).
std::vector<std::pair<std::string, std::string>> distEnvVariables(const DistEnv& env);

}  // namespace mola

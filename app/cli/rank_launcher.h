// SPDX-License-Identifier: GPL-3.0-or-later
// Local data-parallel launches: `mola train --nproc N` starts N copies of its own command line as
// ranks, with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
// and watches them as torchrun would (torch-free).
#pragma once

#include <string>
#include <vector>

namespace mola::cli {

// The command line this process was started with (main records it before dispatching).
void setCommandLine(int argc, char** argv);
const std::vector<std::string>& commandLine();

// A loopback port nobody listens on now (bound to port 0, read back, released).
int freeLoopbackPort();

// Starts `n` ranks running this process's own command line on a free loopback port, forwards
// Ctrl-C and SIGTERM to them, and when one dies or fails while others run, names it ("rank 1 (pid
// 4242) was killed by signal 9 (Killed)"), gives the others a minute to stop on their own (they
// see the lost rank in their next collective), then stops them. Returns 0 when every rank
// completed, 130 when rank 0 was stopped, 1 otherwise.
int launchLocalRanks(int n);

}  // namespace mola::cli

// SPDX-License-Identifier: GPL-3.0-or-later
// Process-wide compute settings: LibTorch's CPU threads, and OpenBLAS kept off LibTorch's threads.
#pragma once

namespace mola {

// Sets LibTorch's intra-op threads to `threads` (0: one per core) and, when the BLAS in use is
// OpenBLAS, its own threads to 1 (LibTorch already splits the work; both at once oversubscribe the
// cores). Returns the thread count set.
int configureCpuThreads(int threads = 0);

}  // namespace mola

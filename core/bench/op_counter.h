// SPDX-License-Identifier: GPL-3.0-or-later
// OpCounter: the ATen operators a piece of work calls, seen through LibTorch's RecordFunction
// observers (what its profiler records), as a device-free proxy for a GPU step's cost.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mola {

struct OpCounts {
  // A multi-tensor call (_foreach_*) counts as one leaf and one kernel (one launch, or one per
  // chunk of tensors, on a GPU); the per-tensor calls it makes on the CPU are not counted.
  int64_t ops = 0;       // every operator call, nested ones included
  int64_t leaf_ops = 0;  // calls that call no other operator
  // Calls that do work on the data while nothing they call does: about one kernel launch each
  // on a GPU. Views, detach, allocations and the autograd engine's wrappers launch nothing; a
  // dtype conversion of an element-wise operator's operand (a scalar, a mask) is part of its
  // kernel on a GPU, so it is not counted.
  int64_t kernels = 0;
  // Calls that make the host wait for the device when their input lives there (reading a value
  // or a data-dependent size: _local_scalar_dense under item(), nonzero, masked_select, unique,
  // equal, is_nonzero, ...), by name.
  int64_t syncs = 0;
  std::map<std::string, int64_t> sync_ops;
  // The kernels by operator name.
  std::map<std::string, int64_t> kernel_ops;
};

// Counts, while it exists, the operators every thread calls (the autograd engine's included).
// One at a time: a second one throws std::logic_error.
class OpCounter {
 public:
  OpCounter();
  ~OpCounter();
  OpCounter(const OpCounter&) = delete;
  OpCounter& operator=(const OpCounter&) = delete;

  OpCounts counts() const;

  // Whether an operator of this name makes the host wait for a device.
  static bool isSync(const std::string& name);
  // Whether it only changes metadata or allocates (a view, a detach, empty): no kernel.
  static bool isMetadataOnly(const std::string& name);

 private:
  uint64_t m_handle = 0;
};

}  // namespace mola

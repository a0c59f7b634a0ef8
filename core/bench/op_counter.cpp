// SPDX-License-Identifier: GPL-3.0-or-later
// OpCounter: a global RecordFunction callback that counts operator calls, leaf calls and syncs.
#include "bench/op_counter.h"

#include <ATen/record_function.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

namespace mola {

namespace {

std::atomic<bool> g_active{false};
std::mutex g_mutex;  // guards g_counts
OpCounts g_counts;

// Per thread: for each open call, its name and whether it has called another operator yet.
struct OpenCall {
  std::string name;
  bool had_child = false;      // it called another operator
  bool working_child = false;  // a call below it does work on the data (a kernel or more)
  bool hidden = false;         // inside a one-launch call: part of its launch, not counted
};

// Calls that are one launch on a GPU however they are made on the CPU: a multi-tensor
// (_foreach_) call loops over per-tensor calls there, and our own operators (mola::, one CUDA
// kernel each) may allocate or loop through ATen on the CPU.
bool isOneLaunch(const std::string& name) {
  return name.rfind("aten::_foreach_", 0) == 0 || name.rfind("mola::", 0) == 0;
}

// A dtype conversion that an element-wise operator makes of an operand on the CPU (a scalar such
// as alpha / r, or a bool mask): a CUDA kernel takes the scalar as an argument and converts the
// operand as it reads it, launching nothing more.
bool isOperandCast(const std::string& name, const std::string& parent) {
  static const std::set<std::string> kElementWise = {
      "aten::add",          "aten::add_", "aten::sub",  "aten::sub_", "aten::mul",
      "aten::mul_",         "aten::div",  "aten::div_", "aten::rsub", "aten::where",
      "aten::masked_fill_", "aten::gt",   "aten::lt",   "aten::ge",   "aten::le",
      "aten::eq",           "aten::ne"};
  return (name == "aten::to" || name == "aten::_to_copy") && kElementWise.count(parent) > 0;
}
thread_local std::vector<OpenCall> t_open;

std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  if (!t_open.empty()) {
    OpenCall& parent = t_open.back();
    parent.had_child = true;
    if (parent.hidden || isOneLaunch(parent.name) || isOperandCast(name, parent.name)) {
      t_open.push_back({name, false, false, true});
      return nullptr;
    }
  }
  t_open.push_back({name, false, false, false});
  const bool sync = OpCounter::isSync(name);
  std::lock_guard<std::mutex> lock(g_mutex);
  ++g_counts.ops;
  if (sync) {
    ++g_counts.syncs;
    ++g_counts.sync_ops[name];
  }
  return nullptr;
}

void onEnd(const at::RecordFunction&, at::ObserverContext*) {
  if (t_open.empty()) return;  // a call that began before the counter did
  const OpenCall call = std::move(t_open.back());
  t_open.pop_back();
  if (call.hidden) return;
  // A call is a kernel when it does work and nothing below it does (an allocation or a view
  // inside it is no launch of its own): a matrix product that allocates its output counts.
  const bool one_launch = isOneLaunch(call.name);
  const bool kernel = one_launch || (!call.working_child && !OpCounter::isMetadataOnly(call.name));
  if ((kernel || call.working_child) && !t_open.empty()) t_open.back().working_child = true;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_counts.leaf_ops += !call.had_child || one_launch;
  if (!kernel) return;
  ++g_counts.kernels;
  ++g_counts.kernel_ops[call.name];
}

}  // namespace

bool OpCounter::isSync(const std::string& name) {
  // item() reaches the device through _local_scalar_dense; the others need a value or a
  // data-dependent output size on the host.
  static const std::set<std::string> kSyncs = {"aten::_local_scalar_dense",
                                               "aten::nonzero",
                                               "aten::nonzero_numpy",
                                               "aten::masked_select",
                                               "aten::is_nonzero",
                                               "aten::equal",
                                               "aten::allclose",
                                               "aten::unique_dim",
                                               "aten::_unique",
                                               "aten::_unique2",
                                               "aten::unique_consecutive",
                                               "aten::bincount"};
  return kSyncs.count(name) > 0;
}

bool OpCounter::isMetadataOnly(const std::string& name) {
  // The autograd engine's record of a backward node wraps the node's operators; a node that
  // only passes gradients on (AddBackward0) launches nothing.
  if (name.rfind("autograd::", 0) == 0) return true;
  static const std::set<std::string> kMetadata = {"aten::view",
                                                  "aten::_unsafe_view",
                                                  "aten::_reshape_alias",
                                                  "aten::as_strided",
                                                  "aten::t",
                                                  "aten::transpose",
                                                  "aten::permute",
                                                  "aten::expand",
                                                  "aten::unsqueeze",
                                                  "aten::squeeze",
                                                  "aten::select",
                                                  "aten::slice",
                                                  "aten::narrow",
                                                  "aten::detach",
                                                  "detach",
                                                  "aten::alias",
                                                  "aten::unfold",
                                                  "aten::split",
                                                  "aten::split_with_sizes",
                                                  "aten::unbind",
                                                  "aten::view_as",
                                                  "aten::expand_as",
                                                  "aten::reshape",
                                                  "aten::empty",
                                                  "aten::empty_strided",
                                                  "aten::empty_like",
                                                  "aten::resize_",
                                                  "aten::set_",
                                                  "aten::lift_fresh",
                                                  "aten::result_type",
                                                  "aten::is_same_size",
                                                  "aten::_has_compatible_shallow_copy_type",
                                                  "aten::resolve_conj",
                                                  "aten::resolve_neg",
                                                  "aten::to",
                                                  "aten::contiguous",
                                                  "aten::flatten",
                                                  "aten::chunk",
                                                  "aten::numpy_T",
                                                  "aten::movedim",
                                                  "aten::swapaxes",
                                                  "aten::matrix_H"};
  return kMetadata.count(name) > 0;
}

OpCounter::OpCounter() {
  if (g_active.exchange(true)) throw std::logic_error("OpCounter: another counter is active");
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_counts = OpCounts{};
  }
  t_open.clear();
  m_handle = at::addGlobalCallback(at::RecordFunctionCallback(&onStart, &onEnd)
                                       .needsInputs(false)
                                       .scopes({at::RecordScope::FUNCTION}));
}

OpCounter::~OpCounter() {
  at::removeCallback(m_handle);
  t_open.clear();
  g_active = false;
}

OpCounts OpCounter::counts() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_counts;
}

}  // namespace mola

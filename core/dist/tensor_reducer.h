// SPDX-License-Identifier: GPL-3.0-or-later
// TensorReducer: sums a tensor in place across the ranks of a data-parallel run (RankGroup makes
// one); an empty function stands for a single process, where the sum is the tensor itself.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace mola {

using TensorReducer = std::function<void(at::Tensor&)>;

}  // namespace mola

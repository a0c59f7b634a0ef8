// SPDX-License-Identifier: GPL-3.0-or-later
// The heavy-tail exponents of a model's frozen weights, per layer, for the spectra advisor
// (the LibTorch part; the header is torch-free).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace mola {

// For each decoder layer of the model at `model_path` (anything loadModelOrBuiltin reads): the
// mean over `modules` (q_proj, ...) of fitPowerLaw's alpha on the eigenvalues of W^T W (the
// squared singular values of the projection's weight, in fp64). `progress(layer, layers)` is
// called after each layer when given.
std::vector<double> layerTailExponents(const std::string& model_path,
                                       const std::vector<std::string>& modules,
                                       const std::function<void(int, int)>& progress = {});

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// The heavy-tail exponents of a model's projections (singular values in fp64).
#include "study/weight_spectra.h"

#include <torch/torch.h>

#include "model/model_shape.h"
#include "study/advisor.h"
#include "train/builtin_base.h"

namespace mola {

std::vector<double> layerTailExponents(const std::string& model_path,
                                       const std::vector<std::string>& modules,
                                       const std::function<void(int, int)>& progress) {
  torch::NoGradGuard no_grad;
  LlamaModel model = loadModelOrBuiltin(model_path, c10::kFloat);
  std::string list;
  for (const std::string& m : modules) list += (list.empty() ? "" : ",") + m;
  const std::vector<TargetModule> targets = parseTargetModules(list);
  const int layers = model->config().num_layers;
  std::vector<double> out;
  for (int j = 0; j < layers; ++j) {
    double sum = 0;
    for (TargetModule m : targets) {
      const torch::Tensor w = model->layer(j)->projection(m)->weight.to(torch::kDouble);
      const torch::Tensor eig = at::linalg_svdvals(w).pow(2).contiguous();
      const std::vector<double> values(eig.data_ptr<double>(),
                                       eig.data_ptr<double>() + eig.numel());
      sum += fitPowerLaw(values).alpha;
    }
    out.push_back(sum / double(targets.size()));
    if (progress) progress(j + 1, layers);
  }
  return out;
}

}  // namespace mola

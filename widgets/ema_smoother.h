// SPDX-License-Identifier: GPL-3.0-or-later
// EmaSmoother: the debiased exponential moving average TensorBoard draws over noisy curves.
#pragma once

#include <vector>

namespace mola::widgets {

// s_t = w * s_{t-1} + (1 - w) * x_t with s_0 = 0, shown as s_t / (1 - w^t) so the first points
// are not pulled towards zero. Non-finite inputs are skipped (the previous smoothed value is
// repeated) so one NaN does not poison the rest of the curve.
class EmaSmoother {
 public:
  // weight in [0, 1); values outside are clamped to [0, 0.999].
  explicit EmaSmoother(double weight = 0.9);

  double weight() const { return m_weight; }
  // Adds one raw value and returns the smoothed value at that point (NaN before the first
  // finite value).
  double add(double value);
  void reset();

  static std::vector<double> smooth(const std::vector<double>& values, double weight);

 private:
  double m_weight;
  double m_last = 0.0;
  double m_debias_power = 1.0;  // w^t over the finite values seen
  bool m_any = false;
};

}  // namespace mola::widgets

// SPDX-License-Identifier: GPL-3.0-or-later
// EmaSmoother: debiased exponential moving average (TensorBoard's scalar smoothing).
#include "ema_smoother.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mola::widgets {

EmaSmoother::EmaSmoother(double weight)
    : m_weight(std::isfinite(weight) ? std::clamp(weight, 0.0, 0.999) : 0.0) {}

double EmaSmoother::add(double value) {
  if (!std::isfinite(value)) {
    if (!m_any) return std::numeric_limits<double>::quiet_NaN();
    return m_last / (1.0 - m_debias_power);
  }
  m_any = true;
  m_last = m_last * m_weight + (1.0 - m_weight) * value;
  m_debias_power *= m_weight;
  return m_last / (1.0 - m_debias_power);
}

void EmaSmoother::reset() {
  m_last = 0.0;
  m_debias_power = 1.0;
  m_any = false;
}

std::vector<double> EmaSmoother::smooth(const std::vector<double>& values, double weight) {
  EmaSmoother s(weight);
  std::vector<double> out;
  out.reserve(values.size());
  for (double v : values) out.push_back(s.add(v));
  return out;
}

}  // namespace mola::widgets

// SPDX-License-Identifier: GPL-3.0-or-later
// Small text helpers shared by the parsers of core (torch-free).
#pragma once

#include <cctype>
#include <string_view>

namespace mola {

// `s` without leading and trailing whitespace.
inline std::string_view trimWhitespace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Command-line arguments of `mola`: positional words, --name value options and --flag switches.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "text.h"

namespace mola::cli {

// A mistake in how the command was called: exit status 2 and a pointer to --help.
class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --name value options and --flag switches after the positional arguments.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;           // the last value of each option
  std::map<std::string, std::vector<std::string>> all;  // every value, for repeatable options

  Args(int argc, char** argv, int first, const std::vector<std::string>& flags) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional.push_back(a);
        continue;
      }
      if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
        options.insert_or_assign(a, std::string(1, '1'));
      } else if (i + 1 < argc) {
        options[a] = argv[++i];
        all[a].push_back(argv[i]);
      } else {
        throw UsageError("option " + a + " needs a value");
      }
    }
  }
  std::optional<std::string> get(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    return get(name).value_or(fallback);
  }
  std::vector<std::string> getAll(const std::string& name) const {
    auto it = all.find(name);
    return it == all.end() ? std::vector<std::string>{} : it->second;
  }
  // A whole number (int) or a number (double): the entire value must parse.
  template <typename T>
  T getNumber(const std::string& name, T fallback) const {
    auto v = get(name);
    if (!v) return fallback;
    try {
      size_t used = 0;
      const T x = std::is_integral_v<T> ? T(std::stoi(*v, &used)) : T(std::stod(*v, &used));
      if (used == v->size()) return x;
    } catch (const std::exception&) {
    }
    throw UsageError(name +
                     (std::is_integral_v<T> ? " expects a whole number" : " expects a number") +
                     ", got '" + *v + "'");
  }
  void allowOnly(const std::vector<std::string>& names) const {
    for (const auto& [k, v] : options)
      if (std::find(names.begin(), names.end(), k) == names.end())
        throw UsageError("unknown option " + k);
  }
};

using mola::thousands;

}  // namespace mola::cli

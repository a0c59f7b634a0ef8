// SPDX-License-Identifier: GPL-3.0-or-later
// What the experiment reader and validator share: the allowed values of some keys, and the wording
// of errors ("key: what", lists, quotes, the nearest known name to a misspelt one). Internal to
// core/experiment; torch-free.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mola::experiment_detail {

// The values some keys allow, shared by the reader and the validator.
inline const std::vector<std::string> kDevices = {"auto", "cpu", "cuda"};
inline const std::vector<std::string> kDtypes = {"fp32", "bf16", "fp16"};
inline const std::vector<std::string> kMethods = {"mola", "lora", "full", "moelora"};
inline const std::vector<std::string> kSchedules = {"linear", "cosine", "constant"};
inline const std::vector<std::string> kProtocols = {"likelihood", "generate"};
inline const std::vector<std::string> kOptimizers = {"adamw", "sgd"};
inline const std::vector<std::string> kPreconditioners = {"none", "riemannian"};
inline constexpr size_t kMinCutoff = 8;
inline constexpr const char* kSyntheticPrefix = "synthetic:";
inline constexpr const char* kBuiltinPrefix = "builtin:";

// "a, b, c".
std::string joinList(const std::vector<std::string>& items);
std::string lower(std::string_view s);
std::string inQuotes(const std::string& s);
// Throws std::invalid_argument("key: what").
[[noreturn]] void fail(const std::string& key, const std::string& what);
// The option nearest to `typed`, if one is close (a misspelling; with `allow_prefix`, also a
// shared prefix of four or more characters, ranked after every misspelling).
std::optional<std::string> nearest(std::string_view typed, const std::vector<std::string>& options,
                                   bool allow_prefix = true);

}  // namespace mola::experiment_detail

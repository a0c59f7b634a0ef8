// SPDX-License-Identifier: GPL-3.0-or-later
// Strict JSON documents: what the experiment and study readers share (torch-free).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mola {

// Parses a JSON document, keeping its key order. Malformed text is an std::invalid_argument
// "where:LINE:COLUMN: malformed JSON: detail"; a key given twice in one object is one too (naming
// the dotted key), where nlohmann would keep the last.
nlohmann::ordered_json parseJsonDocument(const std::string& text, const std::string& where);

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// Strict JSON documents for the experiment and study readers.
#include "experiment/json_document.h"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

namespace mola {

namespace {

// A nlohmann parse error as "source:LINE:COLUMN: malformed JSON: detail".
[[noreturn]] void failMalformed(const std::string& where, const std::string& text,
                                const nlohmann::json::parse_error& e) {
  // e.byte counts the characters read, the offending one included.
  const size_t at = std::min(text.size(), e.byte == 0 ? size_t{0} : e.byte - 1);
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < at; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  const size_t column = at - line_start + 1;
  std::string detail = e.what();
  if (size_t col = detail.find("column "); col != std::string::npos)
    if (size_t colon = detail.find(": ", col); colon != std::string::npos)
      detail = detail.substr(colon + 2);
  throw std::invalid_argument(where + ":" + std::to_string(line) + ":" + std::to_string(column) +
                              ": malformed JSON: " + detail);
}

}  // namespace

// Parses JSON text; a key given twice in one object is an error (nlohmann would keep the last).
nlohmann::ordered_json parseJsonDocument(const std::string& text, const std::string& where) {
  using Json = nlohmann::ordered_json;
  struct Frame {
    bool object;
    std::string key;
    std::set<std::string> seen;
  };
  std::vector<Frame> stack;
  const auto callback = [&](int, nlohmann::json::parse_event_t event, Json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        stack.push_back({event == Event::object_start, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        stack.pop_back();
        break;
      case Event::key: {
        Frame& frame = stack.back();
        std::string k = parsed.get<std::string>();
        if (!frame.seen.insert(k).second) {
          std::string path;
          for (size_t i = 0; i + 1 < stack.size(); ++i)
            if (stack[i].object) path = path.empty() ? stack[i].key : path + "." + stack[i].key;
          throw std::invalid_argument(where + ": duplicate key '" +
                                      (path.empty() ? k : path + "." + k) +
                                      "' (each key may appear once)");
        }
        frame.key = std::move(k);
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const nlohmann::json::parse_error& e) {
    failMalformed(where, text, e);
  }
}

}  // namespace mola

// SPDX-License-Identifier: GPL-3.0-or-later
// HfBpeTokenizer::parse: reading a tokenizer.json (and tokenizer_config.json), section by section.
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>

#include "model/hf_bpe_tokenizer.h"

namespace mola {

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool boolMember(const std::filesystem::path& path, const json& obj, const char* key,
                const std::string& where, bool fallback) {
  const json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(path, where + "." + key + " must be true or false");
  return v->get<bool>();
}

std::string stringMember(const std::filesystem::path& path, const json& obj, const char* key,
                         const std::string& where, const std::string& fallback) {
  const json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_string()) fail(path, where + "." + key + " must be a string");
  return v->get<std::string>();
}

// The members of a Sequence (under `list_key`), or the node itself.
std::vector<const json*> flatten(const json& node, const char* list_key) {
  std::vector<const json*> out;
  const json* list = member(node, list_key);
  if (node.is_object() && node.value("type", "") == "Sequence" && list && list->is_array()) {
    for (const json& child : *list) {
      std::vector<const json*> inner = flatten(child, list_key);
      out.insert(out.end(), inner.begin(), inner.end());
    }
  } else if (!node.is_null()) {
    out.push_back(&node);
  }
  return out;
}

// A token named in tokenizer_config.json: a string, or an AddedToken object with "content".
std::optional<std::string> configToken(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

std::unique_ptr<HfBpeTokenizer> HfBpeTokenizer::parse(std::string_view json_text,
                                                      const std::filesystem::path& path,
                                                      std::string_view config_json) try {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(path, std::string("is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail(path, "is not a JSON object, so not a tokenizer.json");
  const json* model = member(root, "model");
  if (!model || !model->is_object())
    fail(path, "has no \"model\" object, so it is not a Hugging Face tokenizer.json");
  const std::string type = stringMember(path, *model, "type", "model", "");
  if (type != "BPE" && !(type.empty() && member(*model, "merges")))
    fail(path, "model.type is '" + type + "'; only BPE tokenizers are supported");
  std::unique_ptr<HfBpeTokenizer> tok(new HfBpeTokenizer);
  tok->readVocabulary(root, *model, path);
  tok->readMerges(*model, path);
  tok->readModelOptions(*model, path);
  const bool prepends_space_symbol = tok->readNormalizer(root, path);
  tok->readPreTokenizer(root, path);
  tok->m_strip_first_space =
      !tok->m_byte_level &&
      (prepends_space_symbol || (tok->m_metaspace && tok->m_metaspace_prepend != Prepend::Never));
  tok->readSpecialTokens(root, config_json, path);
  return tok;
} catch (const json::exception& e) {
  // A member of an unexpected JSON type (a number where a string belongs, and the like).
  fail(path, std::string("has an unexpected structure: ") + e.what());
}

// model.vocab and added_tokens: ids may leave gaps (Qwen2 pads its embedding).
void HfBpeTokenizer::readVocabulary(const json& root, const json& model,
                                    const std::filesystem::path& path) {
  const json* vocab = member(model, "vocab");
  if (!vocab || !vocab->is_object() || vocab->empty())
    fail(path, "model.vocab must be a non-empty object of token: id");
  auto place = [&](const std::string& text, const json& id_value, const std::string& where) {
    if (!id_value.is_number_integer() || id_value.get<int64_t>() < 0 ||
        id_value.get<int64_t>() > 100'000'000)
      fail(path, where + " has id " + id_value.dump() + "; expected a whole number >= 0");
    const auto id = static_cast<size_t>(id_value.get<int64_t>());
    if (id >= m_tokens.size()) m_tokens.resize(id + 1);
    m_tokens[id] = text;
    m_ids[text] = static_cast<int>(id);
    return static_cast<int>(id);
  };
  for (const auto& [text, id] : vocab->items()) place(text, id, "model.vocab['" + text + "']");
  std::vector<std::pair<int, bool>> added_ids;  // id, special
  if (const json* added = member(root, "added_tokens")) {
    if (!added->is_array()) fail(path, "added_tokens must be an array");
    for (size_t k = 0; k < added->size(); ++k) {
      const json& a = (*added)[k];
      const std::string where = "added_tokens[" + std::to_string(k) + "]";
      const json* content = member(a, "content");
      const json* id = member(a, "id");
      if (!content || !content->is_string() || content->get<std::string>().empty() || !id)
        fail(path, where + " needs a non-empty \"content\" and an \"id\"");
      AddedToken t;
      t.content = content->get<std::string>();
      t.special = boolMember(path, a, "special", where, false);
      t.id = place(t.content, *id, where);
      m_added_tokens.push_back(t);
    }
  }
  m_special.assign(m_tokens.size(), 0);
  m_added.assign(m_tokens.size(), 0);
  for (const AddedToken& t : m_added_tokens) {
    m_added[size_t(t.id)] = 1;
    m_special[size_t(t.id)] = t.special;
  }
  std::stable_sort(
      m_added_tokens.begin(), m_added_tokens.end(),
      [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (size_t k = 0; k < m_added_tokens.size(); ++k)
    m_added_by_first_byte[static_cast<unsigned char>(m_added_tokens[k].content[0])].push_back(
        static_cast<int>(k));
}

// model.merges: "a b" (split at the first space, as tokenizers does) or ["a", "b"]; rank =
// position.
void HfBpeTokenizer::readMerges(const json& model, const std::filesystem::path& path) {
  const json* merges = member(model, "merges");
  if (merges && !merges->is_array()) fail(path, "model.merges must be an array");
  if (merges) {
    for (size_t rank = 0; rank < merges->size(); ++rank) {
      const json& m = (*merges)[rank];
      const std::string where = "model.merges[" + std::to_string(rank) + "]";
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos) fail(path, where + " '" + s + "' is not of the form 'a b'");
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        fail(path, where + " must be a string 'a b' or a pair [a, b]");
      }
      const int ida = pieceId(m_ids, a), idb = pieceId(m_ids, b);
      const int merged = pieceId(m_ids, a + b);
      for (const auto& [text, id] :
           {std::pair(a, ida), std::pair(b, idb), std::pair(a + b, merged)})
        if (id < 0)
          fail(path, where + " '" + a + " " + b + "': '" + text + "' is not in model.vocab");
      const uint64_t key = (uint64_t(uint32_t(ida)) << 32) | uint32_t(idb);
      m_merges.emplace(key, std::pair(static_cast<int>(rank), merged));
    }
  }
}

// byte_fallback, ignore_merges, fuse_unk, unk_token; the byte pieces' ids.
void HfBpeTokenizer::readModelOptions(const json& model, const std::filesystem::path& path) {
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!stringMember(path, model, key, "model", "").empty())
      fail(path, std::string("model.") + key +
                     " is set; only byte-level and Metaspace BPE are supported");
  m_byte_fallback = boolMember(path, model, "byte_fallback", "model", false);
  m_ignore_merges = boolMember(path, model, "ignore_merges", "model", false);
  m_fuse_unk = boolMember(path, model, "fuse_unk", "model", false);
  if (const std::string unk = stringMember(path, model, "unk_token", "model", ""); !unk.empty()) {
    m_unk_id = pieceId(m_ids, unk);
    if (m_unk_id < 0) fail(path, "model.unk_token '" + unk + "' is not in model.vocab");
  }
  for (int byte = 0; byte < 256; ++byte)
    m_byte_ids[size_t(byte)] = pieceId(m_ids, bytePieceText(static_cast<unsigned char>(byte)));
}

// The normalizer's Prepend and plain-string Replace steps, in order. Returns whether one prepends
// the Metaspace symbol.
bool HfBpeTokenizer::readNormalizer(const json& root, const std::filesystem::path& path) {
  bool prepends_space_symbol = false;
  if (const json* normalizer = member(root, "normalizer")) {
    for (const json* n : flatten(*normalizer, "normalizers")) {
      const std::string t = stringMember(path, *n, "type", "normalizer", "");
      if (t == "Prepend") {
        m_normalizer.push_back({"", stringMember(path, *n, "prepend", "normalizer", "")});
        prepends_space_symbol |= m_normalizer.back().to == m_metaspace_replacement;
      } else if (t == "Replace") {
        const json* pattern = member(*n, "pattern");
        if (!pattern || !member(*pattern, "String") || !(*pattern)["String"].is_string())
          fail(path, "normalizer Replace: only a plain {\"String\": ...} pattern is supported");
        m_normalizer.push_back({(*pattern)["String"].get<std::string>(),
                                stringMember(path, *n, "content", "normalizer", "")});
      } else if (t != "NFC") {
        fail(path, "normalizer type '" + t + "' is not supported (Prepend, Replace, NFC are)");
      }
    }
  }

  return prepends_space_symbol;
}

// ByteLevel, a recognised Split, or Metaspace.
void HfBpeTokenizer::readPreTokenizer(const json& root, const std::filesystem::path& path) {
  if (const json* pre = member(root, "pre_tokenizer")) {
    for (const json* p : flatten(*pre, "pretokenizers")) {
      const std::string t = stringMember(path, *p, "type", "pre_tokenizer", "");
      const std::string where = "pre_tokenizer " + t;
      if (t == "ByteLevel") {
        m_byte_level = true;
        m_byte_level_prefix_space = boolMember(path, *p, "add_prefix_space", where, true);
        if (boolMember(path, *p, "use_regex", where, true)) {
          if (m_split) fail(path, "pre_tokenizer has two regex splits; only one is supported");
          m_split = PreTokenizerPattern::Gpt2;
        }
      } else if (t == "Split") {
        const json* pattern = member(*p, "pattern");
        const json* regex = pattern ? member(*pattern, "Regex") : nullptr;
        if (!regex || !regex->is_string())
          fail(path, "pre_tokenizer Split: only a {\"Regex\": ...} pattern is supported");
        const std::string behavior = stringMember(path, *p, "behavior", where, "Isolated");
        if (behavior != "Isolated" || boolMember(path, *p, "invert", where, false))
          fail(path, "pre_tokenizer Split: only behavior Isolated without invert is supported");
        const auto recognised = recognisePreTokenizerPattern(regex->get<std::string>());
        if (!recognised)
          fail(path,
               "pre_tokenizer Split regex is not one of the GPT-2, LLaMA-3 or Qwen2 patterns: " +
                   regex->get<std::string>());
        if (m_split) fail(path, "pre_tokenizer has two regex splits; only one is supported");
        m_split = recognised;
      } else if (t == "Metaspace") {
        m_metaspace = true;
        m_metaspace_replacement = stringMember(path, *p, "replacement", where, "\xE2\x96\x81");
        const std::string scheme = stringMember(
            path, *p, "prepend_scheme", where,
            boolMember(path, *p, "add_prefix_space", where, true) ? "always" : "never");
        m_metaspace_prepend = scheme == "first"   ? Prepend::First
                              : scheme == "never" ? Prepend::Never
                                                  : Prepend::Always;
        m_metaspace_split = boolMember(path, *p, "split", where, true);
      } else {
        fail(path, "pre_tokenizer type '" + t +
                       "' is not supported (ByteLevel, Split with a known regex, Metaspace are)");
      }
    }
  }
  if (m_byte_level && m_metaspace)
    fail(path, "pre_tokenizer mixes ByteLevel and Metaspace; that is not supported");
}

// BOS and EOS: tokenizer_config.json, then the post-processor template, then well-known names.
void HfBpeTokenizer::readSpecialTokens(const json& root, std::string_view config_json,
                                       const std::filesystem::path& path) {
  std::optional<std::string> bos_name, eos_name;
  bool bos_configured = false, eos_configured = false;
  if (!config_json.empty()) {
    const std::filesystem::path config_path = path.parent_path() / "tokenizer_config.json";
    json config;
    try {
      config = json::parse(config_json);
    } catch (const json::exception& e) {
      fail(config_path, std::string("is not valid JSON: ") + e.what());
    }
    if (config.is_object()) {
      if (config.contains("bos_token")) {
        bos_configured = true;
        bos_name = configToken(config["bos_token"]);
      }
      if (config.contains("eos_token")) {
        eos_configured = true;
        eos_name = configToken(config["eos_token"]);
      }
    }
  }
  if (const json* post = member(root, "post_processor")) {
    for (const json* p : flatten(*post, "processors")) {
      const json* single = member(*p, "single");
      if (!p->is_object() || p->value("type", "") != "TemplateProcessing" || !single ||
          !single->is_array())
        continue;
      bool seen_sequence = false;
      for (const json& piece : *single) {
        if (member(piece, "Sequence")) {
          seen_sequence = true;
        } else if (const json* special = member(piece, "SpecialToken")) {
          const std::string id = stringMember(path, *special, "id", "post_processor", "");
          if (!seen_sequence && !bos_configured && !bos_name) bos_name = id;
          if (seen_sequence && !eos_configured && !eos_name) eos_name = id;
        }
      }
    }
  }
  auto firstKnown = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
    for (const char* name : names)
      if (pieceId(m_ids, name) >= 0) return std::string(name);
    return std::nullopt;
  };
  if (!bos_configured && !bos_name)
    bos_name = firstKnown({"<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>"});
  if (!eos_configured && !eos_name)
    eos_name = firstKnown({"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "<|im_end|>"});
  for (auto [name, id, what] :
       {std::tuple(&bos_name, &m_bos_id, "BOS"), std::tuple(&eos_name, &m_eos_id, "EOS")}) {
    if (!*name) continue;
    *id = pieceId(m_ids, **name);
    if (*id < 0) fail(path, std::string(what) + " token '" + **name + "' is not in the vocabulary");
  }
}

}  // namespace mola

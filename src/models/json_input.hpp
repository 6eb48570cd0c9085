#pragma once
// JSON as the engine reads it (config.json, state.json, safetensors headers and indexes,
// pre-tokenized samples). Two rules on top of the JSON grammar, the same in every reader:
//   - a key repeated within one object is an error naming the key (Python's json would keep the
//     last value silently; two values for one key is a mistake we refuse rather than guess at);
//   - a count or a token id must be a JSON integer: 64.5 or 4.5 is an error, never truncated.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf::models {

// Parses text; throws xmtf::Error "<origin>: ..." on invalid JSON or a duplicate key.
nlohmann::json parse_json_strict(std::string_view text, const std::string& origin);

// value as an integer in [min, max]; throws xmtf::Error "<what> must be an integer ..." otherwise.
std::int64_t json_integer(const nlohmann::json& value, const std::string& what, std::int64_t min, std::int64_t max);

// An array of token ids, each an integer in [0, vocab_size); throws naming `what` and the id.
std::vector<std::int32_t> json_token_ids(const nlohmann::json& value, const std::string& what,
                                         std::int64_t vocab_size);

}  // namespace xmtf::models

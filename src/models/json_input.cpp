#include "models/json_input.hpp"

#include <set>

#include "core/error.hpp"

namespace xmtf::models {

using Json = nlohmann::json;

Json parse_json_strict(std::string_view text, const std::string& origin) {
  // One set of keys per object being parsed; the callback sees every key as it is read.
  std::vector<std::set<std::string>> open_objects;
  auto on_event = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case Json::parse_event_t::object_end: open_objects.pop_back(); break;
      case Json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second)
          fail("{}: duplicate key \"{}\" (a key may appear once per object)", origin, parsed.get<std::string>());
        break;
      default: break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event);
  } catch (const Json::parse_error& e) {
    fail("{}: not valid JSON: {}", origin, e.what());
  }
}

std::int64_t json_integer(const Json& value, const std::string& what, std::int64_t min, std::int64_t max) {
  if (!value.is_number_integer()) fail("{} must be an integer, not {}", what, value.dump());
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
    fail("{} is {}, more than the largest allowed, {}", what, value.dump(), max);
  const auto number = value.get<std::int64_t>();
  if (number < min) fail("{} is {}, less than the smallest allowed, {}", what, number, min);
  if (number > max) fail("{} is {}, more than the largest allowed, {}", what, number, max);
  return number;
}

std::vector<std::int32_t> json_token_ids(const Json& value, const std::string& what, std::int64_t vocab_size) {
  if (!value.is_array()) fail("{} must be an array of token ids", what);
  std::vector<std::int32_t> ids;
  ids.reserve(value.size());
  for (const Json& element : value) {
    if (!element.is_number_integer()) fail("{} holds {}, not an integer token id", what, element.dump());
    // Unsigned JSON integers past INT64_MAX would wrap when read as signed: compare them unsigned.
    const bool in_vocabulary = element.is_number_unsigned()
                                   ? element.get<std::uint64_t>() < static_cast<std::uint64_t>(vocab_size)
                                   : element.get<std::int64_t>() >= 0 && element.get<std::int64_t>() < vocab_size;
    if (!in_vocabulary) fail("{} holds id {}, outside the model's vocabulary [0, {})", what, element.dump(), vocab_size);
    ids.push_back(static_cast<std::int32_t>(element.get<std::int64_t>()));
  }
  return ids;
}

}  // namespace xmtf::models

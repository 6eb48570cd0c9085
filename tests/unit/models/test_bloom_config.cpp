// Hostile or mistaken config.json values (issue 18 items 7-9): every one is refused with the key
// named, before anything is allocated; and the engine's JSON rules (duplicate keys, integers).
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "models/bloom.hpp"
#include "models/bloom_config.hpp"
#include "models/json_input.hpp"

using namespace xmtf;
using namespace xmtf::models;

namespace {

std::string config_with(const std::string& replace_key, const std::string& value) {
  std::string keys[][2] = {{"vocab_size", "260"}, {"hidden_size", "64"}, {"n_layer", "2"}, {"n_head", "4"},
                           {"layer_norm_epsilon", "1e-05"}, {"pad_token_id", "3"}};
  std::string text = "{\"model_type\": \"bloom\"";
  for (auto& [key, fallback] : keys) text += ", \"" + key + "\": " + (key == replace_key ? value : fallback);
  return text + "}";
}

std::string error_of(const std::string& text) {
  try {
    BloomModel model(parse_bloom_config(text, "config.json"));
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void expect_error(const std::string& text, const std::string& needle) {
  const std::string message = error_of(text);
  EXPECT_NE(message.find(needle), std::string::npos) << "got: " << message;
}

}  // namespace

TEST(BloomConfigLimits, HugeSizesAreRefusedNamingTheKey) {
  expect_error(config_with("hidden_size", "1099511627776"), "config.json: 'hidden_size' is 1099511627776, more than the largest allowed");
  expect_error(config_with("vocab_size", "2147483648"), "config.json: 'vocab_size' is 2147483648, more than the largest allowed, 2147483647");
  expect_error(config_with("n_layer", "1000000000"), "config.json: 'n_layer' is 1000000000, more than the largest allowed");
  expect_error(config_with("n_layer", "1e9"), "config.json: 'n_layer' must be an integer, not 1000000000.0");
  // Within each key's range, but the weights alone exceed this machine: refused before allocating.
  expect_error(config_with("vocab_size", "2147483647"), "vocab_size 2147483647 x hidden_size 64 word embeddings");
  expect_error(config_with("vocab_size", "2147483647"), "of memory here");
}

TEST(BloomConfigLimits, NonIntegersAndImpossibleValuesAreErrors) {
  expect_error(config_with("hidden_size", "64.5"), "config.json: 'hidden_size' must be an integer, not 64.5");
  expect_error(config_with("hidden_size", "-64"), "'hidden_size' is -64, less than the smallest allowed, 1");
  expect_error(config_with("layer_norm_epsilon", "-1e-5"), "'layer_norm_epsilon' is -1e-05; it must be a positive number");
  expect_error(config_with("layer_norm_epsilon", "0"), "'layer_norm_epsilon' is 0; it must be a positive number");
  expect_error(config_with("pad_token_id", "260"), "'pad_token_id' is 260, outside the vocabulary [0, 260)");
  expect_error(config_with("pad_token_id", "3.5"), "'pad_token_id' must be an integer");
  expect_error(config_with("n_head", "5"), "hidden_size 64 is not divisible by n_head 5");
}

TEST(BloomConfigLimits, DuplicateKeysAreAnError) {
  const std::string text = config_with("n_layer", "2, \"n_layer\": 3");
  expect_error(text, "config.json: duplicate key \"n_layer\"");
}

TEST(BloomConfigLimits, ParameterCountMatchesTheLayout) {
  BloomModel model(parse_bloom_config(config_with("", ""), "config.json"));
  EXPECT_EQ(model.config().n_parameters(), model.n_parameters());
  EXPECT_EQ(model.n_parameters(), 116864);  // docs/engine.md's figure for this config
  EXPECT_TRUE(model.grads().empty());       // scoring never allocates gradients
  model.zero_grads();
  EXPECT_EQ(model.grads().size(), model.params().size());
}

TEST(JsonInput, DuplicateKeysAtAnyDepthNameTheKey) {
  EXPECT_NO_THROW(parse_json_strict(R"({"a": {"b": 1}, "c": [{"b": 2}, {"b": 3}]})", "x"));
  try {
    parse_json_strict(R"({"a": [{"b": 1, "b": 2}]})", "f.json:3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "f.json:3: duplicate key \"b\" (a key may appear once per object)");
  }
  EXPECT_THROW(parse_json_strict("{\"a\": ", "x"), Error);
}

TEST(JsonInput, TokenIdsMustBeIntegersInTheVocabulary) {
  using nlohmann::json;
  EXPECT_EQ(json_token_ids(json::parse("[0, 5, 9]"), "ids", 10), (std::vector<std::int32_t>{0, 5, 9}));
  auto error = [](const std::string& text) {
    try {
      json_token_ids(json::parse(text), "f:2: \"input_ids\"", 10);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("[1, 4.5]"), "f:2: \"input_ids\" holds 4.5, not an integer token id");
  EXPECT_EQ(error("[10]"), "f:2: \"input_ids\" holds id 10, outside the model's vocabulary [0, 10)");
  EXPECT_EQ(error("[-1]"), "f:2: \"input_ids\" holds id -1, outside the model's vocabulary [0, 10)");
  EXPECT_EQ(error("[18446744073709551615]"), "f:2: \"input_ids\" holds id 18446744073709551615, outside the model's vocabulary [0, 10)");
  EXPECT_EQ(error("{}"), "f:2: \"input_ids\" must be an array of token ids");
}

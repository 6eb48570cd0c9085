// Parity with the HuggingFace tokenizers library (golden ids made by
// tests/reference/tok/golden_hf.js) and with python3-sentencepiece (golden_spm.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "tok/hf_tokenizer.hpp"
#include "tok/sentencepiece_tokenizer.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {
namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "tokenizers";
const fs::path kReference = fs::path(XMTF_SOURCE_DIR) / "tests/reference/tok";

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// The corpus as raw bytes (invalid UTF-8 included), in corpus order.
std::vector<std::string> corpus_bytes() {
  std::vector<std::string> texts;
  for (const auto& row : read_jsonl(kReference / "corpus.jsonl"))
    texts.push_back(row.contains("hex") ? from_hex(row["hex"]) : row["text"].get<std::string>());
  return texts;
}

std::string describe(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (auto id : ids) s += std::to_string(id) + " ";
  return s;
}

TEST(HfTokenizerParity, EveryTokenizerJsonMatchesHuggingFaceOnTheCorpus) {
  auto corpus = corpus_bytes();
  auto golden = read_jsonl(kReference / "golden_hf.jsonl");
  ASSERT_GT(golden.size(), 1000u);
  std::map<std::string, std::unique_ptr<HfTokenizer>> tokenizers;
  std::size_t n_checked = 0, n_tokens = 0;
  for (const auto& row : golden) {
    std::string file = row["tokenizer"];
    auto& tokenizer = tokenizers[file];
    if (!tokenizer) tokenizer = HfTokenizer::from_file(kData / file);
    std::size_t index = row["index"];
    ASSERT_LT(index, corpus.size());
    const std::string& text = corpus[index];
    auto expected = row["ids"].get<std::vector<std::int32_t>>();
    auto ids = tokenizer->encode(text);
    EXPECT_EQ(ids, expected) << file << " corpus line " << index << ": " << text << "\n got      " << describe(ids)
                             << "\n expected " << describe(expected);
    std::string lossy = row["text"];
    EXPECT_EQ(repair_utf8(text), lossy) << "corpus line " << index;
    // The real pipelines are lossless; the variants normalize or remove text on purpose.
    if (!file.starts_with("variants/")) {
      EXPECT_EQ(tokenizer->decode(ids), lossy) << file << " decode(encode(x)) != x on corpus line " << index;
    }
    EXPECT_EQ(tokenizer->decode(ids), row["decoded"].get<std::string>());
    ++n_checked;
    n_tokens += ids.size();
  }
  EXPECT_EQ(tokenizers.size(), 9u);  // the two real files and 7 pipeline variants
  std::cout << "checked " << n_checked << " encodings, " << n_tokens << " tokens\n";
}

TEST(HfTokenizerParity, SpecialTokensAreNeverSplit) {
  auto bloom = HfTokenizer::from_file(kData / "bloomstyle_gpt2vocab.tokenizer.json");
  for (const char* special : {"<unk>", "<s>", "</s>", "<pad>"}) {
    auto id = bloom->token_to_id(special);
    ASSERT_TRUE(id.has_value()) << special;
    EXPECT_EQ(bloom->encode(special), std::vector<std::int32_t>{*id}) << special;
    auto ids = bloom->encode(std::string("x") + special + "y");
    ASSERT_EQ(ids.size(), 3u) << special;
    EXPECT_EQ(ids[1], *id);
  }
  EXPECT_EQ(bloom->eos_id(), bloom->token_to_id("</s>"));
  auto gpt2 = HfTokenizer::from_file(kData / "gpt2_from_gpt3encoder.tokenizer.json");
  EXPECT_EQ(gpt2->encode("<|endoftext|>"), std::vector<std::int32_t>{50256});
  EXPECT_EQ(gpt2->eos_id(), 50256);
  EXPECT_EQ(gpt2->vocab_size(), 50257);
}

TEST(HfTokenizerErrors, MalformedOrUnsupportedFilesGiveClearErrors) {
  auto expect_error = [](const std::string& json, const std::string& needle) {
    try {
      HfTokenizer::from_json(json, "t.json");
      ADD_FAILURE() << "no error for " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{not json", "t.json: not valid JSON");
  expect_error(R"({"model": {"type": "Unigram", "vocab": []}})", "model type \"Unigram\" is not supported");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", "missing from the vocabulary");
  expect_error(R"({"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}})",
               "pre_tokenizer type \"Metaspace\" is not supported");
}

TEST(HfTokenizerPipeline, NormalizersAndSplitBehaviours) {
  // A character-level BPE with the pieces of the pipeline the golden tokenizers do not use.
  std::string vocab = R"({"a":0,"b":1,"c":2,"-":3," ":4,"ab":5,"é":6,"x":7})";
  auto make = [&](const std::string& normalizer, const std::string& pre_tokenizer) {
    return HfTokenizer::from_json(R"({"normalizer": )" + normalizer + R"(, "pre_tokenizer": )" + pre_tokenizer +
                                      R"(, "model": {"type": "BPE", "vocab": )" + vocab +
                                      R"(, "merges": ["a b"]}, "decoder": null})",
                                  "test.json");
  };
  auto split = [](const char* behavior, bool invert) {
    return fmt::format(R"({{"type": "Split", "pattern": {{"String": "-"}}, "behavior": "{}", "invert": {}}})", behavior,
                       invert ? "true" : "false");
  };
  // NFC composes e + U+0301 into é; Lowercase maps A B to a b.
  auto nfc = make(R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})", "null");
  EXPECT_EQ(nfc->encode("e\xCC\x81" "AB"), (std::vector<std::int32_t>{6, 5}));
  auto removed = make("null", split("Removed", false));
  EXPECT_EQ(removed->encode("ab-c"), (std::vector<std::int32_t>{5, 2}));
  auto isolated = make("null", split("Isolated", false));
  EXPECT_EQ(isolated->encode("a-b"), (std::vector<std::int32_t>{0, 3, 1}));
  // Merging into the previous/next piece decides whether "a" and "b" may merge.
  auto with_previous = make("null", split("MergedWithPrevious", false));
  EXPECT_EQ(with_previous->encode("c-ab"), (std::vector<std::int32_t>{2, 3, 5}));
  auto with_next = make("null", split("MergedWithNext", false));
  EXPECT_EQ(with_next->encode("ab-c"), (std::vector<std::int32_t>{5, 3, 2}));
  auto inverted = make("null", split("Removed", true));  // keep only the "-" matches
  EXPECT_EQ(inverted->encode("a-b--c"), (std::vector<std::int32_t>{3, 3, 3}));
  auto replace = make(R"({"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": "x"})", "null");
  EXPECT_EQ(replace->encode("a \t b"), (std::vector<std::int32_t>{0, 7, 1}));
}

TEST(SentencePieceParity, ModelsMatchPythonSentencePiece) {
  auto corpus = corpus_bytes();
  auto golden = read_jsonl(kReference / "golden_spm.jsonl");
  ASSERT_GT(golden.size(), 300u);
  std::map<std::string, std::unique_ptr<SentencePieceTokenizer>> models;
  for (const auto& row : golden) {
    std::string file = row["model"];
    auto& model = models[file];
    if (!model) model = std::make_unique<SentencePieceTokenizer>(kData / file);
    std::size_t index = row["index"];
    auto ids = model->encode(corpus.at(index));
    EXPECT_EQ(ids, row["ids"].get<std::vector<std::int32_t>>()) << file << " corpus line " << index;
    EXPECT_EQ(model->decode(ids), row["decoded"].get<std::string>()) << file << " corpus line " << index;
  }
  EXPECT_EQ(models.size(), 3u);
}

TEST(SentencePieceParity, Mt5Conventions) {
  auto tokenizer = load_tokenizer(kData / "mt5style_xcopa_unigram2k.model");
  ASSERT_EQ(tokenizer->kind(), TokenizerKind::sentencepiece);
  auto& mt5 = static_cast<SentencePieceTokenizer&>(*tokenizer);
  EXPECT_EQ(mt5.pad_id(), 0);
  EXPECT_EQ(mt5.eos_id(), 1);
  EXPECT_EQ(mt5.unk_id(), 2);
  EXPECT_EQ(mt5.token_to_id("</s>"), 1);
  EXPECT_EQ(mt5.vocab_size(), 2000);
  EXPECT_THROW(SentencePieceTokenizer(kData / "shards/sw/part-00000.jsonl"), Error);
}

TEST(LoadTokenizer, ChoosesTheFamilyByContent) {
  EXPECT_EQ(load_tokenizer(kData / "gpt2_from_gpt3encoder.tokenizer.json")->kind(), TokenizerKind::hf_json);
  EXPECT_EQ(load_tokenizer(kData / "test_model.model")->kind(), TokenizerKind::sentencepiece);
  EXPECT_THROW(load_tokenizer(kData / "no-such-file.json"), Error);
}

// Issue 18 item 7: an id of 99,999,999 made a 100M-entry table (gigabytes) before anything else
// was checked. Now refused up front, naming the token.
TEST(HfTokenizerErrors, AnIdFarPastTheVocabularyIsRefusedBeforeAllocating) {
  try {
    HfTokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 99999999}, "merges": []}})", "t.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.vocab[\"b\"] has id 99999999, far past the vocabulary's 2 entries"),
              std::string::npos) << e.what();
  }
  try {
    HfTokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                               "added_tokens": [{"id": 99999999, "content": "<x>", "special": true}]})", "t.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("added_tokens[] id 99999999 is far past"), std::string::npos) << e.what();
  }
  // A few ids past the entries (specials after the vocabulary) stay fine.
  auto tokenizer = HfTokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
      "added_tokens": [{"id": 5, "content": "<x>", "special": true}]})", "t.json");
  EXPECT_EQ(tokenizer->vocab_size(), 6);
}

}  // namespace
}  // namespace xmtf::tok

// safetensors reading (files written by an independent Python writer), writing, dtype
// conversion, sharded checkpoints, HF export/import, and clear errors on corrupt files.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/safetensors.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

using namespace xmtf;
using namespace xmtf::ckpt;

namespace {

const fs::path kGolden = fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "golden";

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_ckpt_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(Safetensors, ReadsTorchWrittenFilesWithAndWithoutPrefix) {
  SafetensorsFile with_prefix(kGolden / "tiny4h" / "model.safetensors");
  EXPECT_TRUE(with_prefix.contains("transformer.h.1.mlp.dense_4h_to_h.weight"));
  EXPECT_EQ(with_prefix.metadata().at("format"), "pt");
  EXPECT_EQ(with_prefix.info("transformer.word_embeddings.weight").shape, (std::vector<std::int64_t>{256, 64}));
  models::BloomModel a(models::load_bloom_config(kGolden / "tiny4h" / "config.json"));
  load_bloom_weights(kGolden / "tiny4h" / "model.safetensors", a);
  models::BloomModel b(models::load_bloom_config(kGolden / "tiny3h" / "config.json"));
  load_bloom_weights(kGolden / "tiny3h", b);  // a folder with model.safetensors, bare names
  EXPECT_EQ(b.config().n_head, 3);
}

TEST(Safetensors, Bf16AndF16RoundToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);   // exactly halfway: to even
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);   // halfway above odd: up
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_FLOAT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_FLOAT_EQ(f16_to_f32(0x4248), 3.140625f);
}

TEST(Safetensors, WriteThenReadEveryDtype) {
  const fs::path dir = fresh_dir("dtypes");
  std::vector<float> values = {0.0f, 1.5f, -3.25f, 1e-3f, 1234.5f, -0.1f};
  SafetensorsWriter writer;
  writer.add_f32("a.f32", {2, 3}, values);
  writer.add_f32("a.bf16", {6}, values, DType::bf16);
  writer.add_f32("a.f16", {3, 2}, values, DType::f16);
  const std::vector<std::int32_t> ids = {1, -2, 3};
  writer.add_i32("ids", {3}, ids);
  writer.set_metadata("format", "pt");
  writer.write(dir / "t.safetensors");
  SafetensorsFile file(dir / "t.safetensors");
  EXPECT_EQ(file.read_f32("a.f32"), values);
  const auto bf16 = file.read_f32("a.bf16");
  const auto f16 = file.read_f32("a.f16");
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(bf16[i], values[i], std::abs(values[i]) / 128 + 1e-30);
    EXPECT_NEAR(f16[i], values[i], std::abs(values[i]) / 1024 + 1e-7);
  }
  EXPECT_EQ(file.read_i32("ids"), ids);
  EXPECT_EQ(file.info("a.f16").dtype, DType::f16);
  // The data section starts 8-byte aligned, as the reference writer does.
  std::ifstream in(dir / "t.safetensors", std::ios::binary);
  std::uint64_t header = 0;
  in.read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ(header % 8, 0u);
  fs::remove_all(dir);
}

TEST(Safetensors, ShardedIndexIsOneNamespace) {
  const fs::path dir = fresh_dir("sharded");
  models::BloomModel source(models::load_bloom_config(kGolden / "tiny4h" / "config.json"));
  load_bloom_weights(kGolden / "tiny4h" / "model.safetensors", source);
  // Two shards, split by tensor, as transformers' save_pretrained(max_shard_size=...) writes.
  SafetensorsWriter first, second;
  nlohmann::json index;
  index["metadata"]["total_size"] = 0;
  std::size_t i = 0;
  for (const auto& spec : source.layout().tensors()) {
    const std::string name = "transformer." + spec.name;
    const bool in_first = i++ % 2 == 0;
    (in_first ? first : second).add_f32(name, spec.shape, source.layout().view(source.params(), spec.name), DType::bf16);
    index["weight_map"][name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  first.write(dir / "model-00001-of-00002.safetensors");
  second.write(dir / "model-00002-of-00002.safetensors");
  write_file_atomic(dir / "model.safetensors.index.json", index.dump());
  models::BloomModel loaded(source.config());
  load_bloom_weights(dir, loaded);
  for (std::size_t k = 0; k < loaded.params().size(); ++k) {
    EXPECT_NEAR(loaded.params()[k], source.params()[k], std::abs(source.params()[k]) / 128 + 1e-30);
  }
  fs::remove_all(dir);
}

TEST(Safetensors, ExportLoadsBackAsHfBloom) {
  const fs::path dir = fresh_dir("export");
  models::BloomModel source(models::load_bloom_config(kGolden / "tiny3h" / "config.json"));
  load_bloom_weights(kGolden / "tiny3h" / "model.safetensors", source);
  export_bloom_hf(source, dir / "hf");
  SafetensorsFile file(dir / "hf" / "model.safetensors");
  EXPECT_EQ(file.metadata().at("format"), "pt");  // transformers refuses files without it
  EXPECT_TRUE(file.contains("transformer.word_embeddings.weight"));
  EXPECT_FALSE(file.contains("lm_head.weight"));  // tied, as transformers saves it
  const auto config = nlohmann::json::parse(read_file(dir / "hf" / "config.json"));
  EXPECT_EQ(config["architectures"][0], "BloomForCausalLM");
  EXPECT_EQ(config["hidden_size"], 48);
  EXPECT_EQ(config["n_head"], 3);
  models::BloomModel loaded(models::load_bloom_config(dir / "hf" / "config.json"));
  load_bloom_weights(dir / "hf", loaded);
  EXPECT_EQ(loaded.params(), source.params());
  fs::remove_all(dir);
}

TEST(Safetensors, CorruptFilesFailWithTheFileName) {
  const fs::path dir = fresh_dir("corrupt");
  write_file_atomic(dir / "short.safetensors", "abc");
  std::string huge_header(8, '\0');
  huge_header[0] = '\x7f';
  huge_header[5] = '\x01';
  write_file_atomic(dir / "huge.safetensors", huge_header + "{}");
  std::string bad_offsets = R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  std::uint64_t n = bad_offsets.size();
  write_file_atomic(dir / "offsets.safetensors", std::string(reinterpret_cast<char*>(&n), 8) + bad_offsets + "12345678");
  for (const char* name : {"short.safetensors", "huge.safetensors", "offsets.safetensors", "missing.safetensors"}) {
    try {
      SafetensorsFile file(dir / name);
      FAIL() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  models::BloomModel wrong(models::load_bloom_config(kGolden / "tiny3h" / "config.json"));
  EXPECT_THROW(load_bloom_weights(kGolden / "tiny4h" / "model.safetensors", wrong), Error);
  fs::remove_all(dir);
}

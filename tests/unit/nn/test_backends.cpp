// Every kernel of the cpu backend (BLAS) against the reference backend (plain loops in double),
// as ggml's test-backend-ops checks each backend against the CPU one. Inputs are random; outputs
// and accumulated gradients must agree to float rounding. A new backend (cuda) joins the list.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "nn/backend.hpp"

using namespace xmtf;
using namespace xmtf::nn;

namespace {

std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// max |a - b| / max(1, max |b|): float rounding of the cpu kernels against double references.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1;
  for (std::size_t i = 0; i < b.size(); ++i) scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst / scale;
}

// Runs op on both backends with copies of the same buffers, then compares every buffer.
void expect_backends_agree(const std::vector<std::vector<float>>& inputs,
                           const std::function<void(const Backend&, std::vector<std::vector<float>>&)>& op,
                           const char* what, double tolerance = 2e-6) {
  auto on_cpu = inputs, on_reference = inputs;
  op(cpu_backend(), on_cpu);
  op(reference_backend(), on_reference);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_LE(relative_error(on_cpu[i], on_reference[i]), tolerance) << what << ", buffer " << i;
  }
}

}  // namespace

TEST(Backends, NamesAndBuffers) {
  EXPECT_EQ(backend_named("cpu").name(), "cpu");
  EXPECT_EQ(backend_named("reference").name(), "reference");
  EXPECT_THROW(backend_named("cuda-please"), Error);
  Buffer buffer = cpu_backend().allocate(100);
  ASSERT_EQ(buffer.size(), 100u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % 64, 0u);
  for (float x : buffer) EXPECT_EQ(x, 0.0f);
  Buffer moved = std::move(buffer);
  EXPECT_EQ(moved.size(), 100u);
  EXPECT_TRUE(buffer.empty());
}

TEST(Backends, LayerNorm) {
  const int n = 7, c = 33;
  expect_backends_agree({random_vector(n * c, 1, 3.0f), random_vector(c, 2), random_vector(c, 3), std::vector<float>(n * c),
                         std::vector<float>(n), std::vector<float>(n)},
                        [&](const Backend& b, auto& v) {
                          b.layernorm_forward(v[3].data(), v[4].data(), v[5].data(), v[0].data(), v[1].data(), v[2].data(), n, c, 1e-5f);
                        }, "layernorm_forward");
  // Backward from the same saved statistics, accumulating onto nonzero gradients.
  std::vector<float> x = random_vector(n * c, 4), w = random_vector(c, 5), mean(n), rstd(n), out(n * c);
  std::vector<float> b = random_vector(c, 6);
  cpu_backend().layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), n, c, 1e-5f);
  expect_backends_agree({random_vector(n * c, 7), random_vector(c, 8), random_vector(c, 9), random_vector(n * c, 10)},
                        [&](const Backend& be, auto& v) {
                          be.layernorm_backward(v[0].data(), v[1].data(), v[2].data(), v[3].data(), x.data(), w.data(),
                                                mean.data(), rstd.data(), n, c);
                        }, "layernorm_backward", 5e-6);
}

TEST(Backends, LinearWithAndWithoutBias) {
  const int n = 9, in = 17, out = 13;
  for (bool bias : {true, false}) {
    expect_backends_agree({random_vector(n * in, 11), random_vector(out * in, 12), random_vector(out, 13), std::vector<float>(n * out)},
                          [&](const Backend& b, auto& v) {
                            b.linear_forward(v[3].data(), v[0].data(), v[1].data(), bias ? v[2].data() : nullptr, n, in, out);
                          }, "linear_forward");
    const auto x = random_vector(n * in, 14), w = random_vector(out * in, 15);
    expect_backends_agree({random_vector(n * in, 16), random_vector(out * in, 17), random_vector(out, 18), random_vector(n * out, 19)},
                          [&](const Backend& b, auto& v) {
                            b.linear_backward(v[0].data(), v[1].data(), bias ? v[2].data() : nullptr, v[3].data(), x.data(),
                                              w.data(), n, in, out);
                          }, "linear_backward");
  }
}

TEST(Backends, GeluAddEmbedding) {
  const int n = 200;
  expect_backends_agree({random_vector(n, 20, 3.0f), std::vector<float>(n)},
                        [&](const Backend& b, auto& v) { b.gelu_forward(v[1].data(), v[0].data(), n); }, "gelu_forward");
  const auto x = random_vector(n, 21, 3.0f);
  expect_backends_agree({random_vector(n, 22), random_vector(n, 23)},
                        [&](const Backend& b, auto& v) { b.gelu_backward(v[0].data(), x.data(), v[1].data(), n); }, "gelu_backward");
  expect_backends_agree({random_vector(n, 24), random_vector(n, 25), std::vector<float>(n)},
                        [&](const Backend& b, auto& v) { b.add_forward(v[2].data(), v[0].data(), v[1].data(), n); }, "add", 0);
  const std::vector<std::int32_t> ids = {3, 0, 3, 7, 1};
  const int c = 6;
  expect_backends_agree({random_vector(8 * c, 26), std::vector<float>(5 * c)},
                        [&](const Backend& b, auto& v) { b.embedding_forward(v[1].data(), ids.data(), v[0].data(), 5, c); },
                        "embedding_forward", 0);
  expect_backends_agree({random_vector(8 * c, 27), random_vector(5 * c, 28)},
                        [&](const Backend& b, auto& v) { b.embedding_backward(v[0].data(), v[1].data(), ids.data(), 5, c); },
                        "embedding_backward");
}

class BackendAttention : public ::testing::TestWithParam<int> {};

TEST_P(BackendAttention, CausalSegmentedAndPrefixMasks) {
  const int batch = 2, t = 7, heads = 3, hd = 4, c = heads * hd;
  const std::vector<std::int32_t> segments = {1, 1, 1, 2, 2, 2, 0, 1, 1, 1, 1, 1, 1, 1};
  const std::vector<std::uint8_t> is_input = {1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0};
  AttentionMask mask;
  if (GetParam() >= 1) mask.segment_ids = segments.data();
  if (GetParam() == 2) {
    mask.is_input = is_input.data();
    mask.prefix_lm = true;
  }
  const auto slopes = alibi_slopes(heads);
  const auto qkv = random_vector(batch * t * 3 * c, 29);
  expect_backends_agree({std::vector<float>(batch * t * c), std::vector<float>(batch * heads * t * t)},
                        [&](const Backend& b, auto& v) {
                          b.attention_forward(v[0].data(), v[1].data(), qkv.data(), slopes.data(), mask, batch, t, heads, hd);
                        }, "attention_forward");
  std::vector<float> out(batch * t * c), probs(batch * heads * t * t), scratch(t * t);
  reference_backend().attention_forward(out.data(), probs.data(), qkv.data(), slopes.data(), mask, batch, t, heads, hd);
  const auto d_out = random_vector(batch * t * c, 30);
  expect_backends_agree({random_vector(qkv.size(), 31)},
                        [&](const Backend& b, auto& v) {
                          b.attention_backward(v[0].data(), d_out.data(), qkv.data(), probs.data(), batch, t, heads, hd, scratch.data());
                        }, "attention_backward", 5e-6);
}

INSTANTIATE_TEST_SUITE_P(Masks, BackendAttention, ::testing::Values(0, 1, 2));

TEST(Backends, CrossEntropyPhasesAndLogProbs) {
  const int n = 6, vocab = 50;
  const std::vector<std::int32_t> targets = {0, 49, 7, 7, 22, 3};
  const std::vector<float> weights = {0.5f, 0.0f, 0.25f, 1.0f, 0.125f, 2.0f};
  const auto logits = random_vector(n * vocab, 32, 4.0f);
  double losses[2];
  std::vector<float> gradients[2];
  const Backend* backends[2] = {&cpu_backend(), &reference_backend()};
  for (int i = 0; i < 2; ++i) {
    const Backend& b = *backends[i];
    std::vector<float> z = logits, row_max(n), target_logit(n);
    std::vector<double> exp_sum(n);
    b.cross_entropy_row_max(row_max.data(), z.data(), weights.data(), n, vocab);
    b.cross_entropy_target_logit(target_logit.data(), z.data(), targets.data(), weights.data(), n, vocab, 0);
    b.cross_entropy_exp_sum(exp_sum.data(), z.data(), row_max.data(), weights.data(), n, vocab);
    losses[i] = b.cross_entropy_finish(z.data(), exp_sum.data(), row_max.data(), target_logit.data(), targets.data(),
                                       weights.data(), n, vocab, 0);
    gradients[i] = z;
  }
  EXPECT_NEAR(losses[0], losses[1], 1e-6 * std::abs(losses[1]));
  EXPECT_LT(relative_error(gradients[0], gradients[1]), 1e-6);
  // A vocabulary split in two blocks (what a vocabulary-parallel version does after its
  // all-reduces) gives the same loss as one block.
  {
    const Backend& b = cpu_backend();
    const int half = vocab / 2;
    std::vector<float> blocks[2];
    std::vector<float> row_max(n, -INFINITY), target_logit(n, 0.0f);
    std::vector<double> exp_sum(n, 0.0);
    for (int k = 0; k < 2; ++k) {
      blocks[k].resize(n * half);
      for (int r = 0; r < n; ++r)
        for (int v = 0; v < half; ++v) blocks[k][r * half + v] = logits[r * vocab + k * half + v];
      std::vector<float> m(n), t(n);
      b.cross_entropy_row_max(m.data(), blocks[k].data(), weights.data(), n, half);
      b.cross_entropy_target_logit(t.data(), blocks[k].data(), targets.data(), weights.data(), n, half, k * half);
      for (int r = 0; r < n; ++r) {
        row_max[r] = std::max(row_max[r], m[r]);  // all-reduce max
        target_logit[r] += t[r];                  // all-reduce sum
      }
    }
    for (int k = 0; k < 2; ++k) {
      std::vector<double> s(n);
      b.cross_entropy_exp_sum(s.data(), blocks[k].data(), row_max.data(), weights.data(), n, half);
      for (int r = 0; r < n; ++r) exp_sum[r] += s[r];  // all-reduce sum
    }
    const double loss = b.cross_entropy_finish(blocks[0].data(), exp_sum.data(), row_max.data(), target_logit.data(),
                                               targets.data(), weights.data(), n, half, 0);
    EXPECT_NEAR(loss, losses[1], 1e-6 * std::abs(losses[1]));
  }
  std::vector<double> log_probs[2];
  for (int i = 0; i < 2; ++i) {
    log_probs[i].resize(n);
    backends[i]->token_log_probs(log_probs[i].data(), logits.data(), targets.data(), n, vocab);
  }
  for (int r = 0; r < n; ++r) EXPECT_NEAR(log_probs[0][r], log_probs[1][r], 1e-6 * std::abs(log_probs[1][r]));
}

TEST(Backends, AdamWAndNorms) {
  const int n = 300;
  const AdamWStep step{1e-3f, 0.9f, 0.999f, 1e-8f, 0.9999f, 0.19f, 0.0447f};
  const auto grads = random_vector(n, 33);
  expect_backends_agree({random_vector(n, 34), random_vector(n, 35, 0.01f), [] {
                           auto v = random_vector(n, 36, 0.01f);
                           for (float& x : v) x = x * x;
                           return v;
                         }()},
                        [&](const Backend& b, auto& v) { b.adamw_update(v[0].data(), grads.data(), v[1].data(), v[2].data(), n, step); },
                        "adamw_update", 1e-6);
  EXPECT_NEAR(cpu_backend().sum_of_squares(grads.data(), n), reference_backend().sum_of_squares(grads.data(), n), 1e-9);
  expect_backends_agree({random_vector(n, 37)}, [&](const Backend& b, auto& v) { b.scale(v[0].data(), n, 0.37f); }, "scale", 1e-7);
}

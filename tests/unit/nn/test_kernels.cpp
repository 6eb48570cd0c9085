// Finite-difference checks of every layer's backward: for a random input and a random
// projection r of the output, d(r . f(x))/dx from backward must match central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "nn/kernels.hpp"

using namespace xmtf::nn;

namespace {

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Checks analytic vs numeric gradient of scalar(x) for every element of x (small tensors only).
void expect_gradient(std::vector<float>& x, const std::vector<float>& analytic,
                     const std::function<double()>& scalar, const char* what) {
  const float h = 1e-2f;
  double max_error = 0, max_ref = 1e-3;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    x[i] = saved + h;
    const double plus = scalar();
    x[i] = saved - h;
    const double minus = scalar();
    x[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    max_error = std::max(max_error, std::abs(numeric - analytic[i]));
    max_ref = std::max(max_ref, std::abs(numeric));
  }
  EXPECT_LT(max_error / max_ref, 5e-3) << what;
}

}  // namespace

TEST(Kernels, LayerNormBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(1);
  const int n = 3, c = 8;
  auto x = random_vector(n * c, rng), w = random_vector(c, rng), b = random_vector(c, rng);
  auto r = random_vector(n * c, rng);
  std::vector<float> out(n * c), mean(n), rstd(n);
  auto scalar = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), n, c, 1e-5f);
    return dot(out, r);
  };
  scalar();
  std::vector<float> dx(n * c, 0), dw(c, 0), db(c, 0);
  layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(), rstd.data(), n, c);
  expect_gradient(x, dx, scalar, "layernorm d_inp");
  expect_gradient(w, dw, scalar, "layernorm d_weight");
  expect_gradient(b, db, scalar, "layernorm d_bias");
}

TEST(Kernels, LinearBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(2);
  const int n = 4, in = 5, out_ch = 3;
  auto x = random_vector(n * in, rng), w = random_vector(out_ch * in, rng), b = random_vector(out_ch, rng);
  auto r = random_vector(n * out_ch, rng);
  std::vector<float> out(n * out_ch);
  auto scalar = [&] {
    linear_forward(out.data(), x.data(), w.data(), b.data(), n, in, out_ch);
    return dot(out, r);
  };
  std::vector<float> dx(n * in, 0), dw(out_ch * in, 0), db(out_ch, 0);
  linear_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), n, in, out_ch);
  expect_gradient(x, dx, scalar, "linear d_inp");
  expect_gradient(w, dw, scalar, "linear d_weight");
  expect_gradient(b, db, scalar, "linear d_bias");
}

TEST(Kernels, GeluBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(3);
  auto x = random_vector(50, rng, 2.0f), r = random_vector(50, rng);
  std::vector<float> out(50);
  auto scalar = [&] {
    gelu_forward(out.data(), x.data(), 50);
    return dot(out, r);
  };
  std::vector<float> dx(50, 0);
  gelu_backward(dx.data(), x.data(), r.data(), 50);
  expect_gradient(x, dx, scalar, "gelu");
}

TEST(Kernels, EmbeddingBackwardScattersRows) {
  std::mt19937 rng(4);
  const int vocab = 6, c = 4;
  auto table = random_vector(vocab * c, rng), r = random_vector(5 * c, rng);
  std::vector<std::int32_t> ids = {1, 3, 1, 0, 5};
  std::vector<float> out(5 * c);
  auto scalar = [&] {
    embedding_forward(out.data(), ids.data(), table.data(), 5, c);
    return dot(out, r);
  };
  std::vector<float> d_table(vocab * c, 0);
  embedding_backward(d_table.data(), r.data(), ids.data(), 5, c);
  expect_gradient(table, d_table, scalar, "embedding");
}

class AttentionGradient : public ::testing::TestWithParam<bool> {};

TEST_P(AttentionGradient, MatchesFiniteDifferencesWithSegmentsAndPadding) {
  const bool prefix_lm = GetParam();
  std::mt19937 rng(5);
  const int batch = 2, t = 6, heads = 3, hd = 2, c = heads * hd;
  auto qkv = random_vector(batch * t * 3 * c, rng), r = random_vector(batch * t * c, rng);
  std::vector<std::int32_t> segments = {1, 1, 1, 2, 2, 0, 1, 1, 1, 1, 1, 1};
  std::vector<std::uint8_t> is_input = {1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0};
  AttentionMask mask{segments.data(), is_input.data(), prefix_lm};
  auto slopes = alibi_slopes(heads);
  std::vector<float> out(batch * t * c), probs(batch * heads * t * t), scratch(t * t);
  auto scalar = [&] {
    attention_forward(out.data(), probs.data(), qkv.data(), slopes.data(), mask, batch, t, heads, hd);
    return dot(out, r);
  };
  scalar();
  std::vector<float> d_qkv(qkv.size(), 0);
  attention_backward(d_qkv.data(), r.data(), qkv.data(), probs.data(), batch, t, heads, hd, scratch.data());
  expect_gradient(qkv, d_qkv, scalar, "attention d_qkv");
  // Padding (segment 0) produces zeros; a query never sees another segment.
  for (int ch = 0; ch < c; ++ch) EXPECT_EQ(out[5 * c + ch], 0.0f);
  for (int h = 0; h < heads; ++h) {
    const float* p = probs.data() + h * t * t;
    EXPECT_EQ(p[3 * t + 0], 0.0f);                    // segment 2 query, segment 1 key
    EXPECT_EQ(p[0 * t + 2] != 0.0f, false);           // input query, target key: never
    EXPECT_EQ(p[0 * t + 1] != 0.0f, prefix_lm);       // input query, later input key: prefix LM only
  }
}

INSTANTIATE_TEST_SUITE_P(CausalAndPrefix, AttentionGradient, ::testing::Values(false, true));

TEST(Kernels, CrossEntropyGradientAndWeights) {
  std::mt19937 rng(6);
  const int n = 4, vocab = 7;
  auto logits = random_vector(n * vocab, rng);
  std::vector<std::int32_t> targets = {0, 6, 3, 2};
  std::vector<float> weights = {0.5f, 0.0f, 0.25f, 1.0f};
  auto scalar = [&] {
    std::vector<float> copy = logits;
    return cross_entropy_forward_backward(copy.data(), targets.data(), weights.data(), n, vocab);
  };
  std::vector<float> grad = logits;
  const double loss = cross_entropy_forward_backward(grad.data(), targets.data(), weights.data(), n, vocab);
  std::vector<double> log_probs(n);
  token_log_probs(log_probs.data(), logits.data(), targets.data(), n, vocab);
  double expected = 0;
  for (int i = 0; i < n; ++i) expected -= weights[i] * log_probs[i];
  EXPECT_NEAR(loss, expected, 1e-6);
  expect_gradient(logits, grad, scalar, "cross entropy");
}

TEST(Kernels, AlibiSlopesForPowerOfTwoAndOtherHeadCounts) {
  // BLOOM's 16-head slopes: 2^(-0.5 k).
  auto s16 = alibi_slopes(16);
  ASSERT_EQ(s16.size(), 16u);
  for (int k = 0; k < 16; ++k) EXPECT_NEAR(s16[k], std::pow(2.0, -0.5 * (k + 1)), 1e-7);
  // 3 heads: the two of 2 heads (2^-4, 2^-8), then the first odd one of 4 heads (2^-2).
  auto s3 = alibi_slopes(3);
  ASSERT_EQ(s3.size(), 3u);
  EXPECT_FLOAT_EQ(s3[0], 1.0f / 16);
  EXPECT_FLOAT_EQ(s3[1], 1.0f / 256);
  EXPECT_FLOAT_EQ(s3[2], 1.0f / 4);
}

#include "train/gradient_sum.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace xmtf::train {

GradientSum::GradientSum(std::size_t n_floats, dist::Communicator& data_parallel, std::size_t bucket_floats)
    : group_(data_parallel), bucket_floats_(std::min(bucket_floats, std::max<std::size_t>(n_floats, 1))) {
  if (group_.size() > 1) {
    for (auto& bucket : buckets_) bucket.resize(bucket_floats_);
  }
}

void GradientSum::add(const std::vector<float>& grads) {
  if (accumulated_.empty()) accumulated_.assign(grads.size(), 0.0);
  if (added_ == 0) {
    std::copy(grads.begin(), grads.end(), accumulated_.begin());
  } else {
    for (std::size_t i = 0; i < grads.size(); ++i) accumulated_[i] += grads[i];
  }
  ++added_;
}

void GradientSum::finish(std::vector<float>& grads) {
  const bool accumulated = added_ > 0;
  if (accumulated && accumulated_.size() != grads.size()) fail("GradientSum: buffer sizes changed within a step");
  if (group_.size() == 1) {
    if (accumulated) {
      for (std::size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<float>(accumulated_[i] + grads[i]);
    }
    return;
  }
  // This rank's sum into a fp64 bucket, reduced over the group while the next bucket fills.
  auto fill = [&](std::vector<double>& bucket, std::size_t begin, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      bucket[i] = accumulated ? accumulated_[begin + i] + grads[begin + i] : static_cast<double>(grads[begin + i]);
    }
  };
  std::unique_ptr<dist::Request> pending;
  std::size_t pending_begin = 0, pending_count = 0;
  int pending_bucket = 0;
  auto complete = [&] {
    if (!pending) return;
    pending->wait();
    pending.reset();
    const std::vector<double>& bucket = buckets_[pending_bucket];
    for (std::size_t i = 0; i < pending_count; ++i) grads[pending_begin + i] = static_cast<float>(bucket[i]);
  };
  int next = 0;
  for (std::size_t begin = 0; begin < grads.size(); begin += bucket_floats_) {
    const std::size_t count = std::min(bucket_floats_, grads.size() - begin);
    fill(buckets_[next], begin, count);  // while the other bucket is being reduced
    complete();
    pending = group_.all_reduce_async(buckets_[next].data(), count, dist::DataType::f64, dist::ReduceOp::sum);
    pending_bucket = next;
    pending_begin = begin;
    pending_count = count;
    next = 1 - next;
  }
  complete();
}

}  // namespace xmtf::train

#include "data/mixture.hpp"

#include <cstdlib>

#include "core/error.hpp"
#include "core/text.hpp"

namespace xmtf::data {

std::map<std::string, MixtureEntry> mixture_weights(const std::map<std::string, std::uint64_t>& bytes_per_language,
                                                    const std::map<std::string, double>& upsample) {
  std::uint64_t total_bytes = 0;
  for (const auto& [language, bytes] : bytes_per_language) total_bytes += bytes;
  std::map<std::string, MixtureEntry> mixture;
  double weight_sum = 0;
  for (const auto& [language, bytes] : bytes_per_language) {
    MixtureEntry& entry = mixture[language];
    entry.bytes = bytes;
    entry.byte_share = total_bytes == 0 ? 0 : static_cast<double>(bytes) / static_cast<double>(total_bytes);
    auto factor = upsample.find(language);
    entry.upsample = factor == upsample.end() ? 1.0 : factor->second;
    entry.weight = entry.byte_share * entry.upsample;
    weight_sum += entry.weight;
  }
  for (auto& [language, entry] : mixture) entry.normalized_weight = weight_sum == 0 ? 0 : entry.weight / weight_sum;
  return mixture;
}

std::map<std::string, double> parse_upsample(const std::string& text) {
  std::map<std::string, double> factors;
  for (const std::string& item : split(text, ',')) {
    std::string trimmed(trim(item));
    if (trimmed.empty()) continue;
    auto equals = trimmed.find('=');
    char* end = nullptr;
    double factor = equals == std::string::npos ? 0 : std::strtod(trimmed.c_str() + equals + 1, &end);
    if (equals == std::string::npos || equals == 0 || end == nullptr || *end != '\0' || !(factor > 0))
      fail("--upsample: '{}' is not LANG=FACTOR with FACTOR > 0 (e.g. code=1.3)", trimmed);
    factors[trimmed.substr(0, equals)] = factor;
  }
  return factors;
}

}  // namespace xmtf::data

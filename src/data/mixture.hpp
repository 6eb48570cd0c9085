#pragma once
// Language sampling weights as BLOOMZ's xmtf_xp3capmixnewcodelong_{train,validation}.txt:
// weight = (bytes of the language / bytes of all languages) x upsampling factor, NOT
// renormalised after upsampling (BLOOMZ multiplied code's share by 1.3 and left the sum at
// 1.0137; Megatron normalises when it samples). normalized_weight is weight / sum(weight).
#include <cstdint>
#include <map>
#include <string>

namespace xmtf::data {

struct MixtureEntry {
  std::uint64_t bytes = 0;
  double byte_share = 0;
  double upsample = 1;
  double weight = 0;
  double normalized_weight = 0;
};

std::map<std::string, MixtureEntry> mixture_weights(const std::map<std::string, std::uint64_t>& bytes_per_language,
                                                    const std::map<std::string, double>& upsample);

// "code=1.3,en=2" -> {code: 1.3, en: 2}; throws xmtf::Error naming the bad item.
std::map<std::string, double> parse_upsample(const std::string& text);

}  // namespace xmtf::data

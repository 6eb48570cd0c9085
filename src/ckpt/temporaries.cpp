#include "ckpt/temporaries.hpp"

#include <regex>

#include "core/fs.hpp"

namespace xmtf::ckpt {

bool is_temporary_name(const std::string& file_name) {
  static const std::regex pattern(R"(.+\.tmp(\.[0-9]+\.[0-9]+)?)");
  return std::regex_match(file_name, pattern);
}

std::vector<fs::path> remove_temporaries(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> removed;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return removed;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_temporary_name(name) || (!prefix.empty() && name.rfind(prefix + ".tmp", 0) != 0)) continue;
    fs::remove_all(entry.path(), ec);
    if (!ec) removed.push_back(entry.path());
  }
  return removed;
}

}  // namespace xmtf::ckpt

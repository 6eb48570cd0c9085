#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "sched/manifest.hpp"

namespace xmtf::sched::testing {

inline fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-sched-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The message of the xmtf::Error that parsing text throws ("" when it parses).
inline std::string manifest_error(const std::string& text) {
  try {
    parse_manifest(text, "m.toml", ".");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace xmtf::sched::testing

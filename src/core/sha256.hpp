#pragma once
// SHA-256 through OpenSSL's EVP interface, streaming or one-shot, as lowercase hex.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace xmtf {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  void update(const void* data, std::size_t size);
  std::string hex_digest();  // finishes the hash; call once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace xmtf

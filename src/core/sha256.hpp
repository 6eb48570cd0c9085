#pragma once
// Message digests through OpenSSL's EVP interface, streaming or one-shot, as lowercase hex:
// SHA-256 (shard and checkpoint checksums, LFS object ids) and SHA-1 (git blob ids).
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace xmtf {

class Digest {
 public:
  enum class Algorithm { sha256, sha1 };
  explicit Digest(Algorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(std::string_view bytes);
  void update(const void* data, std::size_t size);
  std::string hex_digest();  // finishes the hash; call once, or reset() to hash anew
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Sha256 : public Digest {
 public:
  Sha256() : Digest(Algorithm::sha256) {}
};

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace xmtf

#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

#include "core/error.hpp"

namespace xmtf {

struct Digest::Impl {
  EVP_MD_CTX* context = nullptr;
  const EVP_MD* algorithm = nullptr;
};

Digest::Digest(Algorithm algorithm) : impl_(std::make_unique<Impl>()) {
  impl_->context = EVP_MD_CTX_new();
  impl_->algorithm = algorithm == Algorithm::sha1 ? EVP_sha1() : EVP_sha256();
  if (!impl_->context) fail("OpenSSL: cannot allocate a digest context");
  reset();
}

Digest::~Digest() { EVP_MD_CTX_free(impl_->context); }

void Digest::reset() {
  if (EVP_DigestInit_ex(impl_->context, impl_->algorithm, nullptr) != 1) fail("OpenSSL: cannot initialise the digest");
}

void Digest::update(const void* data, std::size_t size) {
  if (size && EVP_DigestUpdate(impl_->context, data, size) != 1) fail("OpenSSL: digest update failed");
}

void Digest::update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

std::string Digest::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(impl_->context, digest, &length) != 1) fail("OpenSSL: digest final failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) fail("cannot open {} to hash it: {}", path.string(), errno_text(errno));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) hash.update(buffer.data(), n);
  bool read_error = std::ferror(file);
  std::fclose(file);
  if (read_error) fail("cannot read {} to hash it", path.string());
  return hash.hex_digest();
}

}  // namespace xmtf

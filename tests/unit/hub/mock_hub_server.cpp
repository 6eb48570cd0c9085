// The mock hub as a process, for benchmarks: serves one model repo "bench/big" whose LFS file
// big.bin holds --size-mib MiB of pseudo-random bytes. Prints "ENDPOINT <hub url>",
// "CDN_URL <direct url of big.bin>" and "SHA256 <hex>", then serves until stdin closes.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "core/cli.hpp"
#include "mock_hub.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Local mock of the HuggingFace Hub serving one large LFS file (benchmarks)", "xmtf-mock-hub"};
  std::size_t size_mib = 1024;
  app.add_option("--size-mib", size_mib, "size of bench/big's big.bin")->capture_default_str();
  xmtf::add_logging_options(app);
  return xmtf::run_main(app, argc, argv, [&] {
    std::string content(size_mib << 20, '\0');
    std::mt19937_64 random(7);
    for (std::size_t i = 0; i + 8 <= content.size(); i += 8) {
      std::uint64_t word = random();
      std::memcpy(&content[i], &word, 8);
    }
    std::string sha = xmtf::test::sha256_of(content);
    xmtf::test::MockHub hub;
    xmtf::test::MockRepo repo;
    repo.id = "bench/big";
    repo.commit = std::string(40, 'b');
    repo.files.push_back({"big.bin", std::move(content), true});
    hub.add_repo(std::move(repo));
    std::cout << "ENDPOINT " << hub.endpoint() << "\nCDN_URL " << hub.cdn_endpoint() << "/lfs/" << sha << "\nSHA256 "
              << sha << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
    }
    return 0;
  });
}

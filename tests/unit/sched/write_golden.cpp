// `make golden`: rewrites tests/unit/sched/golden/ from what the code writes today. Run it only
// when a change is meant to alter the plan's files, and review the diff like code; the tests
// themselves never write a golden file.
#include <iostream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "golden_plan.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " GOLDEN_DIR\n";
    return 2;
  }
  try {
    xmtf::fs::path dir = argv[1];
    for (const auto& [name, text] : xmtf::sched::testing::golden_files(xmtf::sched::testing::golden_plan())) {
      bool changed = !xmtf::fs::exists(dir / name) || xmtf::read_file(dir / name) != text;
      if (changed) xmtf::write_file_atomic(dir / name, text);
      std::cout << (changed ? "rewrote   " : "unchanged ") << (dir / name).string() << "\n";
    }
  } catch (const xmtf::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}

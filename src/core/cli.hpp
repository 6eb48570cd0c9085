#pragma once
// What every executable shares: --log-level / --quiet, the program name in log lines, and one
// exit-code policy: 0 success, 1 failure (an xmtf::Error, message on stderr), 2 bad usage.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace xmtf {

void add_logging_options(CLI::App& app);

// Parses argv with app, then runs body; catches CLI11 and xmtf errors and turns them into the
// exit codes above.
int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace xmtf

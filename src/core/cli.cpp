#include "core/cli.hpp"

#include <exception>

#include "core/error.hpp"
#include "core/log.hpp"

namespace xmtf {

void add_logging_options(CLI::App& app) {
  app.add_option_function<std::string>(
         "--log-level", [](const std::string& name) { log::set_level(log::parse_level(name)); },
         "debug, info, warn, error or off (default info; env XMTF_LOG_LEVEL)")
      ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error", "off", "quiet"}));
  app.add_flag_callback("-q,--quiet", [] { log::set_level(log::Level::warn); }, "only warnings and errors");
  // Part of a program's identity in task fingerprints (docs/scheduler.md).
  app.set_version_flag("--version", app.get_name() + " " XMTF_VERSION, "print the program's version and exit");
}

int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  log::set_program(app.get_name());
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    return body();
  } catch (const Error& e) {
    log::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    log::error("unexpected error: {}", e.what());
    return 1;
  }
}

}  // namespace xmtf

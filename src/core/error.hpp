#pragma once
// Errors: one exception type carrying a message that already names its context (file:line,
// tensor, rank...). Executables catch it in run_main() and exit 1 with the message.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace xmtf {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// errno as text, for messages about failed system calls.
std::string errno_text(int error_number);

}  // namespace xmtf

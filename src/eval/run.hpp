#pragma once
// The work of xmtf-eval (docs/eval.md): one dataset file, one templates file, a model ->
// one result file per template (+ predictions). MPI-free: the executable passes the ranks'
// collective operations in, so the library runs (and is tested) in one process too.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace xmtf::eval {

struct EvalOptions {
  // The contract.
  fs::path model_dir;
  std::string dataset;
  fs::path data;
  fs::path templates;
  std::vector<std::string> template_names;
  std::optional<std::string> config;
  std::optional<std::string> split;
  std::optional<std::string> prompt_language;  // EN | HT | MT
  fs::path tokenizer;
  std::optional<std::int64_t> limit;
  bool predictions = false;
  fs::path output;
  // Defaults for everything else.
  std::int64_t batch_size = 8;  // examples per forward batch (rank classification), rows (generation)
  std::int64_t max_length = 0;  // 0: the model's seq_length
  bool force = false;
  std::string backend = "cpu";  // kernels: cpu or reference (nn::backend_named)
  // HumanEval.
  std::int64_t samples = 200;
  std::vector<double> temperatures{0.2, 0.6, 0.8};
  double top_p = 0.95;
  std::int64_t max_new_tokens = 256;
  std::uint64_t seed = 0;
  double timeout_seconds = 3.0;
  int jobs = 0;  // sandboxes at once per rank; 0: the cores this process may use
  std::string python;  // empty: /usr/bin/python3, else python3 on PATH
  bool allow_network = false;
};

// The collective operations of the ranks running one evaluation (MPI in xmtf-eval; the
// defaults are those of a single process).
struct Ranks {
  int rank = 0;
  int size = 1;
  // True on every rank when every rank passed true.
  std::function<bool(bool)> all_ok = [](bool ok) { return ok; };
  // Element-wise sum of every rank's buffer onto rank 0's.
  std::function<void(std::vector<double>&)> sum_to_root = [](std::vector<double>&) {};
  // Every rank's text, in rank order, on rank 0 (empty elsewhere).
  std::function<std::vector<std::string>(const std::string&)> gather_to_root = [](const std::string& text) {
    return std::vector<std::string>{text};
  };
};

// A failure every rank saw (bad data, templates, model): agreed on before any collective work,
// so no rank waits for another.
class SetupError : public Error {
 public:
  using Error::Error;
};

// Runs one evaluation; returns the exit code (0 also when everything was up to date). Setup
// errors are thrown as SetupError on every rank; other errors may leave ranks in collectives.
int run_eval(const EvalOptions& options, const Ranks& ranks);

}  // namespace xmtf::eval

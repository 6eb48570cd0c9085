// Rank classification (docs/eval.md): render, tokenize, score every choice, argmax, accuracy.
#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "eval/context.hpp"
#include "eval/score.hpp"
#include "eval/scorer.hpp"
#include "h5/tokenize_job.hpp"

namespace xmtf::eval {
namespace {

struct TemplateExamples {
  std::vector<RenderedExample> rendered;
  std::vector<std::size_t> item_of_example;  // index into the scored items, or npos
  std::int64_t truncated = 0;
};

constexpr std::size_t kNotScored = static_cast<std::size_t>(-1);

// The end of a too long input is kept: it is what the answer follows.
bool fit_window(ChoiceExample& example, std::int64_t max_length) {
  std::size_t longest_choice = 0;
  for (const auto& choice : example.choices) longest_choice = std::max(longest_choice, choice.size());
  const auto budget = static_cast<std::size_t>(std::max<std::int64_t>(1, max_length - static_cast<std::int64_t>(longest_choice)));
  if (example.input.size() <= budget) return false;
  example.input.erase(example.input.begin(), example.input.end() - static_cast<std::ptrdiff_t>(budget));
  return true;
}

int argmax_first(const std::vector<double>& values) {
  int best = 0;
  for (std::size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  return best;
}

void write_template_results(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected,
                            const TemplateExamples& work, const std::vector<std::size_t>& first_choice,
                            const std::vector<double>& sums) {
  std::int64_t n = 0, correct = 0;
  std::int64_t skipped[4] = {0, 0, 0, 0};
  std::string predictions;
  for (std::size_t e = 0; e < work.rendered.size(); ++e) {
    const RenderedExample& example = work.rendered[e];
    OrderedJson line;
    line["index"] = e;
    line["input"] = example.input;
    line["choices"] = example.choices;
    if (example.skip != Skip::none) {
      ++skipped[static_cast<int>(example.skip)];
      line["skipped"] = skip_name(example.skip);
    } else {
      const std::size_t item = work.item_of_example[e];
      std::vector<double> logprobs(sums.begin() + static_cast<std::ptrdiff_t>(first_choice[item]),
                                   sums.begin() + static_cast<std::ptrdiff_t>(first_choice[item] + example.choices.size()));
      const int prediction = argmax_first(logprobs);
      ++n;
      correct += prediction == example.gold ? 1 : 0;
      line["gold"] = example.gold;
      line["logprobs"] = logprobs;
      line["prediction"] = prediction;
      line["correct"] = prediction == example.gold;
    }
    if (options.predictions) predictions += line.dump() + "\n";
  }
  const fs::path result_file = result_path(options, context, selected);
  if (options.predictions) write_file_atomic(predictions_path(result_file), predictions);
  OrderedJson result = result_head(options, context, selected);
  result["n"] = n;
  result["correct"] = correct;
  result["evaluation"] = {{"accuracy", n > 0 ? OrderedJson(static_cast<double>(correct) / static_cast<double>(n)) : OrderedJson(nullptr)}};
  result["skipped"] = {{"no_input", skipped[static_cast<int>(Skip::no_input)]},
                       {"no_choices", skipped[static_cast<int>(Skip::no_choices)]},
                       {"no_gold", skipped[static_cast<int>(Skip::no_gold)]}};
  result["truncated"] = work.truncated;
  add_result_tail(result, options, context, selected);
  write_json_file(result_file, result);
  log::info("{}: accuracy {} ({} of {}; skipped {})", result_file.filename().string(),
            n > 0 ? fmt::format("{:.4f}", static_cast<double>(correct) / static_cast<double>(n)) : "n/a", correct, n,
            work.rendered.size() - static_cast<std::size_t>(n));
}

}  // namespace

void run_rank_classification(const EvalOptions& options, const Ranks& ranks, const EvalContext& context, ChoiceScorer& scorer,
                             tok::Tokenizer& tokenizer) {
  // Every rank renders and tokenizes everything, so batches are the same whatever the rank count.
  h5::TokenizeOptions encoding;
  encoding.target_prefix = scorer.encoder_decoder() ? "" : context.target_prefix;
  encoding.target_eos = false;
  h5::SampleEncoder encoder(tokenizer, encoding, context.tokenizer_path.string());
  std::vector<TemplateExamples> work(context.selected.size());
  std::vector<ChoiceExample> items;
  std::vector<std::size_t> first_choice;  // of each item in the flat sums
  std::size_t n_choices = 0;
  for (std::size_t t = 0; t < context.selected.size(); ++t) {
    TemplateExamples& w = work[t];
    w.rendered = render_examples(context.templates, *context.selected[t].prompt, context.rows, options.data);
    w.item_of_example.assign(w.rendered.size(), kNotScored);
    for (std::size_t e = 0; e < w.rendered.size(); ++e) {
      const RenderedExample& example = w.rendered[e];
      if (example.skip != Skip::none) continue;
      ChoiceExample tokens;
      std::vector<std::int32_t> choice_ids;
      for (const std::string& choice : example.choices) {
        encoder.encode(tokenizer, example.input, choice, tokens.input, choice_ids);
        for (std::int32_t id : choice_ids)
          if (id < 0 || id >= scorer.vocab_size())
            fail("{}: the tokenizer gave id {}, outside the model's vocabulary [0, {}): wrong tokenizer for this model?",
                 context.tokenizer_path.string(), id, scorer.vocab_size());
        tokens.choices.push_back(choice_ids);
      }
      if (tokens.input.empty()) fail("{}: row {}: the input tokenizes to nothing", options.data.string(), e + 1);
      w.truncated += fit_window(tokens, context.max_length) ? 1 : 0;
      w.item_of_example[e] = items.size();
      first_choice.push_back(n_choices);
      n_choices += tokens.choices.size();
      items.push_back(std::move(tokens));
    }
  }

  const std::int64_t n_batches = batch_count(items.size(), options.batch_size);
  const auto mine = batches_of_rank(n_batches, ranks.rank, ranks.size);
  if (ranks.rank == 0)
    log::info("{} examples to score ({} choices) in {} batches of up to {}", items.size(), n_choices, n_batches, options.batch_size);
  // Each rank fills its items' sums; the others stay 0 and the sum over ranks (x + 0 = x)
  // assembles the exact values on rank 0.
  std::vector<double> sums(n_choices, 0.0);
  std::uint64_t my_items = 0;
  for (std::int64_t b : mine)
    my_items += std::min<std::uint64_t>(items.size() - static_cast<std::uint64_t>(b * options.batch_size),
                                        static_cast<std::uint64_t>(options.batch_size));
  Progress progress("rank-eval", my_items);
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t b : mine) {
    const auto begin = static_cast<std::size_t>(b * options.batch_size);
    const std::size_t count = std::min(items.size() - begin, static_cast<std::size_t>(options.batch_size));
    auto scores = scorer.score(std::span(items).subspan(begin, count));
    for (std::size_t i = 0; i < count; ++i)
      std::copy(scores[i].begin(), scores[i].end(), sums.begin() + static_cast<std::ptrdiff_t>(first_choice[begin + i]));
    progress.add(count);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("rank done: {} examples in {:.2f}s ({:.1f} examples/s)", my_items, seconds,
            seconds > 0 ? static_cast<double>(my_items) / seconds : 0.0);
  ranks.sum_to_root(sums);
  if (ranks.rank != 0) return;
  for (std::size_t t = 0; t < context.selected.size(); ++t)
    write_template_results(options, context, context.selected[t], work[t], first_choice, sums);
}

}  // namespace xmtf::eval

#pragma once
// Creating xP3-style data: every template of a promptsource file (or a chosen list) applied to
// every row of a raw data file, keeping an example only when it has a non-empty input and
// exactly one non-empty target (as xP3 did), capped per template, written as
// <output>/<lang>/xp3_<dataset>_<config>_<split>_<template>.jsonl lines {"inputs", "targets"}.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::prompts {

struct PromptJob {
  fs::path templates;
  fs::path data;
  std::string lang;
  fs::path output;                          // "-" with render: standard output
  std::vector<std::string> template_names;  // empty: all, in file order
  std::optional<std::int64_t> max_per_template;
  std::uint64_t seed = 0;                   // seeds `choice` like Python's random.seed(seed)
  bool render = false;                      // one inspection line per (row, template) instead
  std::optional<std::string> split;         // default: from the data file name
  std::optional<std::string> config;        // default: the templates file's subset ("None" without)
  bool truncate = true;                     // promptsource's apply(truncate=True): values cut at 2048
  // The run fails when more than this fraction of the (row, template) renderings is unusable
  // (no input, no target or several targets); capped examples do not count.
  double max_dropped_fraction = 0.9;
};

struct PromptSummary {
  bool skipped = false;  // a previous run with the same inputs and options completed
  std::size_t files_written = 0;
  std::size_t examples_written = 0;
  std::size_t examples_dropped = 0;  // no input, no target, several targets, or over the cap
  std::size_t examples_unusable = 0;  // of those: no input, no target, or several targets
};

PromptSummary run_prompt_job(const PromptJob& job);

// xp3_<dataset>_<config>_<split>_<template>.jsonl with "/" and " " made "_" (as xP3 named files).
std::string xp3_file_name(const std::string& dataset, const std::optional<std::string>& subset,
                          const std::string& split, const std::string& template_name);

}  // namespace xmtf::prompts

// report.html checked as a person would, in headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh): it loads without console errors, exceptions or fetched resources (one
// self-contained file), every plot is laid out and visibly drawn in a full-page screenshot (not
// blank: many non-white pixels of several colours inside each SVG's box), and its tables hold
// the numbers expected from the inputs. The screenshot is kept in the build folder
// (test-artifacts/report_screenshot.png) to look at. Skips only when Chromium is not installed
// or cannot start at all.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <set>

#include "devtools.hpp"
#include "report_test_util.hpp"

namespace xmtf::report {
namespace {

using namespace test_util;
using nlohmann::json;

struct Image {
  std::uint32_t width = 0, height = 0;
  std::vector<std::uint8_t> rgba;
  const std::uint8_t* at(std::uint32_t x, std::uint32_t y) const { return &rgba[(static_cast<std::size_t>(y) * width + x) * 4]; }
};

Image decode_png(const std::string& bytes) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) throw std::runtime_error(image.message);
  image.format = PNG_FORMAT_RGBA;
  Image out{image.width, image.height, std::vector<std::uint8_t>(PNG_IMAGE_SIZE(image))};
  if (!png_image_finish_read(&image, nullptr, out.rgba.data(), 0, nullptr)) throw std::runtime_error(image.message);
  return out;
}

std::string base64_decode(const std::string& text) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned value = 0;
  int bits = -8;
  for (char c : text) {
    const auto index = alphabet.find(c);
    if (index == std::string::npos) continue;  // '=' padding, newlines
    value = (value << 6) + static_cast<unsigned>(index);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

struct Ink {
  double non_white_share;
  std::size_t colours;
};

// What a region of the screenshot holds: the share of non-white pixels and how many distinct
// colours (quantised to 4 bits a channel) there are.
Ink ink_in(const Image& image, double x, double y, double w, double h) {
  const auto x0 = static_cast<std::uint32_t>(std::max(0.0, x)), y0 = static_cast<std::uint32_t>(std::max(0.0, y));
  const auto x1 = static_cast<std::uint32_t>(std::min<double>(image.width, x + w));
  const auto y1 = static_cast<std::uint32_t>(std::min<double>(image.height, y + h));
  std::size_t total = 0, inked = 0;
  std::set<unsigned> colours;
  for (std::uint32_t py = y0; py < y1; ++py)
    for (std::uint32_t px = x0; px < x1; ++px) {
      const std::uint8_t* p = image.at(px, py);
      ++total;
      if (p[0] < 235 || p[1] < 235 || p[2] < 235) ++inked;
      colours.insert((p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4));
    }
  return {total ? static_cast<double>(inked) / static_cast<double>(total) : 0.0, colours.size()};
}

// Facts about the loaded page, gathered in it: the plots' boxes, fetched resources, and the
// text of the table cells asked for ([table id, row key, column header]).
const char* kPageFacts = R"JS(
(asked) => {
  const svgs = [...document.querySelectorAll('svg')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.closest('figure') ? s.closest('figure').id : '', x: r.left + window.scrollX,
            y: r.top + window.scrollY, w: r.width, h: r.height, shapes: s.querySelectorAll('rect,polyline,circle').length};
  });
  const cell = ([table, key, column]) => {
    const t = document.getElementById(table);
    if (!t) return null;
    const headers = [...t.querySelectorAll('thead th')].map(th => th.textContent);
    const row = [...t.querySelectorAll('tbody tr')].find(tr => tr.dataset.key === key);
    const i = headers.indexOf(column);
    return row && i >= 0 ? row.children[i].textContent : null;
  };
  return {svgs, cells: asked.map(cell), resources: performance.getEntriesByType('resource').length,
          title: document.title, height: document.documentElement.scrollHeight,
          summary: document.getElementById('summary').textContent};
}
)JS";

class ReportInChromiumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = find_chromium();
    if (!binary_) GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
    dir_ = fresh_dir("chromium");
    // Two models of ours on XCOPA with known counts, the paper's table, a training run.
    const std::vector<std::string> configs = {"et", "ht", "id", "sw", "zh"};
    for (std::size_t c = 0; c < configs.size(); ++c)
      for (int t = 0; t < 5; ++t) {
        write_prompt_result(dir_ / "evals", "results/run/hf-model", configs[c], "EN", fmt::format("p{}", t),
                            50 + static_cast<int>(c) * 5 + t * 2, 100);
        if (c != 3) write_prompt_result(dir_ / "evals2", "bloomz-560m-repro", configs[c], "EN", fmt::format("p{}", t),
                                        48 + static_cast<int>(c) * 3 + t, 100);
      }
    const fs::path metrics = dir_ / "train" / "metrics.jsonl";
    fs::create_directories(metrics.parent_path());
    fs::copy_file(kResultsData / "training" / "metrics.jsonl", metrics);
    CommandResult r = run(fmt::format("{} --input {} --input {} --input {} --baseline {} --output {} --title 'Chromium check' "
                            "--compare-to BLOOMZ-560M",
                            quote(kTool), quote(dir_ / "evals"), quote(dir_ / "evals2"), quote(metrics),
                            quote(kResultsData / "paper" / "allres_table.tsv"), quote(dir_ / "report")),
                dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void TearDown() override {
    if (!HasFailure() && !IsSkipped()) fs::remove_all(dir_);
  }
  std::optional<fs::path> binary_;
  fs::path dir_;
};

TEST_F(ReportInChromiumTest, RendersWithoutErrorsPlotsVisibleNumbersInTables) {
  std::unique_ptr<Chromium> browser;
  try {
    browser = std::make_unique<Chromium>(*binary_, dir_ / "chromium");
    browser->call("Browser.getVersion");
  } catch (const std::exception& e) {
    GTEST_SKIP() << "chromium cannot run here: " << e.what();
  }
  const json target = browser->call("Target.createTarget", {{"url", "about:blank"}});
  const std::string session =
      browser->call("Target.attachToTarget", {{"targetId", target["targetId"]}, {"flatten", true}})["sessionId"];
  for (const char* domain : {"Page.enable", "Runtime.enable", "Log.enable"}) browser->call(domain, json::object(), session);
  browser->call("Emulation.setDeviceMetricsOverride", {{"width", 1400}, {"height", 900}, {"deviceScaleFactor", 1}, {"mobile", false}},
                session);
  browser->call("Page.navigate", {{"url", "file://" + (dir_ / "report" / "report.html").string()}}, session);
  browser->wait_for_event("Page.loadEventFired");

  const std::string xcopa_et = "Sent. completion|xcopa|et|validation|EN|";
  const json asked = json::array({
      {"main-table", xcopa_et + "Median acc.", "hf-model"},        // p0..p4: 50 52 54 56 58 of 100
      {"main-table", xcopa_et + "Max acc.", "hf-model"},
      {"main-table", xcopa_et + "Median acc.", "BLOOMZ-560M"},         // the paper's 48.00
      {"main-table", "Sent. completion|xcopa|sw|validation|EN|Median acc.", "bloomz-560m-repro"},  // missing
      {"main-table", xcopa_et + "Median acc.", "\u0394 hf-model vs BLOOMZ-560M"},
      {"main-table", "Program synthesis|openai_humaneval|None|test|EN|Pass@1", "BLOOMZ"},
      {"averages-table", "Sent. completion|xcopa|avg-all|validation|EN|Median acc.", "Configs averaged"},
      {"averages-table", "Sent. completion|xcopa|avg-all|validation|EN|Median acc.", "hf-model"},
  });
  const json facts = browser->call("Runtime.evaluate",
                                   {{"expression", fmt::format("({})({})", kPageFacts, asked.dump())}, {"returnByValue", true}},
                                   session)["result"]["value"];
  ASSERT_TRUE(facts.is_object()) << facts.dump();
  EXPECT_EQ(facts["title"], "Chromium check");
  EXPECT_EQ(facts["resources"], 0) << "the page fetched something: not self-contained";
  const json& cells = facts["cells"];
  EXPECT_EQ(cells[0], "54.00 ±5.01");  // sqrt(.54 * .46 / 99)
  EXPECT_EQ(cells[1], "58.00 ±4.96");
  EXPECT_EQ(cells[2], "48.00");
  EXPECT_EQ(cells[3], "-");
  EXPECT_EQ(cells[4], "+6.00");
  EXPECT_EQ(cells[5], "12.06");
  EXPECT_EQ(cells[6], "et, ht, id, zh");
  // hf-model medians: et 54, ht 59, id 64, zh 74
  EXPECT_EQ(cells[7], fmt::format("{:.2f}", (54.0 + 59 + 64 + 74) / 4));

  // Full-page screenshot (the viewport stretched to the page).
  const int height = std::min(facts["height"].get<int>(), 16000);
  browser->call("Emulation.setDeviceMetricsOverride", {{"width", 1400}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}},
                session);
  const std::string png = base64_decode(browser->call("Page.captureScreenshot", {{"format", "png"}}, session, 60)["data"]);
  const fs::path artifacts = fs::path(XMTF_BIN_DIR).parent_path() / "test-artifacts";
  fs::create_directories(artifacts);
  write_file_atomic(artifacts / "report_screenshot.png", png);
  std::cout << "screenshot: " << (artifacts / "report_screenshot.png").string() << "\n";
  const Image image = decode_png(png);
  EXPECT_EQ(image.width, 1400u);

  // Every plot: laid out, drawn, and visible in the screenshot.
  std::set<std::string> figures;
  for (const json& svg : facts["svgs"]) {
    const std::string id = svg["id"];
    SCOPED_TRACE(id);
    figures.insert(id);
    EXPECT_GT(svg["w"].get<double>(), 300);
    EXPECT_GT(svg["h"].get<double>(), 200);
    EXPECT_GT(svg["shapes"].get<int>(), 3);
    if (svg["y"].get<double>() + svg["h"].get<double>() > height) continue;  // below a very long page
    const Ink ink = ink_in(image, svg["x"], svg["y"], std::min(svg["w"].get<double>(), 1400.0), svg["h"]);
    EXPECT_GT(ink.non_white_share, 0.02) << "blank plot";
    EXPECT_GE(ink.colours, 4u) << "a plot of one colour";
  }
  for (const char* expected : {"accuracy_xcopa_validation_EN.svg", "scale_xcopa_validation.svg", "training_loss.svg",
                               "training_lr.svg", "training_tokens_per_s.svg"})
    EXPECT_TRUE(figures.count(expected)) << expected;
  EXPECT_GT(ink_in(image, 0, 0, image.width, image.height).non_white_share, 0.02);

  // Nothing went wrong on the way: no exception, no console error, no error log entry.
  for (const json& event : browser->events()) {
    const std::string method = event["method"];
    EXPECT_NE(method, "Runtime.exceptionThrown") << event.dump();
    if (method == "Runtime.consoleAPICalled") {
      EXPECT_NE(event["params"]["type"], "error") << event.dump();
    }
    if (method == "Log.entryAdded") {
      EXPECT_NE(event["params"]["entry"]["level"], "error") << event.dump();
    }
  }
}

}  // namespace
}  // namespace xmtf::report

#include <gtest/gtest.h>
TEST(PromptsCli, Placeholder) {}

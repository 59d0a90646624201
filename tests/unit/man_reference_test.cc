#include "tools/man_reference.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "common/rules/rules.h"

namespace esmtp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RoffEscape, ProtectsWhatRoffWouldInterpret) {
  EXPECT_EQ(roff_escape("plain text"), "plain text");
  EXPECT_EQ(roff_escape("re:(?i)\\.(js|vbs)$"), "re:(?i)\\e.(js|vbs)$");
  EXPECT_EQ(roff_escape("--config esmtp-inspect"), "\\-\\-config esmtp\\-inspect");
  EXPECT_EQ(roff_escape(".exe files"), "\\&.exe files");
  EXPECT_EQ(roff_escape("'quoted' \"x\" `y`"), "\\(aqquoted\\(aq \\(dqx\\(dq \\(gay\\(ga");
  EXPECT_EQ(roff_escape("two\nlines"), "two lines");
  EXPECT_EQ(roff_escape("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x93\xa7"),
            "caf\\[u00E9] \\[u2014] \\[u1F4E7]");
  EXPECT_EQ(roff_escape("bad \xff\x01"), "bad \\[uFFFD]\\[uFFFD]");
  EXPECT_EQ(roff_escape("cut \xc3"), "cut \\[uFFFD]");
}

// Generated text never starts a line with a control character, whatever the
// tables hold.
void expect_clean_lines(const std::string& page) {
  std::size_t start = 0;
  while (start < page.size()) {
    std::size_t nl = page.find('\n', start);
    std::string l = page.substr(start, nl - start);
    start = nl == std::string::npos ? page.size() : nl + 1;
    if (l.empty()) continue;
    if (l[0] == '.') {
      // A request: a macro name, then arguments.
      EXPECT_TRUE(l.size() > 1 && (std::isalpha(static_cast<unsigned char>(l[1])) || l[1] == '\\'))
          << l;
    } else {
      EXPECT_NE(l[0], '\'') << l;
      EXPECT_NE(l[0], ' ') << l;
    }
  }
}

TEST(ManTemplate, MarkersBecomeTheTables) {
  std::string error;
  auto page = expand_man_template(
      ".TH X 5\n.SH SETTINGS\n.\\\" @SETTINGS@\n.SH RULES\n.\\\" @RULES@\n.SH CHECKS\n"
      ".\\\" @CHECKS@\n.SH ACTIONS\n.\\\" @ACTIONS@\n.SH LOG\n.\\\"   @LOG_FIELDS@  \n"
      ".\\\" a comment with an address@example.org stays\n",
      &error);
  ASSERT_TRUE(page) << error;
  EXPECT_THAT(*page, Not(HasSubstr("@SETTINGS@")));
  EXPECT_THAT(*page, HasSubstr("a comment with an address@example.org stays"));
  // Every setting with its default, type and range.
  for (const auto& d : setting_docs()) {
    if (d.type == SettingType::kGroup) continue;
    EXPECT_THAT(*page,
                HasSubstr("\\fB" + roff_escape(std::string(d.path) + ": " + d.default_value)))
        << d.path;
    if (!d.range.empty()) {
      EXPECT_THAT(*page, HasSubstr(roff_escape(d.range))) << d.path;
    }
  }
  EXPECT_THAT(*page, HasSubstr("\\fBdns.tries: 2\\fR\nAttempts per query.\n.br\nType: integer, "
                               "1..10.\n"));
  // Every rule and check with its default reply.
  for (const auto& r : rule_table()) {
    EXPECT_THAT(*page, HasSubstr(".TP\n\\fB" + roff_escape(r.name) + "\\fR\n")) << r.name;
    EXPECT_THAT(*page, HasSubstr(roff_escape(r.default_reply))) << r.name;
  }
  for (const auto& m : mime_limit_table()) EXPECT_THAT(*page, HasSubstr(roff_escape(m.key)));
  for (const auto& c : check_table())
    EXPECT_THAT(*page, HasSubstr(".TP\n\\fB" + roff_escape(c.name) + "\\fR\n")) << c.name;
  EXPECT_THAT(*page, HasSubstr("\\fBheader_line_length\\fR\n"));
  EXPECT_THAT(*page, HasSubstr("\\fBmax\\fR\n\\fB998\\fR (78..4294967295)\n"));
  // Actions and log fields.
  for (auto a : {"reject", "tempfail", "disconnect", "quarantine", "discard", "tag", "log", "off"})
    EXPECT_THAT(*page, HasSubstr(".TP\n\\fB" + std::string(a) + "\\fR\n")) << a;
  for (auto f : {"QUEUEID:", "action=ACTION", "would=ACTION", "client=NAME[ADDRESS]",
                 "from=<ADDRESS>", "to=<ADDRESS>", "profile=NAME"})
    EXPECT_THAT(*page, HasSubstr(".TP\n\\fB" + roff_escape(f) + "\\fR (JSON ")) << f;
  EXPECT_THAT(*page, HasSubstr("(JSON \\fBclient\\fR, \\fBclient_address\\fR)"));
  expect_clean_lines(*page);
}

TEST(ManTemplate, UnknownOrRepeatedMarkersAreErrors) {
  std::string error;
  EXPECT_FALSE(expand_man_template(".TH X 5\n.\\\" @SETTING@\n", &error));
  EXPECT_EQ(error, "line 2: unknown marker @SETTING@");
  EXPECT_FALSE(expand_man_template(".\\\" @RULES@\n.\\\" @RULES@\n", &error));
  EXPECT_EQ(error, "line 2: repeated marker @RULES@");
}

TEST(ManTemplate, TextWithoutMarkersIsKept) {
  std::string error;
  auto page = expand_man_template(".TH X 5\nsome text\n", &error);
  ASSERT_TRUE(page) << error;
  EXPECT_EQ(*page, ".TH X 5\nsome text\n");
}

}  // namespace
}  // namespace esmtp

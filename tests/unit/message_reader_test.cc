#include "tools/offline/message_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace esmtp {
namespace {

struct Events : MessageListener {
  std::vector<std::string> headers;  // "name|value|longest|octets"
  std::string body;
  int eoh = 0;
  void on_header(std::string_view name, std::string_view value, std::string_view,
                 const HeaderMetrics& m) override {
    headers.push_back(std::string(name) + "|" + std::string(value) + "|" +
                      std::to_string(m.longest_line) + "|" + std::to_string(m.octets));
  }
  void on_end_of_headers() override { ++eoh; }
  void on_body(std::string_view chunk) override { body += chunk; }
};

Events read(std::string_view msg, std::size_t chunk) {
  Events e;
  MessageReader r(e);
  for (std::size_t i = 0; i < msg.size(); i += chunk) r.feed(msg.substr(i, chunk));
  r.finish();
  return e;
}

TEST(MessageReader, SplitsHeadersAndBodyInAnyChunking) {
  std::string msg =
      "From: a@example.org\r\nSubject: hello\r\n\tworld\r\nTo: b@example.net\r\n\r\nline1\r\n";
  for (std::size_t chunk = 1; chunk <= msg.size(); ++chunk) {
    Events e = read(msg, chunk);
    ASSERT_EQ(e.headers.size(), 3u) << chunk;
    EXPECT_EQ(e.headers[0], "From|a@example.org|19|21");
    EXPECT_EQ(e.headers[1], "Subject|hello\r\n\tworld|14|24");
    EXPECT_EQ(e.headers[2], "To|b@example.net|17|19");
    EXPECT_EQ(e.eoh, 1);
    EXPECT_EQ(e.body, "line1\r\n");
  }
}

TEST(MessageReader, NonHeaderLineStartsTheBody) {
  Events e = read("Subject: x\nthis is not a header\nmore\n", 4);
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_EQ(e.body, "this is not a header\nmore\n");
}

TEST(MessageReader, ObsoleteBlankBeforeColonIsAHeader) {
  Events e = read("X-Mailer : x\r\nSubject: s\r\n\r\nbody\r\n", 3);
  ASSERT_EQ(e.headers.size(), 2u);
  EXPECT_EQ(e.headers[0], "X-Mailer|x|12|14");
  EXPECT_EQ(e.body, "body\r\n");
}

TEST(MessageReader, MboxFromLineIsSkipped) {
  Events e = read("From a@example.org Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n", 3);
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_EQ(e.headers[0].substr(0, 9), "Subject|x");
}

TEST(MessageReader, NoBlankLineAndNoBody) {
  Events e = read("Subject: only headers", 5);
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_EQ(e.headers[0], "Subject|only headers|21|23");
  EXPECT_EQ(e.eoh, 1);
  EXPECT_EQ(e.body, "");
}

TEST(MessageReader, HugeHeaderIsMeasuredExactlyButStoredBounded) {
  Events e;
  MessageReader r(e, 1024);
  r.feed("X-Big: ");
  for (int i = 0; i < 100; ++i) r.feed(std::string(10000, 'x'));
  r.feed("\r\n\tcont\r\n\r\nbody");
  r.finish();
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_NE(e.headers[0].find("|1000007|1000016"), std::string::npos) << e.headers[0].substr(0, 40);
  EXPECT_EQ(e.body, "body");
}

}  // namespace
}  // namespace esmtp

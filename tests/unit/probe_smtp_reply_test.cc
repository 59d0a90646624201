// tools/probe/smtp_reply: reply parsing, EHLO extensions, masking detection,
// banner names and targets, fed with made-up server bytes.
#include "tools/probe/smtp_reply.h"

#include <gtest/gtest.h>

#include <string>

#include "tools/probe/probe.h"

namespace esmtp::probe {
namespace {

ReplyReader::State feed_all(ReplyReader& r, std::string_view data, std::size_t chunk) {
  ReplyReader::State s = r.state();
  for (std::size_t i = 0; i < data.size(); i += chunk) s = r.feed(data.substr(i, chunk));
  return s;
}

TEST(ProbeReplyReader, SingleLineBanner) {
  ReplyReader r;
  EXPECT_EQ(r.feed("220 mx.example.org ESMTP Postfix\r\n"), ReplyReader::State::kDone);
  EXPECT_EQ(r.reply().code, 220);
  ASSERT_EQ(r.reply().lines.size(), 1u);
  EXPECT_EQ(r.reply().lines[0], "mx.example.org ESMTP Postfix");
  EXPECT_EQ(r.reply().first_line(), "220 mx.example.org ESMTP Postfix");
}

TEST(ProbeReplyReader, MultiLineInAnyChunking) {
  const std::string data =
      "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n";
  for (std::size_t chunk : {1u, 2u, 7u, 4096u}) {
    ReplyReader r;
    EXPECT_EQ(feed_all(r, data, chunk), ReplyReader::State::kDone) << chunk;
    EXPECT_EQ(r.reply().code, 250);
    EXPECT_EQ(r.reply().lines.size(), 4u);
    EXPECT_EQ(r.reply().lines[2], "SIZE 10240000");
  }
}

TEST(ProbeReplyReader, NeedsMoreUntilTheLastLine) {
  ReplyReader r;
  EXPECT_EQ(r.feed("220-first\r\n220-second"), ReplyReader::State::kNeedMore);
  EXPECT_EQ(r.partial(), "220-second");
  EXPECT_EQ(r.feed("\r\n220 last\r\n"), ReplyReader::State::kDone);
  EXPECT_EQ(r.reply().lines.size(), 3u);
}

TEST(ProbeReplyReader, BareLfAndCodeOnlyLines) {
  ReplyReader r;
  EXPECT_EQ(r.feed("220\n"), ReplyReader::State::kDone);
  EXPECT_EQ(r.reply().code, 220);
  EXPECT_EQ(r.reply().first_line(), "220");
}

TEST(ProbeReplyReader, KeepsBytesAfterTheReply) {
  ReplyReader r;
  EXPECT_EQ(r.feed("220 ok\r\n250 early\r\n"), ReplyReader::State::kDone);
  EXPECT_EQ(r.take_rest(), "250 early\r\n");
  EXPECT_EQ(r.take_rest(), "");
}

TEST(ProbeReplyReader, GarbageIsAnError) {
  for (const char* bad : {"HELLO THERE\r\n", "22\r\n", "2x0 hi\r\n", "220_hi\r\n",
                          "620 six hundred\r\n", "\r\n", "\x16\x03\x01\x02\x01\r\n"}) {
    ReplyReader r;
    EXPECT_EQ(r.feed(bad), ReplyReader::State::kError) << bad;
    EXPECT_NE(r.error().find("not an SMTP reply line"), std::string::npos) << r.error();
  }
}

TEST(ProbeReplyReader, ErrorShowsBinaryBytesEscaped) {
  ReplyReader r;
  r.feed(std::string("\x01\xff junk\r\n", 9));
  EXPECT_EQ(r.error(), "not an SMTP reply line: \"\\x01\\xff junk\"");
}

TEST(ProbeReplyReader, CodeChangingWithinAReplyIsAnError) {
  ReplyReader r;
  EXPECT_EQ(r.feed("250-a\r\n220 b\r\n"), ReplyReader::State::kError);
  EXPECT_EQ(r.error(), "reply code changes within a reply (250 then 220)");
}

TEST(ProbeReplyReader, OverLongLineStopsEarly) {
  ReplyReader r;
  std::string line = "220 " + std::string(kMaxLineLength, 'a');
  // No newline ever comes: the reader must give up instead of buffering.
  EXPECT_EQ(feed_all(r, line, 100), ReplyReader::State::kError);
  EXPECT_EQ(r.error(), "reply line longer than 2048 octets");
  EXPECT_LE(r.partial().size(), kMaxLineLength + 1);
}

TEST(ProbeReplyReader, LineAtTheLimitIsFine) {
  ReplyReader r;
  std::string line = "220 " + std::string(kMaxLineLength - 4, 'a') + "\r\n";
  EXPECT_EQ(r.feed(line), ReplyReader::State::kDone);
}

TEST(ProbeReplyReader, TooManyLinesAndTooManyBytes) {
  std::string many;
  for (std::size_t i = 0; i < kMaxReplyLines + 1; ++i) many += "250-x\r\n";
  ReplyReader r;
  EXPECT_EQ(r.feed(many), ReplyReader::State::kError);
  EXPECT_EQ(r.error(), "reply of more than 200 lines");

  std::string big;
  while (big.size() <= kMaxReplyBytes) big += "250-" + std::string(1000, 'b') + "\r\n";
  ReplyReader r2;
  EXPECT_EQ(r2.feed(big), ReplyReader::State::kError);
  EXPECT_EQ(r2.error(), "reply longer than 65536 octets");
}

TEST(ProbeReplyReader, ResetReadsTheNextReply) {
  ReplyReader r;
  r.feed("garbage\r\n");
  r.reset();
  EXPECT_EQ(r.feed("221 bye\r\n"), ReplyReader::State::kDone);
  EXPECT_EQ(r.reply().code, 221);
}

SmtpReply reply_of(std::string_view text) {
  ReplyReader r;
  EXPECT_EQ(r.feed(text), ReplyReader::State::kDone) << text;
  return r.reply();
}

TEST(ProbeParseEhlo, KeywordsUpperCasedWithParams) {
  auto ext = parse_ehlo(reply_of(
      "250-mx.example.org Hello\r\n250-pipelining\r\n250-SIZE 10240000\r\n250-AUTH=LOGIN\r\n"
      "250-8BITMIME\r\n250 STARTTLS\r\n"));
  ASSERT_EQ(ext.size(), 5u);
  EXPECT_EQ(ext[0].keyword, "PIPELINING");
  EXPECT_EQ(ext[1].keyword, "SIZE");
  EXPECT_EQ(ext[1].params, "10240000");
  EXPECT_EQ(ext[2].keyword, "AUTH");
  EXPECT_EQ(ext[2].params, "LOGIN");
  EXPECT_EQ(ext[3].keyword, "8BITMIME");
  EXPECT_EQ(ext[4].keyword, "STARTTLS");
}

TEST(ProbeParseEhlo, GreetingOnlyHasNoExtensions) {
  EXPECT_TRUE(parse_ehlo(reply_of("250 mx.example.org\r\n")).empty());
}

TEST(ProbeParseEhlo, MangledLinesKeptAsSent) {
  auto ext = parse_ehlo(reply_of("250-mx\r\n250-**********\r\n250-   \r\n250 XXXXXXXA\r\n"));
  ASSERT_EQ(ext.size(), 2u);
  EXPECT_EQ(ext[0].keyword, "**********");
  EXPECT_EQ(ext[1].keyword, "XXXXXXXA");
}

TEST(ProbeMaskedText, AsaStyleBanners) {
  EXPECT_TRUE(is_masked_text("****************************************"));
  EXPECT_TRUE(is_masked_text("*******************0****0*2**0*****"));
  EXPECT_TRUE(is_masked_text("XXXXXXXXXXXXXXXXXXXXXXXXXXXX"));
  EXPECT_TRUE(is_masked_text("***** ****** *****"));
}

TEST(ProbeMaskedText, RealBannersAreNotMasked) {
  EXPECT_FALSE(is_masked_text("mx.example.org ESMTP Postfix"));
  EXPECT_FALSE(is_masked_text("mx.example.org ESMTP *** no UCE ***"));
  EXPECT_FALSE(is_masked_text("exchange.example.org Microsoft ESMTP MAIL Service ready"));
  EXPECT_FALSE(is_masked_text("xxx"));
  EXPECT_FALSE(is_masked_text(""));
  EXPECT_FALSE(is_masked_text("xx.example.org ESMTP"));
}

TEST(ProbeMaskedKeyword, StarttlsAndChunking) {
  EXPECT_EQ(masked_keyword("XXXXXXXA"), "STARTTLS");
  EXPECT_EQ(masked_keyword("XXXXXXXB"), "CHUNKING");
  EXPECT_EQ(masked_keyword("XXXXXXXXXX"), "");
  EXPECT_EQ(masked_keyword("XXXXA"), "");
  EXPECT_FALSE(masked_keyword("STARTTLS").has_value());
  EXPECT_FALSE(masked_keyword("XXX").has_value());
  EXPECT_FALSE(masked_keyword("XCLIENT").has_value());
  EXPECT_FALSE(masked_keyword("XFORWARD").has_value());
  EXPECT_FALSE(masked_keyword("XXXXAB").has_value());
}

TEST(ProbeBannerHostname, FirstWordWhenAHostName) {
  EXPECT_EQ(banner_hostname(reply_of("220 MX.Example.ORG. ESMTP\r\n")), "mx.example.org");
  EXPECT_EQ(banner_hostname(reply_of("220 mx.example.org\r\n")), "mx.example.org");
  EXPECT_EQ(banner_hostname(reply_of("220-mx.example.org ESMTP\r\n220 more\r\n")),
            "mx.example.org");
  EXPECT_EQ(banner_hostname(reply_of("220 ******************\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220 [192.0.2.1] ESMTP\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220 localhost ESMTP\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220 Welcome, mail server ready\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220 -bad.example.org\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220 a..b\r\n")), "");
  EXPECT_EQ(banner_hostname(reply_of("220\r\n")), "");
}

TEST(ProbePrintable, EscapesAndCuts) {
  EXPECT_EQ(printable("ok"), "ok");
  EXPECT_EQ(printable(std::string("a\0b\n", 4)), "a\\x00b\\x0a");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

TEST(ProbeSplitTarget, Forms) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(split_target("mx.example.org", &host, &port));
  EXPECT_EQ(host, "mx.example.org");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(split_target("mx.example.org:2525", &host, &port));
  EXPECT_EQ(host, "mx.example.org");
  EXPECT_EQ(port, 2525);
  ASSERT_TRUE(split_target("[::1]:25", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 25);
  ASSERT_TRUE(split_target("[2001:db8::5]", &host, &port));
  EXPECT_EQ(host, "2001:db8::5");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(split_target("2001:db8::5", &host, &port));
  EXPECT_EQ(host, "2001:db8::5");
  ASSERT_TRUE(split_target("192.0.2.1:587", &host, &port));
  EXPECT_EQ(port, 587);
  for (const char* bad : {"", "[::1", "[::1]x", "[::1]:", "host:", "host:0", "host:65536",
                          "host:12x", "host:1234567", ":25", "[]:25"})
    EXPECT_FALSE(split_target(bad, &host, &port)) << bad;
}

}  // namespace
}  // namespace esmtp::probe

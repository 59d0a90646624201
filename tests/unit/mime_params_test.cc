#include "common/mime_params.h"

#include <gtest/gtest.h>

namespace esmtp {
namespace {

std::string filename(std::string_view field, bool* decoded = nullptr,
                     std::string_view param = "filename") {
  auto d = decoded_param(parse_structured_field(field), param);
  if (!d) return "<none>";
  if (decoded) *decoded = d->decoded;
  return d->text;
}

TEST(StructuredField, ValueAndParamsWithCommentsAndQuotes) {
  auto f = parse_structured_field(
      " Multipart/Mixed (a comment; with semicolon) ; Boundary=\"b;1 \\\"x\\\"\" "
      ";charset=us-ascii");
  EXPECT_EQ(f.value, "multipart/mixed");
  ASSERT_NE(f.param("boundary"), nullptr);
  EXPECT_EQ(*f.param("boundary"), "b;1 \"x\"");
  ASSERT_NE(f.param("charset"), nullptr);
  EXPECT_EQ(*f.param("charset"), "us-ascii");
}

TEST(StructuredField, UnterminatedQuoteRunsToEnd) {
  auto f = parse_structured_field("attachment; filename=\"abc.pdf");
  EXPECT_EQ(filename("attachment; filename=\"abc.pdf"), "abc.pdf");
  EXPECT_EQ(f.value, "attachment");
}

TEST(StructuredField, UnterminatedCommentDoesNotHang) {
  auto f = parse_structured_field("text/plain (never closed; name=x");
  EXPECT_EQ(f.value, "text/plain");
  EXPECT_TRUE(f.params.empty());
}

TEST(StructuredField, UnquotedValueWithSpacesIsKept) {
  EXPECT_EQ(filename("attachment; filename=my file.pdf ; size=3"), "my file.pdf");
}

TEST(StructuredField, FoldedParameters) {
  EXPECT_EQ(filename("attachment;\r\n\tfilename=\"report\r\n 2024.pdf\""), "report 2024.pdf");
}

TEST(StructuredField, ParameterCountIsBounded) {
  std::string f = "text/plain";
  for (int i = 0; i < 10000; ++i) f += "; p" + std::to_string(i) + "=v";
  EXPECT_EQ(parse_structured_field(f).params.size(), kMaxParams);
}

TEST(Rfc2231, SingleExtendedValueWithCharset) {
  bool decoded = false;
  EXPECT_EQ(filename("attachment; filename*=utf-8''%C3%A4%20x.pdf", &decoded), "\xC3\xA4 x.pdf");
  EXPECT_TRUE(decoded);
}

TEST(Rfc2231, ContinuationsMixedEncodedAndPlain) {
  EXPECT_EQ(filename("attachment; filename*0*=UTF-8'de'%E2%82%AC; filename*1=\"-rate\"; "
                     "filename*2*=%2Epdf"),
            "\xE2\x82\xAC-rate.pdf");
}

TEST(Rfc2231, ContinuationsWithoutCharset) {
  EXPECT_EQ(filename("attachment; filename*0=\"long\"; filename*1=\"name.txt\""), "longname.txt");
}

TEST(Rfc2231, OutOfOrderSegmentsAreSorted) {
  EXPECT_EQ(filename("attachment; filename*1=\"b\"; filename*0=\"a\"; filename*2=\"c\""), "abc");
}

TEST(Rfc2231, GapInSegmentsIsUndecodable) {
  bool decoded = true;
  EXPECT_EQ(filename("attachment; filename*0=\"a\"; filename*2=\"c\"", &decoded), "ac");
  EXPECT_FALSE(decoded);
}

TEST(Rfc2231, Latin1IsConvertedToUtf8) {
  bool decoded = false;
  EXPECT_EQ(filename("attachment; filename*=iso-8859-1''%E9t%E9.txt", &decoded),
            "\xC3\xA9t\xC3\xA9.txt");
  EXPECT_TRUE(decoded);
}

TEST(Rfc2231, ExtendedFormWinsOverPlain) {
  EXPECT_EQ(filename("attachment; filename=\"fallback.txt\"; filename*=utf-8''real.txt"),
            "real.txt");
}

TEST(Rfc2231, UnknownCharsetIsMeasuredRaw) {
  bool decoded = true;
  EXPECT_EQ(filename("attachment; filename*=x-no-such-charset''%41%42", &decoded),
            "x-no-such-charset''%41%42");
  EXPECT_FALSE(decoded);
}

TEST(Rfc2231, InvalidUtf8IsMeasuredRaw) {
  bool decoded = true;
  EXPECT_EQ(filename("attachment; filename*=utf-8''%FF%FE", &decoded), "utf-8''%FF%FE");
  EXPECT_FALSE(decoded);
}

TEST(Rfc2047, Raw8BitNameThatIsNotUtf8IsUndecodable) {
  bool decoded = true;
  EXPECT_EQ(filename("attachment; filename=\"caf\xe9.txt\"", &decoded), "caf\xe9.txt");
  EXPECT_FALSE(decoded);
  EXPECT_EQ(filename("attachment; filename=\"caf\xc3\xa9.txt\"", &decoded), "caf\xc3\xa9.txt");
  EXPECT_TRUE(decoded);  // raw UTF-8 (RFC 6532) needs no decoding
}

TEST(Rfc2047, BEncodedWordInQuotes) {
  EXPECT_EQ(filename("attachment; filename=\"=?UTF-8?B?w6TDtsO8LnBkZg==?=\""),
            "\xC3\xA4\xC3\xB6\xC3\xBC.pdf");
}

TEST(Rfc2047, QEncodedWordInContentTypeName) {
  EXPECT_EQ(filename("application/pdf; name=\"=?ISO-8859-1?Q?Caf=E9_menu.pdf?=\"", nullptr, "name"),
            "Caf\xC3\xA9 menu.pdf");
}

TEST(Rfc2047, AdjacentWordsDropWhitespaceBetweenThem) {
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?a?= =?utf-8?q?b?=\t=?utf-8?b?Yw==?=").text, "abc");
  EXPECT_EQ(decode_rfc2047("x =?utf-8?q?a?= y").text, "x a y");
}

TEST(Rfc2047, LanguageTagIsIgnored) {
  EXPECT_EQ(decode_rfc2047("=?utf-8*en?q?hello?=").text, "hello");
}

TEST(Rfc2047, BrokenBase64IsUndecodable) {
  auto d = decode_rfc2047("=?utf-8?B?!!!!?=");
  EXPECT_FALSE(d.decoded);
  EXPECT_EQ(d.text, "=?utf-8?B?!!!!?=");
}

TEST(Rfc2047, UnknownCharsetIsUndecodable) {
  EXPECT_FALSE(decode_rfc2047("=?x-bogus?q?abc?=").decoded);
}

TEST(Rfc2047, NotAnEncodedWordIsLiteral) {
  auto d = decode_rfc2047("a=?b.txt");
  EXPECT_TRUE(d.decoded);
  EXPECT_EQ(d.text, "a=?b.txt");
}

TEST(Charset, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
}

TEST(Charset, NamesMustBeTokensAndOutputMustBeUtf8) {
  std::string out;
  // glibc would drop the "!" and open UTF-8, or read "//" as flags.
  EXPECT_FALSE(charset_to_utf8("utf-8//TRANSLIT", "a", out));
  EXPECT_FALSE(charset_to_utf8("latin1 ", "a", out));
  // iconv's UTF-8 decoder passes code points past U+10FFFF: not decoded.
  bool decoded = true;
  EXPECT_EQ(filename("attachment; filename*=utf-8!''%F4%90%80%80.exe", &decoded),
            "utf-8!''%F4%90%80%80.exe");
  EXPECT_FALSE(decoded);
}

TEST(Charset, Windows1252AndShiftJis) {
  std::string out;
  ASSERT_TRUE(charset_to_utf8("windows-1252", "\x80", out));
  EXPECT_EQ(out, "\xE2\x82\xAC");
  ASSERT_TRUE(charset_to_utf8("shift_jis", "\x82\xa0", out));
  EXPECT_EQ(out, "\xE3\x81\x82");
}

}  // namespace
}  // namespace esmtp

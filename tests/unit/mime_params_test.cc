#include "common/mime/mime_params.h"

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

// RFC 2231 applies to every parameter, not only to filenames: a boundary
// written as Python's email package writes long ones must be the boundary.
TEST(Rfc2231, BoundaryInEveryForm) {
  auto boundary = [](std::string_view field, bool* decoded = nullptr) {
    auto d = decoded_param(parse_structured_field(field), "boundary", EncodedWords::kNo);
    if (!d) return std::string("<none>");
    if (decoded) *decoded = d->decoded;
    return d->text;
  };
  EXPECT_EQ(boundary("multipart/mixed; boundary*0*=us-ascii''%3D%3D%3Dpart; "
                     "boundary*1*=-2231-%3D%3D"),
            "===part-2231-==");
  EXPECT_EQ(boundary("multipart/mixed; boundary*0=\"abc\"; boundary*1=\"def\""), "abcdef");
  EXPECT_EQ(boundary("multipart/mixed; boundary*=''plain%2Done"), "plain-one");
  EXPECT_EQ(boundary("multipart/mixed; BOUNDARY*=utf-8'en'x"), "x");
  // Clients never read RFC 2047 words in a boundary.
  EXPECT_EQ(boundary("multipart/mixed; boundary=\"=?utf-8?q?a?=\""), "=?utf-8?q?a?=");
  bool decoded = true;
  EXPECT_EQ(boundary("multipart/mixed; boundary*0*=us-ascii''a; boundary*2*=c", &decoded),
            "us-ascii''ac");
  EXPECT_FALSE(decoded);
}

TEST(Rfc2231, CharsetParameterIsDecodedToo) {
  auto d = decoded_param(parse_structured_field("text/plain; charset*=''utf-8"), "charset",
                         EncodedWords::kNo);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "utf-8");
}

TEST(Rfc2231, ManyContinuationsKeepTheirTail) {
  std::string f = "attachment";
  for (int i = 0; i < 400; ++i) f += "; filename*" + std::to_string(i) + "=\"a\"";
  f += "; filename*400=\".exe\"";
  auto d = decoded_param(parse_structured_field(f, {"filename"}), "filename");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, std::string(400, 'a') + ".exe");
}

// Junk parameters cannot push the ones a caller reads out of view.
TEST(StructuredField, WantedParametersAreKeptAfterAnyNumberOfOthers) {
  std::string f = "multipart/mixed";
  for (int i = 0; i < 1000; ++i) f += "; p=v";
  f += "; boundary*0*=us-ascii''b; boundary*1*=2";
  auto parsed = parse_structured_field(f, {"boundary"});
  ASSERT_EQ(parsed.params.size(), 2u);
  auto d = decoded_param(parsed, "boundary", EncodedWords::kNo);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "b2");
}

// Linearity is checked by counting the octets looked at, not by timing:
// every function adds its work to a step counter (mime_params.h).
std::uint64_t steps_for(const std::string& field) {
  std::uint64_t steps = 0;
  auto f = parse_structured_field(field, {}, &steps);
  for (std::string_view name : {"filename", "name", "boundary", "charset"})
    (void)decoded_param(f, name, EncodedWords::kYes, &steps);
  (void)decode_rfc2047(field, &steps);
  return steps;
}

std::string repeat(std::string_view unit, std::size_t octets) {
  std::string s;
  while (s.size() + unit.size() <= octets) s += unit;
  return s;
}

TEST(Linearity, Rfc2047PathologicalInputsCostStepsInProportion) {
  constexpr std::size_t kSize = 100 * 1024;
  for (std::string_view unit :
       {"=?a?b?Z", "=?", "=?a?", "=?a?q?", "?=", "=?a?q?=?=", "=?utf-8?q?a?= ", "=?=?a?b?"}) {
    const std::string text = repeat(unit, kSize);
    std::uint64_t steps = 0;
    (void)decode_rfc2047(text, &steps);
    EXPECT_LE(steps, kStepsPerOctet * text.size() + kStepsFixed) << unit;
    // As a quoted filename, through the whole parameter path.
    const std::string field = "attachment; filename=\"" + text + "\"";
    EXPECT_LE(steps_for(field), kStepsPerOctet * field.size() + kStepsFixed) << unit;
  }
}

TEST(Linearity, ParametersAndContinuationsCostStepsInProportion) {
  for (std::string_view unit : {"; filename*0*=a", "; filename*999=x", "; name*=utf-8''%41",
                                "; a=b", "; (((", "; filename=\"=?a?b?Z"}) {
    const std::string field = "attachment" + repeat(unit, 64 * 1024);
    EXPECT_LE(steps_for(field), kStepsPerOctet * field.size() + kStepsFixed) << unit;
  }
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

#include "common/mime/mime_scanner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace esmtp {
namespace {

struct Recorder : MimeListener {
  std::vector<std::string> events;
  void on_long_line(std::uint64_t length, std::uint64_t line_no) override {
    events.push_back("line " + std::to_string(line_no) + " " + std::to_string(length));
  }
  void on_filename(const MimeFilename& f) override {
    events.push_back("file " + std::string(f.part) + " " + std::string(f.source) + "=" +
                     std::string(f.name) + (f.decoded ? "" : " raw"));
  }
  void on_encoding(std::string_view e, std::string_view part) override {
    events.push_back("cte " + std::string(part) + " " + std::string(e));
  }
  void on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                std::string_view part) override {
    events.push_back("limit " + std::string(to_string(which)) + " " + std::to_string(actual) + ">" +
                     std::to_string(limit) + " at " + std::string(part));
  }
};

// Scans `body` after the given top-level Content-Type, feeding `chunk` octets
// at a time (0: all at once).
std::vector<std::string> scan(std::string_view content_type, std::string_view body,
                              std::size_t chunk = 0, MimeLimits limits = {},
                              std::uint64_t long_line = 998) {
  Recorder r;
  MimeScanner s(r);
  s.reset(limits, long_line);
  if (!content_type.empty()) s.header("Content-Type", content_type);
  s.end_of_headers();
  if (chunk == 0) chunk = body.size() ? body.size() : 1;
  for (std::size_t i = 0; i < body.size(); i += chunk) s.feed(body.substr(i, chunk));
  s.finish();
  return r.events;
}

using Events = std::vector<std::string>;

const char kNested[] =
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Disposition: attachment;\r\n"
    "\tfilename=\"report.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAAA\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

TEST(MimeScanner, NestedMultipartPathsAndFilenames) {
  Events want{"file 2 name=a.bin", "file 2 filename=report.pdf", "cte 2 base64"};
  EXPECT_EQ(scan("multipart/mixed; boundary=outer", kNested), want);
}

// Python's email package writes a long boundary in RFC 2231 form; its
// parser and mail clients split the parts on it, so the scanner must too.
TEST(MimeScanner, Rfc2231BoundaryIsTheBoundary) {
  const std::string body =
      "--=====long-boundary==\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "hi\r\n"
      "--=====long-boundary==\r\n"
      "Content-Type: application/octet-stream; name*=utf-8''invoice%2Eexe\r\n"
      "Content-Disposition: attachment; filename*0*=utf-8''invoice; filename*1=\".exe\"\r\n"
      "Content-Transfer-Encoding: x-uuencode\r\n"
      "\r\n"
      "AAAA\r\n"
      "--=====long-boundary==--\r\n";
  Events want{"file 2 name=invoice.exe", "file 2 filename=invoice.exe", "cte 2 x-uuencode"};
  EXPECT_EQ(scan("multipart/mixed; boundary*0*=us-ascii''%3D%3D%3D%3D%3Dlong-;\r\n"
                 " boundary*1*=boundary%3D%3D",
                 body),
            want);
  EXPECT_EQ(scan("multipart/mixed; boundary*0=\"=====long-\"; boundary*1=\"boundary==\"", body),
            want);
}

// filename= and filename*= naming different files: Thunderbird shows the
// RFC 2231 one, Python's email package the first; both are reported.
TEST(MimeScanner, BothFormsOfAFilenameAreReported) {
  const std::string body =
      "--b\r\n"
      "Content-Disposition: attachment; filename=\"invoice.exe\"; filename*=utf-8''invoice.pdf\r\n"
      "\r\n"
      "AAAA\r\n"
      "--b\r\n"
      "Content-Disposition: attachment; filename=\"same.pdf\"; filename*=utf-8''same.pdf\r\n"
      "\r\n"
      "--b--\r\n";
  Events want{"file 1 filename=invoice.pdf", "file 1 filename=invoice.exe",
              "file 2 filename=same.pdf"};
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), want);
}

TEST(MimeScanner, SameEventsForEveryChunking) {
  Events whole = scan("multipart/mixed; boundary=outer", kNested);
  for (std::size_t chunk = 1; chunk < 40; ++chunk)
    EXPECT_EQ(scan("multipart/mixed; boundary=outer", kNested, chunk), whole) << chunk;
}

TEST(MimeScanner, LongLinesMeasuredExcludingCrlfAcrossChunks) {
  std::string body = std::string(999, 'x') + "\r\n" + std::string(998, 'y') + "\r\n" +
                     std::string(1000, 'z') + "\n" + std::string(1500, 'w');  // no final CRLF
  Events want{"line 1 999", "line 3 1000", "line 4 1500"};
  for (std::size_t chunk : {0u, 1u, 2u, 7u, 999u, 1000u, 1001u})
    EXPECT_EQ(scan("", body, chunk), want) << chunk;
}

TEST(MimeScanner, CrAloneIsPartOfTheLine) {
  // A bare CR is not a line end (as in Postfix); only the CR before LF is excluded.
  EXPECT_EQ(scan("", "a\rb\r\n", 0, {}, 2), (Events{"line 1 3"}));
}

TEST(MimeScanner, DotStuffedLineIsMeasuredAsGiven) {
  EXPECT_EQ(scan("", "." + std::string(998, 'x') + "\r\n", 0, {}, 998), (Events{"line 1 999"}));
}

TEST(MimeScanner, PartHeadersAreBodyLines) {
  std::string body = "--b\r\nX-Long: " + std::string(1000, 'h') + "\r\n\r\ntext\r\n--b--\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), (Events{"line 2 1008"}));
}

TEST(MimeScanner, BoundaryWithTransportPaddingAndCloseWithoutNewline) {
  std::string body = "--b \t\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nhi\r\n--b--";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), (Events{"file 1 filename=x.txt"}));
}

TEST(MimeScanner, BoundaryPrefixIsNotADelimiter) {
  // "--bb" is not the delimiter of boundary "b"; the part stays text.
  std::string body = "--b\r\n\r\n--bb\r\nContent-Disposition: attachment; filename=no.txt\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), Events{});
}

TEST(MimeScanner, OuterCloseEndsInnerParts) {
  std::string body =
      "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n"
      "--o--\r\n--i\r\nContent-Disposition: attachment; filename=late.txt\r\n\r\n";
  // After the outer close, inner delimiters are plain text.
  EXPECT_EQ(scan("multipart/mixed; boundary=o", body), Events{});
}

TEST(MimeScanner, HeadersCutShortByBoundaryStillReportFilename) {
  std::string body =
      "--b\r\nContent-Disposition: attachment; filename=cut.exe\r\n--b\r\n\r\nx\r\n--b--\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), (Events{"file 1 filename=cut.exe"}));
}

TEST(MimeScanner, MissingCloseDelimiterAndNoBoundaryParam) {
  EXPECT_EQ(scan("multipart/mixed; boundary=b",
                 "--b\r\nContent-Type: text/plain; name=a.txt\r\n\r\nbody never closed\r\n"),
            (Events{"file 1 name=a.txt"}));
  EXPECT_EQ(scan("multipart/mixed", "--b\r\nContent-Type: text/plain; name=a.txt\r\n\r\n"),
            Events{});
}

TEST(MimeScanner, MessageRfc822IsDescendedInto) {
  std::string body =
      "--b\r\nContent-Type: message/rfc822\r\n\r\n"
      "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
      "--c\r\nContent-Disposition: attachment; filename=inner.exe\r\n\r\nMZ\r\n--c--\r\n"
      "--b--\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), (Events{"file 1.1 filename=inner.exe"}));
}

TEST(MimeScanner, DigestPartsDefaultToMessageRfc822) {
  std::string body =
      "--d\r\n\r\nSubject: one\r\nContent-Disposition: attachment; filename=d1.txt\r\n\r\nx\r\n"
      "--d\r\nContent-Type: text/plain\r\n\r\nContent-Disposition: attachment; "
      "filename=not-a-header.txt\r\n--d--\r\n";
  EXPECT_EQ(scan("multipart/digest; boundary=d", body), (Events{"file 1 filename=d1.txt"}));
}

TEST(MimeScanner, MessageRfc822WithUnknownEncodingIsOpaque) {
  std::string body =
      "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\n"
      "Content-Disposition: attachment; filename=hidden.txt\r\n--b--\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body), (Events{"cte 1 x-gzip64"}));
}

TEST(MimeScanner, DepthLimit) {
  MimeLimits limits;
  limits.max_depth = 3;
  std::string body;
  for (int i = 0; i < 6; ++i)
    body += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=b" +
            std::to_string(i + 1) + "\r\n\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b0", body, 0, limits),
            (Events{"limit max_depth 4>3 at 1.1.1"}));
}

TEST(MimeScanner, TwoHundredDeepNestingStaysBounded) {
  std::string body;
  for (int i = 0; i < 200; ++i)
    body += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=b" +
            std::to_string(i + 1) + "\r\n\r\n";
  Events e = scan("multipart/mixed; boundary=b0", body, 5);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].substr(0, 20), "limit max_depth 21>2");
}

TEST(MimeScanner, PartCountLimitReportedOnce) {
  MimeLimits limits;
  limits.max_parts = 3;
  std::string body;
  for (int i = 0; i < 10; ++i) body += "--b\r\n\r\nx\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body, 0, limits),
            (Events{"limit max_parts 4>3 at 4"}));
}

TEST(MimeScanner, BoundaryLengthLimit) {
  std::string b(71, 'q');
  EXPECT_EQ(scan("multipart/mixed; boundary=" + b, "--" + b + "\r\n\r\nx\r\n--" + b + "--\r\n"),
            (Events{"limit max_boundary_length 71>70 at root"}));
  std::string huge(300, 'q');  // longer than the scanner stores: reported, then opaque
  EXPECT_EQ(scan("multipart/mixed; boundary=" + huge,
                 "--" + huge + "\r\nContent-Type: text/plain; name=x\r\n\r\n"),
            (Events{"limit max_boundary_length 300>70 at root"}));
}

TEST(MimeScanner, PartHeaderBytesLimitIsReportedAndLaterFieldsStillCount) {
  MimeLimits limits;
  limits.max_part_header_bytes = 1024;
  std::string body = "--b\r\n";
  for (int i = 0; i < 100; ++i) body += "X-Junk: " + std::string(50, 'j') + "\r\n";  // 60 each
  body += "Content-Disposition: attachment; filename=after-limit.exe\r\n\r\nx\r\n--b--\r\n";
  // Padding cannot hide a filename from a rule in log or monitor mode.
  Events want{"limit max_part_header_bytes 1080>1024 at 1", "file 1 filename=after-limit.exe"};
  for (std::size_t chunk : {0u, 1u, 7u, 100u})
    EXPECT_EQ(scan("multipart/mixed; boundary=b", body, chunk, limits), want);
}

TEST(MimeScanner, PartHeaderBytesExactlyAtTheLimitExcludeTheBlankLine) {
  MimeLimits limits;
  limits.max_part_header_bytes = 1024;
  // One field of exactly 1024 octets with its CRLF, then the blank line.
  std::string field = "X-Pad: " + std::string(1024 - 7 - 2, 'p') + "\r\n";
  ASSERT_EQ(field.size(), 1024u);
  EXPECT_EQ(scan("multipart/mixed; boundary=b", "--b\r\n" + field + "\r\nx\r\n--b--\r\n", 0, limits,
                 2000),
            Events{});
  std::string over = "X-Pad: " + std::string(1024 - 7 - 1, 'p') + "\r\n";
  EXPECT_EQ(
      scan("multipart/mixed; boundary=b", "--b\r\n" + over + "\r\nx\r\n--b--\r\n", 0, limits, 2000),
      (Events{"limit max_part_header_bytes 1025>1024 at 1"}));
}

std::string base64(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  std::string wrapped;
  for (std::size_t k = 0; k < out.size(); k += 76) wrapped += out.substr(k, 76) + "\r\n";
  return wrapped;
}

const char kInnerMessage[] =
    "Subject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
    "--in\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    "--in\r\nContent-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"setup.exe\"\r\n\r\nTVqQAAMA\r\n--in--\r\n";

TEST(MimeScanner, Base64EncodedMessageRfc822IsDecodedAndScanned) {
  std::string body =
      "--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n"
      "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64(kInnerMessage) + "--b--\r\n";
  Events want{"cte 2 base64", "file 2.2 filename=setup.exe"};
  for (std::size_t chunk : {0u, 1u, 3u, 77u})
    EXPECT_EQ(scan("multipart/mixed; boundary=b", body, chunk), want) << chunk;
}

TEST(MimeScanner, QuotedPrintableEncodedMessageRfc822IsDecodedAndScanned) {
  // Soft line breaks split the header; =3D and =22 hide the parameter syntax.
  std::string body =
      "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "Subject: x\r\nContent-Disposition: attachment; "
      "file=\r\nname=3D=22evil.exe=22\r\n\r\nbody\r\n"
      "--b--\r\n";
  Events want{"cte 1 quoted-printable", "file 1 filename=evil.exe"};
  for (std::size_t chunk : {0u, 1u, 5u})
    EXPECT_EQ(scan("multipart/mixed; boundary=b", body, chunk), want) << chunk;
}

TEST(MimeScanner, PartsOfEncodedMessagesCountTowardsTheMessageTotal) {
  MimeLimits limits;
  limits.max_parts = 5;
  // Two base64 forwarded messages of 2 parts each, plus 2 outer parts: 6.
  std::string inner =
      "Content-Type: multipart/mixed; "
      "boundary=in\r\n\r\n--in\r\n\r\na\r\n--in\r\n\r\nb\r\n--in--\r\n";
  std::string body;
  for (int i = 0; i < 2; ++i)
    body += "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            base64(inner);
  body += "--b--\r\n";
  Events e = scan("multipart/mixed; boundary=b", body, 0, limits);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[2], "limit max_parts 6>5 at 2.2");  // the configured limit, not a leftover
}

TEST(MimeScanner, EncodedMessageDepthCountsTowardsTheLimit) {
  MimeLimits limits;
  limits.max_depth = 1;
  std::string body =
      "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64(kInnerMessage) + "--b--\r\n";
  EXPECT_EQ(scan("multipart/mixed; boundary=b", body, 0, limits),
            (Events{"cte 1 base64", "limit max_depth 2>1 at 1"}));
}

TEST(MimeScanner, BinaryGarbageAndNulBytes) {
  std::string body = "--b\r\nContent-Type: text/plain; name=\"a";
  body += std::string("\0\xff\xfe", 3);
  body += ".txt\"\r\n\r\n";
  for (int i = 0; i < 256; ++i) body += static_cast<char>(i);
  body += "\r\n--b--\r\n";
  Events e = scan("multipart/mixed; boundary=b", body, 3);
  ASSERT_EQ(e.size(), 1u);
  // Not UTF-8 and no charset: measured raw, and said so.
  EXPECT_EQ(e[0], std::string("file 1 name=a\0\xff\xfe.txt raw", 24));
}

TEST(MimeScanner, ResetStartsAFreshMessage) {
  Recorder r;
  MimeScanner s(r);
  s.reset({}, 998);
  s.header("Content-Type", "multipart/mixed; boundary=b");
  s.end_of_headers();
  s.feed("--b\r\nContent-Type: text/plain; na");  // abandoned mid-header
  s.reset({}, 998);
  s.end_of_headers();
  s.feed("--b\r\nContent-Type: text/plain; name=x\r\n\r\n");
  s.finish();
  EXPECT_EQ(r.events, Events{});
}

}  // namespace
}  // namespace esmtp

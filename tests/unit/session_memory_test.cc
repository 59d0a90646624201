// Memory per session is bounded by configuration, never by the message
// (memory per session is bounded by configuration): a 50 MB message with 10,000 parts, fed in 64
// KiB chunks, must not grow the heap beyond a few times the configured MIME limits.
#include <malloc.h>

#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "common/engine/session.h"

namespace esmtp {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kHeapMeasurable = false;  // ASan's allocator is not mallinfo's
#else
constexpr bool kHeapMeasurable = true;
#endif

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

// Produces the message body part by part so the test itself stays small.
class BombBody {
 public:
  explicit BombBody(int parts) : parts_(parts) {}
  bool next(std::string& out) {
    out.clear();
    if (part_ > parts_) return false;
    if (part_ == parts_) {
      out = "--bomb--\r\n";
      ++part_;
      return true;
    }
    out += "--bomb\r\nContent-Type: application/octet-stream; name=\"part" + std::to_string(part_) +
           ".bin\"\r\nContent-Disposition: attachment; filename*0*=utf-8''" + std::string(40, 'a') +
           "; filename*1=\"" + std::to_string(part_) +
           ".bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    // ~5 KB of base64 per part: 10,000 parts make ~50 MB.
    for (int line = 0; line < 66; ++line) out += std::string(76, 'Q') + "\r\n";
    ++part_;
    return true;
  }

 private:
  int parts_;
  int part_ = 0;
};

TEST(SessionMemory, FiftyMegabytesTenThousandPartsStayBounded) {
  // Monitor mode: every limit is crossed and logged, and scanning continues to
  // the end, which is the worst case for memory.
  LoadResult r = load_config_string(
      "mode: monitor\nrules:\n  mime_filename: { patterns: ['*.exe'] }\n"
      "  mime_encoding: { deny: [uuencode] }\n");
  ASSERT_TRUE(r.ok());
  Session s(r.config, nullptr);
  s.connect("192.0.2.1", 1, "client.example");
  s.mail("a@example.org");
  s.rcpt("b@example.net");
  s.header("Content-Type", "multipart/mixed; boundary=\"bomb\"");
  s.end_of_headers();

  const std::size_t before = heap_in_use();
  std::size_t peak = before;
  std::size_t fed = 0;
  BombBody body(10000);
  std::string part, chunk;
  while (body.next(part)) {
    chunk += part;
    while (chunk.size() >= 65536) {
      s.body(std::string_view(chunk).substr(0, 65536));
      fed += 65536;
      chunk.erase(0, 65536);
      peak = std::max(peak, heap_in_use());
    }
  }
  s.body(chunk);
  fed += chunk.size();
  s.end_of_message();
  EXPECT_GT(fed, 50u * 1000 * 1000);
  // The parts limit was crossed and logged; the session carried on.
  EXPECT_FALSE(s.decision());

  // Bounded by the limits: one part header (64 KiB max), the boundary stack
  // and the test's own 64 KiB chunk buffer; allow 512 KiB in all.
  if (kHeapMeasurable) {
    EXPECT_LT(peak - before, 512u * 1024) << "heap grew by " << (peak - before) << " octets";
  }
}

}  // namespace
}  // namespace esmtp

#include "tools/report/log_input.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace esmtp::report {
namespace {

constexpr std::size_t kChunk = 1 << 20;

// Splits a byte stream into lines, keeping at most max_line octets of a line.
class LineSplitter {
 public:
  LineSplitter(std::size_t max_line, const LineFn& fn, InputStats* stats)
      : max_(max_line), fn_(fn), stats_(stats) {}

  void feed(const char* p, std::size_t n) {
    stats_->bytes += n;
    const char* end = p + n;
    while (p < end) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = nl ? nl : end;
      std::size_t len = static_cast<std::size_t>(stop - p);
      if (partial_.empty() && !skipping_ && nl && len <= max_) {
        emit(std::string_view(p, len));  // the fast path: no copy
      } else {
        if (!skipping_) {
          std::size_t room = max_ - partial_.size();
          if (len > room) {
            partial_.append(p, room);
            skipping_ = true;
          } else {
            partial_.append(p, len);
          }
        }
        if (nl) flush();
      }
      p = nl ? nl + 1 : end;
    }
  }

  void finish() {
    if (!partial_.empty() || skipping_) flush();
  }

 private:
  void flush() {
    if (skipping_) ++stats_->long_lines;
    emit(partial_);
    partial_.clear();
    skipping_ = false;
  }
  void emit(std::string_view line) {
    ++stats_->lines;
    fn_(line);
  }

  std::size_t max_;
  const LineFn& fn_;
  InputStats* stats_;
  std::string partial_;
  bool skipping_ = false;
};

struct Fd {
  int fd = -1;
  bool owned = false;
  ~Fd() {
    if (owned && fd >= 0) close(fd);
  }
};

// read() that retries on EINTR; -1 with errno on failure.
ssize_t read_some(int fd, char* buf, std::size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0 || errno != EINTR) return r;
  }
}

}  // namespace

std::string read_log_lines(const std::string& path, std::size_t max_line, const LineFn& fn,
                           InputStats* stats) {
  Fd in;
  if (path == "-") {
    in.fd = STDIN_FILENO;
  } else {
    in.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) return std::strerror(errno);
    in.owned = true;
  }
  std::vector<char> buf(kChunk);
  LineSplitter lines(max_line, fn, stats);

  // Read until we have two octets (or EOF) to look at the magic.
  std::size_t have = 0;
  while (have < 2) {
    ssize_t r = read_some(in.fd, buf.data() + have, buf.size() - have);
    if (r < 0) return std::strerror(errno);
    if (r == 0) break;
    have += static_cast<std::size_t>(r);
  }
  const bool gzip = have >= 2 && static_cast<unsigned char>(buf[0]) == 0x1f &&
                    static_cast<unsigned char>(buf[1]) == 0x8b;
  stats->gzip = gzip;
  if (!gzip) {
    while (have > 0) {
      lines.feed(buf.data(), have);
      ssize_t r = read_some(in.fd, buf.data(), buf.size());
      if (r < 0) return std::strerror(errno);
      have = static_cast<std::size_t>(r);
    }
    lines.finish();
    return {};
  }

  // zlib: no hand-written inflate; 16 + MAX_WBITS asks for the gzip wrapper.
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return "zlib initialisation failed";
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::vector<char> out(kChunk);
  bool in_member = true;  // inside a gzip member (an EOF here means truncated)
  for (;;) {
    z.next_in = reinterpret_cast<Bytef*>(buf.data());
    z.avail_in = static_cast<uInt>(have);
    while (z.avail_in > 0) {
      if (!in_member) {
        // Another member follows (concatenated gzip) or trailing junk.
        if (inflateReset(&z) != Z_OK) return "zlib reset failed";
        in_member = true;
      }
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      int rc = inflate(&z, Z_NO_FLUSH);
      std::size_t produced = out.size() - z.avail_out;
      if (produced > 0) lines.feed(out.data(), produced);
      if (rc == Z_STREAM_END) {
        in_member = false;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        lines.finish();
        return std::string("corrupt gzip data: ") + (z.msg ? z.msg : "inflate failed");
      } else if (rc == Z_BUF_ERROR && produced == 0 && z.avail_in > 0) {
        lines.finish();
        return "corrupt gzip data: no progress";
      }
    }
    ssize_t r = read_some(in.fd, buf.data(), buf.size());
    if (r < 0) return std::strerror(errno);
    if (r == 0) break;
    have = static_cast<std::size_t>(r);
  }
  lines.finish();
  if (in_member) return "truncated gzip data (unexpected end of file)";
  return {};
}

}  // namespace esmtp::report

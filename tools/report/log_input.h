// log_input: reads one mail log (plain or gzip, a file or stdin) in chunks
// and hands out whole lines.
//
// gzip is detected by its magic bytes (1f 8b), never by the file name, and
// inflated as a stream (zlib), concatenated members included (what `cat
// a.gz b.gz` and some rotators produce). Lines longer than max_line are cut
// to max_line octets (the rest of the line is skipped and counted) so that
// memory stays bounded whatever the input. A missing final newline still
// yields the last line.
//
// Errors (open/read failures, corrupt or truncated gzip data) are returned
// as text naming the reason; lines read before the error have been handed
// out already.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace esmtp::report {

struct InputStats {
  std::uint64_t bytes = 0;  // octets after decompression
  std::uint64_t lines = 0;
  std::uint64_t long_lines = 0;  // lines cut at max_line
  bool gzip = false;
};

using LineFn = std::function<void(std::string_view)>;

// Reads `path` ("-" = standard input). Returns an empty string on success,
// else the reason ("No such file or directory", "corrupt gzip data: ...").
std::string read_log_lines(const std::string& path, std::size_t max_line, const LineFn& fn,
                           InputStats* stats);

}  // namespace esmtp::report

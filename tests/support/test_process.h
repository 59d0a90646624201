// test_process: what the tests' private servers (tests/dns/unbound_server,
// tests/store/redis_server) share: finding the program, a free loopback
// port, stopping the child, reading its files and removing its directory.
//
// Thread-safety: plain functions; each server object belongs to one test.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace esmtp::test {

// The whole file, or "" when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// `name` from PATH, else `fallback` (where Debian puts it: /usr/sbin is not
// always on a test runner's PATH).
std::string find_program(std::string_view name, const std::string& fallback);

// A port free on 127.0.0.1 for TCP (and UDP too with `udp_too`), as far as
// anyone can tell before the server binds it for real; 0 when none was found.
int free_loopback_port(bool udp_too = false);

// SIGCONT (a stopped child cannot act on SIGTERM), SIGTERM, then SIGKILL
// after 5 s; reaps the child and sets `pid` to -1. Nothing when pid <= 0.
void stop_child(pid_t& pid);

// Removes a server's directory unless ESMTP_KEEP_TEST_DIRS is set.
void remove_test_dir(const std::string& dir);

}  // namespace esmtp::test

// The Redis store's server syntax (common/store/redis_store.h,
// valid_redis_server()): every accepted form and every rejection with the
// reason the configuration loader prints. The store itself is tested against
// a real redis-server in tests/store (label store).
#include "common/store/redis_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace esmtp {
namespace {

std::string why_not(std::string_view spec) {
  std::string why;
  if (valid_redis_server(spec, &why)) return "(valid)";
  return why;
}

TEST(RedisServerSpec, AcceptedForms) {
  for (const char* spec : {"127.0.0.1:6379", "192.0.2.10:1", "[::1]:6379", "[2001:db8::7]:65535",
                           "redis.example.net:6379", "redis:6380", "redis_1.internal:6379",
                           "unix:/run/redis/redis-server.sock", "unix:/r"})
    EXPECT_EQ(why_not(spec), "(valid)") << spec;
  EXPECT_TRUE(valid_redis_server("127.0.0.1:6379", nullptr));
}

TEST(RedisServerSpec, Rejections) {
  EXPECT_EQ(why_not(""), "empty server");
  EXPECT_EQ(why_not("127.0.0.1"), "no port (HOST:PORT)");
  EXPECT_EQ(why_not("redis"), "no port (HOST:PORT)");
  EXPECT_EQ(why_not("127.0.0.1:"), "expected HOST:PORT, [IPv6]:PORT or unix:/path");
  EXPECT_EQ(why_not("127.0.0.1:0"), "invalid port \"0\"");
  EXPECT_EQ(why_not("127.0.0.1:65536"), "invalid port \"65536\"");
  EXPECT_EQ(why_not("127.0.0.1:63x"), "invalid port \"63x\"");
  EXPECT_EQ(why_not(":6379"), "no host");
  EXPECT_EQ(why_not("::1"), "an IPv6 address needs brackets and a port: [ADDRESS]:PORT");
  EXPECT_EQ(why_not("::1:6379"), "an IPv6 address needs brackets and a port: [ADDRESS]:PORT");
  EXPECT_EQ(why_not("[::1]"), "no port ([IPv6]:PORT)");
  EXPECT_EQ(why_not("[::1"), "expected HOST:PORT, [IPv6]:PORT or unix:/path");
  EXPECT_EQ(why_not("[127.0.0.1]:6379"), "not an IPv6 address in brackets");
  EXPECT_EQ(why_not("[redis]:6379"), "not an IPv6 address in brackets");
  EXPECT_EQ(why_not("re dis:6379"), "not an address or host name: \"re dis\"");
  EXPECT_EQ(why_not(".redis:6379"), "not an address or host name: \".redis\"");
  EXPECT_EQ(why_not("a..b:6379"), "not an address or host name: \"a..b\"");
  EXPECT_EQ(why_not("redis://127.0.0.1:6379"),
            "expected HOST:PORT, [IPv6]:PORT or unix:/path, not a URL");
  EXPECT_EQ(why_not("unix:"), "a unix socket path must be absolute");
  EXPECT_EQ(why_not("unix:redis.sock"), "a unix socket path must be absolute");
  EXPECT_EQ(why_not("unix:/" + std::string(107, 'x')), "unix socket path longer than 107 bytes");
  EXPECT_EQ(why_not("unix:/" + std::string(106, 'x')), "(valid)");
}

// An invalid server in the list fails with its reason, naming it, without a
// connection attempt; the next one is still tried.
TEST(RedisServerSpec, InvalidServerInTheStoreSaysWhy) {
  RedisOptions o;
  o.servers = {"redis", "unix:relative"};
  RedisStore store(o);
  const CountResult r =
      store.add("n", std::chrono::seconds(60), 1, std::chrono::system_clock::now());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "redis: no port (HOST:PORT); unix:relative: a unix socket path must be absolute");
}

}  // namespace
}  // namespace esmtp

// The metrics a daemon exposes (common/runtime/metrics.h), as the text of
// GET /metrics, counted by real sessions: the series, their labels and their
// values. The HTTP side and Postfix traffic are tests/integration/test_metrics.py.
#include "common/runtime/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "common/config/config_loader.h"
#include "common/engine/session.h"

namespace esmtp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const Config> config(std::string_view yaml) {
  LoadResult r = load_config_string(yaml, "test.yaml");
  if (!r.ok()) ADD_FAILURE() << r.errors[0].str();
  return r.config;
}

class MetricsTest : public ::testing::Test {
 protected:
  // One SMTP session counted into metrics_, up to RCPT.
  std::unique_ptr<Session> session(std::string_view yaml, std::string_view from) {
    auto s = std::make_unique<Session>(config(yaml), &logger_, FrontEnd::kMilter);
    s->set_metrics(&metrics_.engine());
    s->connect("203.0.113.5", 40000, "mx.example.org");
    s->helo("mx.example.org");
    s->set_queue_id("4F2A1B3C7D");
    s->mail(from);
    s->rcpt("b@example.net");
    return s;
  }

  Logger logger_{std::make_unique<CaptureSink>(), LogFormat::kText, LogLevel::kInfo, "test"};
  DaemonMetrics metrics_{"milter"};
};

TEST_F(MetricsTest, FreshDaemonShowsZeroSessionsAndMessages) {
  const std::string text = metrics_.text();
  EXPECT_THAT(text, HasSubstr("# TYPE esmtp_inspect_verdicts_total counter\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_sessions_total{daemon=\"milter\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_sessions_active{daemon=\"milter\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"accept\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_config_reloads_total{result=\"error\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_build_info{version=\"" ESMTP_VERSION "\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_dns_cache_hits_total 0\n"));
  // Only the policy service has requests.
  EXPECT_THAT(text, Not(HasSubstr("esmtp_inspect_policy_requests_total")));
}

TEST_F(MetricsTest, VerdictsMessagesAndSessionsAsTheSessionsDecide) {
  {
    auto accepted = session("", "a@example.org");
    accepted->header("Subject", "hi");
    accepted->end_of_message();
    auto refused = session("", "a@example.org");
    EXPECT_EQ(refused->header("Subject", std::string(1200, 's')).action, Action::kReject);
    refused->end_of_message();  // the MTA asks no more; counted once all the same
    EXPECT_THAT(metrics_.text(), HasSubstr("esmtp_inspect_sessions_active{daemon=\"milter\"} 2\n"));
  }
  const std::string text = metrics_.text();
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_sessions_total{daemon=\"milter\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_sessions_active{daemon=\"milter\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"accept\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"reject\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_verdicts_total{daemon=\"milter\",rule=\"header_"
                              "line_length\",action=\"reject\"} 1\n"));
}

TEST_F(MetricsTest, MonitorModeCountsLogWithWould) {
  auto s = session("mode: monitor\n", "a|b@example.org");
  s->header("Subject", std::string(1200, 's'));
  s->end_of_message();
  const std::string text = metrics_.text();
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_verdicts_total{daemon=\"milter\",rule=\"special_"
                              "characters\",action=\"log\",would=\"reject\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_verdicts_total{daemon=\"milter\",rule=\"header_"
                              "line_length\",action=\"log\",would=\"reject\"} 1\n"));
  // Nothing was refused: the message was accepted.
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"accept\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("outcome=\"reject\"")));
}

TEST_F(MetricsTest, TransactionRefusedAtMailIsOneRejectedMessage) {
  auto s =
      session("rules: { sender_address: { patterns: ['*@spam.example'] } }\n", "x@spam.example");
  EXPECT_EQ(s->decision()->action, Action::kReject);
  s->end_of_message();
  s->reset();
  const std::string text = metrics_.text();
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"reject\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_messages_total{daemon=\"milter\",outcome=\"accept\"} 0\n"));
}

TEST_F(MetricsTest, DnsHistogramBucketsAreCumulative) {
  using std::chrono::microseconds;
  DnsMetrics& dns = *metrics_.dns();
  dns.query(DnsMetrics::Type::kPtr, DnsMetrics::Result::kOk, microseconds(300));
  dns.query(DnsMetrics::Type::kPtr, DnsMetrics::Result::kOk, microseconds(3000));
  dns.query(DnsMetrics::Type::kAaaa, DnsMetrics::Result::kTimeout, std::chrono::seconds(4));
  dns.cache_hit(2);
  const std::string text = metrics_.text();
  const std::string ptr = "type=\"PTR\",result=\"ok\"";
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_dns_queries_total{" + ptr + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_dns_query_seconds_count{" + ptr + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_dns_query_seconds_sum{" + ptr + "} 0.0033\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + ptr + ",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + ptr + ",le=\"0.0025\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + ptr + ",le=\"0.005\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + ptr + ",le=\"+Inf\"} 2\n"));
  const std::string timeout = "type=\"AAAA\",result=\"timeout\"";
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + timeout + ",le=\"2.5\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("esmtp_inspect_dns_query_seconds_bucket{" + timeout + ",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_dns_cache_hits_total 2\n"));
  // A series with no lookup is not shown.
  EXPECT_THAT(text, Not(HasSubstr("type=\"A\"")));
}

TEST(DaemonMetricsTest, PolicyRequestsByStateUnknownStatesAsOther) {
  DaemonMetrics m("policyd");
  m.policy_request("RCPT");
  m.policy_request("RCPT");
  m.policy_request("END-OF-MESSAGE");
  m.policy_request("rcpt\nfake=1");  // not a state Postfix sends: no new label value
  m.reload(true);
  m.reload(false);
  m.reload(false);
  const std::string text = m.text();
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_policy_requests_total{state=\"RCPT\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_policy_requests_total{state=\"END-OF-MESSAGE\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_policy_requests_total{state=\"other\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("fake")));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_config_reloads_total{result=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_config_reloads_total{result=\"error\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("esmtp_inspect_sessions_total{daemon=\"policyd\"} 0\n"));
}

}  // namespace
}  // namespace esmtp

#include "common/util/endpoint.h"

#include <optional>

#include "common/util/net.h"
#include "common/util/text.h"

namespace esmtp {
namespace {

std::string_view unbracket(std::string_view host) {
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

std::string bad_port(std::string_view text) {
  return "\"" + std::string(text) + "\": the port must be a number from 1 to 65535";
}

void set_unix(Endpoint& e, std::string_view path) {
  e.kind = Endpoint::Kind::kUnix;
  e.path = std::string(path);
}

void set_inet(Endpoint& e, std::string_view host, int port) {
  e.kind = Endpoint::Kind::kInet;
  e.host = std::string(host);
  e.port = static_cast<std::uint16_t>(port);
}

void milter_socket(Endpoint& e) {
  const std::string_view text = e.text;
  const std::string not_ours =
      "\"" + e.text + "\" is not a milter socket (unix:/path or inet:PORT@HOST)";
  for (std::string_view prefix : {"unix:", "local:"}) {
    if (!text.starts_with(prefix)) continue;
    e.transport = std::string(prefix.substr(0, prefix.size() - 1));
    if (text.size() == prefix.size())
      e.error = not_ours;
    else
      set_unix(e, text.substr(prefix.size()));
    return;
  }
  if (text.starts_with("/")) return set_unix(e, text);
  for (std::string_view prefix : {"inet:", "inet6:"}) {
    if (!text.starts_with(prefix)) continue;
    e.transport = std::string(prefix.substr(0, prefix.size() - 1));
    const std::string_view rest = text.substr(prefix.size());
    const std::size_t at = rest.find('@');
    const auto port = parse_port(rest.substr(0, at));
    if (!port) {
      e.error = bad_port(text);
      return;
    }
    return set_inet(e, at == std::string_view::npos ? "" : unbracket(rest.substr(at + 1)), *port);
  }
  e.error = not_ours;
}

void policy_listen(Endpoint& e) {
  const std::string_view text = e.text;
  const std::string not_ours =
      "\"" + e.text + "\" is not a listen address (unix:/path or inet:HOST:PORT)";
  if (text.starts_with("unix:")) {
    e.transport = "unix";
    if (text.size() == 5)
      e.error = not_ours;
    else
      set_unix(e, text.substr(5));
    return;
  }
  if (!text.starts_with("inet:")) {
    e.error = not_ours;
    return;
  }
  e.transport = "inet";
  const std::string_view rest = text.substr(5);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    e.error = not_ours;
    return;
  }
  const auto port = parse_port(rest.substr(colon + 1));
  if (!port) {
    e.error = bad_port(text);
    return;
  }
  set_inet(e, unbracket(rest.substr(0, colon)), *port);
}

void postfix(Endpoint& e) {
  const std::string_view text = e.text;
  const auto colon = text.find(':');
  if (!text.empty() && text.front() == '/') {
    e.error = "Postfix needs transport:endpoint, e.g. unix:" + e.text;
    return;
  }
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    e.error = "Postfix needs transport:endpoint instead of \"" + e.text + "\"";
    return;
  }
  e.transport = to_lower(text.substr(0, colon));
  const std::string_view rest = text.substr(colon + 1);
  if (e.transport == "unix" || e.transport == "local") return set_unix(e, rest);
  if (e.transport == "inet") {
    const auto hp = split_host_port(rest);
    const std::optional<int> port = hp ? parse_port(hp->port) : std::nullopt;
    if (!hp || hp->host.empty() || !port) {
      e.error = "inet: needs host:port, not \"" + std::string(rest) + "\"";
      return;
    }
    return set_inet(e, hp->host, *port);
  }
  e.error = "unknown transport \"" + e.transport + "\" (Postfix knows unix, local and inet)";
}

}  // namespace

Endpoint parse_endpoint(std::string_view text, EndpointSyntax syntax) {
  Endpoint e;
  e.text = std::string(syntax == EndpointSyntax::kPostfix ? trim(text) : text);
  switch (syntax) {
    case EndpointSyntax::kMilterSocket:
      milter_socket(e);
      break;
    case EndpointSyntax::kPolicyListen:
      policy_listen(e);
      break;
    case EndpointSyntax::kPostfix:
      postfix(e);
      break;
  }
  return e;
}

}  // namespace esmtp

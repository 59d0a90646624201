#include "common/config/config_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/config/rule_config.h"
#include "common/config/settings.h"
#include "common/config/yaml_values.h"

namespace esmtp {
namespace {

using cfg::as_bool;
using cfg::as_enum;
using cfg::as_scalar;
using cfg::as_string_list;
using cfg::Err;
using cfg::find_setting;
using cfg::kind_of;
using cfg::RuleReader;
using cfg::Setting;

// ---------------------------------------------------------------------------
// Loading

class Loader : public RuleReader {
 public:
  using RuleReader::RuleReader;

  // Walks a map of global settings; `prefix` is the dotted path of `n`.
  void settings(Config& c, const YAML::Node& n, const std::string& prefix) {
    for_each_key(n, prefix,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& mark) {
                   std::string path = prefix.empty() ? key : prefix + "." + key;
                   if (path == "rules") return rules(c.defaults.rules, value, "rules", mark);
                   if (path == "identity.checks")
                     return checks(c.defaults.checks, value, path, mark);
                   if (path == "profiles") {
                     // Profiles inherit the top level: read them once it is complete,
                     // wherever they stand in the file.
                     deferred_profiles_ = value;
                     deferred_mark_ = mark;
                     return;
                   }
                   const Setting* s = find_setting(path);
                   if (!s) return error(mark, path, "unknown key");
                   if (s->type == SettingType::kGroup) {
                     if (!value.IsMap() && !value.IsNull())
                       return error(value.Mark(), path, "expected a map, got " + kind_of(value));
                     return settings(c, value, path);
                   }
                   if (auto e = s->set(c, value, *s)) error(value.Mark(), path, *e);
                 });
  }

  // Reads profiles: once the top level is complete (a profile starts as a copy).
  void profiles(Config& c, const YAML::Node& n, const YAML::Mark& mark) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) return error(mark, "profiles", "expected a list, got " + kind_of(n));
    std::set<std::string> names;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const YAML::Node item = n[i];
      std::string path = fmt::format("profiles[{}]", i);
      if (!item.IsMap()) {
        error(item.Mark(), path, "expected a map, got " + kind_of(item));
        continue;
      }
      Profile p = c.defaults;  // inherits the top level's rules and checks
      p.name.clear();
      p.mode.reset();
      for_each_key(
          item, path,
          [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
            std::string kpath = path + "." + key;
            Err e;
            if (key == "name") {
              e = as_scalar(value, p.name);
              if (!e && p.name.empty()) e = "must not be empty";
            } else if (key == "match") {
              return match(p.match, value, kpath, key_mark);
            } else if (key == "inspect") {
              e = as_bool(value, p.inspect);
            } else if (key == "identity") {
              e = as_bool(value, p.identity);
            } else if (key == "mode") {
              std::string s;
              e = as_enum(value, {"enforce", "monitor"}, s);
              if (!e) p.mode = parse_mode(s);
            } else if (key == "rules") {
              return rules(p.rules, value, kpath, key_mark);
            } else {
              return error(key_mark, kpath,
                           "unknown key (name, match, inspect, identity, mode, rules)");
            }
            if (e) error(value.Mark(), kpath, *e);
          });
      if (p.name.empty()) {
        error(item.Mark(), path, "a profile needs a name");
      } else if (!names.insert(p.name).second || p.name == "default") {
        error(item.Mark(), path, "profile name \"" + p.name + "\" is used twice");
      }
      c.profiles.push_back(std::move(p));
    }
  }

 private:
  void match(ProfileMatch& m, const YAML::Node& n, const std::string& path,
             const YAML::Mark& mark) {
    if (!n.IsMap()) return error(mark, path, "expected a map, got " + kind_of(n));
    for_each_key(n, path,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
                   std::string kpath = path + "." + key;
                   Err e;
                   if (key == "clients") {
                     std::vector<std::string> v;
                     e = as_string_list(value, v);
                     for (std::size_t i = 0; !e && i < v.size(); ++i) {
                       auto cidr = Cidr::parse(v[i]);
                       if (!cidr)
                         e = "\"" + v[i] + "\" is not an address or CIDR prefix";
                       else
                         m.clients.push_back(*cidr);
                     }
                   } else if (key == "authenticated") {
                     bool b = false;
                     e = as_bool(value, b);
                     m.authenticated = b;
                   } else if (key == "daemons") {
                     e = as_string_list(value, m.daemons);
                   } else {
                     return error(key_mark, kpath, "unknown key (clients, authenticated, daemons)");
                   }
                   if (e) error(value.Mark(), kpath, *e);
                 });
  }

 public:
  YAML::Node deferred_profiles_;
  YAML::Mark deferred_mark_;
};

Config build_defaults() {
  Config c;
  cfg::set_setting_defaults(c);
  cfg::set_rule_defaults(c);
  return c;
}

const Config& defaults_ref() {
  static const Config c = build_defaults();
  return c;
}

}  // namespace

std::string machine_tag_secret() {
  // Our application ID: the machine's ID is hashed with it (HMAC-SHA256), so
  // the result tells nothing about the machine ID and is the same for every
  // process of esmtp-inspect on this machine.
  constexpr sd_id128_t kApp =
      SD_ID128_MAKE(5e, 2c, 41, 9a, 0b, 7d, 4f, 63, 9e, 18, c2, 7a, 31, f0, 4d, 86);
  sd_id128_t id;
  if (sd_id128_get_machine_app_specific(kApp, &id) < 0) return {};
  char text[SD_ID128_STRING_MAX];
  return sd_id128_to_string(id, text);
}

LoadResult load_config_string(std::string_view yaml, const std::string& name) {
  LoadResult result;
  if (yaml.size() > kMaxConfigBytes) {
    result.errors.push_back(
        {name, 0, 0, fmt::format("file is larger than {} octets", kMaxConfigBytes)});
    return result;
  }
  auto c = std::make_shared<Config>(defaults_ref());
  c->source = name;
  Loader loader(name, result.errors);
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsNull() && !root.IsMap()) {
      loader.error(root.Mark(), "", "the file must be a map of settings");
    } else {
      loader.settings(*c, root, "");
      if (loader.deferred_profiles_)
        loader.profiles(*c, loader.deferred_profiles_, loader.deferred_mark_);
    }
  } catch (const YAML::Exception& e) {
    loader.error(e.mark, "", e.msg);
  }
  if (c->tag_secret_setting == "auto") c->tag_secret = machine_tag_secret();
  if (result.errors.empty()) result.config = std::move(c);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  LoadResult r;
  auto fail = [&](std::string message) {
    r.errors.push_back({path, 0, 0, std::move(message)});
    return r;
  };
  // O_NONBLOCK: a FIFO at the path must not hang us (it is refused below); a
  // directory opens but is not a configuration file either (yaml-cpp would
  // read it as an empty file: the defaults). /dev/null is allowed, for the
  // CLI (`test --config /dev/null`); the daemons accept regular files only
  // (daemon.h, config_file_path()).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory, not a configuration file"
                                    : "is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes) {
    ::close(fd);
    return fail(fmt::format("file is larger than {} octets", kMaxConfigBytes));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail(std::string("cannot read: ") + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) break;
  }
  ::close(fd);
  return load_config_string(text, path);
}

std::shared_ptr<const Config> default_config() {
  static const auto c = std::make_shared<const Config>(defaults_ref());
  return c;
}

}  // namespace esmtp

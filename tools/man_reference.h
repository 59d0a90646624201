// man_reference: the generated parts of the manual page esmtp-inspect.yaml(5).
//
// man/esmtp-inspect.yaml.5.in is hand-written roff with marker lines such as
// `.\" @SETTINGS@`; expand_man_template() replaces each marker by roff built
// from the tables that also validate the configuration and write
// conf/esmtp-inspect.yaml: the settings table (config_loader.h), the rule,
// MIME limit and identity check tables (rules.h), the actions (verdict.h) and
// the fields the logger writes (logger.h). A change of a default, a range or
// a help text therefore changes the page, and the test
// manpage_reference_current fails until the committed man/esmtp-inspect.yaml.5
// is regenerated (`cmake --build build --target man-pages`).
//
// The descriptions of actions and log fields are kept here; generation fails
// when an action or a field the code has is not described (or a described one
// no longer exists), so the page cannot silently fall behind.
//
// Markers: @SETTINGS@, @RULES@, @CHECKS@, @ACTIONS@, @LOG_FIELDS@. An unknown
// marker, or a marker used twice, is an error.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace esmtp {

// Text for a roff text line or a .TP tag: backslashes become \e, hyphens \-,
// quotes and apostrophes \(dq and \(aq, the grave accent \(ga, non-ASCII
// UTF-8 \[uXXXX], a leading '.' or '\'' is protected with \&, and line breaks
// become spaces.
std::string roff_escape(std::string_view text);

// The page: `tmpl` with every marker line replaced. nullopt and *error when
// a marker is unknown or repeated, or the descriptions here do not match the
// code's actions or log fields.
std::optional<std::string> expand_man_template(std::string_view tmpl, std::string* error);

}  // namespace esmtp

// apps/common/cli.h — the one command-line parser of facefield's programs: options "--name value" or
// "--name=value" checked against a table of (name, default, help); `--help` prints the table with the defaults.
// Values are read through typed getters that range-check them and name the option in the error.
//
//   ff::apps::Options o("usage: render --model FILE [options]", {{"model", "", "model file (required)"}});
//   if (!o.parse(argc, argv)) return 0;            // --help was printed
//   const int w = int(o.integer("width", 1, 16384));
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"

namespace ff::apps {

// Options "--name value" / "--name=value" against a table of (name, default, help); --help prints the table.
struct Options {
  struct Opt {
    std::string name, def, help;
  };
  std::string usage;
  std::vector<Opt> table;
  std::map<std::string, std::string> val;
  std::vector<std::string> given;
  Options(std::string u, std::vector<Opt> t) : usage(std::move(u)), table(std::move(t)) {
    for (auto& o : table) val[o.name] = o.def;
  }
  void print_help() const {
    std::printf("%s\n\nOptions (default in brackets):\n", usage.c_str());
    for (auto& o : table)
      std::printf("  --%-20s %s [%s]\n", o.name.c_str(), o.help.c_str(), o.def.empty() ? "none" : o.def.c_str());
    std::printf("  --%-20s %s\n", "help", "this text");
  }
  // returns false when --help was printed
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        print_help();
        return false;
      }
      FF_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options are --name value; see --help)");
      std::string k = a.substr(2), v;
      const size_t eq = k.find('=');
      if (eq != std::string::npos) v = k.substr(eq + 1), k = k.substr(0, eq);
      FF_CHECK(val.count(k), "unknown option --", k, " (see --help)");
      if (eq == std::string::npos) {
        FF_CHECK(i + 1 < argc, "option --", k, " needs a value");
        v = argv[++i];
      }
      val[k] = v;
      given.push_back(k);
    }
    return true;
  }
  const std::string& str(const std::string& k) const { return val.at(k); }
  bool has(const std::string& k) const { return !val.at(k).empty(); }
  bool was_given(const std::string& k) const { return std::find(given.begin(), given.end(), k) != given.end(); }
  long integer(const std::string& k, long lo, long hi) const {
    const std::string& s = val.at(k);
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    FF_CHECK(!s.empty() && *end == 0 && v >= lo && v <= hi, "--", k, " must be an integer in [", lo, ", ", hi, "], got '",
             s, "'");
    return v;
  }
  double number(const std::string& k, double lo, double hi) const {
    const std::string& s = val.at(k);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    FF_CHECK(!s.empty() && *end == 0 && std::isfinite(v) && v >= lo && v <= hi, "--", k, " must be a number in [", lo,
             ", ", hi, "], got '", s, "'");
    return v;
  }
  std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    std::string cur;
    for (char c : val.at(k) + ",") {
      if (c == ',') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    return out;
  }
  std::array<float, 3> color(const std::string& k) const {
    auto l = list(k);
    FF_CHECK(l.size() == 3, "--", k, " must be r,g,b in [0,1], got '", val.at(k), "'");
    std::array<float, 3> c;
    for (int i = 0; i < 3; ++i) {
      char* end = nullptr;
      c[size_t(i)] = std::strtof(l[size_t(i)].c_str(), &end);
      FF_CHECK(*end == 0 && c[size_t(i)] >= 0 && c[size_t(i)] <= 1, "--", k, " must be r,g,b in [0,1], got '", val.at(k), "'");
    }
    return c;
  }
};

inline bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = (s[0] == '-' ? 1 : 0); i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return s != "-";
}

}  // namespace ff::apps

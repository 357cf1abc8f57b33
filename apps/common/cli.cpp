// apps/common/cli.cpp — the one command-line parser (see cli.h).
#include "apps/common/cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include <new>

#include "core/check.h"
#include "core/parallel.h"

namespace ff::apps {

Options::Options(std::string u, std::vector<Opt> t, std::string e)
    : usage(std::move(u)), table(std::move(t)), epilog(std::move(e)) {
  for (auto& o : table) {
    FF_CHECK(!val.count(o.name), "Options: option --", o.name, " is listed twice");
    FF_CHECK(!o.flag || o.def.empty(), "Options: flag --", o.name, " must default to off");
    val[o.name] = o.def;
  }
}

namespace {
constexpr const char* kExitCodes =
    "exit codes: 0 ok, 1 failure, 2 bad usage (an unknown option, a missing or bad value)";
}

void Options::print_help() const {
  std::printf("%s\n\nOptions (--name value or --name=value; default in brackets):\n", usage.c_str());
  for (auto& o : table) {
    if (o.flag)
      std::printf("  --%-22s %s\n", o.name.c_str(), o.help.c_str());
    else
      std::printf("  --%-22s %s [%s]\n", o.name.c_str(), o.help.c_str(), o.def.empty() ? "none" : o.def.c_str());
  }
  std::printf("  --%-22s %s\n", "help", "this text");
  if (!epilog.empty()) std::printf("\n%s", epilog.c_str());
  std::printf("%s%s\n", !epilog.empty() && epilog.back() == '\n' ? "" : "\n", kExitCodes);
}

const Options::Opt* Options::find(const std::string& k) const {
  for (auto& o : table)
    if (o.name == k) return &o;
  return nullptr;
}

bool Options::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_help();
      return false;
    }
    FF_USAGE_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options are --name value; see --help)");
    std::string k = a.substr(2), v;
    const size_t eq = k.find('=');
    if (eq != std::string::npos) v = k.substr(eq + 1), k = k.substr(0, eq);
    const Opt* o = find(k);
    FF_USAGE_CHECK(o, "unknown option --", k, " (see --help)");
    if (o->flag) {
      FF_USAGE_CHECK(eq == std::string::npos, "option --", k, " is a flag and takes no value (got --", k, "=", v, ")");
      v = "true";
    } else if (eq == std::string::npos) {
      FF_USAGE_CHECK(i + 1 < argc, "option --", k, " needs a value");
      v = argv[++i];
    }
    val[k] = v;
    given.push_back(k);
  }
  return true;
}

const std::string& Options::str(const std::string& k) const {
  auto it = val.find(k);
  FF_CHECK(it != val.end(), "Options: no option --", k, " in the table");
  return it->second;
}
bool Options::has(const std::string& k) const { return !str(k).empty(); }
bool Options::was_given(const std::string& k) const {
  str(k);
  return std::find(given.begin(), given.end(), k) != given.end();
}
bool Options::flag(const std::string& k) const {
  const Opt* o = find(k);
  FF_CHECK(o && o->flag, "Options: --", k, " is not a flag");
  return has(k);
}

namespace {
bool parse_long(const std::string& s, long& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  v = std::strtol(s.c_str(), &end, 10);
  return *end == 0 && errno == 0;
}
bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return *end == 0 && std::isfinite(v);
}
}  // namespace

long Options::integer(const std::string& k, long lo, long hi) const {
  const std::string& s = str(k);
  long v = 0;
  FF_USAGE_CHECK(parse_long(s, v) && v >= lo && v <= hi, "--", k, " must be an integer in [", lo, ", ", hi, "], got '",
                 s, "'");
  return v;
}

unsigned long long Options::uinteger(const std::string& k, unsigned long long hi) const {
  const std::string& s = str(k);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = s.empty() ? 0 : std::strtoull(s.c_str(), &end, 10);
  FF_USAGE_CHECK(!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) && *end == 0 && errno == 0 && v <= hi,
                 "--", k, " must be an integer in [0, ", hi, "], got '", s, "'");
  return v;
}

double Options::number(const std::string& k, double lo, double hi) const {
  const std::string& s = str(k);
  double v = 0;
  FF_USAGE_CHECK(parse_double(s, v) && v >= lo && v <= hi, "--", k, " must be a number in [", lo, ", ", hi, "], got '",
                 s, "'");
  return v;
}

std::vector<std::string> Options::list(const std::string& k) const {
  std::vector<std::string> out;
  std::string cur;
  for (char c : str(k) + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

namespace {
// The comma-separated items of `o`'s value --k, each parsed by `parse` and in [lo, hi] (`what`: "integers", "numbers").
template <class T, class Parse>
std::vector<T> list_of(const Options& o, const std::string& k, T lo, T hi, Parse parse, const char* what) {
  std::vector<T> out;
  for (const std::string& s : o.list(k)) {
    T v{};
    FF_USAGE_CHECK(parse(s, v) && v >= lo && v <= hi, "--", k, " must be a comma-separated list of ", what, " in [", lo,
                   ", ", hi, "], got '", s, "' in '", o.str(k), "'");
    out.push_back(v);
  }
  return out;
}
}  // namespace

std::vector<long> Options::integers(const std::string& k, long lo, long hi) const {
  return list_of(*this, k, lo, hi, parse_long, "integers");
}

std::vector<double> Options::numbers(const std::string& k, double lo, double hi) const {
  return list_of(*this, k, lo, hi, parse_double, "numbers");
}

std::array<float, 3> Options::color(const std::string& k) const {
  auto l = list(k);
  FF_USAGE_CHECK(l.size() == 3, "--", k, " must be r,g,b in [0,1], got '", str(k), "'");
  std::array<float, 3> c;
  for (int i = 0; i < 3; ++i) {
    double v = 0;
    FF_USAGE_CHECK(parse_double(l[size_t(i)], v) && v >= 0 && v <= 1, "--", k, " must be r,g,b in [0,1], got '", str(k),
                   "'");
    c[size_t(i)] = float(v);
  }
  return c;
}

bool Options::boolean(const std::string& k) const {
  const std::string& s = str(k);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  throw UsageError(detail::concat("--", k, " must be true or false (1/0, yes/no, on/off), got '", s, "'"));
}

const std::string& Options::choice(const std::string& k, const std::vector<std::string>& choices) const {
  const std::string& s = str(k);
  if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
  std::string all;
  for (size_t i = 0; i < choices.size(); ++i) all += (i ? ", " : "") + choices[i];
  throw UsageError(detail::concat("--", k, " must be one of ", all, ", got '", s, "'"));
}

Commands::Commands(std::string u, std::vector<Command> c, std::string e)
    : usage(std::move(u)), commands(std::move(c)), epilog(std::move(e)) {}

void Commands::print_help() const {
  std::printf("%s\n\ncommands:\n", usage.c_str());
  for (auto& c : commands) std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("  %-12s %s\n", "<command>", "--help   the options of one command");
  if (!epilog.empty()) std::printf("\n%s", epilog.c_str());
  std::printf("%s%s\n", !epilog.empty() && epilog.back() == '\n' ? "" : "\n", kExitCodes);
}

Command* Commands::parse(int argc, char** argv) {
  std::string names;
  for (size_t i = 0; i < commands.size(); ++i) names += (i ? ", " : "") + commands[i].name;
  FF_USAGE_CHECK(argc >= 2, "no command given (", names, "; see --help)");
  const std::string a = argv[1];
  if (a == "--help" || a == "-h" || a == "help") {
    print_help();
    return nullptr;
  }
  for (auto& c : commands)
    if (c.name == a) return c.options.parse(argc, argv, 2) ? &c : nullptr;
  throw UsageError(detail::concat("unknown command '", a, "' (", names, "; see --help)"));
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = (s[0] == '-' ? 1 : 0); i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return s != "-";
}

int Options::threads(const std::string& k) const {
  // the range of core/parallel.h's one thread-count check, refused here as a UsageError first
  return check_thread_count(integer(k, 0, kMaxThreads), ("--" + k).c_str());
}

UsageError usage_error(const ff::Error& e) { return UsageError(e.message()); }

int exit_status(const std::exception& e) { return dynamic_cast<const UsageError*>(&e) ? 2 : 1; }

void start_program(char** argv) {
  if (!argv || !argv[0]) return;
  bool changed = false;
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT"))
    changed |= setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0;
  if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) == 0;
  if (changed) execv("/proc/self/exe", argv);  // returns only on failure: go on with the libraries' defaults
}

namespace {
std::string g_step;  // the innermost Step's text (programs are single-threaded where they set one)
}

Step::Step(std::string what) : previous_(std::move(g_step)) { g_step = std::move(what); }
Step::~Step() { g_step = std::move(previous_); }

std::string failure_message(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e))
    return "out of memory while " + (g_step.empty() ? std::string("running") : g_step) +
           " (an input may be larger than this machine's memory, or corrupt)";
  return e.what();
}

}  // namespace ff::apps

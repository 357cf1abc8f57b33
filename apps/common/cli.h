// apps/common/cli.h — the one command-line parser of facefield's programs: options "--name value" or
// "--name=value" checked against a table of (name, default, help); boolean flags "--name" (no value); `--help`
// prints the table with the defaults. Values are read through typed getters that range-check them and name the
// option in the error (UsageError: exit status 2). Later occurrences of an option override earlier ones.
//
//   ff::apps::Options o("usage: render --model FILE [options]", {{"model", "", "model file (required)"},
//                                                               {"quiet", "", "no progress lines", true}});
//   if (!o.parse(argc, argv)) return 0;            // --help was printed
//   const int w = int(o.integer("width", 1, 16384));
//
// A program with several commands (ffdata synth|preprocess|check, flame info|mesh|sheet) lists them in a
// Commands: argv[1] names the command, the rest are that command's options, and each command has its own table
// and --help:
//   ff::apps::Commands c("usage: ffdata <command> [options]", {{"synth", "write a dataset", synth_options}, ...});
//   ff::apps::Command* cmd = c.parse(argc, argv);  // nullptr: help was printed
//   if (cmd->name == "synth") ... cmd->options.integer("n", 1, 100000) ...
#pragma once
#include <array>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"

namespace ff::apps {

// A bad command line: an unknown option or command, a missing value, a value that does not parse or is out of range.
// Its message is for the user (the option and what it must be; no source location). Programs exit 2 for it and 1
// for every other failure (exit_status).
struct UsageError : ff::Error {
  using ff::Error::Error;
};
// A lower layer's ff::Error about a command-line value (e.g. train's config_set) as a UsageError: its message
// without the source location (ff::Error::message, core/check.h).
UsageError usage_error(const ff::Error& e);
// The exit status of a program whose main caught `e`: 2 for a UsageError, 1 for anything else.
int exit_status(const std::exception& e);
// A check of the command line: throws UsageError with the message alone (no source location), e.g.
//   FF_USAGE_CHECK(o.has("model"), "--model is required (see --help)");
#define FF_USAGE_CHECK(cond, ...)                                                    \
  do {                                                                               \
    if (!(cond)) throw ::ff::apps::UsageError(::ff::detail::concat(__VA_ARGS__));    \
  } while (0)

// Options "--name value" / "--name=value" (flags: "--name") against a table; --help prints the table.
struct Options {
  struct Opt {
    std::string name, def, help;
    bool flag = false;  // a boolean flag: "--name" alone; its value is "" (off) or "true" (given)
  };
  std::string usage;                         // printed above the table by --help
  std::vector<Opt> table;
  std::map<std::string, std::string> val;    // current value of every option (its default until given)
  std::vector<std::string> given;            // names given on the command line, in order
  std::string epilog;                        // printed below the table by --help (outputs, exit codes, ...)

  Options(std::string usage, std::vector<Opt> table, std::string epilog = "");
  void print_help() const;
  // Parses argv[first..argc). Returns false when --help / -h was given (the help is printed then); throws
  // UsageError for an unknown option, a missing value, a value given to a flag or a bare argument.
  bool parse(int argc, char** argv, int first = 1);

  const std::string& str(const std::string& k) const;
  bool has(const std::string& k) const;        // value not empty (a flag: given)
  bool was_given(const std::string& k) const;  // on the command line
  bool flag(const std::string& k) const;       // a flag (Opt::flag) was given
  // Typed getters: the value must parse completely and lie in [lo, hi]; the error names the option.
  long integer(const std::string& k, long lo, long hi) const;
  // --threads: an integer in [0, ff::kMaxThreads] (core/parallel.h check_thread_count; 0: all hardware threads).
  int threads(const std::string& k = "threads") const;
  unsigned long long uinteger(const std::string& k, unsigned long long hi) const;  // in [0, hi]
  double number(const std::string& k, double lo, double hi) const;
  std::vector<std::string> list(const std::string& k) const;  // comma-separated, empty items dropped
  std::vector<long> integers(const std::string& k, long lo, long hi) const;      // list of integers in [lo, hi]
  std::vector<double> numbers(const std::string& k, double lo, double hi) const;  // list of numbers in [lo, hi]
  std::array<float, 3> color(const std::string& k) const;  // "r,g,b" in [0, 1]
  bool boolean(const std::string& k) const;                // true/false, 1/0, yes/no, on/off
  // The value must be one of `choices`.
  const std::string& choice(const std::string& k, const std::vector<std::string>& choices) const;

 private:
  const Opt* find(const std::string& k) const;
};

// One command of a program with several: its name, one line for the program's help, its options.
struct Command {
  std::string name, summary;
  Options options;
};

// A program with several commands: argv[1] is the command, argv[2..] its options.
struct Commands {
  std::string usage;   // printed above the list of commands
  std::vector<Command> commands;
  std::string epilog;  // printed below it
  Commands(std::string usage, std::vector<Command> commands, std::string epilog = "");
  void print_help() const;
  // Returns the command with its options parsed, or nullptr when a help was printed (`prog --help` or
  // `prog CMD --help`). Throws UsageError for no command, an unknown command or a bad option.
  Command* parse(int argc, char** argv);
};

// "-12", "3": an optional minus sign and digits only.
bool is_integer(const std::string& s);

// The first call of every program's main. Two libraries read their idle policy from the environment once, when
// they are loaded, before main runs, and by default their idle threads spin for a while, which takes CPU from other
// processes on a shared machine:
// - OpenMP (libgomp) after every parallel region. Unless the user has set OMP_WAIT_POLICY or GOMP_SPINCOUNT, this
//   sets OMP_WAIT_POLICY=PASSIVE.
// - OpenBLAS, loaded with dlib by the programs that detect faces, from its start and after every call: its workers
//   call sched_yield for 2^28 cycles (~0.1 s; 580 calls in one fit_image run on Grace Hopper). Unless
//   OPENBLAS_THREAD_TIMEOUT is set, this sets its minimum, 4: sleep at once.
// When it sets either, it re-executes the program (/proc/self/exe, same argv) so that the libraries start with it;
// where that is impossible the program goes on unchanged. Set them yourself to choose otherwise.
void start_program(char** argv);

// What the program is doing now, named by the message of an out-of-memory error (see failure_message):
//   apps::Step step("reading model " + path);   // for this scope
struct Step {
  explicit Step(std::string what);
  ~Step();
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;
 private:
  std::string previous_;
};
// The line a program's main prints for an exception it caught: e.what(), except that std::bad_alloc (no message of
// its own) becomes "out of memory while <the innermost Step>".
std::string failure_message(const std::exception& e);

}  // namespace ff::apps

// tests/apps/test_cli.cpp — apps/common/cli.h: the one command-line parser of the programs (options, flags,
// typed range-checked getters, commands).
#include <doctest/doctest.h>

#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "core/check.h"

using ff::apps::Commands;
using ff::apps::Options;
using ff::apps::UsageError;
using ff::apps::exit_status;

namespace {
// argv from words (argv[0] = "prog"); the strings live as long as the Argv.
struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    words.insert(words.begin(), "prog");
    for (auto& s : words) ptrs.push_back(s.data());
  }
  int argc() const { return int(ptrs.size()); }
  char** argv() { return ptrs.data(); }
};

Options table() {
  return Options("usage: prog [options]", {{"threads", "0", "CPU threads"},
                                           {"fov", "30", "field of view"},
                                           {"name", "", "a name"},
                                           {"levels", "64,128", "crop sides"},
                                           {"mode", "a", "a|b"},
                                           {"bg", "1,1,1", "background"},
                                           {"on", "true", "a boolean value"},
                                           {"seed", "0", "random seed"},
                                           {"quiet", "", "no output", true}});
}

bool parse(Options& o, std::vector<std::string> words) {
  Argv a(std::move(words));
  return o.parse(a.argc(), a.argv());
}
}  // namespace

TEST_CASE("Options: defaults, --name value, --name=value, flags, later overrides earlier") {
  Options o = table();
  CHECK(parse(o, {}));
  CHECK(o.integer("threads", 0, 1024) == 0);
  CHECK(!o.was_given("threads"));
  CHECK(!o.has("name"));
  CHECK(!o.flag("quiet"));
  o = table();
  CHECK(parse(o, {"--threads", "8", "--name=a=b", "--quiet", "--fov=45.5", "--threads=12"}));
  CHECK(o.integer("threads", 0, 1024) == 12);
  CHECK(o.str("name") == "a=b");
  CHECK(o.number("fov", 1, 179) == 45.5);
  CHECK(o.flag("quiet"));
  CHECK(o.was_given("threads"));
  CHECK(!o.was_given("levels"));
  CHECK(o.list("levels") == std::vector<std::string>{"64", "128"});
  CHECK(o.integers("levels", 8, 1024) == std::vector<long>{64, 128});
  CHECK(o.numbers("levels", 0, 200) == std::vector<double>{64, 128});
  CHECK(o.color("bg") == std::array<float, 3>{1, 1, 1});
  CHECK(o.boolean("on"));
  CHECK(o.choice("mode", {"a", "b"}) == "a");
  CHECK(o.uinteger("seed", ~0ull) == 0);
  o = table();
  CHECK(parse(o, {"--seed", "18446744073709551615", "--on", "off"}));
  CHECK(o.uinteger("seed", ~0ull) == ~0ull);
  CHECK(!o.boolean("on"));
}

TEST_CASE("Options: unknown option, missing value, bare argument, value given to a flag") {
  Options o = table();
  CHECK_THROWS_WITH_AS(parse(o, {"--thread", "4"}), doctest::Contains("unknown option --thread"), UsageError);
  o = table();
  CHECK_THROWS_WITH_AS(parse(o, {"--fov"}), doctest::Contains("option --fov needs a value"), UsageError);
  o = table();
  CHECK_THROWS_WITH_AS(parse(o, {"photo.jpg"}), doctest::Contains("unexpected argument 'photo.jpg'"), UsageError);
  o = table();
  CHECK_THROWS_WITH_AS(parse(o, {"--quiet=yes"}), doctest::Contains("--quiet is a flag"), UsageError);
}

TEST_CASE("Options: getters refuse values out of range or not numbers, naming the option") {
  Options o = table();
  CHECK(parse(o, {"--threads", "100000", "--fov", "0", "--levels", "64,x", "--mode", "c", "--bg", "1,2,0", "--on",
                  "maybe", "--seed", "-1", "--name", "1.5"}));
  CHECK_THROWS_WITH_AS(o.integer("threads", 0, 1024), doctest::Contains("--threads must be an integer in [0, 1024], got '100000'"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(o.number("fov", 1, 179), doctest::Contains("--fov must be a number in [1, 179], got '0'"), UsageError);
  CHECK_THROWS_WITH_AS(o.integer("name", 0, 10), doctest::Contains("--name must be an integer"), UsageError);  // 1.5
  CHECK_THROWS_WITH_AS(o.integers("levels", 8, 1024), doctest::Contains("--levels must be a comma-separated list"), UsageError);
  CHECK_THROWS_WITH_AS(o.choice("mode", {"a", "b"}), doctest::Contains("--mode must be one of a, b, got 'c'"), UsageError);
  CHECK_THROWS_WITH_AS(o.color("bg"), doctest::Contains("--bg must be r,g,b in [0,1]"), UsageError);
  CHECK_THROWS_WITH_AS(o.boolean("on"), doctest::Contains("--on must be true or false"), UsageError);
  CHECK_THROWS_WITH_AS(o.uinteger("seed", ~0ull), doctest::Contains("--seed must be an integer in [0, "), UsageError);
  CHECK_THROWS_WITH_AS(o.integer("threads", 0, 1024), doctest::Contains("--threads"), ff::Error);
  o = table();
  CHECK(parse(o, {"--threads", "99999999999999999999999", "--fov", "nan"}));
  CHECK_THROWS_AS(o.integer("threads", 0, 1L << 62), ff::Error);  // overflow is refused, not clamped
  CHECK_THROWS_AS(o.number("fov", -1e300, 1e300), ff::Error);
}

TEST_CASE("Options: a bad command line is a UsageError (exit status 2) whose message has no source location") {
  Options o("usage", {{"fov", "30", "x"}});
  try {
    parse(o, {"--fov", "0"});
    (void)o.number("fov", 1, 179);
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()) == "--fov must be a number in [1, 179], got '0'");
    CHECK(exit_status(e) == 2);
  }
  CHECK(exit_status(ff::Error("cli.cpp:1: a failure of the work")) == 1);
  try {  // an FF_CHECK of a lower layer (train's config_set) about a command-line value
    const bool ok = false;
    FF_CHECK(ok, "option steps: expected an integer");
  } catch (const ff::Error& e) {
    const UsageError u = ff::apps::usage_error(e);
    CHECK(std::string(u.what()) == "option steps: expected an integer");
  }
  CHECK(std::string(ff::apps::usage_error(ff::Error("plain: text")).what()) == "plain: text");
  CHECK(exit_status(std::runtime_error("x")) == 1);
  try {
    FF_USAGE_CHECK(1 + 1 == 3, "--model is required (see --help)");
    FAIL("no error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()) == "--model is required (see --help)");
    CHECK(exit_status(e) == 2);
  }
}

TEST_CASE("Options: --help prints the table and parse returns false") {
  Options o = table();
  CHECK(!parse(o, {"--threads", "2", "--help", "--unknown"}));  // help stops parsing: the rest is not looked at
  o = table();
  CHECK(!parse(o, {"-h"}));
  CHECK_THROWS_AS(Options("usage", {{"a", "", "x"}, {"a", "", "y"}}), ff::Error);  // a name listed twice
}

TEST_CASE("Commands: argv[1] is the command, each command has its own table and help") {
  auto make = [] {
    return Commands("usage: prog <command>", {{"mesh", "write a mesh", Options("usage: prog mesh", {{"landmarks", "", "FILE"}})},
                                              {"sheet", "contact sheet",
                                               Options("usage: prog sheet", {{"landmarks", "", "draw them", true}})}});
  };
  Commands c = make();
  Argv m({"mesh", "--landmarks", "l.txt"});
  ff::apps::Command* cmd = c.parse(m.argc(), m.argv());
  REQUIRE(cmd);
  CHECK(cmd->name == "mesh");
  CHECK(cmd->options.str("landmarks") == "l.txt");

  c = make();
  Argv s({"sheet", "--landmarks"});
  cmd = c.parse(s.argc(), s.argv());
  REQUIRE(cmd);
  CHECK(cmd->name == "sheet");
  CHECK(cmd->options.flag("landmarks"));

  c = make();
  Argv sh({"sheet", "--help"});
  CHECK(c.parse(sh.argc(), sh.argv()) == nullptr);  // the command's help
  c = make();
  Argv h({"--help"});
  CHECK(c.parse(h.argc(), h.argv()) == nullptr);  // the program's help

  c = make();
  Argv u({"render", "--x", "1"});
  CHECK_THROWS_WITH_AS(c.parse(u.argc(), u.argv()), doctest::Contains("unknown command 'render' (mesh, sheet"), ff::Error);
  c = make();
  Argv none({});
  CHECK_THROWS_WITH_AS(c.parse(none.argc(), none.argv()), doctest::Contains("no command given"), ff::Error);
  c = make();
  Argv wrong({"mesh", "--landmarks"});  // a file option in mesh: needs a value
  CHECK_THROWS_WITH_AS(c.parse(wrong.argc(), wrong.argv()), doctest::Contains("option --landmarks needs a value"), ff::Error);
  c = make();
  Argv opt_first({"--landmarks", "x", "mesh"});
  CHECK_THROWS_WITH_AS(c.parse(opt_first.argc(), opt_first.argv()), doctest::Contains("unknown command '--landmarks'"),
                       ff::Error);
}

TEST_CASE("is_integer") {
  CHECK(ff::apps::is_integer("12"));
  CHECK(ff::apps::is_integer("-3"));
  CHECK(!ff::apps::is_integer("-"));
  CHECK(!ff::apps::is_integer(""));
  CHECK(!ff::apps::is_integer("1.5"));
}

TEST_CASE("--threads goes through the one thread-count check; out of memory names the step") {
  Argv a({"--threads", "100000"});
  Options o = table();
  REQUIRE(o.parse(a.argc(), a.argv()));
  CHECK_THROWS_WITH_AS(o.threads(), doctest::Contains("--threads must be an integer in [0, 1024]"), UsageError);
  Argv b({"--threads", "3"});
  Options p = table();
  REQUIRE(p.parse(b.argc(), b.argv()));
  CHECK(p.threads() == 3);

  const std::bad_alloc oom;
  CHECK(ff::apps::failure_message(oom).find("out of memory while running") == 0);
  {
    ff::apps::Step outer("reading model file 'm.ffck'");
    CHECK(ff::apps::failure_message(oom).find("out of memory while reading model file 'm.ffck'") == 0);
    {
      ff::apps::Step inner("reading code file 'fit.json'");
      CHECK(ff::apps::failure_message(oom).find("reading code file 'fit.json'") != std::string::npos);
    }
    CHECK(ff::apps::failure_message(oom).find("m.ffck") != std::string::npos);
  }
  CHECK(ff::apps::failure_message(std::runtime_error("plain")) == "plain");
}

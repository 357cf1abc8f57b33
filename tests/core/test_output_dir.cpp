// tests/core/test_output_dir.cpp — core/output_dir.h: a program's output folder appears complete or not at all,
// nothing the program did not write is deleted or overwritten, and SIGINT / SIGTERM leave no temporary folder.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "core/output_dir.h"
#include "core/check.h"

namespace fs = std::filesystem;
using ff::OutputDir;

namespace {
fs::path fresh_root(const std::string& name) {
  fs::path r = fs::temp_directory_path() / ("ff_test_output_dir_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(r);
  fs::create_directories(r);
  return r;
}
void touch(const fs::path& p, const std::string& text = "x") { std::ofstream(p) << text; }
std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST_CASE("OutputDir: written aside, renamed into place on commit; a trailing slash works") {
  const fs::path root = fresh_root("commit");
  const fs::path target = root / "frames";
  {
    OutputDir d(target.string() + "/", "render");
    CHECK(d.target() == target.string());
    CHECK(!fs::exists(target));  // nothing at the target until commit
    touch(fs::path(d.path()) / "frame_0000.png");
    d.commit();
  }
  CHECK(fs::exists(target / "frame_0000.png"));
  CHECK(fs::exists(target / OutputDir::marker_name("render")));
  // an earlier output of the same program is replaced as a whole
  {
    OutputDir d(target.string(), "render");
    touch(fs::path(d.path()) / "frame_0001.png");
    d.commit();
  }
  CHECK(!fs::exists(target / "frame_0000.png"));
  CHECK(fs::exists(target / "frame_0001.png"));
  // an empty folder is fine
  fs::create_directories(root / "empty");
  {
    OutputDir d((root / "empty").string(), "interpolate");
    d.commit();
  }
  CHECK(fs::exists(root / "empty" / OutputDir::marker_name("interpolate")));
  CHECK(std::distance(fs::directory_iterator(root), fs::directory_iterator()) == 2);  // no temporary left behind
  fs::remove_all(root);
}

TEST_CASE("OutputDir: a failure leaves nothing behind and never touches what it did not write") {
  const fs::path root = fresh_root("failure");
  const fs::path target = root / "out";
  try {
    OutputDir d(target.string(), "render");
    touch(fs::path(d.path()) / "frame_0000.png");
    throw std::runtime_error("render failed half-way");
  } catch (const std::runtime_error&) {
  }
  CHECK(!fs::exists(target));
  CHECK(fs::is_empty(root));
  // an earlier output survives a failed second run unchanged
  {
    OutputDir d(target.string(), "render");
    touch(fs::path(d.path()) / "frame_0000.png", "first");
    d.commit();
  }
  try {
    OutputDir d(target.string(), "render");
    touch(fs::path(d.path()) / "frame_0000.png", "second");
    throw std::runtime_error("fails");
  } catch (const std::runtime_error&) {
  }
  CHECK(slurp(target / "frame_0000.png") == "first");
  // a folder with the user's files, another program's output, or a file: refused, untouched
  const fs::path mine = root / "photos";
  fs::create_directories(mine);
  touch(mine / "holiday.jpg");
  CHECK_THROWS_WITH_AS(OutputDir(mine.string(), "render"), doctest::Contains("is not empty and is not an earlier output of render"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(OutputDir(target.string(), "interpolate"), doctest::Contains("refusing to write into"), ff::Error);
  touch(root / "a_file");
  CHECK_THROWS_WITH_AS(OutputDir((root / "a_file").string(), "render"), doctest::Contains("not a folder"), ff::Error);
  CHECK_THROWS_AS(OutputDir(".", "render"), ff::Error);
  CHECK(slurp(mine / "holiday.jpg") == "x");
  CHECK(std::distance(fs::directory_iterator(mine), fs::directory_iterator()) == 1);
  fs::remove_all(root);
}

TEST_CASE("OutputDir: the working folder, its parent and the root are refused; so is a folder holding the photo") {
  const fs::path root = fresh_root("refused");
  touch(root / "me.jpg");
  for (const std::string& t : {std::string("."), std::string("./"), std::string(".."), std::string("/"),
                               (root / "sub" / "..").string(), fs::current_path().string()})
    CHECK_THROWS_AS(OutputDir(t, "fit_image"), ff::Error);
  // the folder holding the user's photo, with or without a trailing slash
  CHECK_THROWS_WITH_AS(OutputDir(root.string() + "/", "fit_image"), doctest::Contains("refusing to write into"), ff::Error);
  CHECK(slurp(root / "me.jpg") == "x");
  CHECK(std::distance(fs::directory_iterator(root), fs::directory_iterator()) == 1);  // no temporary left behind
  fs::remove_all(root);
}

namespace {
// Forks a child that opens an OutputDir on `target`, writes a file into it, tells the parent through a pipe, then
// waits; the parent sends `sig`. Returns the child's wait status.
int kill_while_writing(const fs::path& target, int sig) {
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    signal(SIGINT, SIG_DFL);  // as a program starts (doctest installs crash handlers of its own)
    signal(SIGTERM, SIG_DFL);
    try {
      OutputDir d(target.string(), "render");
      touch(fs::path(d.path()) / "frame_0000.png");
      char c = 'r';
      if (write(ready[1], &c, 1) != 1) _exit(3);
      for (int i = 0; i < 1000; ++i) usleep(10000);  // killed long before this ends
    } catch (...) {
      _exit(4);
    }
    _exit(5);
  }
  close(ready[1]);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  CHECK(fs::exists(target.string() + ".tmp." + std::to_string(pid)));  // the child is mid-way
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}
}  // namespace

TEST_CASE("OutputDir: SIGINT and SIGTERM remove the temporary folder and the process still dies of the signal") {
  const fs::path root = fresh_root("signal");
  for (int sig : {SIGINT, SIGTERM}) {
    const int status = kill_while_writing(root / "out", sig);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == sig);
    CHECK_MESSAGE(fs::is_empty(root), "signal ", sig, " left a temporary folder");
  }
  // an earlier output survives an interrupted second run unchanged
  {
    OutputDir d((root / "out").string(), "render");
    touch(fs::path(d.path()) / "frame_0000.png", "first");
    d.commit();
  }
  kill_while_writing(root / "out", SIGTERM);
  CHECK(slurp(root / "out" / "frame_0000.png") == "first");
  CHECK(std::distance(fs::directory_iterator(root), fs::directory_iterator()) == 1);
  fs::remove_all(root);
}

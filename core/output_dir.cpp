// core/output_dir.cpp — a program's output folder written aside and renamed into place (see output_dir.h).
#include "core/output_dir.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "core/check.h"

namespace fs = std::filesystem;

namespace ff {
namespace {

// ---- temporary folders removed on SIGINT / SIGTERM / SIGHUP ----
// The handler only write()s the signal number to a pipe (async-signal-safe); a watcher thread reads it, removes
// every registered temporary folder under the registry's lock (commit() renames under the same lock, so a folder
// is either renamed into place or removed, never half of each) and re-raises the signal with its default action.
constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};
std::mutex g_live_mu;
std::vector<std::string> g_live;  // uncommitted temporary folders of this process
int g_pipe[2] = {-1, -1};
pid_t g_watcher_pid = 0;          // the process whose watcher runs (a forked child starts its own)

void on_signal(int sig) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(sig);
  if (::write(g_pipe[1], &b, 1) < 0) {
  }
  errno = saved;
}

void watch_signals(int fd) {
  unsigned char b = 0;
  while (::read(fd, &b, 1) < 0 && errno == EINTR) {
  }
  const int sig = b;
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    for (const std::string& d : g_live) {
      std::error_code ec;
      for (int attempt = 0; attempt < 3 && fs::exists(fs::symlink_status(d, ec)); ++attempt) fs::remove_all(d, ec);
      std::fprintf(stderr, "\ninterrupted (signal %d): removed the unfinished output folder '%s'\n", sig, d.c_str());
    }
    g_live.clear();
    ::signal(sig, SIG_DFL);
    ::raise(sig);  // the default action ends the process, still holding the lock: nothing is renamed after this
  }
  ::_exit(128 + sig);
}

// Registers a temporary folder; installs the handlers and starts the watcher once per process.
void register_live(const std::string& tmp) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  if (g_watcher_pid != ::getpid() && ::pipe(g_pipe) == 0) {
    g_watcher_pid = ::getpid();
    for (int sig : kCleanupSignals) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        continue;  // ignored (nohup) or the program's own handler: left alone
      struct sigaction sa {};
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(sig, &sa, nullptr);
    }
    std::thread(watch_signals, g_pipe[0]).detach();
  }
  g_live.push_back(tmp);
}

void unregister_live_locked(const std::string& tmp) {
  g_live.erase(std::remove(g_live.begin(), g_live.end(), tmp), g_live.end());
}

// "absent", "empty", "ours" (an earlier output of `program`) or "foreign"
enum class TargetState { Absent, Empty, Ours, Foreign };

TargetState target_state(const fs::path& t, const std::string& program, std::string* why) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(t, ec);
  if (ec || !fs::exists(st)) return TargetState::Absent;
  if (!fs::is_directory(st)) {
    *why = "it exists and is not a folder";
    return TargetState::Foreign;
  }
  if (fs::is_empty(t, ec) && !ec) return TargetState::Empty;
  if (fs::is_regular_file(t / OutputDir::marker_name(program), ec)) return TargetState::Ours;
  *why = "it is not empty and is not an earlier output of " + program + " (no " + OutputDir::marker_name(program) +
         " in it)";
  return TargetState::Foreign;
}

}  // namespace

OutputDir::OutputDir(const std::string& target, const std::string& program) : program_(program) {
  FF_CHECK(!target.empty(), program, ": the output folder is empty");
  fs::path t = fs::path(target).lexically_normal();
  if (t.filename().empty() && t.has_parent_path() && t != t.root_path()) t = t.parent_path();  // "out/" → "out"
  FF_CHECK(!t.empty() && t != "." && t != ".." && t.filename() != ".." && t != t.root_path(), program,
           ": refusing output folder '", target, "': give a folder of its own");
  target_ = t.string();
  std::string why;
  FF_CHECK(target_state(t, program, &why) != TargetState::Foreign, program, ": refusing to write into '", target_,
           "': ", why, "; give a new folder");
  tmp_ = target_ + ".tmp." + std::to_string(getpid());
  std::error_code ec;
  FF_CHECK(!fs::exists(fs::symlink_status(tmp_, ec)), program, ": '", tmp_, "' exists already; remove it or give another folder");
  if (t.has_parent_path()) fs::create_directories(t.parent_path(), ec);
  FF_CHECK(fs::create_directory(tmp_, ec) && !ec, program, ": cannot create the output folder '", tmp_, "': ",
           ec ? ec.message() : "exists");
  register_live(tmp_);
  bool marked = false;
  {
    std::ofstream marker(fs::path(tmp_) / marker_name(program));
    marker << "written by facefield " << program << "; the whole folder is replaced when " << program
           << " writes here again\n";
    marker.close();
    marked = !marker.fail();
  }
  if (!marked) {
    {
      std::lock_guard<std::mutex> lock(g_live_mu);
      unregister_live_locked(tmp_);
    }
    fs::remove_all(tmp_, ec);  // the destructor does not run for a throwing constructor
    FF_THROW(program, ": cannot write into the output folder '", tmp_, "'");
  }
}

OutputDir::~OutputDir() {
  if (committed_) return;
  std::lock_guard<std::mutex> lock(g_live_mu);
  unregister_live_locked(tmp_);
  std::error_code ec;
  fs::remove_all(tmp_, ec);  // the temporary folder is ours alone
}

void OutputDir::commit() {
  FF_CHECK(!committed_, program_, ": output folder '", target_, "' committed twice");
  const fs::path t(target_);
  std::string why;
  const TargetState s = target_state(t, program_, &why);  // again: it may have changed while we worked
  FF_CHECK(s != TargetState::Foreign, program_, ": refusing to replace '", target_, "': ", why, "; the output is in '",
           tmp_, "'");
  std::error_code ec;
  std::string aside;
  std::unique_lock<std::mutex> lock(g_live_mu);  // a signal now waits until the folder is renamed (or not)
  if (s == TargetState::Empty) {
    fs::remove(t, ec);  // an empty folder: nothing is lost
  } else if (s == TargetState::Ours) {
    aside = target_ + ".old." + std::to_string(getpid());
    fs::rename(t, aside, ec);
    FF_CHECK(!ec, program_, ": cannot move the earlier output '", target_, "' aside: ", ec.message());
  }
  fs::rename(tmp_, t, ec);
  if (ec) {
    std::error_code ec2;
    if (!aside.empty()) fs::rename(aside, t, ec2);  // put the earlier output back
    FF_THROW(program_, ": cannot rename '", tmp_, "' to '", target_, "': ", ec.message());
  }
  committed_ = true;
  unregister_live_locked(tmp_);
  lock.unlock();
  if (!aside.empty()) fs::remove_all(aside, ec);
}

}  // namespace ff

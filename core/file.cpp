// core/file.cpp — ff:: wrappers over the runtime's whole-file I/O (runtime/container.h).
#include "core/file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "runtime/container.h"

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  rethrow_as_ff([&] { ffrt::write_file(path, data, size); });
}

std::string read_file(const std::string& path) {
  return rethrow_as_ff([&] { return ffrt::read_file(path); });
}

namespace {
// true when no process with this PID exists on this host
bool pid_dead(long pid) { return pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH; }
}  // namespace

std::string host_name() {
  char h[256] = {0};
  if (::gethostname(h, sizeof h - 1) != 0 || !h[0]) return "?";
  return h;
}

std::vector<std::string> remove_stale_temp_files(const std::string& dir,
                                                 const std::function<bool(const std::string&)>& is_target) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return removed;
  std::vector<fs::path> stale;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    const size_t at = n.rfind(".tmp.");
    if (at == std::string::npos || at == 0) continue;
    const std::string pid = n.substr(at + 5);
    if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!is_target(n.substr(0, at)) || !pid_dead(std::stol(pid))) continue;
    stale.push_back(e.path());
  }
  for (auto& p : stale) {
    fs::remove_all(p, ec);
    if (!ec) removed.push_back(p.string());
  }
  return removed;
}

DirLock::DirLock(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  FF_CHECK(!ec, "cannot create folder '", dir, "': ", ec.message());
  path_ = (fs::path(dir) / ".lock").string();
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    FF_CHECK(fd >= 0, "cannot open lock file '", path_, "': ", std::strerror(errno));
    std::string held;  // what the file says (pid and host of its writer)
    {
      char buf[512];
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n > 0) held.assign(buf, size_t(n));
      while (!held.empty() && (held.back() == '\n' || held.back() == ' ')) held.pop_back();
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      FF_CHECK(err == EWOULDBLOCK, "cannot lock '", path_, "': ", std::strerror(err));
      long pid = 0;
      std::string host;
      std::istringstream(held) >> pid >> host;
      FF_THROW("folder '", dir, "' is in use by another run (PID ", pid > 0 ? std::to_string(pid) : "?", " on host ",
               host.empty() ? "?" : host, ", lock file '", path_, "'): wait for it to finish or use another folder");
    }
    // we hold the flock; make sure it is on the file that is at path_ now (a releasing holder unlinks it)
    struct stat a {}, b {};
    if (::fstat(fd, &a) != 0 || ::stat(path_.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      ::close(fd);
      continue;
    }
    if (!held.empty()) {  // a holder that died without releasing (kill -9, power loss): stale
      long pid = 0;
      std::string host;
      std::istringstream(held) >> pid >> host;
      taken_over_from_ = "PID " + (pid > 0 ? std::to_string(pid) : std::string("?")) + " on host " +
                         (host.empty() ? std::string("?") : host);
    }
    const std::string mine = std::to_string(long(::getpid())) + " " + host_name() + "\n";
    const bool ok = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, mine.data(), mine.size(), 0) == ssize_t(mine.size());
    if (!ok) {
      const int err = errno;
      ::close(fd);
      FF_THROW("cannot write lock file '", path_, "': ", std::strerror(err));
    }
    fd_ = fd;
    return;
  }
  FF_THROW("cannot take lock file '", path_, "': it keeps being replaced by other processes");
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding the flock: a waiter that opened the old file re-checks the inode
  ::close(fd_);
}

}  // namespace ff

// core/file.h — whole-file I/O shared by every layer's formats: the engine's names for the runtime's one
// implementation (runtime/container.h read_file / write_file), reporting ff::Error instead of ffrt::Error.
// write_file_atomic writes to "<path>.tmp.<pid>", flushes and fsyncs it, then renames it over `path`, so a
// reader (or a crash) never sees a half-written file; on failure the temp file is removed and ff::Error says why.
// rethrow_as_ff(f) runs f and turns an ffrt::Error it throws into an ff::Error with the same message (for engine
// code that calls the runtime's readers, e.g. tensor/io.cpp, train/checkpoint.cpp).
// remove_stale_temp_files removes what write_file_atomic (or a caller writing "<target>.tmp.<pid>" folders the
// same way) left behind when it was killed: only names "<target>.tmp.<digits>" whose target the caller accepts and
// whose PID is not a live process on this host; nothing else is touched.
// DirLock: one process at a time in a folder (an output folder of a run): "<dir>/.lock" holds "<pid> <host>\n" and
// a flock(2) for as long as the DirLock lives (released by the destructor, also on an exception, and by the kernel
// when the process dies, so a kill -9 leaves a stale file that the next DirLock detects and takes over, saying so).
//   ff::DirLock lock(out_dir);   // throws ff::Error naming the PID and host of the run that holds it
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "runtime/error.h"

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}
std::string read_file(const std::string& path);  // throws naming the file when it cannot be opened

template <class F>
auto rethrow_as_ff(F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const ffrt::Error& e) {
    FF_THROW(e.what());
  }
}

// Removes "<dir>/<target>.tmp.<pid>" files and folders with is_target(target) true and PID dead (this host);
// returns the removed paths. A missing dir removes nothing.
std::vector<std::string> remove_stale_temp_files(const std::string& dir,
                                                 const std::function<bool(const std::string&)>& is_target);

class DirLock {
 public:
  explicit DirLock(const std::string& dir);  // creates dir; throws naming the holder when another process has it
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  const std::string& path() const { return path_; }  // "<dir>/.lock"
  // "" or, when a dead process's lock file was taken over, "PID <pid> on host <host>"
  const std::string& taken_over_from() const { return taken_over_from_; }

 private:
  std::string path_, taken_over_from_;
  int fd_ = -1;
};

std::string host_name();  // this machine's host name ("?" when unknown)

}  // namespace ff

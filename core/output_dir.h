// core/output_dir.h — the one "output folder" of facefield's programs (render --orbit, interpolate, ffdata synth,
// fit_image): a folder appears at its path complete or not at all, and nothing the program did not write is ever
// deleted or overwritten. In core/ so that every layer's writers (train/fit/fit_image.cpp, apps/) share it.
//
//   ff::OutputDir out(o.str("out_dir"), "render");   // checks the target, creates "<target>.tmp.<pid>"
//   write frames into out.path() ...
//   out.commit();                                    // renames the temporary folder to the target
//
// Rules: the target (a trailing slash is fine) may be absent, an empty folder, or an earlier output of the same
// program, recognised by the marker file ".facefield-<program>" every OutputDir writes; anything else (a file, a
// folder with other contents, another program's output, ".", "..", "/") is refused up front with ff::Error naming
// the folder. Until commit() the work goes into a temporary sibling folder; destroying an OutputDir that was not
// committed (an error was thrown) removes that temporary folder and nothing else. commit() replaces an empty target
// or an earlier output of the same program (moved aside first, removed only after the new folder is in place).
// Signals: while an OutputDir is uncommitted, SIGINT, SIGTERM and SIGHUP (where their disposition was the default)
// remove its temporary folder before the process dies of the signal (the handler only writes to a pipe; a watcher
// thread does the removal, then re-raises the signal with the default action). kill -9 cannot be caught: its
// "<target>.tmp.<pid>" stays (core/file.h remove_stale_temp_files recognises such leftovers).
#pragma once
#include <string>

namespace ff {

class OutputDir {
 public:
  OutputDir(const std::string& target, const std::string& program);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  const std::string& path() const { return tmp_; }      // where to write until commit()
  const std::string& target() const { return target_; } // the folder the output ends up in (no trailing slash)
  void commit();

  static std::string marker_name(const std::string& program) { return ".facefield-" + program; }

 private:
  std::string target_, tmp_, program_;
  bool committed_ = false;
};

}  // namespace ff

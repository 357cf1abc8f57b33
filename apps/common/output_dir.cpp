// apps/common/output_dir.cpp — a program's output folder written aside and renamed into place (see output_dir.h).
#include "apps/common/output_dir.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "core/check.h"

namespace fs = std::filesystem;

namespace ff::apps {
namespace {

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
  if (t.filename().empty() && t.has_parent_path()) t = t.parent_path();  // "out/" → "out"
  FF_CHECK(!t.empty() && t != "." && t != "..", program, ": refusing output folder '", target,
           "': give a folder of its own");
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
  std::ofstream marker(fs::path(tmp_) / marker_name(program));
  marker << "written by facefield " << program << "; the whole folder is replaced when " << program
         << " writes here again\n";
  FF_CHECK(marker.good(), program, ": cannot write into the output folder '", tmp_, "'");
}

OutputDir::~OutputDir() {
  if (committed_) return;
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
  if (!aside.empty()) fs::remove_all(aside, ec);
}

}  // namespace ff::apps

// tests/train/test_run_reliability.cpp — training runs that neither crash, corrupt nor lose work
// (docs/reliability.md "Training runs"): out-of-range and non-finite values in files, option edges, the out_dir
// lock, resume fallback, leftovers of killed writes, metrics.csv after a resume.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "core/file.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/checkpoint.h"
#include "train/model_file.h"

using namespace ff;
namespace fs = std::filesystem;

namespace {
// a PID that is certainly dead: a child that has exited and been reaped
long dead_pid() {
  const pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  int st = 0;
  ::waitpid(p, &st, 0);
  return long(p);
}

void write_text(const std::string& path, const std::string& s) { write_file_atomic(path, s); }

// the checkpoint at `path` with `edit` applied to its read-back contents, written (valid checksum) to `out`
template <class F>
void rewrite_checkpoint(const std::string& path, const std::string& out, F edit) {
  Context ctx(0, 1);
  train::Checkpoint ck = train::read_checkpoint(ctx, path);
  edit(ck);
  train::write_checkpoint(out, ck);
}

// a finished tiny run of `steps` steps in `dir` (no evaluation fit), its config returned for the next run
train::TrainConfig finished_run(const std::string& dir, int64_t steps) {
  auto cfg = testing::tiny_train(dir);
  cfg.steps = steps;
  cfg.eval_fit_steps = 0;
  Context ctx(1, 2);
  train::Trainer a(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  a.run();
  return cfg;
}

int count_rows(const std::string& csv, const std::string& prefix) {
  int n = 0;
  size_t at = 0;
  while ((at = csv.find("\n" + prefix, at)) != std::string::npos) ++n, ++at;
  return n;
}
}  // namespace

TEST_CASE("reliability: a checkpoint with a negative step is refused on read; pairs_of_step refuses a negative step") {
  const std::string dir = testing::temp_dir("rel_step");
  train::Checkpoint ck;
  ck.step = -5;
  ck.config_json = "{}";
  const std::string path = dir + "/neg.ffck";
  train::write_checkpoint(path, ck);
  Context ctx(0, 1);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, path), doctest::Contains(("'" + path + "' holds step -5").c_str()), ff::Error);
  ck.step = std::numeric_limits<int64_t>::max();
  train::write_checkpoint(path, ck);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, path), doctest::Contains("holds step 9223372036854775807"), ff::Error);

  auto cfg = testing::tiny_train(dir);
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  CHECK_THROWS_WITH_AS(tr.pairs_of_step(-1), doctest::Contains("step -1 is negative"), ff::Error);
  CHECK(tr.pairs_of_step(0).size() == 1);
}

TEST_CASE("reliability: NaN parameters or a negative Adam step in a checkpoint are refused, naming tensor and file") {
  const std::string dir = testing::temp_dir("rel_nan");
  auto scene = testing::tiny_scene(2, 3);
  auto cfg = testing::tiny_train(dir);
  Context ctx(3, 2);
  train::Trainer tr(ctx, cfg, scene, nullptr);
  REQUIRE(tr.step().ok);
  const std::string good = dir + "/good.ffck", bad = dir + "/nan.ffck", badstep = dir + "/adamstep.ffck";
  tr.save_checkpoint(good);
  rewrite_checkpoint(good, bad, [](train::Checkpoint& ck) {
    for (auto& [n, t] : ck.tensors)
      if (n == "param/codes") t.data<float>()[1] = std::nanf("");
  });
  rewrite_checkpoint(good, badstep, [](train::Checkpoint& ck) {
    for (auto& [n, t] : ck.tensors)
      if (n.rfind("adam.step/", 0) == 0) t.data<int64_t>()[0] = -3;
  });
  // the engine's model reader (export, fit, runtime packs made from it)
  CHECK_NOTHROW(train::load_model_file(ctx, good));
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, bad),
                       doctest::Contains(("'" + bad + "': tensor 'codes' holds non-finite values").c_str()), ff::Error);
  // the trainer: refused before anything changes
  const std::vector<float> before = tr.model().codes.to_vector<float>();
  CHECK_THROWS_WITH_AS(tr.load_checkpoint(bad), doctest::Contains("tensor 'param/codes' holds non-finite values"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(tr.load_checkpoint(badstep), doctest::Contains("Adam step of"), ff::Error);
  CHECK(tr.model().codes.to_vector<float>() == before);
  CHECK(tr.current_step() == 1);
}

TEST_CASE("reliability: list_checkpoints ignores names whose number does not fit; resume latest still works") {
  const std::string dir = testing::temp_dir("rel_names");
  const std::string ck = dir + "/checkpoints";
  fs::create_directories(ck);
  for (const char* n : {"step_99999999999999999999.ffck", "step_1000000000000001.ffck", "step_.ffck", "step_12.ffck.bak"})
    write_text(ck + "/" + n, "x");
  CHECK(train::list_checkpoints(ck).empty());
  auto cfg = finished_run(dir, 2);
  CHECK(train::list_checkpoints(ck) == std::vector<std::string>{train::checkpoint_path(ck, 2)});
  cfg.resume = "latest";
  cfg.steps = 3;
  Context ctx2(1, 2);
  train::Trainer b(ctx2, cfg, testing::tiny_scene(2, 3), nullptr);
  CHECK_NOTHROW(b.run());
  CHECK(b.current_step() == 3);
  CHECK(fs::exists(ck + "/step_99999999999999999999.ffck"));  // not ours: never deleted
}

TEST_CASE("reliability: adam_eps 0 is refused; resuming with --steps below the checkpoint's step is refused") {
  train::TrainConfig c;
  CHECK_THROWS_WITH_AS(train::config_set(c, "adam_eps", "0"), doctest::Contains("option adam_eps: must be in (0, 1]"),
                       ff::Error);
  CHECK_NOTHROW(train::config_set(c, "adam_eps", "1e-15"));
  CHECK_NOTHROW(train::config_set(c, "adam_eps", "1"));

  auto cfg = finished_run(testing::temp_dir("rel_steps"), 3);
  cfg.resume = "latest";
  cfg.steps = 2;
  Context ctx2(1, 2);
  train::Trainer b(ctx2, cfg, testing::tiny_scene(2, 3), nullptr);
  CHECK_THROWS_WITH_AS(b.run(), doctest::Contains("is at step 3, past this run's total of 2 steps"), ff::Error);
}

TEST_CASE("reliability: one run per out_dir; a stale lock of a dead process is taken over") {
  const std::string dir = testing::temp_dir("rel_lock");
  {
    DirLock held(dir);
    CHECK(held.taken_over_from().empty());
    CHECK(read_file(dir + "/.lock") == std::to_string(long(::getpid())) + " " + host_name() + "\n");
    // a second lock (another open file: what another process gets) is refused, naming the holder
    CHECK_THROWS_WITH_AS(DirLock{dir},
                         doctest::Contains(("in use by another run (PID " + std::to_string(long(::getpid()))).c_str()),
                         ff::Error);
    auto cfg = testing::tiny_train(dir);
    Context ctx(1, 2);
    train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
    CHECK_THROWS_WITH_AS(tr.run(), doctest::Contains(("on host " + host_name()).c_str()), ff::Error);
    CHECK_FALSE(fs::exists(dir + "/config.json"));  // refused before writing anything
  }
  CHECK_FALSE(fs::exists(dir + "/.lock"));  // released
  // a kill -9 leaves the file without its flock: taken over, naming the dead holder
  const long dead = dead_pid();
  write_text(dir + "/.lock", std::to_string(dead) + " " + host_name() + "\n");
  {
    DirLock lock(dir);
    CHECK(lock.taken_over_from() == "PID " + std::to_string(dead) + " on host " + host_name());
  }
  // released on an exception too (RAII): a run that fails leaves no lock
  auto cfg = testing::tiny_train(dir);
  cfg.resume = dir + "/missing.ffck";
  Context ctx(1, 2);
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  CHECK_THROWS_AS(tr.run(), ff::Error);
  CHECK_FALSE(fs::exists(dir + "/.lock"));
}

TEST_CASE("reliability: resume latest skips a corrupt newest checkpoint; killed writes are cleaned; metrics.csv "
          "has no duplicate rows") {
  const std::string dir = testing::temp_dir("rel_resume");
  const std::string ck = dir + "/checkpoints";
  auto cfg = testing::tiny_train(dir);
  cfg.steps = 4;
  cfg.ckpt_every = 2;
  cfg.eval_every = 2;
  cfg.keep_ckpts = 0;
  cfg.eval_fit_steps = 0;
  auto scene = testing::tiny_scene(2, 3);
  {
    Context ctx(1, 2);
    train::Trainer a(ctx, cfg, scene, nullptr);
    a.run();
  }
  const std::string csv_full = read_file(dir + "/metrics.csv");
  REQUIRE(count_rows(csv_full, "2,") >= 1);
  REQUIRE(count_rows(csv_full, "4,") >= 1);
  // the newest checkpoint is cut short (a disk that filled up, a copy that broke off)
  const std::string newest = train::checkpoint_path(ck, 4);
  const std::string bytes = read_file(newest);
  write_text(newest, bytes.substr(0, bytes.size() / 2));
  // leftovers of writes killed mid-way, and files that are not this program's (or whose writer is alive): kept
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(long(::getpid()));
  for (const std::string& f : {ck + "/step_00000006.ffck.tmp." + dead, dir + "/metrics.csv.tmp." + dead,
                               ck + "/step_00000008.ffck.tmp." + alive, ck + "/notes.txt.tmp." + dead,
                               dir + "/mine.json.tmp." + dead})
    write_text(f, "partial");
  fs::create_directories(dir + "/point_cloud/iteration_4.tmp." + dead);
  write_text(dir + "/point_cloud/iteration_4.tmp." + dead + "/point_cloud.ply", "partial");

  cfg.resume = "latest";
  Context ctx(1, 2);
  train::Trainer b(ctx, cfg, scene, nullptr);
  b.run();
  CHECK(b.current_step() == 4);
  CHECK(b.loss_history().size() == 4);
  CHECK_FALSE(fs::exists(ck + "/step_00000006.ffck.tmp." + dead));
  CHECK_FALSE(fs::exists(dir + "/metrics.csv.tmp." + dead));
  CHECK_FALSE(fs::exists(dir + "/point_cloud/iteration_4.tmp." + dead));
  CHECK(fs::exists(ck + "/step_00000008.ffck.tmp." + alive));
  CHECK(fs::exists(ck + "/notes.txt.tmp." + dead));
  CHECK(fs::exists(dir + "/mine.json.tmp." + dead));
  // the newest checkpoint was rewritten by the resumed run and reads back; the export is complete
  CHECK_NOTHROW(train::read_checkpoint(ctx, newest));
  CHECK(fs::exists(dir + "/point_cloud/iteration_4/point_cloud.ply"));
  for (auto& e : fs::directory_iterator(dir + "/point_cloud"))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp.") == std::string::npos, e.path().string());
  // one evaluation per step in metrics.csv, as in the uninterrupted run
  const std::string csv = read_file(dir + "/metrics.csv");
  CHECK(count_rows(csv, "2,") == count_rows(csv_full, "2,"));
  CHECK(count_rows(csv, "4,") == count_rows(csv_full, "4,"));
  CHECK(csv.rfind("step,set,", 0) == 0);
  CHECK(count_rows(csv, "step,") == 0);  // one header

  // every checkpoint unreadable: refused, naming each one skipped
  for (const std::string& p : train::list_checkpoints(ck)) write_text(p, "not a checkpoint");
  Context ctx2(1, 2);
  train::Trainer c(ctx2, cfg, scene, nullptr);
  CHECK_THROWS_WITH_AS(c.run(), doctest::Contains(("no checkpoint in " + ck + " can be loaded").c_str()), ff::Error);
}

TEST_CASE("reliability: kill -9 during a run, then resume latest == the uninterrupted run, bit for bit (CPU)") {
  // one thread: the child is forked from this process, where OpenMP must not be used after a fork
  auto cfg = testing::tiny_train("");
  cfg.threads = 1;
  cfg.steps = 8;
  cfg.ckpt_every = 1;
  cfg.keep_ckpts = 2;
  cfg.eval_every = 4;
  cfg.eval_fit_steps = 0;
  auto scene = testing::tiny_scene(2, 3);
  auto final_state = [](const std::string& out) {
    Context ctx(0, 1);
    train::Checkpoint ck = train::read_checkpoint(ctx, train::checkpoint_path(out + "/checkpoints", 8));
    std::map<std::string, std::vector<uint8_t>> s;
    for (auto& [n, t] : ck.tensors) {
      const uint8_t* p = static_cast<const uint8_t*>(t.raw_data());
      if (n.rfind("param/", 0) == 0 || n.rfind("adam.", 0) == 0 || n == "train/losses")
        s[n].assign(p, p + size_t(t.numel()) * dtype_size(t.dtype()));
    }
    return std::make_pair(s, ck.rng_counter);
  };
  const std::string ref = testing::temp_dir("rel_kill_ref"), out = testing::temp_dir("rel_kill");
  {
    cfg.out_dir = ref;
    Context ctx(7, 1);
    train::Trainer t(ctx, cfg, scene, nullptr);
    t.run();
  }
  cfg.out_dir = out;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      Context ctx(7, 1);
      train::Trainer t(ctx, cfg, scene, nullptr);
      t.run();
    } catch (...) {
    }
    ::_exit(0);
  }
  // kill it once it has saved step 3: somewhere in a step, a checkpoint write, an export or an evaluation
  for (int i = 0; i < 3000; ++i) {
    auto all = train::list_checkpoints(out + "/checkpoints");
    if (!all.empty() && all.back() >= train::checkpoint_path(out + "/checkpoints", 3)) break;
    ::usleep(10000);
  }
  ::kill(child, SIGKILL);
  int st = 0;
  ::waitpid(child, &st, 0);
  cfg.resume = "latest";
  {
    Context ctx(7, 1);
    train::Trainer t(ctx, cfg, scene, nullptr);
    t.run();  // takes over the dead child's lock
    CHECK(t.current_step() == 8);
  }
  auto a = final_state(ref), b = final_state(out);
  CHECK(a.second == b.second);
  REQUIRE(a.first.size() == b.first.size());
  for (auto& [n, bytes] : a.first) CHECK_MESSAGE(b.first[n] == bytes, n, " differs after kill -9 + resume");
  const std::string csv_ref = read_file(ref + "/metrics.csv"), csv = read_file(out + "/metrics.csv");
  CHECK(count_rows(csv, "4,") == count_rows(csv_ref, "4,"));
  CHECK(count_rows(csv, "8,") == count_rows(csv_ref, "8,"));
  CHECK_FALSE(fs::exists(out + "/.lock"));
}

TEST_CASE("reliability: a diverging learning rate skips steps with overflowing scales (no renderer exception)") {
  auto cfg = testing::tiny_train(testing::temp_dir("rel_diverge"));
  cfg.lr_scale = 1000;  // inside its range; log-scales jump past exp's range after one step
  Context ctx(1, 2);
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  std::string failure;
  for (int i = 0; i < 4 && failure.empty(); ++i) {
    train::StepStats st;
    REQUIRE_NOTHROW(st = tr.step());
    if (!st.ok) failure = st.failure;
  }
  CHECK(failure.find("decoded scales (exp of log_scales)") != std::string::npos);
}

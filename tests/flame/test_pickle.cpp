// Restricted unpickler: opcodes, forbidden globals, refused opcodes, truncation, limits.
#include <chrono>

#include "flame/pickle.h"
#include "tests/flame/flame_test_util.h"

using namespace ff;
using ff::flame_test::throws_with;

template <size_t N>
static std::string B(const char (&s)[N]) {  // literal with embedded NULs
  return std::string(s, N - 1);
}

static pickle::Document P(const std::string& s, const pickle::Limits& l = {}) {
  return pickle::loads(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "test.pkl", l);
}

TEST_CASE("pickle: scalars, containers and memo (protocols 0-4 opcodes)") {
  // {'a': [1, -2, 3.5, True, None], b'k': (300, 70000, 'x'), 'big': 2**40} written with mixed opcodes
  std::string s = B("\x80\x02}q\x00(X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00\x88Ne") +
                  B("U\x01kM,\x01J\x70\x11\x01\x00\x8c\x01x\x87") + B("\x8c\x03" "big" "\x8a\x06\x00\x00\x00\x00\x00\x01") + "u.";
  auto d = P(s);
  REQUIRE(d.root->kind == pickle::Kind::Dict);
  const auto* a = d.root->get("a");
  REQUIRE(a);
  REQUIRE(a->items.size() == 5);
  CHECK(a->items[0]->i == 1);
  CHECK(a->items[1]->i == -2);
  CHECK(a->items[2]->f == 3.5);
  CHECK(a->items[3]->b);
  CHECK(a->items[4]->kind == pickle::Kind::None);
  const auto* k = d.root->get("k");  // bytes key matches too
  REQUIRE(k);
  CHECK(k->items[0]->i == 300);
  CHECK(k->items[1]->i == 70000);
  CHECK(k->items[2]->s == "x");
  CHECK(d.root->get("big")->i == (int64_t(1) << 40));
  // protocol 0 text opcodes
  auto t = P("(dp0\nS'na\\x41me'\np1\nI42\nsS'v'\nF1.25\nsS'l'\n(lp2\nL7L\naI01\nag1\nas.");
  CHECK(t.root->get("naAme")->i == 42);
  CHECK(t.root->get("v")->f == 1.25);
  CHECK(t.root->get("l")->items.size() == 3);
  CHECK(t.root->get("l")->items[2]->s == "naAme");  // memo GET
}

TEST_CASE("pickle: forbidden globals are refused by name, never executed") {
  CHECK(throws_with([] { P("cos\nsystem\n(S'echo pwned'\ntR."); }, {"test.pkl", "forbidden global 'os.system'"}));
  CHECK(throws_with([] { P("cposix\nsystem\n(S'x'\ntR."); }, {"'posix.system'"}));
  CHECK(throws_with([] { P("c__builtin__\neval\n(S'1'\ntR."); }, {"'__builtin__.eval'"}));
  // protocol 4 STACK_GLOBAL builtins.eval
  std::string s4 = B("\x80\x04\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93\x8c\x01" "1" "\x85R.");
  CHECK(throws_with([&] { P(s4); }, {"forbidden global 'builtins.eval'"}));
  CHECK(throws_with([] { P("csubprocess\nPopen\n)\x81."); }, {"'subprocess.Popen'"}));
  CHECK(throws_with([] { P("cnumpy\nload\n(S'x'\ntR."); }, {"'numpy.load'"}));
}

TEST_CASE("pickle: refused opcodes and persistent ids") {
  CHECK(throws_with([] { P("Pfoo\n."); }, {"PERSID"}));
  CHECK(throws_with([] { P("(S'x'\nQ."); }, {"BINPERSID"}));
  CHECK(throws_with([] { P("(ios\nsystem\nS'x'\n."); }, {"INST"}));
  CHECK(throws_with([] { P("\x82\x01."); }, {"EXT"}));
  CHECK(throws_with([] { P("\xff."); }, {"unknown or refused opcode 0xff"}));
  CHECK(throws_with([] { P("\x80\x06N."); }, {"unsupported protocol 6"}));
  // a torch storage persistent id is skipped, not fatal
  auto d = P(B("(X\x07\x00\x00\x00storageK\x01tQ."));
  CHECK(d.root->kind == pickle::Kind::Skipped);
}

TEST_CASE("pickle: malformed streams and limits") {
  CHECK(throws_with([] { P("N"); }, {"truncated"}));
  CHECK(throws_with([] { P("NN."); }, {"STOP with 2 values"}));
  CHECK(throws_with([] { P("a."); }, {"underflow"}));
  CHECK(throws_with([] { P("h\x05."); }, {"memo key 5"}));
  CHECK(throws_with([] { P("T\xff\xff\xff\x7f" "abc."); }, {"truncated"}));
  CHECK(throws_with([] { P("}K\x01K\x02K\x03u."); }, {"SETITEMS without MARK"}));
  pickle::Limits lim;
  lim.max_marks = 100;
  CHECK(throws_with([&] { P(std::string(1000, '(') + "N.", lim); }, {"too many nested MARKs"}));
  lim.max_objects = 50;
  std::string many = "]";
  for (int i = 0; i < 100; ++i) many += "Na";
  CHECK(throws_with([&] { P(many + ".", lim); }, {"more than 50 objects"}));
  // ragged nested lists (fuzzer regression: [[1], [[5, 6]]] once overflowed the flattened buffer)
  auto rag = P("(l(lI1\naa(l(lI5\naI6\naaa.");
  CHECK(throws_with([&] { pickle::to_array(rag.root, "rag"); }, {"ragged"}));
  auto ok = P("(l(lI1\naI2\naa(lI3\naI4\naa.");
  CHECK(pickle::to_array(ok.root, "ok").shape == std::vector<int64_t>{2, 2});
  // BUILD with the object's own state / a dict with itself (fuzzer regression: use-after-free while appending)
  auto selfb = P(B("cchumpy.ch\nCh\n)\x81q\x00}q\x01(U\x01" "aK\x01U\x01" "bK\x02ubh\x01" "b."));
  CHECK(selfb.root->get("a")->i == 1);
  auto selfd = P("(dp0\nS'k'\nI1\nsg0\nb.");
  CHECK(selfd.root->dict.size() == 2);
  // deep self-reference: a Ch whose x is itself is caught by the depth limit, not a stack overflow
  auto cyc = P(B("cchumpy.ch\nCh\n)\x81q\x00}(U\x01xh\x00ub."));
  CHECK(throws_with([&] { pickle::to_array(cyc.root, "cyc"); }, {"too deep"}));
}

TEST_CASE("pickle: every truncation of the real-layout fixtures is a clean error") {
  for (const char* f : {"flame_model_2020.pkl", "flame_masks.pkl", "flame_static_embedding.pkl"}) {
    auto b = npy::read_file_bytes(testing::fixture_path(f));
    int ok = 0, n = 0;
    for (size_t len = 0; len + 1 < b.size(); len += 3, ++n)
      ok += throws_with([&] { pickle::loads(b.data(), len, f); }, {f});
    CHECK(ok == n);
  }
}

TEST_CASE("pickle: numpy arrays, chumpy Ch, scipy csc, set, _codecs.encode") {
  auto d = pickle::load_file(testing::fixture_path("flame_model_2023_p2.pkl"));
  CHECK(d.protocol == 2);
  auto sd = pickle::to_array(d.root->get("shapedirs"), "shapedirs");  // chumpy Ch → x
  CHECK(sd.shape == std::vector<int64_t>{32, 3, 15});
  auto jr = pickle::to_array(d.root->get("J_regressor"), "J_regressor");  // csc → dense
  CHECK(jr.shape == std::vector<int64_t>{5, 32});
  const auto* ch = d.root->get("shapedirs");
  const auto* dv = ch->get("_dirty_vars");
  REQUIRE(dv);
  CHECK(dv->kind == pickle::Kind::Set);
  CHECK(pickle::as_string(d.root->get("bs_style"), "bs_style") == "lbs");
  // object npy with torch tensors inside: torch subtrees are Skipped
  auto e = pickle::load_object_npy(testing::fixture_path("flame_landmark_embedding_with_eyes.npy"));
  CHECK(e.root->get("dynamic_lmk_faces_idx")->kind == pickle::Kind::Skipped);
  CHECK(throws_with([&] { pickle::to_array(e.root->get("dynamic_lmk_faces_idx"), "dyn"); }, {"torch object"}));
  CHECK(pickle::to_array(e.root->get("full_lmk_faces_idx"), "full").shape == std::vector<int64_t>{1, 70});
}

TEST_CASE("pickle: a nested list built from shared sub-lists (exponential expansion) is refused at once") {
  // L0 = [1.0, 2.0]; Lk = [Lk-1, Lk-1] through the memo: 40 levels, 2^41 numbers from 41 lists (found by fuzzing)
  std::string s = "\x80\x02";
  s += "]q";
  s += char(0);
  s += "(K\x01K\x02";
  s += "e0";  // APPENDS, then POP (the list stays in the memo)
  for (int k = 1; k <= 40; ++k) {
    s += "]q";
    s += char(k);
    s += "(h";
    s += char(k - 1);
    s += "h";
    s += char(k - 1);
    s += k < 40 ? "e0" : "e";
  }
  s += ".";
  pickle::Document d = pickle::loads(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "dag.pkl");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(throws_with([&] { pickle::to_array(d.root, "dag.pkl", 64); }, {"shared sub-lists"}));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
}

// memo slot k (one byte): BINPUT / BINGET
static std::string memo_put(int k) { return std::string("q") + char(k); }
static std::string memo_get(int k) { return std::string("h") + char(k); }

// Protocol-2 prefix that leaves memo[0] = `leaf_list` (pickle of a list) and memo[k] = [memo[k-1]] * width for
// k = 1..levels, with an empty stack: 2 + levels * (width * 2 + 5) bytes for width^levels copies of the leaf list.
static std::string shared_lists(const std::string& leaf_list, int levels, int width) {
  std::string s = "\x80\x02" + leaf_list + memo_put(0) + "0";
  for (int k = 1; k <= levels; ++k) {
    s += "]" + memo_put(k) + "(";
    for (int i = 0; i < width; ++i) s += memo_get(k - 1);
    s += "e0";
  }
  return s;
}

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_CASE("pickle: a DAG of empty lists (no numbers, 2^30 lists) is measured once per distinct list") {
  // fuzz_pickle found 1,680 bytes that took 60 s under ASan: numbers were counted, lists expanded one by one
  std::string s = shared_lists("]", 30, 2) + memo_get(30) + ".";
  const auto t0 = std::chrono::steady_clock::now();
  pickle::Document d = P(s);
  npy::NdArray a = pickle::to_array(d.root, "empty.pkl");
  std::vector<int64_t> dims(30, 2);
  dims.push_back(0);
  CHECK(a.shape == dims);  // what numpy.array() gives
  CHECK(a.numel() == 0);
  CHECK(seconds_since(t0) < 1.0);
  // 200^9 empty lists: refused by their dims, before NdArray::numel() could overflow int64
  pickle::Document wide = P(shared_lists("]", 9, 200) + memo_get(9) + ".");
  CHECK(throws_with([&] { pickle::to_array(wide.root, "wide.pkl"); }, {"wide.pkl", "too many numbers"}));
  // a list that contains itself
  pickle::Document cyc = P(B("]q\x00h\x00" "a."));
  CHECK(throws_with([&] { pickle::to_array(cyc.root, "cyc.pkl"); }, {"cyc.pkl", "contains itself"}));
}

TEST_CASE("pickle: one shared budget per document bounds decoding the same sub-object again and again") {
  // x = 1; C1 = [x]; Ck = [Ck-1] to 30 levels; W = [C30] * 2000; then a dict of 250 keys all mapping to W: each
  // decode visits 62,001 nodes of a 5 KB file; 250 of them would be 15.5 M
  std::string s = "\x80\x02K\x01" + memo_put(0) + "0";
  for (int k = 1; k <= 30; ++k) s += "]" + memo_put(k) + memo_get(k - 1) + "a0";
  s += "]" + memo_put(31) + "(";
  for (int i = 0; i < 2000; ++i) s += memo_get(30);
  s += "e0}(";
  for (int i = 0; i < 250; ++i) s += "K" + std::string(1, char(i)) + memo_get(31);
  s += "u.";
  pickle::Document d = pickle::loads(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "repeat.pkl");
  REQUIRE(d.root->dict.size() == 250);
  const auto t0 = std::chrono::steady_clock::now();
  int decoded = 0, refused = 0;
  for (const auto& kv : d.root->dict) {
    try {
      const int64_t n = pickle::to_array(kv.second, "repeat.pkl:key").numel();
      CHECK(n == 2000);
      ++decoded;
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("'repeat.pkl'") != std::string::npos);
      CHECK(std::string(e.what()).find("decoded again and again") != std::string::npos);
      ++refused;
    }
  }
  CHECK(decoded >= 1);  // the budget is per document: the first decodes pass
  CHECK(refused >= 200);
  CHECK(d.work->left < d.work->total / 10);
  CHECK(seconds_since(t0) < 1.0);
}

TEST_CASE("pickle: parse-time copies through the memo are charged (a dict merged into itself, set(), torch names)") {
  // BUILD with the object's own state dict doubles it: 40 BUILDs in 152 bytes asked for 2^40 entries (out of memory)
  std::string s = B("\x80\x02" "cchumpy.ch\nCh\n)\x81q\x00}q\x01(U\x01" "aK\x01ub");
  for (int i = 0; i < 40; ++i) s += memo_get(1) + "b";
  s += ".";
  auto t0 = std::chrono::steady_clock::now();
  CHECK(throws_with([&] { pickle::loads(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "double.pkl"); },
                    {"'double.pkl'", "BUILD", "refused"}));
  CHECK(seconds_since(t0) < 1.0);
  // set(L) 2000 times for one list L of 3000 items: 6 M copies from 15 KB
  std::string t = "\x80\x02" "c__builtin__\nset\n" + memo_put(0) + "0]" + memo_put(1) + "(";
  for (int i = 0; i < 3000; ++i) t += "K\x07";
  t += "e0]" + memo_put(2) + "(";
  for (int i = 0; i < 2000; ++i) t += memo_get(0) + memo_get(1) + "\x85R";
  t += "e.";
  t0 = std::chrono::steady_clock::now();
  CHECK(throws_with([&] { pickle::loads(reinterpret_cast<const uint8_t*>(t.data()), t.size(), "sets.pkl"); },
                    {"'sets.pkl'", "set()", "refused"}));
  CHECK(seconds_since(t0) < 1.0);
  // a 10 KB torch module name named by STACK_GLOBAL and called 2000 times: 40 MB of name copies from 24 KB
  const std::string torch_name = "torch." + std::string(10000, 'x');
  std::string u = B("\x80\x04\x8c\x01n\x94X") + char(torch_name.size() & 0xff) + char(torch_name.size() >> 8) +
                  std::string(2, '\0') + torch_name + "\x94(";
  for (int i = 0; i < 2000; ++i) u += memo_get(1) + memo_get(0) + "\x93)R";
  u += "l.";
  t0 = std::chrono::steady_clock::now();
  CHECK(throws_with([&] { pickle::loads(reinterpret_cast<const uint8_t*>(u.data()), u.size(), "names.pkl"); },
                    {"'names.pkl'", "torch", "refused"}));
  CHECK(seconds_since(t0) < 1.0);
  // the structure itself is legal: with a larger budget the same file loads
  pickle::Limits roomy;
  roomy.work_base = uint64_t(1) << 23;
  CHECK(pickle::loads(reinterpret_cast<const uint8_t*>(t.data()), t.size(), "sets.pkl", roomy).root->items.size() ==
        2000);
}

TEST_CASE("pickle: decoding the real-layout FLAME fixtures costs about one unit of work per byte") {
  for (const std::string f : {"flame_model_2020.pkl", "flame_model_2023_p2.pkl", "flame_model_2023_p4.pkl",
                              "flame_masks.pkl", "flame_static_embedding.pkl"}) {
    pickle::Document d = pickle::load_file(testing::fixture_path(f));
    int arrays = 0;
    for (const std::string& k : d.root->keys()) {
      const pickle::Value* v = d.root->get(k);
      if (!pickle::is_array_like(v)) continue;
      pickle::to_array(v, f + ":" + k);
      ++arrays;
    }
    CAPTURE(f);
    CHECK(arrays >= 2);
    const uint64_t spent = d.work->total - d.work->left;
    MESSAGE(f << ": " << d.work->bytes << " bytes, " << arrays << " arrays, " << spent << " units of work");
    CHECK(spent <= 2 * d.work->bytes + 100000);
  }
}

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

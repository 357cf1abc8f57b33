// flame/pickle.cpp — see pickle.h. Nothing here ever calls into anything named by the pickle.
#include "flame/pickle.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace ff::pickle {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global";
    case Kind::Object: return "object";
    case Kind::Skipped: return "skipped";
  }
  return "?";
}

const Value* Value::get(const std::string& key) const {
  const Value* d = this;
  if (kind == Kind::Object && state && state->kind == Kind::Dict) d = state;
  if (d->kind != Kind::Dict) return nullptr;
  for (auto& [k, v] : d->dict)
    if (k->is_string() && k->s == key) return v;
  return nullptr;
}

std::vector<std::string> Value::keys() const {
  const Value* d = this;
  if (kind == Kind::Object && state && state->kind == Kind::Dict) d = state;
  std::vector<std::string> out;
  if (d->kind == Kind::Dict)
    for (auto& [k, v] : d->dict)
      if (k->is_string()) out.push_back(k->s);
  return out;
}

void WorkBudget::charge(uint64_t units, const std::string& what, const std::string& reason) {
  FF_CHECK(units <= left, "pickle '", name, "': ", what, ": ", reason, " needs ", units, " units of work, more than the ",
           left, " left of the ", total, " allowed for a ", bytes,
           "-byte file: it expands far beyond its size (sub-objects shared or decoded again and again), refused");
  left -= units;
}

std::string as_string(const Value* v, const std::string& what) {
  FF_CHECK(v && v->is_string(), what, ": expected a string, got ", v ? kind_name(v->kind) : "nothing");
  return v->s;
}

namespace {

// What an allowed global stands for. Stored in Value::i of Global nodes.
enum GlobalRole : int64_t {
  kReconstruct = 1,  // numpy ndarray reconstruction function
  kClass,            // a class instantiated by NEWOBJ/REDUCE and interpreted later (Value::s)
  kScalar,           // numpy.core.multiarray.scalar(dtype, bytes)
  kSet,
  kFrozenSet,
  kObject,           // builtins.object (base argument of copyreg._reconstructor)
  kReconstructor,    // copyreg._reconstructor(cls, base, state)
  kCodecsEncode,     // _codecs.encode(str, 'latin1') → bytes
  kOrderedDict,
  kTorch,            // any torch.* name: yields Skipped
};

struct Allowed {
  const char* module;
  const char* name;
  GlobalRole role;
  const char* canonical;  // class name used for Object nodes
};

const Allowed kAllowed[] = {
    {"numpy.core.multiarray", "_reconstruct", kReconstruct, "numpy.ndarray"},
    {"numpy._core.multiarray", "_reconstruct", kReconstruct, "numpy.ndarray"},
    {"numpy", "ndarray", kClass, "numpy.ndarray"},
    {"numpy", "dtype", kClass, "numpy.dtype"},
    {"numpy.core.multiarray", "scalar", kScalar, "numpy.scalar"},
    {"numpy._core.multiarray", "scalar", kScalar, "numpy.scalar"},
    {"scipy.sparse.csc", "csc_matrix", kClass, "scipy.sparse.csc_matrix"},
    {"scipy.sparse._csc", "csc_matrix", kClass, "scipy.sparse.csc_matrix"},
    {"scipy.sparse.csr", "csr_matrix", kClass, "scipy.sparse.csr_matrix"},
    {"scipy.sparse._csr", "csr_matrix", kClass, "scipy.sparse.csr_matrix"},
    {"chumpy.ch", "Ch", kClass, "chumpy.Ch"},
    {"chumpy.reordering", "Select", kClass, "chumpy.Select"},
    {"__builtin__", "set", kSet, "set"},
    {"builtins", "set", kSet, "set"},
    {"__builtin__", "frozenset", kFrozenSet, "frozenset"},
    {"builtins", "frozenset", kFrozenSet, "frozenset"},
    {"__builtin__", "object", kObject, "object"},
    {"builtins", "object", kObject, "object"},
    {"copy_reg", "_reconstructor", kReconstructor, "copyreg._reconstructor"},
    {"copyreg", "_reconstructor", kReconstructor, "copyreg._reconstructor"},
    {"_codecs", "encode", kCodecsEncode, "_codecs.encode"},
    {"collections", "OrderedDict", kOrderedDict, "collections.OrderedDict"},
};

struct Unpickler {
  const uint8_t* begin;
  const uint8_t* p;
  const uint8_t* end;
  const std::string& name;
  const Limits& lim;
  Document& doc;
  std::vector<Value*> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, Value*> memo;

  Unpickler(const uint8_t* d, size_t n, const std::string& nm, const Limits& l, Document& dc)
      : begin(d), p(d), end(d + n), name(nm), lim(l), doc(dc) {}

  Value* make(Kind k) {
    FF_CHECK(doc.arena.size() < lim.max_objects, "pickle '", name, "': more than ", lim.max_objects, " objects");
    doc.arena.emplace_back(std::make_unique<Value>());
    doc.arena.back()->kind = k;
    doc.arena.back()->work = doc.work.get();
    return doc.arena.back().get();
  }
  void need(size_t k, const char* op) {
    FF_CHECK(size_t(end - p) >= k, "pickle '", name, "': truncated stream in ", op);
  }
  uint64_t rdle(size_t k, const char* op) {
    need(k, op);
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) v |= uint64_t(p[i]) << (8 * i);
    p += k;
    return v;
  }
  std::string rdbytes(uint64_t k, const char* op) {
    FF_CHECK(k <= uint64_t(end - p), "pickle '", name, "': truncated stream in ", op, " (", k, " bytes declared, ",
             end - p, " left)");
    std::string s(reinterpret_cast<const char*>(p), size_t(k));
    p += k;
    return s;
  }
  std::string rdline(const char* op) {
    const uint8_t* q = static_cast<const uint8_t*>(std::memchr(p, '\n', size_t(end - p)));
    FF_CHECK(q, "pickle '", name, "': truncated stream in ", op, " (no newline)");
    std::string s(reinterpret_cast<const char*>(p), size_t(q - p));
    p = q + 1;
    return s;
  }
  void push(Value* v) {
    FF_CHECK(stack.size() < lim.max_stack, "pickle '", name, "': stack deeper than ", lim.max_stack);
    stack.push_back(v);
  }
  size_t floor() const { return marks.empty() ? 0 : marks.back(); }
  Value* pop(const char* op) {
    FF_CHECK(stack.size() > floor(), "pickle '", name, "': stack underflow in ", op);
    Value* v = stack.back();
    stack.pop_back();
    return v;
  }
  Value* top(const char* op) {
    FF_CHECK(stack.size() > floor(), "pickle '", name, "': stack underflow in ", op);
    return stack.back();
  }
  std::vector<Value*> pop_mark(const char* op) {
    FF_CHECK(!marks.empty(), "pickle '", name, "': ", op, " without MARK");
    size_t m = marks.back();
    marks.pop_back();
    std::vector<Value*> items(stack.begin() + long(m), stack.end());
    stack.resize(m);
    return items;
  }
  void put(uint64_t idx) {
    FF_CHECK(memo.size() < lim.max_memo || memo.count(idx), "pickle '", name, "': memo larger than ", lim.max_memo);
    memo[idx] = top("PUT");
  }
  Value* get(uint64_t idx) {
    auto it = memo.find(idx);
    FF_CHECK(it != memo.end(), "pickle '", name, "': memo key ", idx, " not found");
    return it->second;
  }
  Value* make_int(int64_t v) {
    Value* x = make(Kind::Int);
    x->i = v;
    return x;
  }
  Value* make_str(Kind k, std::string s) {
    Value* x = make(k);
    x->s = std::move(s);
    return x;
  }
  Value* make_tuple(std::vector<Value*> items) {
    Value* t = make(Kind::Tuple);
    t->items = std::move(items);
    return t;
  }

  Value* global(const std::string& module, const std::string& nm) {
    Value* g = make(Kind::Global);
    if (module == "torch" || module.rfind("torch.", 0) == 0) {
      g->i = kTorch;
      // STACK_GLOBAL can name one long memoised string again and again
      doc.work->charge(module.size() + nm.size(), "STACK_GLOBAL", "naming a torch global");
      g->s = module + "." + nm;
      return g;
    }
    for (const Allowed& a : kAllowed) {
      if (module == a.module && nm == a.name) {
        g->i = a.role;
        g->s = a.canonical;
        return g;
      }
    }
    FF_THROW("pickle '", name, "': forbidden global '", module, ".", nm,
             "' — only numpy arrays/dtypes, scipy.sparse csc/csr matrices, chumpy Ch/Select, set, "
             "copyreg._reconstructor, _codecs.encode, collections.OrderedDict and (skipped) torch objects are "
             "allowed; nothing is executed");
  }

  // iterable argument (list/tuple/set) → its items
  std::vector<Value*> iter_items(Value* v, const char* op) {
    if (v->kind == Kind::List || v->kind == Kind::Tuple || v->kind == Kind::Set) {
      doc.work->charge(v->items.size(), op, "copying the items of a list");  // the memo can pass one list again and again
      return v->items;
    }
    FF_THROW("pickle '", name, "': ", op, " expects a list/tuple/set argument, got ", kind_name(v->kind));
  }

  Value* reduce(Value* fn, Value* args) {
    if (fn->kind == Kind::Skipped) return fn;
    FF_CHECK(fn->kind == Kind::Global, "pickle '", name, "': REDUCE on a non-global callable (", kind_name(fn->kind),
             ") is not allowed");
    FF_CHECK(args->kind == Kind::Tuple, "pickle '", name, "': REDUCE arguments are not a tuple");
    switch (fn->i) {
      case kTorch: {
        Value* s = make(Kind::Skipped);
        doc.work->charge(fn->s.size(), "REDUCE", "naming a torch object");  // one long name, called again and again
        s->s = fn->s;
        return s;
      }
      case kReconstruct:
      case kClass:
      case kScalar: {
        Value* o = make(Kind::Object);
        o->s = fn->s;
        o->args = args;
        return o;
      }
      case kSet:
      case kFrozenSet: {
        Value* s = make(Kind::Set);
        if (!args->items.empty()) s->items = iter_items(args->items[0], "set()");
        return s;
      }
      case kOrderedDict: {
        Value* d = make(Kind::Dict);
        if (!args->items.empty()) {
          for (Value* kv : iter_items(args->items[0], "OrderedDict()")) {
            FF_CHECK((kv->kind == Kind::List || kv->kind == Kind::Tuple) && kv->items.size() == 2, "pickle '", name,
                     "': OrderedDict() item is not a pair");
            d->dict.emplace_back(kv->items[0], kv->items[1]);
          }
        }
        return d;
      }
      case kReconstructor: {
        FF_CHECK(args->items.size() == 3, "pickle '", name, "': copyreg._reconstructor expects 3 arguments");
        Value* cls = args->items[0];
        if (cls->kind == Kind::Global && cls->i == kTorch) return reduce(cls, make_tuple({}));
        FF_CHECK(cls->kind == Kind::Global && cls->i == kClass, "pickle '", name,
                 "': copyreg._reconstructor of a non-allowed class");
        Value* o = make(Kind::Object);
        o->s = cls->s;
        o->args = make_tuple({});
        return o;
      }
      case kCodecsEncode: {
        FF_CHECK(args->items.size() >= 1 && args->items[0]->kind == Kind::Str, "pickle '", name,
                 "': _codecs.encode expects a str");
        if (args->items.size() >= 2) {
          FF_CHECK(args->items[1]->is_string() && (args->items[1]->s == "latin1" || args->items[1]->s == "latin-1"),
                   "pickle '", name, "': _codecs.encode supports only latin1");
        }
        // UTF-8 code points 0..255 → bytes (what Python does for latin1)
        const std::string& u = args->items[0]->s;
        doc.work->charge(u.size(), "_codecs.encode", "encoding a string");  // the memo can pass one string again and again
        std::string out;
        out.reserve(u.size());
        for (size_t k = 0; k < u.size();) {
          uint8_t c = uint8_t(u[k]);
          if (c < 0x80) {
            out.push_back(char(c));
            ++k;
          } else if ((c & 0xe0) == 0xc0 && k + 1 < u.size()) {
            uint32_t cp = (uint32_t(c & 0x1f) << 6) | (uint8_t(u[k + 1]) & 0x3f);
            FF_CHECK(cp < 256, "pickle '", name, "': _codecs.encode: character U+", cp, " is not latin1");
            out.push_back(char(cp));
            k += 2;
          } else {
            FF_THROW("pickle '", name, "': _codecs.encode: non-latin1 text");
          }
        }
        return make_str(Kind::Bytes, std::move(out));
      }
      default:
        FF_THROW("pickle '", name, "': '", fn->s, "' cannot be called");
    }
  }

  Value* newobj(Value* cls, Value* args) {
    if (cls->kind == Kind::Skipped) return cls;
    FF_CHECK(cls->kind == Kind::Global, "pickle '", name, "': NEWOBJ on a non-class (", kind_name(cls->kind), ")");
    if (cls->i == kTorch || cls->i == kSet || cls->i == kFrozenSet || cls->i == kOrderedDict) return reduce(cls, args);
    FF_CHECK(cls->i == kClass, "pickle '", name, "': NEWOBJ of '", cls->s, "' is not allowed");
    FF_CHECK(args->kind == Kind::Tuple, "pickle '", name, "': NEWOBJ arguments are not a tuple");
    Value* o = make(Kind::Object);
    o->s = cls->s;
    o->args = args;
    return o;
  }

  void build(Value* obj, Value* st) {
    if (obj->kind == Kind::Skipped) return;
    if (obj->kind == Kind::Object) {
      if (obj->state && obj->state->kind == Kind::Dict && st->kind == Kind::Dict) {
        // merging a dict into itself doubles it: 40 such BUILDs in 150 bytes would ask for 2^40 entries
        doc.work->charge(st->dict.size(), "BUILD", "merging a state dict");
        auto items = st->dict;  // copy: st may be obj->state itself (fuzzer regression)
        obj->state->dict.insert(obj->state->dict.end(), items.begin(), items.end());
      } else {
        obj->state = st;
      }
      return;
    }
    if (obj->kind == Kind::Dict && st->kind == Kind::Dict) {
      doc.work->charge(st->dict.size(), "BUILD", "merging a dict");
      auto items = st->dict;  // copy: st may be obj itself
      obj->dict.insert(obj->dict.end(), items.begin(), items.end());
      return;
    }
    FF_THROW("pickle '", name, "': BUILD on a ", kind_name(obj->kind), " is not allowed");
  }

  void setitems(Value* d, const std::vector<Value*>& kv, const char* op) {
    FF_CHECK(kv.size() % 2 == 0, "pickle '", name, "': ", op, " with an odd number of items");
    if (d->kind == Kind::Skipped) return;
    FF_CHECK(d->kind == Kind::Dict, "pickle '", name, "': ", op, " on a ", kind_name(d->kind));
    for (size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
  }
  void appends(Value* l, const std::vector<Value*>& items, const char* op) {
    if (l->kind == Kind::Skipped) return;
    FF_CHECK(l->kind == Kind::List || l->kind == Kind::Set, "pickle '", name, "': ", op, " on a ", kind_name(l->kind));
    l->items.insert(l->items.end(), items.begin(), items.end());
  }

  static std::string unquote_py(const std::string& s, bool& ok) {
    ok = false;
    if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) return {};
    std::string out;
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      char c = s[i];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (++i + 1 > s.size() - 1) return {};
      char e = s[i];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'x': {
          if (i + 2 >= s.size() - 1) return {};  // two hex digits must precede the closing quote
          std::string h = s.substr(i + 1, 2);
          if (!std::isxdigit((unsigned char)h[0]) || !std::isxdigit((unsigned char)h[1])) return {};
          out.push_back(char(std::stoi(h, nullptr, 16)));
          i += 2;
          break;
        }
        default: return {};
      }
    }
    ok = true;
    return out;
  }

  int64_t parse_int_text(const std::string& t, const char* op) {
    std::string s = t;
    if (!s.empty() && s.back() == 'L') s.pop_back();
    FF_CHECK(!s.empty() && s.size() <= 19, "pickle '", name, "': bad integer '", t, "' in ", op);
    size_t k = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    FF_CHECK(k < s.size(), "pickle '", name, "': bad integer '", t, "' in ", op);
    for (size_t j = k; j < s.size(); ++j)
      FF_CHECK(std::isdigit((unsigned char)s[j]), "pickle '", name, "': bad integer '", t, "' in ", op);
    return std::stoll(s);
  }

  Value* run() {
    while (true) {
      need(1, "opcode");
      uint8_t op = *p++;
      switch (op) {
        case 0x80: {  // PROTO
          uint64_t v = rdle(1, "PROTO");
          FF_CHECK(v <= 5, "pickle '", name, "': unsupported protocol ", v);
          doc.protocol = int(v);
          break;
        }
        case 0x95: rdle(8, "FRAME"); break;
        case '.': {
          FF_CHECK(marks.empty() && stack.size() == 1, "pickle '", name, "': STOP with ", stack.size(),
                   " values on the stack and ", marks.size(), " open MARKs");
          return stack.back();
        }
        case '(':
          FF_CHECK(marks.size() < lim.max_marks, "pickle '", name, "': too many nested MARKs");
          marks.push_back(stack.size());
          break;
        case '0':
          if (stack.size() > floor()) stack.pop_back();
          else pop_mark("POP");
          break;
        case '1': pop_mark("POP_MARK"); break;
        case '2': push(top("DUP")); break;
        case 'q': put(rdle(1, "BINPUT")); break;
        case 'r': put(rdle(4, "LONG_BINPUT")); break;
        case 'p': put(uint64_t(parse_int_text(rdline("PUT"), "PUT"))); break;
        case 0x94: put(memo.size()); break;
        case 'h': push(get(rdle(1, "BINGET"))); break;
        case 'j': push(get(rdle(4, "LONG_BINGET"))); break;
        case 'g': push(get(uint64_t(parse_int_text(rdline("GET"), "GET")))); break;
        case 'c': {
          std::string m = rdline("GLOBAL");
          std::string n = rdline("GLOBAL");
          push(global(m, n));
          break;
        }
        case 0x93: {
          Value* n = pop("STACK_GLOBAL");
          Value* m = pop("STACK_GLOBAL");
          FF_CHECK(n->kind == Kind::Str && m->kind == Kind::Str, "pickle '", name, "': STACK_GLOBAL needs two strings");
          push(global(m->s, n->s));
          break;
        }
        case 'N': push(make(Kind::None)); break;
        case 0x88:
        case 0x89: {
          Value* v = make(Kind::Bool);
          v->b = op == 0x88;
          push(v);
          break;
        }
        case 'J': push(make_int(int32_t(uint32_t(rdle(4, "BININT"))))); break;
        case 'K': push(make_int(int64_t(rdle(1, "BININT1")))); break;
        case 'M': push(make_int(int64_t(rdle(2, "BININT2")))); break;
        case 0x8a:
        case 0x8b: {
          uint64_t n = op == 0x8a ? rdle(1, "LONG1") : rdle(4, "LONG4");
          FF_CHECK(n <= 8, "pickle '", name, "': integer wider than 64 bits (", n, " bytes)");
          uint64_t v = rdle(size_t(n), "LONG1");
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push(make_int(int64_t(v)));
          break;
        }
        case 'I': {
          std::string t = rdline("INT");
          if (t == "00" || t == "01") {
            Value* v = make(Kind::Bool);
            v->b = t == "01";
            push(v);
          } else {
            push(make_int(parse_int_text(t, "INT")));
          }
          break;
        }
        case 'L': push(make_int(parse_int_text(rdline("LONG"), "LONG"))); break;
        case 'F': {
          std::string t = rdline("FLOAT");
          char* e = nullptr;
          double d = std::strtod(t.c_str(), &e);
          FF_CHECK(!t.empty() && e && *e == 0, "pickle '", name, "': bad FLOAT '", t, "'");
          Value* v = make(Kind::Float);
          v->f = d;
          push(v);
          break;
        }
        case 'G': {
          need(8, "BINFLOAT");
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];
          p += 8;
          Value* v = make(Kind::Float);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'S': {
          bool ok;
          std::string s = unquote_py(rdline("STRING"), ok);
          FF_CHECK(ok, "pickle '", name, "': malformed STRING literal");
          push(make_str(Kind::Bytes, std::move(s)));
          break;
        }
        case 'T': push(make_str(Kind::Bytes, rdbytes(rdle(4, "BINSTRING"), "BINSTRING"))); break;
        case 'U': push(make_str(Kind::Bytes, rdbytes(rdle(1, "SHORT_BINSTRING"), "SHORT_BINSTRING"))); break;
        case 'V': push(make_str(Kind::Str, rdline("UNICODE"))); break;
        case 'X': push(make_str(Kind::Str, rdbytes(rdle(4, "BINUNICODE"), "BINUNICODE"))); break;
        case 0x8c: push(make_str(Kind::Str, rdbytes(rdle(1, "SHORT_BINUNICODE"), "SHORT_BINUNICODE"))); break;
        case 0x8d: push(make_str(Kind::Str, rdbytes(rdle(8, "BINUNICODE8"), "BINUNICODE8"))); break;
        case 'C': push(make_str(Kind::Bytes, rdbytes(rdle(1, "SHORT_BINBYTES"), "SHORT_BINBYTES"))); break;
        case 'B': push(make_str(Kind::Bytes, rdbytes(rdle(4, "BINBYTES"), "BINBYTES"))); break;
        case 0x8e: push(make_str(Kind::Bytes, rdbytes(rdle(8, "BINBYTES8"), "BINBYTES8"))); break;
        case 0x96: push(make_str(Kind::Bytes, rdbytes(rdle(8, "BYTEARRAY8"), "BYTEARRAY8"))); break;
        case ')': push(make_tuple({})); break;
        case 't': push(make_tuple(pop_mark("TUPLE"))); break;
        case 0x85:
        case 0x86:
        case 0x87: {
          size_t n = size_t(op - 0x84);
          FF_CHECK(stack.size() >= floor() + n, "pickle '", name, "': stack underflow in TUPLE", n);
          std::vector<Value*> items(stack.end() - long(n), stack.end());
          stack.resize(stack.size() - n);
          push(make_tuple(std::move(items)));
          break;
        }
        case ']': push(make(Kind::List)); break;
        case 'l': {
          Value* l = make(Kind::List);
          l->items = pop_mark("LIST");
          push(l);
          break;
        }
        case 'a': {
          Value* v = pop("APPEND");
          appends(top("APPEND"), {v}, "APPEND");
          break;
        }
        case 'e': {
          auto items = pop_mark("APPENDS");
          appends(top("APPENDS"), items, "APPENDS");
          break;
        }
        case '}': push(make(Kind::Dict)); break;
        case 'd': {
          auto items = pop_mark("DICT");
          Value* d = make(Kind::Dict);
          setitems(d, items, "DICT");
          push(d);
          break;
        }
        case 's': {
          Value* v = pop("SETITEM");
          Value* k = pop("SETITEM");
          setitems(top("SETITEM"), {k, v}, "SETITEM");
          break;
        }
        case 'u': {
          auto items = pop_mark("SETITEMS");
          setitems(top("SETITEMS"), items, "SETITEMS");
          break;
        }
        case 0x8f: push(make(Kind::Set)); break;
        case 0x90: {
          auto items = pop_mark("ADDITEMS");
          appends(top("ADDITEMS"), items, "ADDITEMS");
          break;
        }
        case 0x91: {
          Value* s = make(Kind::Set);
          s->items = pop_mark("FROZENSET");
          push(s);
          break;
        }
        case 'R': {
          Value* args = pop("REDUCE");
          Value* fn = pop("REDUCE");
          push(reduce(fn, args));
          break;
        }
        case 0x81: {
          Value* args = pop("NEWOBJ");
          Value* cls = pop("NEWOBJ");
          push(newobj(cls, args));
          break;
        }
        case 0x92: {
          Value* kwargs = pop("NEWOBJ_EX");
          Value* args = pop("NEWOBJ_EX");
          Value* cls = pop("NEWOBJ_EX");
          FF_CHECK(kwargs->kind == Kind::Dict && kwargs->dict.empty(), "pickle '", name,
                   "': NEWOBJ_EX with keyword arguments is not supported");
          push(newobj(cls, args));
          break;
        }
        case 'b': {
          Value* st = pop("BUILD");
          build(top("BUILD"), st);
          break;
        }
        case 'Q': {  // BINPERSID: only torch storages
          Value* pid = pop("BINPERSID");
          bool torch = pid->kind == Kind::Tuple && !pid->items.empty() && pid->items[0]->is_string() &&
                       pid->items[0]->s == "storage";
          FF_CHECK(torch, "pickle '", name, "': persistent ids (BINPERSID) are refused (only torch storages are skipped)");
          Value* s = make(Kind::Skipped);
          s->s = "torch storage";
          push(s);
          break;
        }
        case 'P': FF_THROW("pickle '", name, "': opcode PERSID is refused");
        case 'i': FF_THROW("pickle '", name, "': opcode INST is refused");
        case 'o': FF_THROW("pickle '", name, "': opcode OBJ is refused");
        case 0x82:
        case 0x83:
        case 0x84: FF_THROW("pickle '", name, "': extension-registry opcodes (EXT1/2/4) are refused");
        default:
          FF_THROW("pickle '", name, "': unknown or refused opcode 0x", std::hex, int(op), std::dec, " at byte ",
                   size_t(p - 1 - begin));
      }
    }
  }
};

// numpy dtype object → descr string like "<f8" ("|O" for objects).
std::string dtype_descr(const Value* dt, const std::string& what, WorkBudget& work) {
  FF_CHECK(dt && dt->kind == Kind::Object && dt->s == "numpy.dtype" && dt->args && !dt->args->items.empty(), what,
           ": array dtype is not a numpy.dtype");
  work.charge(dt->args->items[0]->s.size() + 1, what, "reading a dtype");
  std::string code = as_string(dt->args->items[0], what + " (dtype)");
  char order = '|';
  if (dt->state && dt->state->kind == Kind::Tuple && dt->state->items.size() >= 2 && dt->state->items[1]->is_string() &&
      !dt->state->items[1]->s.empty())
    order = dt->state->items[1]->s[0];
  FF_CHECK(!code.empty(), what, ": empty dtype code");
  if (code[0] == 'O') return "|O";
  if (order == '=' ) order = '<';
  if (order == '|' && code.size() >= 2 && code.substr(1) != "1") order = '<';
  return std::string(1, order) + code;
}

npy::NdArray ndarray_from_reconstruct(const Value* v, const std::string& what, WorkBudget& work) {
  const Value* st = v->state;
  FF_CHECK(st && st->kind == Kind::Tuple && (st->items.size() == 5 || st->items.size() == 4), what,
           ": numpy array without a (version, shape, dtype, fortran, data) state");
  size_t o = st->items.size() == 5 ? 1 : 0;
  const Value* shp = st->items[o];
  FF_CHECK(shp->kind == Kind::Tuple || shp->kind == Kind::List, what, ": array shape is not a tuple");
  work.charge(shp->items.size(), what, "reading an array shape");
  std::vector<int64_t> shape;
  for (const Value* d : shp->items) {
    FF_CHECK(d->kind == Kind::Int && d->i >= 0, what, ": bad array dimension");
    shape.push_back(d->i);
  }
  std::string descr = dtype_descr(st->items[o + 1], what, work);
  const Value* fort = st->items[o + 2];
  bool fortran = (fort->kind == Kind::Bool && fort->b) || (fort->kind == Kind::Int && fort->i != 0);
  const Value* data = st->items[o + 3];
  FF_CHECK(descr != "|O", what, ": object array where a numeric array was expected");
  FF_CHECK(data->is_string(), what, ": array data is not a byte string (", kind_name(data->kind), ")");
  const std::string& raw = data->s;
  work.charge(raw.size(), what, "decoding array data");
  return npy::from_raw(descr, shape, fortran, reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), what);
}

uint64_t saturating_mul(uint64_t a, uint64_t b) { return (a != 0 && b > UINT64_MAX / a) ? UINT64_MAX : a * b; }
uint64_t saturating_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

// Numbers an array of these dims holds. Dims whose product, zeros aside, passes 2^40 are refused: no file holds
// that much, and NdArray::numel() multiplies them in int64 (the product before a zero could overflow).
uint64_t count_of(const std::vector<int64_t>& dims, const std::string& what) {
  uint64_t n = 1, nonzero = 1;
  for (int64_t d : dims) {
    FF_CHECK(d >= 0, what, ": negative dimension in ", dims);
    if (d > 0) nonzero = saturating_mul(nonzero, uint64_t(d));
    FF_CHECK(nonzero <= (uint64_t(1) << 40), what, ": dimensions ", dims, " hold too many numbers");
    n *= uint64_t(d);
  }
  return n;
}

// The budget of a Value built by hand, outside any Document (Value::work is null).
WorkBudget own_budget(const std::string& what) {
  WorkBudget w;
  w.name = what;
  w.total = w.left = Limits{}.work_base;
  return w;
}

// v->get(key), charging the dict it scans (one state dict can be shared by any number of objects).
const Value* field(const Value* v, const char* key, WorkBudget& work, const std::string& what) {
  const Value* d = (v->kind == Kind::Object && v->state && v->state->kind == Kind::Dict) ? v->state : v;
  work.charge(d->dict.size() + 1, what, "looking up a field");
  return v->get(key);
}

// A nested list of numbers. The memo can make it a DAG (one sub-list referenced again and again: 2^40 numbers from
// 40 lists, or 2^40 empty lists from 40) or a cycle, so every distinct list is measured once (its dims are
// memoised) and the expansion, known from the dims, is charged before it is made: the cost is O(distinct lists +
// items + numbers produced), all of it charged to the document's WorkBudget. Lists are measured to kMeasureLevels
// so that a too-deep DAG is reported by its expansion, then refused beyond kMaxLevels.
struct NestedList {
  static constexpr size_t kMaxLevels = 31;      // lists above a number in an accepted array
  static constexpr size_t kMeasureLevels = 64;  // lists above a number that measure() follows
  const std::string& what;
  WorkBudget& work;
  std::unordered_map<const Value*, std::vector<int64_t>> dims_of;  // measured lists → their dims, outermost first
  std::unordered_set<const Value*> open;                           // lists being measured
  bool is_float = false;

  NestedList(const std::string& w, WorkBudget& wb) : what(w), work(wb) {}

  // Dims of v met `level` lists deep (none for a number). Throws on a ragged list, a non-number, nesting deeper
  // than kMeasureLevels and a list that contains itself.
  const std::vector<int64_t>& measure(const Value* v, size_t level) {
    static const std::vector<int64_t> kNumber;
    if (v->kind != Kind::List && v->kind != Kind::Tuple) {
      if (v->kind == Kind::Float) is_float = true;
      else FF_CHECK(v->kind == Kind::Int || v->kind == Kind::Bool, what, ": expected a number, got ", kind_name(v->kind));
      return kNumber;
    }
    auto it = dims_of.find(v);
    if (it == dims_of.end()) {
      FF_CHECK(level < kMeasureLevels, what, ": nesting too deep");
      FF_CHECK(open.insert(v).second, what, ": a nested list contains itself");
      work.charge(v->items.size() + 1, what, "measuring a nested list");
      std::vector<int64_t> dims{int64_t(v->items.size())};
      if (!v->items.empty()) {
        const std::vector<int64_t>& first = measure(v->items[0], level + 1);  // map nodes never move
        for (size_t k = 1; k < v->items.size(); ++k)
          FF_CHECK(measure(v->items[k], level + 1) == first, what, ": ragged nested list");
        dims.insert(dims.end(), first.begin(), first.end());
      }
      open.erase(v);
      it = dims_of.emplace(v, std::move(dims)).first;
    }
    FF_CHECK(level + it->second.size() <= kMeasureLevels, what, ": nesting too deep");
    return it->second;
  }

  // The numbers below a measured list, in C order.
  static void flatten(const Value* v, std::vector<double>& out) {
    if (v->kind == Kind::List || v->kind == Kind::Tuple) {
      for (const Value* x : v->items) flatten(x, out);
      return;
    }
    out.push_back(v->kind == Kind::Float ? v->f : v->kind == Kind::Bool ? (v->b ? 1.0 : 0.0) : double(v->i));
  }
};

}  // namespace

bool is_array_like(const Value* v) {
  if (!v) return false;
  if (v->kind == Kind::Object)
    return v->s == "numpy.ndarray" || v->s == "numpy.scalar" || v->s == "chumpy.Ch" || v->s == "chumpy.Select" ||
           v->s == "scipy.sparse.csc_matrix" || v->s == "scipy.sparse.csr_matrix";
  return v->kind == Kind::Int || v->kind == Kind::Float || v->kind == Kind::Bool || v->kind == Kind::List ||
         v->kind == Kind::Tuple;
}

namespace {

npy::NdArray to_array_in(const Value* v, const std::string& what, int max_depth, WorkBudget& work) {
  FF_CHECK(v, what, ": missing");
  FF_CHECK(max_depth > 0, what, ": object nesting too deep");
  work.charge(1, what, "decoding a value");
  if (v->kind == Kind::Skipped) FF_THROW(what, ": is a torch object (skipped by the reader)");
  if (v->kind == Kind::Object) {
    if (v->s == "numpy.ndarray") return ndarray_from_reconstruct(v, what, work);
    if (v->s == "numpy.scalar") {
      FF_CHECK(v->args && v->args->items.size() == 2, what, ": bad numpy scalar");
      const Value* dt = v->args->items[0];
      std::string descr = dtype_descr(dt, what, work);
      const Value* raw = v->args->items[1];
      FF_CHECK(raw->is_string(), what, ": numpy scalar data is not bytes");
      work.charge(raw->s.size(), what, "decoding a numpy scalar");
      return npy::from_raw(descr, {}, false, reinterpret_cast<const uint8_t*>(raw->s.data()), raw->s.size(), what);
    }
    if (v->s == "chumpy.Ch") {
      const Value* x = field(v, "x", work, what);
      FF_CHECK(x, what, ": chumpy Ch without an 'x' state field");
      return to_array_in(x, what, max_depth - 1, work);
    }
    if (v->s == "chumpy.Select") {
      const Value* a = field(v, "a", work, what);
      const Value* idxs = field(v, "idxs", work, what);
      const Value* ps = field(v, "preferred_shape", work, what);
      FF_CHECK(a && idxs, what, ": chumpy Select without 'a'/'idxs'");
      npy::NdArray base = to_array_in(a, what + ".a", max_depth - 1, work);
      npy::NdArray idx = to_array_in(idxs, what + ".idxs", max_depth - 1, work);
      std::vector<double> bv = base.to<double>();
      std::vector<int64_t> iv = idx.to<int64_t>();
      work.charge(iv.size(), what, "selecting from a chumpy array");
      std::vector<double> out(iv.size());
      for (size_t k = 0; k < iv.size(); ++k) {
        FF_CHECK(iv[k] >= 0 && iv[k] < int64_t(bv.size()), what, ": Select index ", iv[k], " out of range");
        out[k] = bv[size_t(iv[k])];
      }
      std::vector<int64_t> shape{int64_t(out.size())};
      if (ps && ps->kind != Kind::None) {
        npy::NdArray sh = to_array_in(ps, what + ".preferred_shape", max_depth - 1, work);
        shape = sh.to<int64_t>();
        FF_CHECK(count_of(shape, what + ".preferred_shape") == uint64_t(out.size()), what,
                 ": Select preferred_shape does not match its indices");
      }
      return npy::NdArray::from<double>(shape, out.data());
    }
    if (v->s == "scipy.sparse.csc_matrix" || v->s == "scipy.sparse.csr_matrix") {
      bool csc = v->s == "scipy.sparse.csc_matrix";
      const Value* shp = field(v, "_shape", work, what);
      if (!shp) shp = field(v, "shape", work, what);
      FF_CHECK(shp && shp->kind == Kind::Tuple && shp->items.size() == 2 && shp->items[0]->kind == Kind::Int &&
                   shp->items[1]->kind == Kind::Int,
               what, ": sparse matrix without a 2-D '_shape'");
      int64_t rows = shp->items[0]->i, cols = shp->items[1]->i;
      FF_CHECK(rows >= 0 && cols >= 0 && saturating_mul(uint64_t(rows), uint64_t(cols)) <= (uint64_t(1) << 28), what,
               ": sparse matrix shape (", rows, ", ", cols, ") too large to densify");
      work.charge(uint64_t(rows) * uint64_t(cols), what, "densifying a sparse matrix");
      auto need = [&](const char* k) {
        const Value* x = field(v, k, work, what);
        FF_CHECK(x, what, ": sparse matrix without '", k, "'");
        return to_array_in(x, what + "." + k, max_depth - 1, work);
      };
      std::vector<double> data = need("data").to<double>();
      std::vector<int64_t> indices = need("indices").to<int64_t>();
      std::vector<int64_t> indptr = need("indptr").to<int64_t>();
      int64_t major = csc ? cols : rows, minor = csc ? rows : cols;
      FF_CHECK(int64_t(indptr.size()) == major + 1, what, ": indptr has ", indptr.size(), " entries, expected ", major + 1);
      FF_CHECK(data.size() == indices.size(), what, ": data and indices lengths differ");
      std::vector<double> dense(size_t(rows * cols), 0.0);
      for (int64_t m = 0; m < major; ++m) {
        FF_CHECK(indptr[m] >= 0 && indptr[m] <= indptr[m + 1] && indptr[m + 1] <= int64_t(data.size()), what,
                 ": bad indptr");
        for (int64_t k = indptr[m]; k < indptr[m + 1]; ++k) {
          int64_t mi = indices[size_t(k)];
          FF_CHECK(mi >= 0 && mi < minor, what, ": sparse index ", mi, " out of range");
          int64_t r = csc ? mi : m, c = csc ? m : mi;
          dense[size_t(r * cols + c)] += data[size_t(k)];
        }
      }
      return npy::NdArray::from<double>({rows, cols}, dense.data());
    }
    FF_THROW(what, ": object of class '", v->s, "' is not an array");
  }
  if (v->kind == Kind::Int) return npy::NdArray::from<int64_t>({}, &v->i);
  if (v->kind == Kind::Float) return npy::NdArray::from<double>({}, &v->f);
  if (v->kind == Kind::Bool) return npy::NdArray::from<bool>({}, &v->b);
  if (v->kind == Kind::List || v->kind == Kind::Tuple) {
    NestedList list(what, work);
    const std::vector<int64_t> dims = list.measure(v, 0);
    uint64_t numbers = 1, nodes = 1;  // numbers produced, lists and numbers the expansion visits (saturating)
    for (int64_t d : dims) {
      numbers = saturating_mul(numbers, uint64_t(d));
      nodes = saturating_add(nodes, numbers);
    }
    work.charge(numbers == 0 ? 1 : nodes, what,
                "a nested list of " + std::to_string(numbers) + " numbers built from " +
                    std::to_string(list.dims_of.size()) + " distinct lists (shared sub-lists)");
    count_of(dims, what);  // an empty list below dims whose product overflows
    FF_CHECK(dims.size() <= NestedList::kMaxLevels, what, ": nesting too deep (", dims.size(), " levels of lists, at most ",
             NestedList::kMaxLevels, ")");
    std::vector<double> vals;
    if (numbers > 0) {
      vals.reserve(size_t(numbers));
      NestedList::flatten(v, vals);
    }
    if (list.is_float) return npy::NdArray::from<double>(dims, vals.data());
    std::vector<int64_t> iv(vals.begin(), vals.end());
    return npy::NdArray::from<int64_t>(dims, iv.data());
  }
  FF_THROW(what, ": expected an array, got ", kind_name(v->kind));
}

}  // namespace

npy::NdArray to_array(const Value* v, const std::string& what, int max_depth) {
  FF_CHECK(v, what, ": missing");
  if (v->work) return to_array_in(v, what, max_depth, *v->work);
  WorkBudget own = own_budget(what);
  return to_array_in(v, what, max_depth, own);
}

std::vector<const Value*> object_array_items(const Value* v, const std::string& what) {
  FF_CHECK(v && v->kind == Kind::Object && v->s == "numpy.ndarray", what, ": not a numpy array");
  const Value* st = v->state;
  FF_CHECK(st && st->kind == Kind::Tuple && (st->items.size() == 5 || st->items.size() == 4), what,
           ": numpy array without state");
  size_t o = st->items.size() == 5 ? 1 : 0;
  WorkBudget own = own_budget(what);
  WorkBudget& work = v->work ? *v->work : own;
  FF_CHECK(dtype_descr(st->items[o + 1], what, work) == "|O", what, ": not an object array");
  const Value* data = st->items[o + 3];
  FF_CHECK(data->kind == Kind::List, what, ": object array data is not a list");
  work.charge(data->items.size(), what, "listing the items of an object array");
  return std::vector<const Value*>(data->items.begin(), data->items.end());
}

Document loads(const uint8_t* data, size_t size, const std::string& name, const Limits& limits) {
  Document doc;
  doc.name = name;
  FF_CHECK(size > 0, "pickle '", name, "': empty file");
  doc.work = std::make_unique<WorkBudget>();
  doc.work->name = name;
  doc.work->bytes = size;
  const uint64_t per_byte_cap = limits.work_per_byte == 0 ? UINT64_MAX : UINT64_MAX / limits.work_per_byte;
  doc.work->total = std::min<uint64_t>(uint64_t(size), per_byte_cap) * limits.work_per_byte;
  doc.work->total = std::min<uint64_t>(doc.work->total, UINT64_MAX - limits.work_base) + limits.work_base;
  doc.work->left = doc.work->total;
  Unpickler u(data, size, name, limits, doc);
  doc.root = u.run();
  return doc;
}

Document load_file(const std::string& path, const Limits& limits) {
  auto b = npy::read_file_bytes(path);
  return loads(b.data(), b.size(), path, limits);
}

Document load_object_npy(const npy::NdArray& arr, const std::string& name, const Limits& limits) {
  FF_CHECK(arr.kind == 'O', "'", name, "': expected an object (allow_pickle) .npy, got dtype ", arr.dtype_str());
  Document doc = loads(arr.data.data(), arr.data.size(), name, limits);
  auto items = object_array_items(doc.root, name);
  FF_CHECK(items.size() == 1, "'", name, "': expected a 0-d object array holding one object, got ", items.size(), " items");
  doc.root = const_cast<Value*>(items[0]);
  return doc;
}

Document load_object_npy(const std::string& path, const Limits& limits) {
  npy::NdArray arr = npy::read_npy_file(path);
  return load_object_npy(arr, path, limits);
}

}  // namespace ff::pickle

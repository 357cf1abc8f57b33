// flame/pickle.h — a restricted, non-executing unpickler for the FLAME family of files.
//
// FLAME model/mask/embedding files are Python pickles (Python 2 for the official FLAME 2020/2023 pkls, read by
// Python 3 with encoding='latin1'). This reader rebuilds the pickled object graph as inert `Value` nodes and
// never executes anything: a GLOBAL is only a name, REDUCE/NEWOBJ/BUILD record (class, args, state) and are
// interpreted afterwards by to_array() for the handful of classes these files use.
//
// Opcodes: protocols 0–5 minus the unsafe ones — PROTO FRAME STOP MARK POP POP_MARK DUP (BIN|LONG_BIN)PUT
// MEMOIZE (BIN|LONG_BIN)GET GLOBAL STACK_GLOBAL NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1
// LONG4 (≤ 64-bit) FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING (Py2 str → bytes) UNICODE BINUNICODE
// SHORT_BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 EMPTY_TUPLE TUPLE TUPLE1-3
// EMPTY_LIST LIST APPEND APPENDS EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET REDUCE BUILD
// NEWOBJ NEWOBJ_EX. Refused: PERSID, INST, OBJ, EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER, unknown bytes.
// BINPERSID is accepted only for torch storages (a pid tuple starting with "storage") and yields a Skipped node.
//
// Allowed globals (anything else throws, naming the global):
//   numpy.core.multiarray._reconstruct, numpy._core.multiarray._reconstruct, numpy.ndarray, numpy.dtype,
//   numpy.core.multiarray.scalar, numpy._core.multiarray.scalar,
//   scipy.sparse.csc.csc_matrix, scipy.sparse._csc.csc_matrix (and the csr_matrix twins),
//   chumpy.ch.Ch, chumpy.reordering.Select,
//   __builtin__/builtins: set, frozenset, object; copy_reg._reconstructor, copyreg._reconstructor,
//   _codecs.encode (how Python 3 protocol-2 pickles write bytes; only latin1 is honoured),
//   collections.OrderedDict (a plain dict here),
//   torch.* — every torch object becomes an inert Skipped node (torch tensors nested in embedding files).
//
// Ownership: a Document owns every Value (an arena); Values point at each other with raw pointers, so cyclic
// graphs (possible through the memo) are fine and freed at once.
//
// Cost: reading a document — parsing it and every to_array()/object_array_items() on its Values, together — is
// O(input bytes). The memo lets a few bytes alias a sub-object any number of times (a list of lists of the same
// list, a state dict merged into itself, one array decoded from every key of a dict), so all of this work is
// charged to one WorkBudget per Document: Limits::work_per_byte units per input byte plus Limits::work_base. A unit
// is one value visited, copied or produced (one byte for raw array data). A document that needs more is refused
// with an ff::Error naming the file; a real FLAME file uses about one unit per byte.
//
//   auto doc = ff::pickle::load_file("FLAME_masks.pkl");
//   const ff::pickle::Value* face = doc.root->get("face");             // dict lookup (str or bytes keys)
//   ff::npy::NdArray idx = ff::pickle::to_array(face, "FLAME_masks.pkl:face");
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "flame/npy.h"

namespace ff::pickle {

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Set, Global, Object, Skipped };
const char* kind_name(Kind k);

// The work one Document may still cost (see "Cost" above), shared by the parser and every reader of its Values.
struct WorkBudget {
  std::string name;    // file name for messages
  uint64_t bytes = 0;  // input size
  uint64_t total = 0;  // units allowed: work_per_byte * bytes + work_base
  uint64_t left = 0;   // units not spent yet
  // Spend `units` on `what` (op or "file:key"), or throw ff::Error naming the file, `what` and `reason`.
  void charge(uint64_t units, const std::string& what, const std::string& reason);
};

struct Value {
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                 // Str (UTF-8), Bytes, Global/Object class "module.name"
  std::vector<Value*> items;                     // Tuple, List, Set
  std::vector<std::pair<Value*, Value*>> dict;   // Dict (insertion order)
  Value* args = nullptr;                         // Object: constructor/reduce arguments (a Tuple)
  Value* state = nullptr;                        // Object: BUILD state
  WorkBudget* work = nullptr;                    // the owning Document's budget (null: a Value built by hand)

  bool is_string() const { return kind == Kind::Str || kind == Kind::Bytes; }
  // Dict (or Object whose state is a dict): value for a str/bytes key, nullptr when absent.
  const Value* get(const std::string& key) const;
  std::vector<std::string> keys() const;  // string keys of a Dict (or Object state dict)
};

struct Limits {
  size_t max_stack = size_t(1) << 20;    // values on the stack
  size_t max_marks = size_t(1) << 16;    // nested MARKs
  size_t max_objects = size_t(1) << 24;  // Values created
  size_t max_memo = size_t(1) << 24;     // memo entries
  int max_depth = 64;                    // nesting followed by to_array()/get()
  uint64_t work_per_byte = 16;           // work units allowed per input byte (see "Cost" above)
  uint64_t work_base = uint64_t(1) << 20;  // plus this many for any file (a small file may densify a small matrix)
};

struct Document {
  std::string name;  // file name for messages
  std::vector<std::unique_ptr<Value>> arena;
  Value* root = nullptr;
  int protocol = 0;
  std::unique_ptr<WorkBudget> work;  // what reading this document may still cost; every Value points at it
};

// Parse a pickle stream. Throws ff::Error naming `name` on anything malformed or forbidden.
Document loads(const uint8_t* data, size_t size, const std::string& name, const Limits& limits = {});
Document load_file(const std::string& path, const Limits& limits = {});
// A 0-d object .npy (np.save(allow_pickle=True) of a dict): returns the pickled object array's single item
// (e.g. the dict) as the Document root.
Document load_object_npy(const std::string& path, const Limits& limits = {});
Document load_object_npy(const npy::NdArray& arr, const std::string& name, const Limits& limits = {});

// Interpret a node as a numeric array: numpy ndarray (_reconstruct + BUILD), numpy scalar, chumpy Ch
// (state['x']), chumpy Select (a.x.ravel()[idxs].reshape(preferred_shape)), scipy csc/csr matrix (densified,
// float64), nested lists/tuples of numbers, or a plain int/float/bool. `what` names the file and key.
// The work is charged to the node's document (Value::work; a hand-built node gets Limits{}.work_base).
npy::NdArray to_array(const Value* v, const std::string& what, int max_depth = 64);
// The items of a numpy object array (dtype 'O'), in C order.
std::vector<const Value*> object_array_items(const Value* v, const std::string& what);
// True when the node is something to_array() can decode.
bool is_array_like(const Value* v);
// String content of a Str/Bytes node (bytes as-is).
std::string as_string(const Value* v, const std::string& what);

}  // namespace ff::pickle

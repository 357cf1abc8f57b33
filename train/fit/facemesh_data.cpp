// train/fit/facemesh_data.cpp — the Face Mesh model (third_party/facemesh/facemesh.json and facemesh.bin, see
// third_party/facemesh/NOTICE) compiled into the library with the assembler's .incbin, so fit_image needs no model
// files at run time. FF_FACEMESH_DIR (an absolute path) comes from CMakeLists.txt, which also makes this file
// depend on the two files.
#include <cstddef>
#include <cstdint>

#ifndef FF_FACEMESH_DIR
#error "FF_FACEMESH_DIR must name third_party/facemesh (CMakeLists.txt sets it)"
#endif

// each blob is followed by its end label; .balign 16 keeps the float16 shard aligned
asm(".section .rodata\n"
    ".balign 16\n"
    ".global ff_facemesh_json_begin\n.hidden ff_facemesh_json_begin\nff_facemesh_json_begin:\n"
    ".incbin \"" FF_FACEMESH_DIR "/facemesh.json\"\n"
    ".global ff_facemesh_json_end\n.hidden ff_facemesh_json_end\nff_facemesh_json_end:\n"
    ".balign 16\n"
    ".global ff_facemesh_bin_begin\n.hidden ff_facemesh_bin_begin\nff_facemesh_bin_begin:\n"
    ".incbin \"" FF_FACEMESH_DIR "/facemesh.bin\"\n"
    ".global ff_facemesh_bin_end\n.hidden ff_facemesh_bin_end\nff_facemesh_bin_end:\n"
    ".previous\n");

extern "C" {
extern const uint8_t ff_facemesh_json_begin[], ff_facemesh_json_end[];
extern const uint8_t ff_facemesh_bin_begin[], ff_facemesh_bin_end[];
}

namespace ff::fit {
const uint8_t* facemesh_json_bytes(size_t* size) {
  *size = size_t(ff_facemesh_json_end - ff_facemesh_json_begin);
  return ff_facemesh_json_begin;
}
const uint8_t* facemesh_bin_bytes(size_t* size) {
  *size = size_t(ff_facemesh_bin_end - ff_facemesh_bin_begin);
  return ff_facemesh_bin_begin;
}
}  // namespace ff::fit

/* tests/python/render_reference.c — the C API's render of one identity or one code for a camera given on the command
 * line, as raw RGBA8 bytes: the reference the Python module's renders are compared with, bit for bit
 * (tests/python/test_facefield.py, ctest python/module). Plain C99 against libfacefield.
 *
 *   render_reference MODEL IDENTITY|CODE.f32 OUT.rgba W H FX FY CX CY V00 V01 … V33
 * CODE.f32: code_dim raw float32 values (decoded with the identities' mean positions). Numbers are read with strtof,
 * so a float32 printed with 9 significant digits arrives exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facefield.h"

#define CHECK(call)                                                                                           \
  do {                                                                                                        \
    ff_status s_ = (call);                                                                                    \
    if (s_ != FF_OK) {                                                                                        \
      fprintf(stderr, "render_reference: %s: %s: %s\n", #call, ff_status_name(s_), ff_last_error());         \
      return 1;                                                                                               \
    }                                                                                                         \
  } while (0)

int main(int argc, char** argv) {
  ff_model* m = NULL;
  ff_gaussians* g = NULL;
  ff_renderer* r = NULL;
  ff_model_info info;
  ff_camera cam;
  unsigned char* rgba;
  char* end = NULL;
  long identity;
  FILE* f;
  int k;
  if (argc != 4 + 6 + 16) {
    fprintf(stderr, "usage: render_reference MODEL IDENTITY|CODE.f32 OUT.rgba W H FX FY CX CY V00 … V33\n");
    return 2;
  }
  CHECK(ff_model_open(argv[1], 1, &m));
  CHECK(ff_model_get_info(m, &info));
  cam.width = atoi(argv[4]);
  cam.height = atoi(argv[5]);
  cam.fx = strtof(argv[6], NULL);
  cam.fy = strtof(argv[7], NULL);
  cam.cx = strtof(argv[8], NULL);
  cam.cy = strtof(argv[9], NULL);
  for (k = 0; k < 16; ++k) cam.viewmat[k] = strtof(argv[10 + k], NULL);
  identity = strtol(argv[2], &end, 10);
  if (*end == '\0') {
    CHECK(ff_decode_identity(m, (int)identity, &g));
  } else {
    float* code = malloc(sizeof(float) * (size_t)info.code_dim);
    f = fopen(argv[2], "rb");
    if (!code || !f || fread(code, sizeof(float), (size_t)info.code_dim, f) != (size_t)info.code_dim) {
      fprintf(stderr, "render_reference: cannot read %d floats from %s\n", info.code_dim, argv[2]);
      return 1;
    }
    fclose(f);
    CHECK(ff_decode_code(m, code, info.code_dim, NULL, 0, &g));
    free(code);
  }
  CHECK(ff_renderer_create(1, &r));
  rgba = malloc((size_t)cam.width * (size_t)cam.height * 4);
  if (!rgba) return 1;
  CHECK(ff_render(r, g, &cam, NULL, rgba, 0));
  f = fopen(argv[3], "wb");
  if (!f || fwrite(rgba, 1, (size_t)cam.width * (size_t)cam.height * 4, f) != (size_t)cam.width * (size_t)cam.height * 4) {
    fprintf(stderr, "render_reference: cannot write %s\n", argv[3]);
    return 1;
  }
  fclose(f);
  free(rgba);
  ff_renderer_free(r);
  ff_gaussians_free(g);
  ff_model_close(m);
  return 0;
}

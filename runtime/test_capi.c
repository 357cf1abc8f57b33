/* runtime/test_capi.c — C API tests in plain C (ctest runtime/capi): Gaussians in/out, .ply/.splat/.ffpk round
 * trips through the library, model open → decode → render, an analytic one-Gaussian render, determinism across
 * thread counts and concurrent renders, and error handling (bad files, truncated/corrupt/foreign/newer packs,
 * bad cameras, NULL pointers, out-of-range identities, decode without a generator), and the CUDA renderer
 * (parity with the CPU renderer where a device is present; UNSUPPORTED otherwise), and animation rigs (1.3: a rig
 * file written byte by byte as docs/rig.md describes, posed analytically, zero parameters bitwise, per-frame .ply,
 * truncated/foreign rig files refused). Built against both libraries:
 *   test_runtime_capi SCRATCH_DIR        (libfacefield, CPU)
 *   test_runtime_capi_cuda SCRATCH_DIR   (libfacefield_cuda, CUDA builds)
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facefield.h"

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                         \
  do {                                                                       \
    ++checks;                                                                \
    if (!(cond)) {                                                           \
      ++failures;                                                            \
      fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", __FILE__, __LINE__, #cond, ff_last_error()); \
    }                                                                        \
  } while (0)
#define EXPECT_STATUS(call, st) EXPECT((call) == (st))

static char dir[2048];
static const char* path(const char* name) {
  static char buf[4][2304];
  static int k = 0;
  k = (k + 1) & 3;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

/* a deterministic scene of n Gaussians in front of an identity camera */
typedef struct {
  int n;
  float *m, *s, *q, *o, *c;
} Scene;
static unsigned long long rng = 88172645463325252ULL;
static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (rng >> 11) * (1.0 / 9007199254740992.0);
}
static Scene make_scene(int n) {
  Scene s;
  int i;
  s.n = n;
  s.m = malloc(sizeof(float) * 3 * n), s.s = malloc(sizeof(float) * 3 * n), s.q = malloc(sizeof(float) * 4 * n);
  s.o = malloc(sizeof(float) * n), s.c = malloc(sizeof(float) * 3 * n);
  for (i = 0; i < n; ++i) {
    s.m[3 * i] = (float)(urand() * 0.4 - 0.2), s.m[3 * i + 1] = (float)(urand() * 0.4 - 0.2);
    s.m[3 * i + 2] = (float)(1.0 + urand() * 0.3);
    s.s[3 * i] = (float)(0.004 + 0.01 * urand()), s.s[3 * i + 1] = (float)(0.004 + 0.01 * urand());
    s.s[3 * i + 2] = (float)(0.002 + 0.004 * urand());
    s.q[4 * i] = (float)(urand() - 0.5), s.q[4 * i + 1] = (float)(urand() - 0.5);
    s.q[4 * i + 2] = (float)(urand() - 0.5), s.q[4 * i + 3] = (float)(urand() - 0.5) + 0.01f;
    s.o[i] = (float)(0.05 + 0.9 * urand());
    s.c[3 * i] = (float)urand(), s.c[3 * i + 1] = (float)urand(), s.c[3 * i + 2] = (float)urand();
  }
  return s;
}
static void free_scene(Scene* s) { free(s->m), free(s->s), free(s->q), free(s->o), free(s->c); }

static ff_camera camera(int w, int h) {
  ff_camera c;
  memset(&c, 0, sizeof c);
  c.viewmat[0] = c.viewmat[5] = c.viewmat[10] = c.viewmat[15] = 1;
  c.fx = c.fy = 1.4f * w;
  c.cx = w * 0.5f, c.cy = h * 0.5f;
  c.width = w, c.height = h;
  return c;
}

static int max_diff_u8(const unsigned char* a, const unsigned char* b, size_t n) {
  int m = 0;
  size_t i;
  for (i = 0; i < n; ++i) {
    int d = abs((int)a[i] - (int)b[i]);
    if (d > m) m = d;
  }
  return m;
}

static unsigned char* render(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam) {
  unsigned char* img = malloc((size_t)cam->width * cam->height * 4);
  ff_status s = ff_render(r, g, cam, NULL, img, 0);
  EXPECT(s == FF_OK);
  return img;
}

/* renders at a row pitch 12 bytes wider than 4·width: true when every row equals the unpadded render `ref` and
 * the padding bytes are untouched */
static int strided_render_matches(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam,
                                  const unsigned char* ref) {
  const size_t row_bytes = (size_t)cam->width * 4, stride = row_bytes + 12;
  unsigned char* p = malloc(stride * cam->height);
  int row, same = 1;
  memset(p, 0xAB, stride * cam->height);
  EXPECT_STATUS(ff_render(r, g, cam, NULL, p, stride), FF_OK);
  for (row = 0; row < cam->height; ++row) {
    same &= !memcmp(p + row * stride, ref + row * row_bytes, row_bytes);
    same &= p[row * stride + row_bytes] == 0xAB && p[row * stride + stride - 1] == 0xAB;
  }
  free(p);
  return same;
}

static long file_size(const char* p) {
  FILE* f = fopen(p, "rb");
  long n;
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fclose(f);
  return n;
}
static unsigned char* slurp(const char* p, long* n) {
  FILE* f = fopen(p, "rb");
  unsigned char* b;
  *n = file_size(p);
  if (!f || *n < 0) return NULL;
  b = malloc((size_t)*n + 1);
  if (fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
  fclose(f);
  return b;
}
static void spit(const char* p, const unsigned char* b, long n) {
  FILE* f = fopen(p, "wb");
  fwrite(b, 1, (size_t)n, f);
  fclose(f);
}

typedef struct {
  ff_renderer* r;
  const ff_gaussians* g;
  ff_camera cam;
  unsigned char* out;
  ff_status st;
} Job;
static void* job(void* p) {
  Job* j = (Job*)p;
  int k;
  for (k = 0; k < 5 && j->st == FF_OK; ++k) j->st = ff_render(j->r, j->g, &j->cam, NULL, j->out, 0);
  return NULL;
}

static void test_gaussians_and_formats(void) {
  Scene s = make_scene(500);
  ff_gaussians *g = NULL, *back = NULL;
  float *m2 = malloc(sizeof(float) * 3 * s.n), *s2 = malloc(sizeof(float) * 3 * s.n);
  float *q2 = malloc(sizeof(float) * 4 * s.n), *o2 = malloc(sizeof(float) * s.n), *c2 = malloc(sizeof(float) * 3 * s.n);
  int i, k, ok;
  double worst;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &g), FF_OK);
  EXPECT(ff_gaussians_count(g) == s.n);
  EXPECT_STATUS(ff_gaussians_read(g, m2, s2, q2, o2, c2), FF_OK);
  EXPECT(!memcmp(m2, s.m, sizeof(float) * 3 * s.n) && !memcmp(s2, s.s, sizeof(float) * 3 * s.n) &&
         !memcmp(o2, s.o, sizeof(float) * s.n));
  /* .ffpk: exact */
  EXPECT_STATUS(ff_gaussians_save(g, path("g.ffpk"), FF_FORMAT_PACK, 0), FF_OK);
  EXPECT_STATUS(ff_gaussians_load(path("g.ffpk"), &back), FF_OK);
  EXPECT(ff_gaussians_count(back) == s.n);
  ff_gaussians_read(back, m2, s2, q2, o2, c2);
  worst = 0;
  for (i = 0; i < 3 * s.n; ++i) {
    if (fabs(m2[i] - s.m[i]) > worst) worst = fabs(m2[i] - s.m[i]);
    if (fabs(s2[i] / s.s[i] - 1) > worst) worst = fabs(s2[i] / s.s[i] - 1);
    if (fabs(c2[i] - s.c[i]) > worst) worst = fabs(c2[i] - s.c[i]);
  }
  EXPECT(worst < 1e-6);
  ff_gaussians_free(back), back = NULL;
  /* .ply (degree 0 and 3): positions exact, scales/opacity/colour to float rounding, rotation normalised */
  for (k = 0; k < 2; ++k) {
    const char* p = k ? path("g3.ply") : path("g0.ply");
    EXPECT_STATUS(ff_gaussians_save(g, p, FF_FORMAT_PLY, k ? 3 : 0), FF_OK);
    EXPECT(file_size(p) > 0);
    EXPECT_STATUS(ff_gaussians_load(p, &back), FF_OK);
    EXPECT(ff_gaussians_count(back) == s.n);
    ff_gaussians_read(back, m2, s2, q2, o2, c2);
    ok = 1;
    for (i = 0; i < s.n; ++i) {
      double qn = sqrt(s.q[4 * i] * s.q[4 * i] + s.q[4 * i + 1] * s.q[4 * i + 1] + s.q[4 * i + 2] * s.q[4 * i + 2] +
                       s.q[4 * i + 3] * s.q[4 * i + 3]);
      int c;
      for (c = 0; c < 3; ++c) {
        ok &= m2[3 * i + c] == s.m[3 * i + c];
        ok &= fabs(s2[3 * i + c] / s.s[3 * i + c] - 1) < 1e-5;
        ok &= fabs(c2[3 * i + c] - s.c[3 * i + c]) < 1e-5;
      }
      for (c = 0; c < 4; ++c) ok &= fabs(q2[4 * i + c] - s.q[4 * i + c] / qn) < 1e-6;
      ok &= fabs(o2[i] - s.o[i]) < 1e-5;
    }
    EXPECT(ok);
    ff_gaussians_free(back), back = NULL;
  }
  EXPECT(file_size(path("g0.ply")) > 17 * 4 * s.n && file_size(path("g3.ply")) > 62 * 4 * s.n);
  /* 1.2: ff_gaussians_save_ply — y_down 0 is ff_gaussians_save's file; y_down 1 stores (x, −y, −z) and loads back */
  EXPECT_STATUS(ff_gaussians_save_ply(g, path("g3b.ply"), 3, 0), FF_OK);
  EXPECT(file_size(path("g3b.ply")) == file_size(path("g3.ply")));
  EXPECT_STATUS(ff_gaussians_save_ply(g, path("gd.ply"), 3, 1), FF_OK);
  EXPECT_STATUS(ff_gaussians_load(path("gd.ply"), &back), FF_OK);
  ff_gaussians_read(back, m2, s2, q2, o2, c2);
  ok = ff_gaussians_count(back) == s.n;
  for (i = 0; i < 3 * s.n; ++i) ok &= m2[i] == s.m[i];
  EXPECT(ok);
  ff_gaussians_free(back), back = NULL;
  EXPECT_STATUS(ff_gaussians_save_ply(g, path("x.ply"), 3, 2), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save_ply(g, path("x.ply"), 1, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save_ply(NULL, path("x.ply"), 3, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save_ply(g, NULL, 3, 0), FF_ERROR_INVALID_ARGUMENT);
  /* .splat: 32 bytes per Gaussian; u8 colour/opacity, q·128+128 */
  EXPECT_STATUS(ff_gaussians_save(g, path("g.splat"), FF_FORMAT_SPLAT, 0), FF_OK);
  EXPECT(file_size(path("g.splat")) == 32L * s.n);
  EXPECT_STATUS(ff_gaussians_load(path("g.splat"), &back), FF_OK);
  EXPECT(ff_gaussians_count(back) == s.n);
  ff_gaussians_free(back), back = NULL;
  free(m2), free(s2), free(q2), free(o2), free(c2);
  ff_gaussians_free(g);
  free_scene(&s);
}

static void test_render(void) {
  Scene s = make_scene(3000);
  ff_gaussians *g = NULL, *g2 = NULL;
  ff_renderer *r1 = NULL, *r3 = NULL;
  ff_model* m = NULL;
  ff_model_info info;
  ff_camera cam = camera(200, 150);
  unsigned char *a, *b;
  float *rgb, *alpha;
  int i, ok;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &g), FF_OK);
  EXPECT_STATUS(ff_renderer_create(1, &r1), FF_OK);
  EXPECT_STATUS(ff_renderer_create(3, &r3), FF_OK);
  a = render(r1, g, &cam);
  b = render(r3, g, &cam);
  EXPECT(max_diff_u8(a, b, (size_t)200 * 150 * 4) == 0); /* tiles are independent: thread count changes nothing */
  /* float output agrees with the u8 one */
  rgb = malloc(sizeof(float) * 3 * 200 * 150), alpha = malloc(sizeof(float) * 200 * 150);
  EXPECT_STATUS(ff_render_float(r3, g, &cam, NULL, rgb, alpha), FF_OK);
  ok = 1;
  for (i = 0; i < 200 * 150; ++i) {
    float v = rgb[i] < 0 ? 0 : rgb[i] > 1 ? 1 : rgb[i];
    ok &= abs((int)(v * 255 + 0.5f) - a[4 * i]) == 0;
    ok &= abs((int)(alpha[i] * 255 + 0.5f) - a[4 * i + 3]) == 0;
  }
  EXPECT(ok);
  /* stride: rows written at the given pitch, padding untouched */
  EXPECT(strided_render_matches(r3, g, &cam, a));
  /* model open of a pack of decoded Gaussians → identical render */
  EXPECT_STATUS(ff_gaussians_save(g, path("scene.ffpk"), FF_FORMAT_PACK, 0), FF_OK);
  EXPECT_STATUS(ff_model_open(path("scene.ffpk"), 2, &m), FF_OK);
  EXPECT_STATUS(ff_model_get_info(m, &info), FF_OK);
  EXPECT(info.num_identities == 1 && info.num_gaussians == s.n && info.has_generator == 0 && info.code_dim == 0);
  EXPECT_STATUS(ff_decode_identity(m, 0, &g2), FF_OK);
  free(b);
  b = render(r3, g2, &cam);
  EXPECT(max_diff_u8(a, b, (size_t)200 * 150 * 4) == 0);
  /* the same via memory */
  {
    long n;
    unsigned char* bytes = slurp(path("scene.ffpk"), &n);
    ff_model* mm = NULL;
    EXPECT_STATUS(ff_model_open_memory(bytes, (size_t)n, 1, &mm), FF_OK);
    ff_model_close(mm);
    free(bytes);
  }
  /* concurrent renders on one renderer (serialised) and on two renderers of one gaussians handle */
  {
    pthread_t th[3];
    Job j[3];
    int k;
    for (k = 0; k < 3; ++k) {
      j[k].r = k == 2 ? r1 : r3, j[k].g = g, j[k].cam = cam, j[k].st = FF_OK;
      j[k].out = malloc((size_t)200 * 150 * 4);
      pthread_create(&th[k], NULL, job, &j[k]);
    }
    for (k = 0; k < 3; ++k) {
      pthread_join(th[k], NULL);
      EXPECT(j[k].st == FF_OK);
      EXPECT(max_diff_u8(j[k].out, a, (size_t)200 * 150 * 4) == 0);
      free(j[k].out);
    }
  }
  /* .splat render stays close (quantised colour/opacity/rotation) */
  {
    ff_gaussians* gs = NULL;
    long diff = 0;
    EXPECT_STATUS(ff_gaussians_save(g, path("scene.splat"), FF_FORMAT_SPLAT, 0), FF_OK);
    EXPECT_STATUS(ff_gaussians_load(path("scene.splat"), &gs), FF_OK);
    free(b);
    b = render(r3, gs, &cam);
    for (i = 0; i < 200 * 150 * 4; ++i) diff += abs((int)a[i] - (int)b[i]);
    EXPECT((double)diff / (200 * 150 * 4) < 2.0); /* mean |Δ| under 2/255 */
    ff_gaussians_free(gs);
  }
  free(a), free(b), free(rgb), free(alpha);
  ff_gaussians_free(g), ff_gaussians_free(g2);
  ff_renderer_free(r1), ff_renderer_free(r3);
  ff_model_close(m);
  free_scene(&s);
}

/* one Gaussian centred on pixel (10, 7)'s centre: colour = α·c + (1 − α)·bg with α = min(0.99, o) */
static void test_analytic(void) {
  float mean[3] = {0, 0, 2}, sc[3] = {0.01f, 0.01f, 0.01f}, q[4] = {1, 0, 0, 0}, o = 0.6f, c[3] = {1.0f, 0.5f, 0.0f};
  float bg[3] = {0.0f, 0.0f, 1.0f};
  ff_camera cam = camera(21, 15);
  ff_gaussians* g = NULL;
  ff_renderer* r = NULL;
  unsigned char img[21 * 15 * 4];
  const unsigned char* p = img + (7 * 21 + 10) * 4;
  cam.cx = 10.5f, cam.cy = 7.5f;
  EXPECT_STATUS(ff_gaussians_create(1, mean, sc, q, &o, c, &g), FF_OK);
  EXPECT_STATUS(ff_renderer_create(1, &r), FF_OK);
  EXPECT_STATUS(ff_render(r, g, &cam, bg, img, 0), FF_OK);
  EXPECT(p[0] == (unsigned char)(0.6 * 255 + 0.5) && p[1] == (unsigned char)(0.3 * 255 + 0.5) && p[2] == 102 &&
         p[3] == 153);
  EXPECT(img[0] == 0 && img[2] == 255 && img[3] == 0); /* a far corner: background, alpha 0 */
  ff_gaussians_free(g);
  ff_renderer_free(r);
}

static void test_errors(void) {
  Scene s = make_scene(10);
  ff_gaussians* g = NULL;
  ff_gaussians* out = (ff_gaussians*)0x1; /* must stay untouched on failure */
  ff_model* m = (ff_model*)0x1;
  ff_renderer* r = NULL;
  ff_camera cam = camera(32, 32);
  unsigned char img[32 * 32 * 4];
  float code[4] = {0, 0, 0, 0}, xyz[30];
  int id = 0;
  float w = 1;
  char name[8];
  ff_model_info info;
  long n;
  unsigned char* bytes;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &g), FF_OK);
  EXPECT_STATUS(ff_renderer_create(2, &r), FF_OK);
  /* files */
  EXPECT_STATUS(ff_model_open(path("does_not_exist.ffpk"), 1, &m), FF_ERROR_IO);
  EXPECT(m == (ff_model*)0x1 && strstr(ff_last_error(), "does_not_exist") != NULL);
  spit(path("garbage.bin"), (const unsigned char*)"hello, this is not a model file at all", 38);
  EXPECT_STATUS(ff_model_open(path("garbage.bin"), 1, &m), FF_ERROR_FORMAT);
  EXPECT_STATUS(ff_gaussians_load(path("garbage.bin"), &out), FF_ERROR_FORMAT); /* 38 bytes: not .splat either */
  /* a text file of 64 bytes (a multiple of .splat's 32) is not read as .splat unless it is named *.splat */
  spit(path("notes.json"), (const unsigned char*)"{\"comment\": \"a JSON file of exactly sixty-four bytes.........\"}\n", 64);
  EXPECT_STATUS(ff_gaussians_load(path("notes.json"), &out), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "notes.json") != NULL && strstr(ff_last_error(), ".splat") != NULL);
  EXPECT_STATUS(ff_gaussians_save(g, path("e.ffpk"), FF_FORMAT_PACK, 0), FF_OK);
  bytes = slurp(path("e.ffpk"), &n);
  spit(path("trunc.ffpk"), bytes, n - 9); /* truncated */
  EXPECT_STATUS(ff_model_open(path("trunc.ffpk"), 1, &m), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "truncated") != NULL || strstr(ff_last_error(), "checksum") != NULL);
  spit(path("trunc2.ffpk"), bytes, 20);
  EXPECT_STATUS(ff_model_open(path("trunc2.ffpk"), 1, &m), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "truncated") != NULL);
  bytes[n / 2] ^= 0x5A; /* corrupt a payload byte */
  spit(path("corrupt.ffpk"), bytes, n);
  EXPECT_STATUS(ff_model_open(path("corrupt.ffpk"), 1, &m), FF_ERROR_FORMAT);
  bytes[n / 2] ^= 0x5A;
  bytes[8] = 99; /* newer version */
  spit(path("newer.ffpk"), bytes, n);
  EXPECT_STATUS(ff_model_open(path("newer.ffpk"), 1, &m), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "version") != NULL);
  free(bytes);
  spit(path("bad.ply"), (const unsigned char*)"ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\nend_header\n", 83);
  EXPECT_STATUS(ff_gaussians_load(path("bad.ply"), &out), FF_ERROR_FORMAT);
  EXPECT(out == (ff_gaussians*)0x1 && m == (ff_model*)0x1);
  /* cameras */
  cam.fx = 0;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32), cam.fy = -5;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32), cam.width = 0;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32), cam.height = 100000;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32), cam.viewmat[3] = (float)NAN;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32), cam.cx = (float)INFINITY;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  cam = camera(32, 32);
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 16), FF_ERROR_INVALID_ARGUMENT); /* stride < 4·width */
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_OK);
  /* everything behind the camera: background only */
  cam.viewmat[11] = -5;
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, img, 0), FF_OK);
  EXPECT(img[3] == 0 && img[4 * 500 + 3] == 0);
  /* NULL pointers */
  cam = camera(32, 32);
  EXPECT_STATUS(ff_model_open(NULL, 1, &m), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_open(path("e.ffpk"), 1, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_open_memory(NULL, 10, 1, &m), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_get_info(NULL, &info), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_identity_name(NULL, 0, name, sizeof name), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_get_code(NULL, 0, code, 4), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_get_positions(NULL, 0, xyz, 30), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_decode_identity(NULL, 0, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_decode_code(NULL, code, 4, NULL, 0, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_decode_mix(NULL, 1, &id, &w, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_create(s.n, NULL, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_load(NULL, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_read(NULL, NULL, NULL, NULL, NULL, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save(NULL, path("x.ply"), FF_FORMAT_PLY, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save(g, NULL, FF_FORMAT_PLY, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_renderer_create(1, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_render(NULL, g, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_render(r, NULL, &cam, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_render(r, g, NULL, NULL, img, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_render(r, g, &cam, NULL, NULL, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_render_float(r, g, &cam, NULL, NULL, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT(ff_gaussians_count(NULL) == 0);
  ff_model_close(NULL), ff_gaussians_free(NULL), ff_renderer_free(NULL); /* no-ops */
  EXPECT(strlen(ff_last_error()) > 0);
  EXPECT(!strcmp(ff_status_name(FF_ERROR_FORMAT), "FF_ERROR_FORMAT"));
  /* invalid values */
  s.q[0] = s.q[1] = s.q[2] = s.q[3] = 0;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  s.q[0] = 1, s.s[4] = -1;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  s.s[4] = 0.01f, s.m[7] = (float)NAN;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  s.m[7] = 0, s.o[3] = 1.5f;
  EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_create(-1, s.m, s.s, s.q, s.o, s.c, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT(out == (ff_gaussians*)0x1);
  EXPECT_STATUS(ff_gaussians_save(g, path("x.ply"), (ff_format)7, 0), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save(g, path("x.ply"), FF_FORMAT_PLY, 2), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_gaussians_save(g, "/nonexistent_dir/x.ply", FF_FORMAT_PLY, 0), FF_ERROR_IO);
  EXPECT_STATUS(ff_renderer_create(-2, &r), FF_ERROR_INVALID_ARGUMENT);
  /* a pack of decoded Gaussians has no generator and one identity */
  m = NULL;
  EXPECT_STATUS(ff_model_open(path("e.ffpk"), 1, &m), FF_OK);
  EXPECT_STATUS(ff_decode_code(m, code, 4, NULL, 0, &out), FF_ERROR_UNSUPPORTED);
  EXPECT_STATUS(ff_decode_mix(m, 1, &id, &w, &out), FF_ERROR_UNSUPPORTED);
  EXPECT_STATUS(ff_model_get_code(m, 0, code, 4), FF_ERROR_UNSUPPORTED);
  EXPECT_STATUS(ff_decode_identity(m, 1, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_decode_identity(m, -1, &out), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_get_positions(m, 0, xyz, 29), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_model_get_positions(m, 0, xyz, 30), FF_OK);
  EXPECT(xyz[0] == s.m[0] && xyz[29] == s.m[29]);
  EXPECT_STATUS(ff_model_identity_name(m, 0, name, sizeof name), FF_OK);
  EXPECT(out == (ff_gaussians*)0x1);
  ff_model_close(m);
  ff_gaussians_free(g);
  ff_renderer_free(r);
  free_scene(&s);
}

/* CUDA renderers. The CPU build, and the CUDA build on a machine without a usable device, answer
 * FF_ERROR_UNSUPPORTED (the second prints why it skips); with a device, the CUDA renderer agrees with the CPU one:
 * RGBA8 within 1/255 and float within 3e-3 (the CPU renderer's exp polynomial vs __expf), row strides, odd sizes,
 * a shifted principal point with a background, an empty set, two sets rendered alternately (upload cache). */
static void test_cuda(void) {
  ff_renderer *rc = NULL, *rcpu = NULL;
  const int built = strstr(ff_version(), "cuda") != NULL;
  const int ndev = ff_cuda_device_count();
  EXPECT_STATUS(ff_renderer_create_cuda(0, NULL), FF_ERROR_INVALID_ARGUMENT);
  if (!built) {
    EXPECT(ndev == 0);
    EXPECT_STATUS(ff_renderer_create_cuda(0, &rc), FF_ERROR_UNSUPPORTED);
    EXPECT(rc == NULL && strstr(ff_last_error(), "without CUDA") != NULL);
    return;
  }
  if (ndev == 0) {
    EXPECT_STATUS(ff_renderer_create_cuda(0, &rc), FF_ERROR_UNSUPPORTED);
    EXPECT(rc == NULL);
    printf("CUDA renderer checks skipped: no usable CUDA device (%s)\n", ff_last_error());
    return;
  }
  EXPECT_STATUS(ff_renderer_create_cuda(ndev, &rc), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_renderer_create_cuda(-1, &rc), FF_ERROR_INVALID_ARGUMENT);
  EXPECT(rc == NULL);
  EXPECT_STATUS(ff_renderer_create_cuda(0, &rc), FF_OK);
  EXPECT_STATUS(ff_renderer_create(2, &rcpu), FF_OK);
  {
    Scene s = make_scene(3000), s2 = make_scene(400);
    ff_gaussians *g = NULL, *g2 = NULL, *empty = NULL;
    ff_camera cams[3];
    const float bg[3] = {0.2f, 0.4f, 0.9f};
    int k;
    cams[0] = camera(200, 150);
    cams[1] = camera(37, 61);
    cams[2] = camera(128, 96);
    cams[2].cx += 17.0f, cams[2].cy -= 9.0f;
    EXPECT_STATUS(ff_gaussians_create(s.n, s.m, s.s, s.q, s.o, s.c, &g), FF_OK);
    EXPECT_STATUS(ff_gaussians_create(s2.n, s2.m, s2.s, s2.q, s2.o, s2.c, &g2), FF_OK);
    EXPECT_STATUS(ff_gaussians_create(0, NULL, NULL, NULL, NULL, NULL, &empty), FF_OK);
    for (k = 0; k < 3; ++k) {
      const ff_camera* cam = &cams[k];
      const size_t hw = (size_t)cam->width * cam->height;
      const float* b = k == 2 ? bg : NULL;
      unsigned char* a = malloc(hw * 4);
      unsigned char* c = malloc(hw * 4);
      float *fa = malloc(sizeof(float) * 4 * hw), *fc = malloc(sizeof(float) * 4 * hw);
      double worst = 0;
      size_t i;
      EXPECT_STATUS(ff_render(rcpu, g, cam, b, a, 0), FF_OK);
      EXPECT_STATUS(ff_render(rc, g, cam, b, c, 0), FF_OK);
      EXPECT(max_diff_u8(a, c, hw * 4) <= 1);
      EXPECT_STATUS(ff_render_float(rcpu, g, cam, b, fa, fa + 3 * hw), FF_OK);
      EXPECT_STATUS(ff_render_float(rc, g, cam, b, fc, fc + 3 * hw), FF_OK);
      for (i = 0; i < 4 * hw; ++i) worst = fmax(worst, fabs((double)fa[i] - fc[i]));
      EXPECT(worst <= 3e-3);
      /* another set in between, then the first again: the upload cache must follow the handle */
      EXPECT_STATUS(ff_render(rc, g2, cam, b, a, 0), FF_OK);
      EXPECT_STATUS(ff_render(rcpu, g2, cam, b, c, 0), FF_OK);
      EXPECT(max_diff_u8(a, c, hw * 4) <= 1);
      EXPECT_STATUS(ff_render(rc, g, cam, b, a, 0), FF_OK);
      EXPECT_STATUS(ff_render(rcpu, g, cam, b, c, 0), FF_OK);
      EXPECT(max_diff_u8(a, c, hw * 4) <= 1);
      free(a), free(c), free(fa), free(fc);
    }
    { /* stride: rows at the given pitch, padding untouched; empty set = background */
      unsigned char* p = malloc((size_t)128 * 96 * 4);
      unsigned char* a = malloc((size_t)200 * 150 * 4);
      EXPECT_STATUS(ff_render(rc, g, &cams[0], NULL, a, 0), FF_OK);
      EXPECT(strided_render_matches(rc, g, &cams[0], a));
      EXPECT_STATUS(ff_render(rc, empty, &cams[2], bg, a, 0), FF_OK);
      EXPECT_STATUS(ff_render(rcpu, empty, &cams[2], bg, p, 0), FF_OK);
      EXPECT(max_diff_u8(a, p, (size_t)128 * 96 * 4) <= 1);
      EXPECT(a[3] == 0 && a[4 * (128 * 96 - 1) + 3] == 0);
      free(p), free(a);
    }
    { /* bad camera and stride on the CUDA renderer */
      ff_camera bad = cams[0];
      unsigned char* a = malloc((size_t)200 * 150 * 4);
      bad.fx = 0;
      EXPECT_STATUS(ff_render(rc, g, &bad, NULL, a, 0), FF_ERROR_INVALID_ARGUMENT);
      EXPECT_STATUS(ff_render(rc, g, &cams[0], NULL, a, 100), FF_ERROR_INVALID_ARGUMENT);
      EXPECT_STATUS(ff_render(rc, g, &cams[0], NULL, a, 0), FF_OK); /* still usable */
      free(a);
    }
    ff_gaussians_free(g), ff_gaussians_free(g2), ff_gaussians_free(empty);
    free_scene(&s), free_scene(&s2);
  }
  ff_renderer_free(rc), ff_renderer_free(rcpu);
}

/* ---- rigs (1.3): a rig file written byte by byte as docs/rig.md describes ---- */
typedef struct {
  unsigned char* b;
  size_t n, cap;
  uint32_t count;
} Buf;
static void put(Buf* w, const void* p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2;
    w->b = realloc(w->b, w->cap);
  }
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void put_u32(Buf* w, uint32_t v) { put(w, &v, 4); }
static void put_u64(Buf* w, uint64_t v) { put(w, &v, 8); }
/* a record: dtype 0 f32, 2 i32, 4 u8; data of numel · 4 bytes (f32/i32) */
static void record(Buf* w, const char* name, int dtype, int rank, const int64_t* dims, const void* data) {
  uint64_t numel = 1;
  int k;
  put_u32(w, (uint32_t)strlen(name));
  put(w, name, strlen(name));
  put(w, &(unsigned char){(unsigned char)dtype}, 1);
  put_u32(w, (uint32_t)rank);
  for (k = 0; k < rank; ++k) put(w, &dims[k], 8), numel *= (uint64_t)dims[k];
  put_u64(w, numel * 4);
  put(w, data, (size_t)(numel * 4));
  ++w->count;
}
#define D(...) ((const int64_t[]){__VA_ARGS__})
/* The test rig: 4 vertices, 2 faces, 1 expression mode (moves vertex 2 by +1 cm in y), FLAME's 5 joints regressed
 * from single vertices, vertex 2 skinned to the jaw (joint 2, at vertex 1), the others to the neck; 3 Gaussians. */
static const float rig_neutral[12] = {0, 0, 1, 0.05f, 0, 1, 0, -0.05f, 1, -0.05f, 0.01f, 1};
static void write_rig(const char* p, int with_gaussians) {
  static const float expr[12] = {0, 0, 0, 0, 0, 0, 0, 0.01f, 0, 0, 0, 0};
  static const int32_t faces[6] = {0, 1, 2, 0, 2, 3}, parents[5] = {-1, 0, 1, 1, 1}, ids[4] = {0, 1, 2, 3};
  static const int32_t tri[9] = {0, 1, 2, 0, 2, 3, 2, 1, 0};
  static const float bary[9] = {0.2f, 0.3f, 0.5f, 0.6f, 0.2f, 0.2f, 1.f / 3, 1.f / 3, 1.f / 3};
  static const float means[9] = {0.01f, -0.015f, 1.002f, -0.02f, -0.01f, 0.999f, 0.015f, -0.016f, 1.001f};
  static const float ls[9] = {-5, -5.2f, -6, -5.1f, -5, -6.1f, -5.3f, -5.3f, -6};
  static const float rot[12] = {1, 0.1f, 0, 0, 0.9f, 0, 0.2f, 0.1f, 0.7f, 0.1f, 0.1f, 0.3f};
  static const float op[3] = {0.9f, 0.8f, 0.95f}, col[9] = {1, 0.2f, 0.1f, 0.1f, 0.9f, 0.2f, 0.3f, 0.3f, 1};
  float jreg[20] = {0}, w[20] = {0};
  const int32_t kind = 3;
  Buf b = {0};
  FILE* f;
  size_t count_at;
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i;
  jreg[0 * 4 + 3] = 1, jreg[1 * 4 + 0] = 1, jreg[2 * 4 + 1] = 1, jreg[3 * 4 + 3] = 1, jreg[4 * 4 + 3] = 1;
  for (i = 0; i < 4; ++i) w[i * 5 + (i == 2 ? 2 : 1)] = 1;
  put(&b, "FFPACK\r\n", 8);
  put_u32(&b, 2);
  put_u64(&b, 2);
  put(&b, "{}", 2);
  count_at = b.n;
  put_u32(&b, 0);
  record(&b, "pack/kind", 2, 1, D(1), &kind);
  record(&b, "rig/vertex_ids", 2, 1, D(4), ids);
  record(&b, "rig/neutral", 0, 2, D(4, 3), rig_neutral);
  record(&b, "rig/faces", 2, 2, D(2, 3), faces);
  record(&b, "rig/exprdirs", 0, 3, D(4, 3, 1), expr);
  record(&b, "rig/j_regressor", 0, 2, D(5, 4), jreg);
  record(&b, "rig/parents", 2, 1, D(5), parents);
  record(&b, "rig/lbs_weights", 0, 2, D(4, 5), w);
  record(&b, "rig/posedirs_vertices", 2, 1, D(0), ids);
  record(&b, "rig/posedirs", 0, 3, D(0, 3, 36), w);
  record(&b, "bind/tri", 2, 2, D(3, 3), tri);
  record(&b, "bind/bary", 0, 2, D(3, 3), bary);
  if (with_gaussians) {
    record(&b, "gaussians/means", 0, 2, D(3, 3), means);
    record(&b, "gaussians/log_scales", 0, 2, D(3, 3), ls);
    record(&b, "gaussians/rotations", 0, 2, D(3, 4), rot);
    record(&b, "gaussians/opacities", 0, 1, D(3), op);
    record(&b, "gaussians/colors", 0, 2, D(3, 3), col);
  }
  memcpy(b.b + count_at, &b.count, 4);
  for (i = 0; i < b.n; ++i) h = (h ^ b.b[i]) * 0x100000001b3ULL;
  put_u64(&b, h);
  f = fopen(p, "wb");
  fwrite(b.b, 1, b.n, f);
  fclose(f);
  free(b.b);
}

static void test_rig(void) {
  ff_rig* rig = NULL;
  ff_rig_info info;
  ff_gaussians *g0 = NULL, *g = NULL;
  ff_rig_params p;
  float v[12], m0[9], m[9], q0[12], q[12], s0[9], s[9], o[3], expr = 0.5f;
  int32_t faces[6];
  ff_renderer* r = NULL;
  ff_camera cam = camera(64, 64);
  unsigned char *a, *c;
  long n;
  unsigned char* bytes;
  ff_model* model = NULL;
  int i, k, same;
  write_rig(path("t.ffrig"), 1);
  EXPECT_STATUS(ff_rig_open(path("t.ffrig"), 2, &rig), FF_OK);
  if (!rig) return;
  EXPECT_STATUS(ff_rig_get_info(rig, &info), FF_OK);
  EXPECT(info.num_vertices == 4 && info.num_faces == 2 && info.num_expression == 1 && info.num_joints == 5);
  EXPECT(info.num_gaussians == 3 && info.has_gaussians == 1);
  EXPECT_STATUS(ff_rig_faces(rig, faces, 6), FF_OK);
  EXPECT(faces[3] == 0 && faces[4] == 2 && faces[5] == 3);
  EXPECT_STATUS(ff_rig_gaussians(rig, &g0), FF_OK);
  EXPECT_STATUS(ff_gaussians_read(g0, m0, s0, q0, NULL, NULL), FF_OK);
  /* zero parameters (NULL and a zero struct): the neutral Gaussians bit for bit */
  memset(&p, 0, sizeof p);
  EXPECT_STATUS(ff_rig_pose(rig, NULL, &p, &g), FF_OK);
  EXPECT_STATUS(ff_gaussians_read(g, m, s, q, NULL, NULL), FF_OK);
  EXPECT(memcmp(m, m0, sizeof m) == 0 && memcmp(s, s0, sizeof s) == 0 && memcmp(q, q0, sizeof q) == 0);
  ff_gaussians_free(g), g = NULL;
  EXPECT_STATUS(ff_rig_posed_vertices(rig, NULL, v, 12), FF_OK);
  EXPECT(memcmp(v, rig_neutral, sizeof v) == 0);
  /* expression 0.5: vertex 2 up by 5 mm, the others unchanged */
  p.expression = &expr, p.num_expression = 1;
  EXPECT_STATUS(ff_rig_posed_vertices(rig, &p, v, 12), FF_OK);
  EXPECT(fabsf(v[7] - (-0.05f + 0.005f)) < 1e-6f && v[6] == 0 && v[8] == 1);
  EXPECT(v[0] == 0 && v[1] == 0 && v[3] == 0.05f && v[9] == -0.05f);
  /* jaw 0.3 rad about x (joint at vertex 1): vertex 2 turns about (0.05, 0, 1) */
  p.num_expression = 0;
  p.pose[6] = 0.3f;
  EXPECT_STATUS(ff_rig_posed_vertices(rig, &p, v, 12), FF_OK);
  {
    const double d[3] = {0 - 0.05, -0.05, 0}, cs = cos(0.3), sn = sin(0.3);
    EXPECT(fabs(v[6] - (0.05 + d[0])) < 1e-5 && fabs(v[7] - (cs * d[1] - sn * d[2])) < 1e-5 &&
           fabs(v[8] - (1 + sn * d[1] + cs * d[2])) < 1e-5);
  }
  EXPECT(v[0] == 0 && v[1] == 0 && v[2] == 1 && v[9] == -0.05f);
  /* rigid translation: every Gaussian moves by t, rotations and scales unchanged */
  memset(&p, 0, sizeof p);
  p.translation[0] = 0.01f, p.translation[2] = -0.02f;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_OK);
  EXPECT_STATUS(ff_gaussians_read(g, m, s, q, o, NULL), FF_OK);
  same = 1;
  for (i = 0; i < 3; ++i)
    for (k = 0; k < 3; ++k) same &= fabsf(m[3 * i + k] - (m0[3 * i + k] + p.translation[k])) < 1e-6f;
  EXPECT(same);
  for (i = 0; i < 9; ++i) EXPECT(fabsf(s[i] - s0[i]) < 1e-6f * s0[i] * 10);
  EXPECT(o[0] == 0.9f && o[2] == 0.95f);
  /* a rotation turns the means about the origin */
  memset(&p, 0, sizeof p);
  p.rotation[0] = 1, p.rotation[5] = -1, p.rotation[7] = 1; /* 90° about x: (x, y, z) → (x, −z, y) */
  ff_gaussians_free(g), g = NULL;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_OK);
  EXPECT_STATUS(ff_gaussians_read(g, m, NULL, NULL, NULL, NULL), FF_OK);
  EXPECT(fabsf(m[0] - m0[0]) < 1e-6f && fabsf(m[1] + m0[2]) < 1e-6f && fabsf(m[2] - m0[1]) < 1e-6f);
  ff_gaussians_free(g), g = NULL;
  /* render: zero parameters exactly the static render; a jaw frame differs; a posed frame saves as .ply */
  EXPECT_STATUS(ff_renderer_create(1, &r), FF_OK);
  memset(&p, 0, sizeof p);
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_OK);
  a = render(r, g0, &cam), c = render(r, g, &cam);
  EXPECT(a && c && max_diff_u8(a, c, 64 * 64 * 4) == 0);
  free(c), ff_gaussians_free(g), g = NULL;
  p.pose[6] = 0.4f;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_OK);
  c = render(r, g, &cam);
  EXPECT(c && max_diff_u8(a, c, 64 * 64 * 4) > 0);
  if (ff_cuda_device_count() > 0) { /* CUDA library: posed on the host, rendered on the device like any set */
    ff_renderer* rc = NULL;
    unsigned char* d;
    EXPECT_STATUS(ff_renderer_create_cuda(0, &rc), FF_OK);
    d = rc ? render(rc, g, &cam) : NULL;
    EXPECT(d && max_diff_u8(c, d, 64 * 64 * 4) <= 1);
    free(d), ff_renderer_free(rc);
  }
  free(a), free(c);
  EXPECT_STATUS(ff_gaussians_save_ply(g, path("rig_frame_0001.ply"), 0, 0), FF_OK);
  ff_gaussians_free(g), g = NULL;
  EXPECT_STATUS(ff_gaussians_load(path("rig_frame_0001.ply"), &g), FF_OK);
  EXPECT(ff_gaussians_count(g) == 3);
  ff_gaussians_free(g), g = NULL;
  /* bad parameters */
  p.num_expression = 2, p.expression = &expr;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_ERROR_INVALID_ARGUMENT);
  p.num_expression = 0, p.pose[0] = NAN;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_ERROR_INVALID_ARGUMENT);
  memset(&p, 0, sizeof p);
  p.rotation[0] = 1, p.rotation[4] = 1, p.rotation[8] = -1;
  EXPECT_STATUS(ff_rig_pose(rig, g0, &p, &g), FF_ERROR_INVALID_ARGUMENT);
  EXPECT(g == NULL);
  EXPECT_STATUS(ff_rig_pose(rig, NULL, NULL, NULL), FF_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(ff_rig_posed_vertices(rig, NULL, v, 11), FF_ERROR_INVALID_ARGUMENT);
  {
    float m1[3] = {0, 0, 1}, s1[3] = {0.01f, 0.01f, 0.01f}, q1[4] = {1, 0, 0, 0}, o1 = 1, c1[3] = {1, 1, 1};
    ff_gaussians* one = NULL;
    EXPECT_STATUS(ff_gaussians_create(1, m1, s1, q1, &o1, c1, &one), FF_OK);
    EXPECT_STATUS(ff_rig_pose(rig, one, NULL, &g), FF_ERROR_INVALID_ARGUMENT); /* 1 Gaussian, 3 bound */
    ff_gaussians_free(one);
  }
  ff_rig_close(rig), rig = NULL;
  /* a rig without Gaussians: ff_rig_gaussians is UNSUPPORTED, posing the caller's works */
  write_rig(path("t_nog.ffrig"), 0);
  EXPECT_STATUS(ff_rig_open(path("t_nog.ffrig"), 1, &rig), FF_OK);
  EXPECT_STATUS(ff_rig_gaussians(rig, &g), FF_ERROR_UNSUPPORTED);
  EXPECT_STATUS(ff_rig_pose(rig, g0, NULL, &g), FF_OK);
  ff_gaussians_free(g), g = NULL;
  ff_rig_close(rig), rig = NULL;
  /* truncated, corrupt and foreign files are refused, naming the file */
  bytes = slurp(path("t.ffrig"), &n);
  spit(path("cut.ffrig"), bytes, n - 9);
  EXPECT_STATUS(ff_rig_open(path("cut.ffrig"), 1, &rig), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "cut.ffrig") != NULL);
  bytes[n / 2] ^= 0x40;
  spit(path("corrupt.ffrig"), bytes, n);
  EXPECT_STATUS(ff_rig_open(path("corrupt.ffrig"), 1, &rig), FF_ERROR_FORMAT);
  EXPECT_STATUS(ff_rig_open_memory(bytes, 100, 1, &rig), FF_ERROR_FORMAT);
  free(bytes);
  EXPECT_STATUS(ff_gaussians_save(g0, path("not_a_rig.ffpk"), FF_FORMAT_PACK, 0), FF_OK);
  EXPECT_STATUS(ff_rig_open(path("not_a_rig.ffpk"), 1, &rig), FF_ERROR_FORMAT);
  EXPECT(strstr(ff_last_error(), "not_a_rig.ffpk") != NULL && strstr(ff_last_error(), "not a rig") != NULL);
  EXPECT_STATUS(ff_rig_open(path("rig_frame_0001.ply"), 1, &rig), FF_ERROR_FORMAT);
  EXPECT_STATUS(ff_rig_open(path("missing.ffrig"), 1, &rig), FF_ERROR_IO);
  EXPECT(rig == NULL);
  /* a rig is not a model, nor a Gaussian set */
  EXPECT_STATUS(ff_model_open(path("t.ffrig"), 1, &model), FF_ERROR_UNSUPPORTED);
  EXPECT_STATUS(ff_gaussians_load(path("t.ffrig"), &g), FF_ERROR_UNSUPPORTED);
  EXPECT(model == NULL && g == NULL);
  ff_rig_close(NULL);
  ff_gaussians_free(g0);
  ff_renderer_free(r);
}

int main(int argc, char** argv) {
  snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : "capi_test_files");
  mkdir(dir, 0755);
  printf("facefield runtime %s\n", ff_version());
  test_gaussians_and_formats();
  test_render();
  test_analytic();
  test_errors();
  test_rig();
  test_cuda();
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}

/* bench/bench_runtime.c — the runtime's speed through its C API only (plain C99):
 *   render: 36,084 face-like Gaussians (bench_splat.cpp's "face" scene, same generator and seed) at 512×512 and
 *           550×802, RGBA8 out, with 1 and 2 render threads (and --threads N), and on CUDA device 0 when the
 *           library is the CUDA build and a device is present (threads 0; the time includes the copy back);
 *   decode: with --model PACK, codes → Gaussians (generator + decoders) of identity 0;
 *   animate: with --rig FILE (a rig file holding its Gaussians, docs/rig.md; repeatable), per frame ff_rig_pose (a
 *           talking motion: jaw, expression, neck, head turn) alone, and pose + ff_render @512×512 of a frontal camera
 *           framing the head, with 1 and 2 threads (the rig's and the renderer's).
 * Reports median / min wall ms per call, the process CPU time per call, frames per second from the median wall
 * time, and "cpu fps" = threads·1000 / cpu ms (what the threads deliver when they have their cores to themselves:
 * the comparable number on a shared, loaded machine). --json PATH writes the table.
 *
 *   bench_runtime [--repeats N] [--json PATH] [--model PACK] [--rig FILE]... [--threads N]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facefield.h"

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
static double uniform_at(uint64_t seed, uint64_t i) {
  return (double)(mix64(mix64(seed) ^ mix64(i ^ 0x5851f42d4c957f2dULL)) >> 11) * 0x1.0p-53;
}
static double normal_at(uint64_t seed, uint64_t i) {
  double u1 = uniform_at(seed, 2 * i), u2 = uniform_at(seed, 2 * i + 1);
  u1 = 1.0 - u1;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static uint64_t g_seed, g_i;
static float U(double a, double b) { return (float)(a + (b - a) * uniform_at(g_seed, g_i++)); }
static float G(void) { return (float)normal_at(g_seed, g_i++); }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  char name[96];
  int threads;
  double median, min, cpu;
} Row;
static Row rows[32];
static int nrows;

#define CHECK(call)                                                                       \
  do {                                                                                    \
    ff_status s_ = (call);                                                                \
    if (s_ != FF_OK) {                                                                    \
      fprintf(stderr, "bench_runtime: %s: %s: %s\n", #call, ff_status_name(s_), ff_last_error()); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

static void report(const char* name, int threads, double* t, double* c, int reps) {
  Row* r = &rows[nrows++];
  qsort(t, reps, sizeof(double), cmp);
  qsort(c, reps, sizeof(double), cmp);
  snprintf(r->name, sizeof r->name, "%s", name);
  r->threads = threads;
  r->median = t[reps / 2], r->min = t[0], r->cpu = c[reps / 2];
  printf("%-34s %7d %10.2f %10.2f %10.2f %9.1f %9.1f\n", name, threads, r->median, r->min, r->cpu,
         1000.0 / r->median, threads * 1000.0 / r->cpu);
  fflush(stdout);
}

/* frame k of a talking motion: jaw, the first expression modes, a nod and a head turn */
static void talk_frame(int k, int num_expression, float* expr, ff_rig_params* p) {
  const double t = k * 0.25;
  int e;
  memset(p, 0, sizeof *p);
  for (e = 0; e < num_expression && e < 4; ++e) expr[e] = (float)(0.4 * sin(t * (1.0 + 0.3 * e)));
  p->expression = expr, p->num_expression = num_expression < 4 ? num_expression : 4;
  p->pose[6] = (float)(0.15 * (1.0 + sin(t * 2.1)));  /* jaw x */
  p->pose[3] = (float)(0.1 * sin(t * 0.7));           /* neck x */
  p->pose[4] = (float)(0.2 * sin(t * 0.5));           /* neck y */
  p->translation[0] = (float)(0.005 * sin(t));
}

/* pose alone, then pose + render @512x512, for the rig at `path` */
static void bench_rig(const char* path, int repeats) {
  int tset[2] = {1, 2}, ti, k, mode, n, i;
  ff_rig* rig;
  ff_rig_info info;
  ff_gaussians *g0, *g;
  float lo[3] = {1e30f, 1e30f, 1e30f}, hi[3] = {-1e30f, -1e30f, -1e30f}, *xyz, expr[4], radius;
  ff_camera cam;
  ff_rig_params p;
  uint8_t* img = malloc(512 * 512 * 4);
  CHECK(ff_rig_open(path, 1, &rig));
  CHECK(ff_rig_get_info(rig, &info));
  CHECK(ff_rig_gaussians(rig, &g0));
  n = info.num_gaussians;
  xyz = malloc(sizeof(float) * 3 * (size_t)n);
  CHECK(ff_gaussians_read(g0, xyz, NULL, NULL, NULL, NULL));
  for (i = 0; i < 3 * n; ++i) {
    if (xyz[i] < lo[i % 3]) lo[i % 3] = xyz[i];
    if (xyz[i] > hi[i % 3]) hi[i % 3] = xyz[i];
  }
  radius = 0.5f * fmaxf(hi[0] - lo[0], hi[1] - lo[1]);
  /* frontal: the canonical frame (y up, z out of the face) turned into OpenCV axes, the head 0.5 m away */
  memset(&cam, 0, sizeof cam);
  cam.viewmat[0] = 1, cam.viewmat[3] = -0.5f * (lo[0] + hi[0]);
  cam.viewmat[5] = -1, cam.viewmat[7] = 0.5f * (lo[1] + hi[1]);
  cam.viewmat[10] = -1, cam.viewmat[11] = hi[2] + 0.5f;
  cam.viewmat[15] = 1;
  cam.fx = cam.fy = 512 * 0.5f / (1.15f * radius) * 0.5f;
  cam.cx = cam.cy = 256, cam.width = cam.height = 512;
  ff_rig_close(rig);
  for (mode = 0; mode < 2; ++mode)
    for (ti = 0; ti < 2; ++ti) {
      double *t = malloc(sizeof(double) * repeats), *cp = malloc(sizeof(double) * repeats);
      char name[96];
      ff_renderer* r;
      CHECK(ff_rig_open(path, tset[ti], &rig));
      CHECK(ff_renderer_create(tset[ti], &r));
      for (k = -2; k < repeats; ++k) {
        double c0 = cpu_ms(), t0 = now_ms();
        talk_frame(k + 2, info.num_expression, expr, &p);
        CHECK(ff_rig_pose(rig, g0, &p, &g));
        if (mode == 1) CHECK(ff_render(r, g, &cam, NULL, img, 0));
        ff_gaussians_free(g);
        if (k >= 0) t[k] = now_ms() - t0, cp[k] = cpu_ms() - c0;
      }
      if (mode == 0) snprintf(name, sizeof name, "pose rig %d Gaussians", n);
      else snprintf(name, sizeof name, "animate rig %d @512x512", n);
      report(name, tset[ti], t, cp, repeats);
      ff_renderer_free(r);
      ff_rig_close(rig);
      free(t), free(cp);
    }
  ff_gaussians_free(g0);
  free(xyz), free(img);
}

int main(int argc, char** argv) {
  int repeats = 30, i, cfg, extra_threads = 0, nrigs = 0;
  const char *json = NULL, *model_path = NULL, *rig_paths[8];
  const int N = 36084;
  float *m, *s, *q, *o, *c;
  ff_gaussians* g;
  for (i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) extra_threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rig") && i + 1 < argc && nrigs < 8) rig_paths[nrigs++] = argv[++i];
    else {
      printf("usage: bench_runtime [--repeats N (30)] [--json PATH] [--model PACK] [--rig FILE]... [--threads N]\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (repeats < 1) repeats = 1;
  /* bench_splat.cpp face_scene(36084, W, H, seed 7): the same Gaussians */
  m = malloc(sizeof(float) * 3 * N), s = malloc(sizeof(float) * 3 * N), q = malloc(sizeof(float) * 4 * N);
  o = malloc(sizeof(float) * N), c = malloc(sizeof(float) * 3 * N);
  g_seed = 7, g_i = 0;
  for (i = 0; i < N; ++i) {
    float x, y, r2, z, base;
    do {
      x = U(-1, 1), y = U(-1, 1);
      r2 = x * x + y * y;
    } while (r2 > 1);
    z = 1.0f - 0.08f * (1 - r2);
    m[3 * i] = 0.1f * x, m[3 * i + 1] = 0.13f * y, m[3 * i + 2] = z;
    base = 0.002f * expf(0.3f * G());
    s[3 * i] = base * U(0.7, 1.3);
    s[3 * i + 1] = base * U(0.7, 1.3);
    s[3 * i + 2] = base * U(0.2, 0.5);
    q[4 * i] = G(), q[4 * i + 1] = G(), q[4 * i + 2] = G(), q[4 * i + 3] = G();
    o[i] = U(0.5, 1.0);
    c[3 * i] = U(0.2, 0.9), c[3 * i + 1] = U(0.1, 0.7), c[3 * i + 2] = U(0.1, 0.6);
  }
  CHECK(ff_gaussians_create(N, m, s, q, o, c, &g));
  printf("runtime bench (%s), %d repeats + 2 warm-up; fps = 1000/median, cpu fps = threads*1000/cpu ms\n",
         ff_version(), repeats);
  printf("%-34s %7s %10s %10s %10s %9s %9s\n", "case", "threads", "median ms", "min ms", "cpu ms", "fps", "cpu fps");
  for (cfg = 0; cfg < 2; ++cfg) {
    const int W = cfg == 0 ? 512 : 550, H = cfg == 0 ? 512 : 802;
    int tset[4] = {1, 2, extra_threads, 0}, ti; /* the 4th: a CUDA renderer on device 0, where there is one */
    for (ti = 0; ti < 4; ++ti) {
      const int th = tset[ti];
      ff_renderer* r;
      ff_camera cam;
      uint8_t* img = malloc((size_t)W * H * 4);
      double *t = malloc(sizeof(double) * repeats), *cp = malloc(sizeof(double) * repeats);
      char name[96];
      int k;
      if ((ti == 2 && th <= 2) || (ti == 3 && ff_cuda_device_count() == 0)) {
        free(img), free(t), free(cp);
        continue;
      }
      memset(&cam, 0, sizeof cam);
      cam.viewmat[0] = cam.viewmat[5] = cam.viewmat[10] = cam.viewmat[15] = 1;
      cam.fx = cam.fy = 3.0f * W;
      cam.cx = W / 2.0f, cam.cy = H / 2.0f;
      cam.width = W, cam.height = H;
      if (ti == 3) CHECK(ff_renderer_create_cuda(0, &r));
      else CHECK(ff_renderer_create(th, &r));
      for (k = 0; k < 2; ++k) CHECK(ff_render(r, g, &cam, NULL, img, 0));
      for (k = 0; k < repeats; ++k) {
        double c0 = cpu_ms(), t0 = now_ms();
        CHECK(ff_render(r, g, &cam, NULL, img, 0));
        t[k] = now_ms() - t0;
        cp[k] = cpu_ms() - c0;
      }
      snprintf(name, sizeof name, "render face 36,084 @%dx%d%s", W, H, ti == 3 ? " cuda" : "");
      report(name, th, t, cp, repeats);
      ff_renderer_free(r);
      free(img), free(t), free(cp);
    }
  }
  if (model_path) {
    ff_model* mdl;
    ff_model_info info;
    int tset[2] = {1, 2}, ti, k, reps = repeats < 5 ? repeats : 5;
    for (ti = 0; ti < 2; ++ti) {
      double t[5], cp[5];
      char name[96];
      CHECK(ff_model_open(model_path, tset[ti], &mdl));
      CHECK(ff_model_get_info(mdl, &info));
      for (k = 0; k < reps; ++k) {
        ff_gaussians* d;
        double c0 = cpu_ms(), t0 = now_ms();
        CHECK(ff_decode_identity(mdl, 0, &d));
        t[k] = now_ms() - t0;
        cp[k] = cpu_ms() - c0;
        ff_gaussians_free(d);
      }
      snprintf(name, sizeof name, "decode %d Gaussians (tex %d)", info.num_gaussians, info.texture_resolution);
      report(name, tset[ti], t, cp, reps);
      ff_model_close(mdl);
    }
  }
  for (i = 0; i < nrigs; ++i) bench_rig(rig_paths[i], repeats);
  if (json) {
    FILE* f = fopen(json, "w");
    if (!f) {
      fprintf(stderr, "bench_runtime: cannot write %s\n", json);
      return 1;
    }
    fprintf(f, "{\n  \"suite\": \"runtime\",\n  \"version\": \"%s\",\n  \"repeats\": %d,\n  \"results\": [\n", ff_version(),
            repeats);
    for (i = 0; i < nrows; ++i)
      fprintf(f,
              "    {\"name\": \"%s\", \"threads\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"cpu_ms\": %.4f, "
              "\"fps\": %.2f, \"cpu_fps\": %.2f}%s\n",
              rows[i].name, rows[i].threads, rows[i].median, rows[i].min, rows[i].cpu, 1000.0 / rows[i].median,
              rows[i].threads * 1000.0 / rows[i].cpu, i + 1 < nrows ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
  }
  ff_gaussians_free(g);
  free(m), free(s), free(q), free(o), free(c);
  return 0;
}

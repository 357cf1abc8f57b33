/* examples/turntable.c — render a turntable of one identity with facefield's C API only (plain C99).
 *
 *   turntable MODEL OUT_DIR [--identity I] [--frames N] [--size PX] [--threads T] [--elevation DEG] [--cuda D]
 *   turntable --synthetic OUT_DIR [...]     (no model: a small synthetic head-like pack, for the tests)
 *
 * MODEL is an identity pack (.ffpk) or a checkpoint that stores its layout. Frames are written as binary PPM
 * (OUT_DIR/frame_0000.ppm …). The camera orbits the Gaussians' centroid about the world y axis (the model's
 * canonical space is y up, z out of the face), at 2.2× the bounding radius, looking at the centroid.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facefield.h"

#define CHECK(call)                                                                              \
  do {                                                                                           \
    ff_status s_ = (call);                                                                       \
    if (s_ != FF_OK) {                                                                           \
      fprintf(stderr, "turntable: %s failed: %s: %s\n", #call, ff_status_name(s_), ff_last_error()); \
      return 1;                                                                                  \
    }                                                                                            \
  } while (0)

static void usage(void) {
  printf("usage: turntable MODEL OUT_DIR [options]\n"
         "       turntable --synthetic OUT_DIR [options]\n\n"
         "Renders a turntable of one identity with the facefield C API (PPM frames).\n\n"
         "  MODEL             identity pack (.ffpk) or checkpoint with layout (.ffck)\n"
         "  --synthetic       use a small synthetic head-like set of Gaussians instead of a model\n"
         "  --identity I      identity to decode (default 0)\n"
         "  --frames N        frames over 360 degrees (default 36)\n"
         "  --size PX         square image size in pixels (default 512)\n"
         "  --threads T       render/decode threads, 0 = all cores (default 0)\n"
         "  --elevation DEG   camera elevation above the horizontal plane (default 10)\n"
         "  --cuda D          render on CUDA device D (needs libfacefield_cuda and a GPU; otherwise the CPU\n"
         "                    renderer is used and the reason is printed)\n");
}

/* a bumpy ellipsoidal cap of coloured Gaussians, written to a pack and opened as a model */
static int make_synthetic(const char* pack_path) {
  const int rows = 40, cols = 40, n = rows * cols;
  float* m = malloc(sizeof(float) * 3 * n), *s = malloc(sizeof(float) * 3 * n), *q = malloc(sizeof(float) * 4 * n);
  float* o = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * 3 * n);
  ff_gaussians* g = NULL;
  ff_status st;
  int i;
  if (!m || !s || !q || !o || !c) return 1;
  for (i = 0; i < n; ++i) {
    double u = ((i % cols) + 0.5) / cols, v = ((i / cols) + 0.5) / rows;
    double th = (u - 0.5) * 2.6, ph = (v - 0.5) * 2.4;
    m[3 * i] = (float)(0.08 * sin(th) * cos(ph));
    m[3 * i + 1] = (float)(0.11 * sin(ph));
    m[3 * i + 2] = (float)(0.07 * cos(th) * cos(ph));
    s[3 * i] = s[3 * i + 1] = 0.006f, s[3 * i + 2] = 0.002f;
    q[4 * i] = (float)cos(th / 2), q[4 * i + 1] = 0, q[4 * i + 2] = (float)sin(th / 2), q[4 * i + 3] = 0;
    o[i] = 0.9f;
    c[3 * i] = (float)(0.8 - 0.3 * v), c[3 * i + 1] = (float)(0.55 + 0.2 * u), c[3 * i + 2] = (float)(0.45 + 0.1 * sin(6 * u));
  }
  st = ff_gaussians_create(n, m, s, q, o, c, &g);
  if (st == FF_OK) st = ff_gaussians_save(g, pack_path, FF_FORMAT_PACK, 0);
  if (st != FF_OK) fprintf(stderr, "turntable: synthetic pack: %s\n", ff_last_error());
  ff_gaussians_free(g);
  free(m), free(s), free(q), free(o), free(c);
  return st == FF_OK ? 0 : 1;
}

static int write_ppm(const char* path, const unsigned char* rgba, int w, int h) {
  FILE* f = fopen(path, "wb");
  int i;
  if (!f) return 1;
  fprintf(f, "P6\n%d %d\n255\n", w, h);
  for (i = 0; i < w * h; ++i) fwrite(rgba + 4 * i, 1, 3, f);
  return fclose(f) != 0;
}

int main(int argc, char** argv) {
  const char *model_path = NULL, *out_dir = NULL;
  int synthetic = 0, identity = 0, frames = 36, size = 512, threads = 0, cuda_device = -1, i, k;
  double elevation = 10.0;
  char path[4096];
  ff_model* model = NULL;
  ff_gaussians* g = NULL;
  ff_renderer* r = NULL;
  ff_model_info info;
  float* means;
  double ctr[3] = {0, 0, 0}, rad = 0;
  unsigned char* rgba;
  int n;

  for (i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage();
      return 0;
    } else if (!strcmp(argv[i], "--synthetic")) synthetic = 1;
    else if (!strcmp(argv[i], "--identity") && i + 1 < argc) identity = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--elevation") && i + 1 < argc) elevation = atof(argv[++i]);
    else if (!strcmp(argv[i], "--cuda") && i + 1 < argc) cuda_device = atoi(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "turntable: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    } else if (!model_path && !synthetic) model_path = argv[i];
    else if (!out_dir) out_dir = argv[i];
    else {
      fprintf(stderr, "turntable: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if ((!model_path && !synthetic) || !out_dir || frames < 1 || size < 1 || size > 16384) {
    usage();
    return 2;
  }
  mkdir(out_dir, 0755);
  if (synthetic) {
    snprintf(path, sizeof path, "%s/synthetic.ffpk", out_dir);
    if (make_synthetic(path)) return 1;
    model_path = path;
  }
  CHECK(ff_model_open(model_path, threads, &model));
  CHECK(ff_model_get_info(model, &info));
  printf("turntable: %s: %d identities, %d Gaussians each, %s\n", model_path, info.num_identities, info.num_gaussians,
         info.has_generator ? "generator" : "decoded Gaussians");
  CHECK(ff_decode_identity(model, identity, &g));
  n = ff_gaussians_count(g);
  means = malloc(sizeof(float) * 3 * (n > 0 ? n : 1));
  rgba = malloc((size_t)size * size * 4);
  if (!means || !rgba) return 1;
  CHECK(ff_gaussians_read(g, means, NULL, NULL, NULL, NULL));
  for (i = 0; i < n; ++i)
    for (k = 0; k < 3; ++k) ctr[k] += means[3 * i + k] / n;
  for (i = 0; i < n; ++i) {
    double d = 0;
    for (k = 0; k < 3; ++k) d += (means[3 * i + k] - ctr[k]) * (means[3 * i + k] - ctr[k]);
    if (d > rad * rad) rad = sqrt(d);
  }
  if (rad <= 0) rad = 1;
  if (cuda_device >= 0 && ff_renderer_create_cuda(cuda_device, &r) != FF_OK)
    fprintf(stderr, "turntable: no CUDA renderer (%s); rendering on the CPU\n", ff_last_error());
  if (r) printf("turntable: facefield %s, rendering on CUDA device %d\n", ff_version(), cuda_device);
  else CHECK(ff_renderer_create(threads, &r));
  for (i = 0; i < frames; ++i) {
    const double az = 2 * M_PI * i / frames, el = elevation * M_PI / 180, dist = 2.2 * rad;
    double eye[3], z[3], x[3], y[3], nz, nx;
    ff_camera cam;
    const float bg[3] = {1, 1, 1};
    eye[0] = ctr[0] + dist * cos(el) * sin(az);
    eye[1] = ctr[1] + dist * sin(el);
    eye[2] = ctr[2] + dist * cos(el) * cos(az);
    for (k = 0; k < 3; ++k) z[k] = ctr[k] - eye[k];
    nz = sqrt(z[0] * z[0] + z[1] * z[1] + z[2] * z[2]);
    for (k = 0; k < 3; ++k) z[k] /= nz;
    /* x = down × z with down = (0,−1,0); y = z × x (OpenCV: y points down in the image) */
    x[0] = -z[2], x[1] = 0, x[2] = z[0];
    nx = sqrt(x[0] * x[0] + x[2] * x[2]);
    for (k = 0; k < 3; ++k) x[k] /= nx;
    y[0] = z[1] * x[2] - z[2] * x[1], y[1] = z[2] * x[0] - z[0] * x[2], y[2] = z[0] * x[1] - z[1] * x[0];
    for (k = 0; k < 3; ++k) {
      cam.viewmat[k] = (float)x[k];
      cam.viewmat[4 + k] = (float)y[k];
      cam.viewmat[8 + k] = (float)z[k];
    }
    cam.viewmat[3] = (float)-(x[0] * eye[0] + x[1] * eye[1] + x[2] * eye[2]);
    cam.viewmat[7] = (float)-(y[0] * eye[0] + y[1] * eye[1] + y[2] * eye[2]);
    cam.viewmat[11] = (float)-(z[0] * eye[0] + z[1] * eye[1] + z[2] * eye[2]);
    cam.viewmat[12] = cam.viewmat[13] = cam.viewmat[14] = 0, cam.viewmat[15] = 1;
    cam.fx = cam.fy = (float)(0.5 * size * dist / (1.15 * rad));
    cam.cx = cam.cy = 0.5f * size;
    cam.width = cam.height = size;
    CHECK(ff_render(r, g, &cam, bg, rgba, 0));
    snprintf(path, sizeof path, "%s/frame_%04d.ppm", out_dir, i);
    if (write_ppm(path, rgba, size, size)) {
      fprintf(stderr, "turntable: cannot write %s\n", path);
      return 1;
    }
  }
  printf("turntable: wrote %d frames of %dx%d to %s\n", frames, size, size, out_dir);
  ff_renderer_free(r);
  ff_gaussians_free(g);
  ff_model_close(model);
  free(means);
  free(rgba);
  return 0;
}

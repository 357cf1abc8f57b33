/* runtime/include/facefield.h — facefield's embeddable runtime: a C API to open a trained identity field model
 * (a training checkpoint .ffck or an exported identity pack .ffpk), decode an identity code into 3D Gaussians,
 * render them to RGBA8 for a pinhole camera, and export them to viewer formats (.ply, .splat, .ffpk); since 1.3 also
 * animate an identity with head-model parameters from a rig file (ff_rig_*, docs/rig.md).
 *
 * The library has no training code and no autograd: it carries its own forward-only generator (StyleGAN2
 * mapping, modulated 3×3 convolutions with demodulation, FIR upsampling, ToRGB skips), MLP decoders, bilinear
 * texture sampling and a forward-only Gaussian rasterizer with the engine's maths (splat/splat.h; renders agree
 * with the engine's to ≤ 1/255). The CPU build (libfacefield) depends on libc, libm and pthreads only. The CUDA
 * build (libfacefield_cuda, built when nvcc is found) has the same API plus renderers on a CUDA device
 * (ff_renderer_create_cuda: the engine's CUDA rasterizer kernels, CUDA runtime linked statically, needs only the
 * NVIDIA driver at run time); decoding stays on the CPU.
 *
 * Conventions (those of the engine, splat/splat.h):
 *   camera      viewmat: world→camera 4×4, row-major, OpenCV axes (x right, y down, z forward), last row ignored;
 *               fx, fy, cx, cy in pixels; a camera point (x, y, z) lands at u = fx·x/z + cx, v = fy·y/z + cy,
 *               measured from the image's top-left EDGE (pixel (i, j) is evaluated at its centre i+0.5, j+0.5).
 *   Gaussians   means [N,3] (world units: metres); scales [N,3] activated standard deviations; rotations [N,4]
 *               quaternions (w, x, y, z), any norm; opacities [N] in [0,1]; colours [N,3] linear RGB in [0,1].
 *   images      RGBA8, rows top to bottom, R G B A bytes per pixel; colour = Σ wᵢ·cᵢ + T·background,
 *               alpha = 1 − T (T: the transmittance left after blending); values rounded to the nearest of 0..255.
 *
 * Errors: every call that can fail returns an ff_status; FF_OK is 0. On failure a message naming the cause is
 * stored for the calling thread and read with ff_last_error(). No call aborts, and no C++ exception crosses
 * this boundary. Out-parameters are left untouched on failure.
 *
 * Ownership: objects created by ff_*_open / ff_decode_* / ff_gaussians_* / ff_renderer_create are owned by the
 * caller and released with the matching close/free (NULL is accepted and ignored). Input arrays are read during
 * the call only (copied where kept). Output buffers are caller-owned. Strings returned as `const char*` are
 * owned by the library (static, or thread-local for ff_last_error: valid until the thread's next failing call).
 *
 * Threads: every handle may be used from any thread; calls on one handle are serialised by a lock inside the
 * handle (thread-safe per handle); calls on different handles run concurrently. An ff_gaussians handle is
 * immutable after creation, so any number of renderers may render it at the same time. Closing/freeing a handle
 * must not race with another call that uses it (the caller owns its lifetime). Each ff_model and ff_renderer owns
 * its worker threads (a small pthread pool, no OpenMP): `threads` − 1 workers plus the calling thread.
 *
 *   ff_model* m; ff_gaussians* g; ff_renderer* r;
 *   if (ff_model_open("face.ffpk", 0, &m) != FF_OK) { fprintf(stderr, "%s\n", ff_last_error()); return 1; }
 *   ff_decode_identity(m, 0, &g);
 *   ff_renderer_create(2, &r);
 *   ff_camera cam = {{1,0,0,0, 0,1,0,0, 0,0,1,1, 0,0,0,1}, 1200, 1200, 256, 256, 512, 512};
 *   uint8_t* rgba = malloc(512 * 512 * 4);
 *   ff_render(r, g, &cam, NULL, rgba, 0);
 *   ff_renderer_free(r); ff_gaussians_free(g); ff_model_close(m); free(rgba);
 */
#ifndef FACEFIELD_H
#define FACEFIELD_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define FF_API __declspec(dllexport)
#else
#define FF_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FF_RUNTIME_VERSION_MAJOR 1
#define FF_RUNTIME_VERSION_MINOR 3  /* 1.1: ff_renderer_create_cuda, ff_cuda_device_count; 1.2: ff_gaussians_save_ply;
                                       1.3: animation rigs (ff_rig_*) */

typedef enum ff_status {
  FF_OK = 0,
  FF_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, size mismatch, index out of range, bad camera or values */
  FF_ERROR_IO = 2,               /* a file could not be opened, read or written */
  FF_ERROR_FORMAT = 3,           /* not a facefield/.ply/.splat file, truncated, corrupt, or a newer version */
  FF_ERROR_UNSUPPORTED = 4,      /* a valid file that lacks what the call needs (e.g. decoding a code with a
                                    pack of decoded Gaussians, or a checkpoint without its surface layout) */
  FF_ERROR_OUT_OF_MEMORY = 5,
  FF_ERROR_INTERNAL = 6          /* a bug: please report with the message */
} ff_status;

typedef enum ff_format {
  FF_FORMAT_PLY = 0,   /* 3DGS point_cloud.ply: binary little-endian, logit opacity, log scale, SH DC (+ f_rest) */
  FF_FORMAT_SPLAT = 1, /* antimatter15 .splat: 32 bytes per Gaussian, sorted by importance */
  FF_FORMAT_PACK = 2   /* facefield identity pack .ffpk holding these decoded Gaussians */
} ff_format;

typedef struct ff_model ff_model;         /* a generator + decoders + identities, or one decoded identity */
typedef struct ff_gaussians ff_gaussians; /* an immutable set of decoded Gaussians */
typedef struct ff_renderer ff_renderer;   /* worker threads + scratch memory of the rasterizer */

typedef struct ff_model_info {
  int num_identities;     /* identities stored (codes + positions); 1 for a pack of decoded Gaussians */
  int code_dim;           /* identity code length; 0 without a generator */
  int num_gaussians;      /* Gaussians per decoded identity */
  int has_generator;      /* 1: codes can be decoded (ff_decode_code / ff_decode_mix); 0: decoded Gaussians only */
  int texture_resolution; /* generator output resolution (0 without a generator) */
  int feature_channels;   /* generator output channels (0 without a generator) */
} ff_model_info;

typedef struct ff_camera {
  float viewmat[16];      /* world→camera, row-major, OpenCV axes */
  float fx, fy, cx, cy;   /* pixels; fx, fy > 0 */
  int width, height;      /* image size in pixels, 1..16384 */
} ff_camera;

/* ---- library ------------------------------------------------------------------------------------------- */
/* "major.minor (cpu)" or "major.minor (cpu+cuda)"; static string. */
FF_API const char* ff_version(void);
/* CUDA devices a renderer can use: 0 in the CPU build, or when there is no NVIDIA driver or device. */
FF_API int ff_cuda_device_count(void);
/* Short name of a status ("FF_ERROR_FORMAT"); static string. */
FF_API const char* ff_status_name(ff_status status);
/* Message of the calling thread's last failed call ("" if none); thread-local, library-owned. */
FF_API const char* ff_last_error(void);

/* ---- models -------------------------------------------------------------------------------------------- */
/* Open a file: an identity pack (.ffpk, either kind) or a training checkpoint (.ffck) that stores its surface
 * layout; the kind is recognised by content, not by name. threads: worker threads for decoding (0 = all cores).
 * On success *out is a new handle owned by the caller (ff_model_close). */
FF_API ff_status ff_model_open(const char* path, int threads, ff_model** out);
/* Same from bytes in memory (copied; the caller keeps ownership of data). */
FF_API ff_status ff_model_open_memory(const void* data, size_t size, int threads, ff_model** out);
/* Release a model (NULL: no-op). Gaussians decoded from it stay valid. */
FF_API void ff_model_close(ff_model* model);
FF_API ff_status ff_model_get_info(ff_model* model, ff_model_info* info);
/* Name of identity i (e.g. the dataset subject) into buf (NUL-terminated, truncated to size); "" if unnamed. */
FF_API ff_status ff_model_identity_name(ff_model* model, int identity, char* buf, size_t size);
/* Copy identity i's code (code_dim floats) into code; needs a generator. */
FF_API ff_status ff_model_get_code(ff_model* model, int identity, float* code, int code_dim);
/* Copy identity i's Gaussian positions ([num_gaussians,3] floats) into xyz; identity −1 = the mean over all
 * identities (what ff_decode_code uses when it is given no positions). count = number of floats in xyz. */
FF_API ff_status ff_model_get_positions(ff_model* model, int identity, float* xyz, size_t count);

/* ---- decoding ------------------------------------------------------------------------------------------ */
/* Decode identity i (its stored code and positions). *out: new caller-owned Gaussians (ff_gaussians_free). */
FF_API ff_status ff_decode_identity(ff_model* model, int identity, ff_gaussians** out);
/* Decode any code (code_dim floats, e.g. fitted by fit_image). positions: [num_gaussians,3] floats (count =
 * 3·num_gaussians) or NULL for the identities' mean positions. Needs a generator. */
FF_API ff_status ff_decode_code(ff_model* model, const float* code, int code_dim, const float* positions,
                                size_t positions_count, ff_gaussians** out);
/* Decode the blend Σ wₖ·code(idₖ) with positions Σ wₖ·xyz(idₖ) (linear interpolation when the weights sum to
 * 1), n ≥ 1 identities. Needs a generator. */
FF_API ff_status ff_decode_mix(ff_model* model, int n, const int* identities, const float* weights,
                               ff_gaussians** out);

/* ---- Gaussians ----------------------------------------------------------------------------------------- */
/* New Gaussians from caller arrays (copied): means [n,3], scales [n,3] (activated, > 0), rotations [n,4] (w,x,y,z,
 * nonzero), opacities [n] in [0,1], colors [n,3] in [0,1]. n ≥ 0. Values must be finite. */
FF_API ff_status ff_gaussians_create(int n, const float* means, const float* scales, const float* rotations,
                                     const float* opacities, const float* colors, ff_gaussians** out);
/* Load Gaussians from a .ply (3DGS layout, any property order/type, SH degree 0–3), a .splat, or an identity pack
 * of decoded Gaussians, recognised by content. Non-zero SH coefficients beyond the DC term (fit_image's face.ply)
 * make the colours depend on the view: ff_render evaluates them for its camera (3DGS's computeColorFromSH), and
 * ff_gaussians_read's colours are then the DC term alone; ff_rig_pose turns them with each Gaussian's triangle. */
FF_API ff_status ff_gaussians_load(const char* path, ff_gaussians** out);
FF_API void ff_gaussians_free(ff_gaussians* g);
/* Number of Gaussians (0 for NULL). */
FF_API int ff_gaussians_count(const ff_gaussians* g);
/* Copy the attributes out (same layouts as ff_gaussians_create; each pointer may be NULL to skip it; each
 * non-NULL array must hold count·width floats). */
FF_API ff_status ff_gaussians_read(const ff_gaussians* g, float* means, float* scales, float* rotations,
                                   float* opacities, float* colors);
/* Write to path. sh_degree (PLY only): 0 = DC only (17 floats per Gaussian; refused for view-dependent colours),
 * 3 = DC + 45 f_rest (zero unless the colours depend on the view) for viewers that need them; other formats
 * ignore it (.splat keeps the DC colour). */
FF_API ff_status ff_gaussians_save(const ff_gaussians* g, const char* path, ff_format format, int sh_degree);

/* ---- rendering ----------------------------------------------------------------------------------------- */
/* A CPU renderer. threads: rasterizer worker threads (0 = all cores). */
FF_API ff_status ff_renderer_create(int threads, ff_renderer** out);
/* A renderer on CUDA device `device` (0-based) with its own stream and device memory; the same calls and images
 * as the CPU renderer (within 1/255). Each Gaussian set is uploaded on its first render and kept until another set
 * is rendered; ff_render is synchronous (the image is in the caller's buffer on return). FF_ERROR_UNSUPPORTED
 * from the CPU build or when no device/driver is usable (the message says which), FF_ERROR_INVALID_ARGUMENT for
 * an index outside 0..ff_cuda_device_count()−1. */
FF_API ff_status ff_renderer_create_cuda(int device, ff_renderer** out);
FF_API void ff_renderer_free(ff_renderer* r);
/* Render g for cam into rgba (caller-owned, height rows of stride bytes; stride 0 = 4·width; stride ≥ 4·width).
 * background: 3 floats in [0,1] or NULL for black. Gaussians behind the camera (view z ≤ 0.2) are culled. */
FF_API ff_status ff_render(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam, const float* background,
                           uint8_t* rgba, size_t stride);
/* Same, float output: rgb [3,H,W] planes (CHW, like the engine) and optional alpha [H,W] (NULL to skip). */
FF_API ff_status ff_render_float(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam,
                                 const float* background, float* rgb_chw, float* alpha);

/* ---- 1.2 ----------------------------------------------------------------------------------------------- */
/* Write a .ply (as ff_gaussians_save with FF_FORMAT_PLY) with a choice of up axis. sh_degree 0 or 3. y_down 0: the
 * canonical frame (y up); 1: the world turned 180° about x — (x, y, z) → (x, −y, −z), rotations turned alike — for
 * viewers that assume a y-down (COLMAP) world; the header then carries `comment facefield up -y` and
 * ff_gaussians_load turns such a file back (runtime/formats.h). */
FF_API ff_status ff_gaussians_save_ply(const ff_gaussians* g, const char* path, int sh_degree, int y_down);

/* ---- 1.3: animation rigs ------------------------------------------------------------------------------ */
/* A rig file (.ffrig, written by `animate` as identity.ffrig; byte layout docs/rig.md) makes one
 * identity animatable: its Gaussians are bound to triangles of its head-model mesh, which the head model's expression
 * blendshapes, joints (global, neck, jaw, eyes; joint regression, pose correctives, linear blend skinning) and a
 * rigid head motion deform (docs/animation.md). Posing runs on the CPU in the calling thread plus the rig's workers,
 * in both libraries; the posed Gaussians are ordinary ff_gaussians, so any renderer (the CUDA one too: the posed set
 * is uploaded on its first render) and any writer (ff_gaussians_save_ply: one .ply per frame) take them.
 * Zero parameters give the neutral Gaussians bit for bit, hence the static render pixel for pixel. */
typedef struct ff_rig ff_rig;

typedef struct ff_rig_info {
  int num_vertices;   /* rig vertices: the head-model vertices the Gaussians are bound to and the joints read */
  int num_faces;      /* head-model triangles among them */
  int num_expression; /* expression coefficients the rig takes (14 on the built-in head model, up to 100 on FLAME) */
  int num_joints;     /* 5: global, neck, jaw, left eye, right eye */
  int num_gaussians;  /* Gaussians bound */
  int has_gaussians;  /* 1: the file holds the identity's neutral Gaussians (ff_rig_gaussians) */
} ff_rig_info;

/* One frame. A zero-initialised struct is the neutral pose. Canonical frame: metres, x to the subject's left, y up,
 * z out of the face. posed head = rotation · (N + F(expression, pose) − F(0, 0)) + translation. */
typedef struct ff_rig_params {
  const float* expression; /* num_expression coefficients (the rest are 0); may be NULL when num_expression is 0 */
  int num_expression;      /* 0..ff_rig_info.num_expression */
  float pose[15];          /* axis-angle (radians) per joint: global (about the root joint), neck, jaw, left eye,
                              right eye */
  float rotation[9];       /* rigid head rotation about the canonical origin, row-major, applied after the head
                              model; all zeros means the identity (a non-zero matrix must be a rotation, ±1e-3) */
  float translation[3];    /* then this translation (metres) */
} ff_rig_params;

/* Open a rig file; threads: posing worker threads (0 = all cores). A truncated, corrupt or foreign file (a model,
 * a pack of Gaussians) is refused with FF_ERROR_FORMAT and a message naming the file. */
FF_API ff_status ff_rig_open(const char* path, int threads, ff_rig** out);
FF_API ff_status ff_rig_open_memory(const void* data, size_t size, int threads, ff_rig** out);
FF_API void ff_rig_close(ff_rig* rig);
FF_API ff_status ff_rig_get_info(ff_rig* rig, ff_rig_info* info);
/* The identity's neutral Gaussians stored in the file (FF_ERROR_UNSUPPORTED when it has none: then decode the
 * identity from its model with ff_decode_identity / ff_decode_code and pass those to ff_rig_pose). */
FF_API ff_status ff_rig_gaussians(ff_rig* rig, ff_gaussians** out);
/* Pose: neutral (num_gaussians Gaussians, bound as the rig says; NULL = the rig's stored ones) → *out, new
 * caller-owned Gaussians for params (NULL = the neutral pose). Means follow their triangles, rotations turn with
 * the triangles' frames, scales grow with the triangles' mean edge length; opacities and colours are copied. */
FF_API ff_status ff_rig_pose(ff_rig* rig, const ff_gaussians* neutral, const ff_rig_params* params,
                             ff_gaussians** out);
/* The posed rig mesh: vertices [num_vertices,3] (count = 3·num_vertices floats), for drawing the head mesh. */
FF_API ff_status ff_rig_posed_vertices(ff_rig* rig, const ff_rig_params* params, float* vertices, size_t count);
/* Its triangles [num_faces,3] (rig vertex indices; count = 3·num_faces). */
FF_API ff_status ff_rig_faces(ff_rig* rig, int32_t* faces, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* FACEFIELD_H */

// splat/render.cpp — splat.h's entry points: validation, RenderState, and dispatch to CPU / CUDA.
#include <cmath>

#include "core/check.h"
#include "splat/internal.h"

namespace ff::splat {

RenderState::RenderState() = default;
RenderState::~RenderState() = default;
RenderState::RenderState(RenderState&&) noexcept = default;
RenderState& RenderState::operator=(RenderState&&) noexcept = default;
RenderState::Impl& RenderState::ensure() {
  if (!impl_) impl_ = std::make_unique<Impl>();
  return *impl_;
}
int64_t RenderState::num_entries() const {
  if (!impl_) return 0;
  if (impl_->cpu_f) return int64_t(impl_->cpu_f->ids.size());
  if (impl_->cpu_d) return int64_t(impl_->cpu_d->ids.size());
  if (impl_->cuda) return cuda_state_entries(impl_->cuda);
  return 0;
}

static const char* kFieldNames[] = {"means", "scales", "rotations", "opacities", "colors", "sh", "rotations"};

void throw_bad_gaussian(int64_t index, int field) {
  FF_CHECK(field >= 0 && field < 7, "splat: bad field code ", field);
  if (field == 6)
    FF_THROW("splat: Gaussian ", index, " has a zero-norm quaternion in 'rotations'");
  FF_THROW("splat: Gaussian ", index, " has a non-finite (NaN/Inf) value in '", kFieldNames[field], "'");
}

template <class T>
void check_params(const RenderParamsT<T>& p) {
  FF_CHECK(p.num_gaussians >= 0, "splat: num_gaussians must be >= 0, got ", p.num_gaussians);
  FF_CHECK(p.num_cameras >= 1, "splat: num_cameras must be >= 1, got ", p.num_cameras);
  FF_CHECK(p.width >= 1 && p.height >= 1, "splat: image size must be >= 1x1, got ", p.width, "x", p.height);
  FF_CHECK(int64_t(p.num_cameras) * p.num_gaussians < (int64_t(1) << 31),
           "splat: num_cameras * num_gaussians must be < 2^31, got ", p.num_cameras, " * ", p.num_gaussians);
  FF_CHECK(p.viewmats && p.intrinsics, "splat: viewmats [C,4,4] and intrinsics [C,4] are required");
  FF_CHECK(p.image, "splat: the image output [C,3,H,W] is required");
  FF_CHECK(p.sh_degree >= 0 && p.sh_degree <= 3, "splat: sh_degree must be in 0..3, got ", p.sh_degree);
  if (p.num_gaussians > 0) {
    FF_CHECK(p.means && p.scales && p.rotations && p.opacities,
             "splat: means [N,3], scales [N,3], rotations [N,4] and opacities [N] are required");
    FF_CHECK((p.colors != nullptr) != (p.sh != nullptr), "splat: give exactly one of colors [N,3] or sh [N,K,3]");
    if (p.sh)
      FF_CHECK(p.sh_coeffs >= (p.sh_degree + 1) * (p.sh_degree + 1), "splat: sh_coeffs (", p.sh_coeffs,
               ") must be >= (sh_degree+1)^2 = ", (p.sh_degree + 1) * (p.sh_degree + 1));
  }
  FF_CHECK(std::isfinite(double(p.near_cull)), "splat: near_cull must be finite");
}

template <class T>
static void check_cameras_host(const T* viewmats, const T* intr, int C) {
  for (int c = 0; c < C; ++c) {
    for (int k = 0; k < 16; ++k)
      FF_CHECK(std::isfinite(double(viewmats[16 * c + k])), "splat: camera ", c, " has a non-finite viewmat entry ", k);
    for (int k = 0; k < 4; ++k)
      FF_CHECK(std::isfinite(double(intr[4 * c + k])), "splat: camera ", c, " has a non-finite intrinsic ", k);
    FF_CHECK(intr[4 * c] > 0 && intr[4 * c + 1] > 0, "splat: camera ", c, " needs fx, fy > 0, got ", intr[4 * c], ", ",
             intr[4 * c + 1]);
  }
}

template <class T>
void check_finite_host(const RenderParamsT<T>& p) {
  auto fin = [](const T* a, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(double(a[i]))) return false;
    return true;
  };
  const int Ka = (p.sh_degree + 1) * (p.sh_degree + 1);
  for (int64_t n = 0; n < p.num_gaussians; ++n) {
    if (!fin(p.means + 3 * n, 3)) throw_bad_gaussian(n, 0);
    if (!fin(p.scales + 3 * n, 3)) throw_bad_gaussian(n, 1);
    if (!fin(p.rotations + 4 * n, 4)) throw_bad_gaussian(n, 2);
    if (!fin(p.opacities + n, 1)) throw_bad_gaussian(n, 3);
    if (p.colors && !fin(p.colors + 3 * n, 3)) throw_bad_gaussian(n, 4);
    if (p.sh && !fin(p.sh + int64_t(p.sh_coeffs) * 3 * n, 3 * Ka)) throw_bad_gaussian(n, 5);
    const T* q = p.rotations + 4 * n;
    if (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] == T(0)) throw_bad_gaussian(n, 6);
  }
}

template void check_params<float>(const RenderParamsT<float>&);
template void check_params<double>(const RenderParamsT<double>&);
template void check_finite_host<float>(const RenderParamsT<float>&);
template void check_finite_host<double>(const RenderParamsT<double>&);

static int pick_threads(Context& ctx, int t) { return t > 0 ? t : std::max(1, ctx.threads()); }

template <class T>
static CpuState<T>& cpu_state(RenderState::Impl& impl);
template <>
CpuState<float>& cpu_state<float>(RenderState::Impl& impl) {
  if (!impl.cpu_f) impl.cpu_f = std::make_unique<CpuState<float>>();
  impl.cpu_d.reset();
  return *impl.cpu_f;
}
template <>
CpuState<double>& cpu_state<double>(RenderState::Impl& impl) {
  if (!impl.cpu_d) impl.cpu_d = std::make_unique<CpuState<double>>();
  impl.cpu_f.reset();
  return *impl.cpu_d;
}

template <class T>
static void fwd_cpu(Context& ctx, const RenderParamsT<T>& p, RenderState& st) {
  check_cameras_host(p.viewmats, p.intrinsics, p.num_cameras);
  if (p.check_finite) check_finite_host(p);
  auto& impl = st.ensure();
  if (impl.cuda) {
    destroy_cuda_state(impl.cuda);
    impl.cuda = nullptr;
  }
  render_fwd_cpu(p, pick_threads(ctx, p.threads), cpu_state<T>(impl));
}

template <class T>
static void check_state_cpu(const RenderParamsT<T>& p, const CpuState<T>* s) {
  FF_CHECK(s, "splat: render_bwd needs the state of a CPU forward of the same precision");
  FF_CHECK(s->C == p.num_cameras && s->N == p.num_gaussians && s->W == p.width && s->H == p.height,
           "splat: render_bwd params do not match the forward state (C, N, W, H = ", s->C, ", ", s->N, ", ", s->W, ", ",
           s->H, ")");
}

void render_fwd(Context& ctx, const RenderParams& p, RenderState& st) {
  check_params(p);
  if (p.device.is_cpu()) return fwd_cpu(ctx, p, st);
#ifdef FF_WITH_CUDA
  auto& impl = st.ensure();
  impl.cpu_f.reset();
  impl.cpu_d.reset();
  render_fwd_cuda(ctx, p, impl.cuda);
#else
  FF_THROW("splat: render_fwd on ", p.device.str(), " but facefield was built without CUDA");
#endif
}

void render_fwd(Context& ctx, const RenderParamsT<double>& p, RenderState& st) {
  check_params(p);
  FF_CHECK(p.device.is_cpu(), "splat: the double-precision renderer is CPU only");
  fwd_cpu(ctx, p, st);
}

void render_bwd(Context& ctx, const RenderParams& p, const RenderGrads& g, const RenderState& st) {
  check_params(p);
  FF_CHECK(st.impl(), "splat: render_bwd called with an empty RenderState (run render_fwd first)");
  if (p.device.is_cpu()) {
    check_state_cpu(p, st.impl()->cpu_f.get());
    render_bwd_cpu(p, g, pick_threads(ctx, p.threads), *st.impl()->cpu_f);
    return;
  }
#ifdef FF_WITH_CUDA
  FF_CHECK(st.impl()->cuda, "splat: render_bwd on CUDA needs the state of a CUDA forward");
  render_bwd_cuda(ctx, p, g, st.impl()->cuda);
#else
  FF_THROW("splat: render_bwd on ", p.device.str(), " but facefield was built without CUDA");
#endif
}

void render_bwd(Context& ctx, const RenderParamsT<double>& p, const RenderGradsT<double>& g, const RenderState& st) {
  check_params(p);
  FF_CHECK(p.device.is_cpu(), "splat: the double-precision renderer is CPU only");
  FF_CHECK(st.impl(), "splat: render_bwd called with an empty RenderState (run render_fwd first)");
  check_state_cpu(p, st.impl()->cpu_d.get());
  render_bwd_cpu(p, g, pick_threads(ctx, p.threads), *st.impl()->cpu_d);
}

#ifndef FF_WITH_CUDA
void destroy_cuda_state(CudaState*) {}
int64_t cuda_state_entries(const CudaState*) { return 0; }
#endif

// ---- loss ----------------------------------------------------------------------------------------
static void check_loss(const LossParams& p) {
  FF_CHECK(p.batch >= 1 && p.channels >= 1 && p.height >= 1 && p.width >= 1, "l1_dssim_loss: bad shape [", p.batch,
           ",", p.channels, ",", p.height, ",", p.width, "]");
  FF_CHECK(p.img && p.gt && p.loss, "l1_dssim_loss: img, gt and loss are required");
  FF_CHECK(p.lambda >= 0 && p.lambda <= 1, "l1_dssim_loss: lambda must be in [0,1], got ", p.lambda);
}

void l1_dssim_loss(Context& ctx, const LossParams& p) {
  check_loss(p);
  if (p.device.is_cpu()) return l1_dssim_loss_cpu(p, pick_threads(ctx, p.threads));
#ifdef FF_WITH_CUDA
  l1_dssim_loss_cuda(ctx, p);
#else
  FF_THROW("l1_dssim_loss on ", p.device.str(), " but facefield was built without CUDA");
#endif
}

float l1_dssim_loss_value(Context& ctx, const LossParams& p) {
  l1_dssim_loss(ctx, p);
  if (p.device.is_cpu()) return *p.loss;
#ifdef FF_WITH_CUDA
  return read_device_float(ctx, p.loss, p.stream);
#else
  FF_THROW("unreachable");
#endif
}

}  // namespace ff::splat

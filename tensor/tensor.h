// tensor/tensor.h — facefield's n-d array: a handle to (storage, sizes, strides, offset, dtype).
//
// Memory model
//  - A Tensor is a shared handle (copying it aliases, like torch.Tensor). Views (as_strided, and the
//    differentiable reshape/permute/slice/expand in autograd/) share the Storage and never copy.
//  - Storage is allocated by a Context (core/context.h) on one Device and returned to it on destruction:
//    the Context must outlive its tensors. CUDA storage comes from the context's caching allocator.
//  - Strides are in elements; dims may have stride 0 (expanded). Sizes of 0 are allowed (empty tensors).
//  - dtypes: F32 on every device, F64 on the CPU (gradient checks), I32/I64 for indices, U8 for images.
//  - Tensor members are metadata and raw access only and are NOT differentiable; every differentiable op
//    is a free function in autograd/ops.h. Autograd fields (requires_grad, grad, grad_fn) live here so a
//    handle carries them, but only autograd/ reads or writes grad_fn.
//
//   ff::Context ctx(0);
//   ff::Tensor a = ff::from_vector<float>(ctx, {1, 2, 3, 4, 5, 6}, {2, 3});
//   ff::Tensor t = a.as_strided({3, 2}, {1, 3});     // transposed view, no copy
//   float v = t.at<float>({2, 1});                      // 6
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/context.h"

namespace ff {

enum class DType : uint8_t { F32 = 0, F64 = 1, I32 = 2, I64 = 3, U8 = 4 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64; }

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
std::ostream& operator<<(std::ostream& os, const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::ostream& operator<<(std::ostream& os, DType t);
std::ostream& operator<<(std::ostream& os, const Device& d);

struct Storage {
  Context* ctx = nullptr;
  Device device;
  void* data = nullptr;
  size_t bytes = 0;
  Storage(Context& c, Device d, size_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;  // autograd/graph.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes, strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  // autograd (see autograd/graph.h)
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
  int output_nr = 0;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return bool(impl_); }
  const Shape& shape() const { return impl().sizes; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().sizes.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().sizes); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  Context& ctx() const { return *impl().storage->ctx; }
  bool is_contiguous() const;
  std::string str() const;  // "f32[2,3] cpu"

  // raw element pointer (storage base + offset); checks the dtype
  template <class T> T* data() const {
    FF_CHECK(dtype() == dtype_of<T>(), "Tensor::data: tensor is ", dtype_name(dtype()), ", asked for ",
             dtype_name(dtype_of<T>()));
    return static_cast<T*>(impl().storage->data) + impl().offset;
  }
  void* raw_data() const { return static_cast<char*>(impl().storage->data) + impl().offset * dtype_size(dtype()); }

  // CPU element access by index (slow; for tests and small tensors)
  template <class T> T at(std::initializer_list<int64_t> idx) const;
  // scalar value of a 1-element tensor (copies from the device)
  double item() const;
  template <class T> std::vector<T> to_vector() const;  // contiguous copy, any device

  // ---- raw (non-differentiable) views and copies ----
  Tensor as_strided(const Shape& sizes, const Shape& strides, int64_t offset_delta = 0) const;
  Tensor contiguous() const;                 // self if already contiguous
  Tensor clone() const;                      // always a fresh contiguous copy
  Tensor to(Device d) const;                 // copy across devices (self when already there)
  Tensor to(DType t) const;                  // cast (self when already that dtype)
  Tensor detach() const;                     // same storage, no autograd history
  void copy_(const Tensor& src) const;       // elementwise copy with broadcasting src → this, any devices
  void fill_(double v) const;
  void zero_() const { fill_(0.0); }

  // ---- autograd fields ----
  bool requires_grad() const { return impl().requires_grad; }
  const Tensor& set_requires_grad(bool r) const;
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& g) const { impl().grad = g.impl_; }
  void zero_grad() const { impl().grad.reset(); }
  bool is_leaf() const { return !impl().grad_fn; }

  TensorImpl& impl() const {
    FF_CHECK(impl_, "use of an undefined Tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- creation (no autograd history) ----
Tensor empty(Context& ctx, const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor zeros(Context& ctx, const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor ones(Context& ctx, const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor full(Context& ctx, const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor arange(Context& ctx, int64_t n, DType dtype = DType::F32, Device device = Device::cpu());
// Seeded random numbers from the context's counter stream (core/rng.h): the same seed and call order give
// the same values on every device and thread count.
Tensor randn(Context& ctx, const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu(),
             double mean = 0.0, double std = 1.0);
Tensor rand(Context& ctx, const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu(),
            double lo = 0.0, double hi = 1.0);
template <class T>
Tensor from_vector(Context& ctx, const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());

}  // namespace ff

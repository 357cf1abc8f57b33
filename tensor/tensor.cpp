#include "tensor/tensor.h"

#include <cstring>
#include <sstream>

#include "tensor/backend.h"

namespace ff {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  FF_THROW("dtype_size: unknown dtype ", int(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}
std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << shape_str(s); }
std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }
std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

Storage::Storage(Context& c, Device d, size_t n) : ctx(&c), device(d), bytes(n) { data = c.allocate(d, n); }
Storage::~Storage() { ctx->deallocate(device, data, bytes); }

// ---------------------------------------------------------------------------------------------------

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  FF_CHECK(d >= -n && d < n, "Tensor::size: dim ", d, " out of range for shape ", shape());
  return shape()[d < 0 ? d + n : d];
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device().str();
}

template <class T>
T Tensor::at(std::initializer_list<int64_t> idx) const {
  FF_CHECK(int64_t(idx.size()) == dim(), "Tensor::at: ", idx.size(), " indices for shape ", shape());
  int64_t off = 0, d = 0;
  for (int64_t i : idx) {
    FF_CHECK(i >= 0 && i < shape()[d], "Tensor::at: index ", i, " out of range in dim ", d, " of ", shape());
    off += i * strides()[d++];
  }
  if (device().is_cpu()) return data<T>()[off];
  T v;
  Tensor one = as_strided({}, {}, off).contiguous().to(Device::cpu());
  v = one.data<T>()[0];
  return v;
}
template float Tensor::at<float>(std::initializer_list<int64_t>) const;
template double Tensor::at<double>(std::initializer_list<int64_t>) const;
template int64_t Tensor::at<int64_t>(std::initializer_list<int64_t>) const;
template int32_t Tensor::at<int32_t>(std::initializer_list<int64_t>) const;
template uint8_t Tensor::at<uint8_t>(std::initializer_list<int64_t>) const;

double Tensor::item() const {
  FF_CHECK(numel() == 1, "Tensor::item: tensor has ", numel(), " elements, shape ", shape());
  Tensor c = contiguous().to(Device::cpu()).to(DType::F64);
  return c.data<double>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  std::vector<T> v(size_t(c.numel()));
  if (!v.empty()) std::memcpy(v.data(), c.data<T>(), v.size() * sizeof(T));
  return v;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

Tensor Tensor::as_strided(const Shape& sizes, const Shape& strides, int64_t offset_delta) const {
  FF_CHECK(sizes.size() == strides.size(), "as_strided: ", sizes.size(), " sizes but ", strides.size(), " strides");
  auto t = std::make_shared<TensorImpl>();
  t->storage = impl().storage;
  t->sizes = sizes;
  t->strides = strides;
  t->offset = impl().offset + offset_delta;
  t->dtype = impl().dtype;
  // bounds: the view must stay inside the storage
  int64_t lo = t->offset, hi = t->offset;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    FF_CHECK(sizes[i] >= 0, "as_strided: negative size in ", sizes);
    if (sizes[i] == 0) empty = true;
    int64_t ext = (sizes[i] - 1) * strides[i];
    if (ext < 0) lo += ext; else hi += ext;
  }
  int64_t cap = int64_t(t->storage->bytes / dtype_size(t->dtype));
  FF_CHECK(empty || (lo >= 0 && hi < cap), "as_strided: view ", sizes, " strides ", strides, " offset ", t->offset,
           " exceeds storage of ", cap, " elements");
  return Tensor(t);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(ctx(), shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  Tensor src = contiguous();
  Tensor out = empty(ctx(), shape(), dtype(), d);
#ifdef FF_WITH_CUDA
  cuda::copy_bytes(ctx(), out.raw_data(), d, src.raw_data(), device(), size_t(numel()) * dtype_size(dtype()));
#else
  FF_THROW("Tensor::to(", d.str(), "): built without CUDA");
#endif
  return out;
}

Tensor Tensor::to(DType t) const {
  if (dtype() == t) return *this;
  Tensor out = empty(ctx(), shape(), t, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::detach() const {
  auto t = std::make_shared<TensorImpl>();
  t->storage = impl().storage;
  t->sizes = impl().sizes;
  t->strides = impl().strides;
  t->offset = impl().offset;
  t->dtype = impl().dtype;
  return Tensor(t);
}

void Tensor::copy_(const Tensor& src) const {
  Tensor s = src;
  if (s.device() != device()) {  // move to our device first (contiguous), then copy locally
    s = s.contiguous().to(device());
  }
  Tensor e = kernels::expand_to(s, shape(), "copy_");
  if (numel() == 0) return;
  FF_ON_DEVICE(device(), copy(*this, e));
}

void Tensor::fill_(double v) const {
  if (numel() == 0) return;
  FF_ON_DEVICE(device(), fill(*this, v));
}

const Tensor& Tensor::set_requires_grad(bool r) const {
  FF_CHECK(!r || is_floating(dtype()), "set_requires_grad: only floating tensors can require grad, got ", str());
  FF_CHECK(!r || is_leaf(), "set_requires_grad: only leaf tensors can be marked, got a non-leaf ", str());
  impl().requires_grad = r;
  return *this;
}

// ---------------------------------------------------------------------------------------------------
static void check_device_dtype(Device device, DType dtype, const char* op) {
  FF_CHECK(!(device.is_cuda() && dtype == DType::F64), op, ": f64 tensors are CPU-only (gradient checks), asked for ",
           device.str());
}

Tensor empty(Context& ctx, const Shape& shape, DType dtype, Device device) {
  check_device_dtype(device, dtype, "empty");
  for (int64_t d : shape) FF_CHECK(d >= 0, "empty: negative dimension in shape ", shape);
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(ctx, device, size_t(shape_numel(shape)) * dtype_size(dtype));
  t->sizes = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  return Tensor(t);
}

Tensor full(Context& ctx, const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(ctx, shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor zeros(Context& ctx, const Shape& shape, DType dtype, Device device) { return full(ctx, shape, 0.0, dtype, device); }
Tensor ones(Context& ctx, const Shape& shape, DType dtype, Device device) { return full(ctx, shape, 1.0, dtype, device); }
Tensor empty_like(const Tensor& t) { return empty(t.ctx(), t.shape(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.ctx(), t.shape(), t.dtype(), t.device()); }

Tensor arange(Context& ctx, int64_t n, DType dtype, Device device) {
  std::vector<double> v(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double(i);
  return from_vector<double>(ctx, v, {n}, Device::cpu()).to(dtype).to(device);
}

static Tensor random_tensor(Context& ctx, const Shape& shape, DType dtype, Device device, bool normal, double a,
                            double b) {
  FF_CHECK(is_floating(dtype), normal ? "randn" : "rand", ": dtype must be floating, got ", dtype_name(dtype));
  Tensor t = empty(ctx, shape, dtype, device);
  uint64_t counter = ctx.rng_advance(uint64_t(t.numel()));
  if (t.numel() > 0) FF_ON_DEVICE(device, random_fill(t, ctx.seed(), counter, normal, a, b));
  return t;
}
Tensor randn(Context& ctx, const Shape& shape, DType dtype, Device device, double mean, double std) {
  return random_tensor(ctx, shape, dtype, device, true, mean, std);
}
Tensor rand(Context& ctx, const Shape& shape, DType dtype, Device device, double lo, double hi) {
  return random_tensor(ctx, shape, dtype, device, false, lo, hi);
}

template <class T>
Tensor from_vector(Context& ctx, const std::vector<T>& values, const Shape& shape, Device device) {
  FF_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(), " values for shape ", shape);
  Tensor t = empty(ctx, shape, dtype_of<T>(), Device::cpu());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t.to(device);
}
template Tensor from_vector<float>(Context&, const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(Context&, const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<int64_t>(Context&, const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector<int32_t>(Context&, const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector<uint8_t>(Context&, const std::vector<uint8_t>&, const Shape&, Device);

}  // namespace ff

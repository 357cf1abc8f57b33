// tensor/io.cpp — .fft read/write over runtime/container.h.
#include "tensor/io.h"

#include <cstring>

namespace ff {

static_assert(uint8_t(DType::F32) == ffrt::kF32 && uint8_t(DType::F64) == ffrt::kF64 &&
                  uint8_t(DType::I32) == ffrt::kI32 && uint8_t(DType::I64) == ffrt::kI64 &&
                  uint8_t(DType::U8) == ffrt::kU8,
              "ff::DType codes are the container's dtype codes");

void add_tensor_records(ffrt::ContainerWriter& w, const NamedTensors& tensors, const char* op) {
  for (auto& [name, t] : tensors) {
    FF_CHECK(t.defined(), op, ": tensor '", name, "' is undefined");
    Tensor c = t.to(Device::cpu()).contiguous();
    rethrow_as_ff([&] {
      w.add(name, uint8_t(c.dtype()), c.shape(), c.raw_data(), uint64_t(c.numel()) * dtype_size(c.dtype()));
    });
  }
}

NamedTensors tensors_from_records(Context& ctx, const std::vector<ffrt::RecordView>& records) {
  NamedTensors out;
  for (auto& r : records) {
    Tensor t = empty(ctx, r.shape, DType(r.dtype), Device::cpu());
    if (r.nbytes) std::memcpy(t.raw_data(), r.data, size_t(r.nbytes));
    out.emplace_back(r.name, t);
  }
  return out;
}

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  ffrt::ContainerWriter w(ffrt::FileKind::kTensors, {});
  add_tensor_records(w, tensors, "save_tensors");
  write_file_atomic(path, w.finish());
}

NamedTensors load_tensors(Context& ctx, const std::string& path) {
  const std::string buf = read_file(path);
  return tensors_from_records(
      ctx, rethrow_as_ff([&] { return ffrt::parse_container(buf, ffrt::FileKind::kTensors, "'" + path + "'"); }).records);
}

Tensor find_tensor(const NamedTensors& t, const std::string& name) {
  std::string names;
  for (auto& [n, v] : t) {
    if (n == name) return v;
    names += (names.empty() ? "" : ", ") + n;
  }
  FF_THROW("no tensor named '", name, "' (entries: ", names, ")");
}

}  // namespace ff

#include <cstdlib>

#include "core/cuda_check.h"

namespace ff::detail {

const char* cublas_status_string(cublasStatus_t s) { return cublasGetStatusString(s); }

bool sync_debug_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("FF_SYNC_DEBUG");
    return v && v[0] == '1';
  }();
  return on;
}

}  // namespace ff::detail

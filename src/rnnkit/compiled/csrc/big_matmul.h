// The large float32 matmuls around the recurrence (all steps' input projections, x's and the
// weights' gradients over all B*T rows) through oneDNN, the library torch.nn.LSTM runs on.
#pragma once
#include <ATen/ATen.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

// torch's own entry to oneDNN's matmul (ATen/native/mkldnn/Matmul.h, not among the installed
// headers): result = beta * result + alpha * mat1 @ mat2. Weak: a torch without it (or built
// without oneDNN) leaves it null, and every matmul stays at::mm's.
namespace at::native {
__attribute__((weak)) void mkldnn_matmul(const at::Tensor& mat1, const at::Tensor& mat2,
                                         const at::Tensor& result, float beta, float alpha);
}

namespace rnnkit_matmul {

// Why: at::mm runs float32 on MKL, which on this project's AMD Zen 4 machines reached 64-79
// GFLOP/s on (6400 x 256) x (256 x 1024) where oneDNN reached 94-104 (BENCHMARKS.md, "The big
// matmuls through oneDNN"). On per-step sizes (32-64 rows) oneDNN was no faster and its
// per-call cost higher, so only matmuls of at least kMinMacs multiply-adds go there.
constexpr double kMinMacs = 32.0 * 1024 * 1024;

// RNNKIT_ONEDNN=0: at::mm for every matmul. Read on each call (a few per layer and batch, not
// per step), so that a benchmark can compare both in one process.
inline bool onednn_wanted() {
  const char* v = std::getenv("RNNKIT_ONEDNN");
  const bool off = v != nullptr && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0);
  return !off && &at::native::mkldnn_matmul != nullptr;
}

// How many products went to oneDNN in this process: the tests' proof that the path ran
// (a result within rounding of at::mm's cannot tell the two apart).
inline std::atomic<int64_t>& onednn_count() {
  static std::atomic<int64_t> count{0};
  return count;
}

// A matrix oneDNN reads in place: contiguous or the transpose of a contiguous one. The
// reset-before GRU's gate slices (rows of stride 3H or 4H) were slower there than on MKL.
inline bool dense(const at::Tensor& m) { return m.is_contiguous() || m.t().is_contiguous(); }

// out = a @ b (beta 0) or out += a @ b (beta 1); a (M, K), b (K, N), out (M, N), any strides
// at::mm takes. Float64 and small products stay on at::mm.
inline void mm_into(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b,
                    double beta) {
  const double macs = double(a.size(0)) * double(a.size(1)) * double(b.size(1));
  static std::atomic<bool> refused{false};  // a build whose oneDNN matmul refuses float32
  if (a.scalar_type() == at::kFloat && macs >= kMinMacs && dense(a) && dense(b) &&
      out.is_contiguous() && !refused.load() && onednn_wanted()) {
    try {
      at::native::mkldnn_matmul(a, b, out, float(beta), 1.0f);
      onednn_count().fetch_add(1, std::memory_order_relaxed);
      return;
    } catch (const c10::Error&) {  // checked before writing: out is as it was
      refused.store(true);
    }
  }
  if (beta == 0.0) {
    at::mm_out(const_cast<at::Tensor&>(out), a, b);
  } else {
    const_cast<at::Tensor&>(out).addmm_(a, b, beta, 1.0);
  }
}

// The op functions.py calls for the projections and their gradients
inline void mm_into_op(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b,
                       double beta) {
  mm_into(out, a, b, beta);
}

// The op behind torch.ops.rnnkit.onednn_calls(): the count above, or -1 where this torch has
// no oneDNN matmul to call (every product is at::mm's)
inline int64_t onednn_calls_op() {
  return &at::native::mkldnn_matmul == nullptr ? -1 : onednn_count().load();
}

}  // namespace rnnkit_matmul

// The per-step products of a recurrence, h_{t-1} W^T forward and dg_t W backward, through
// oneDNN with the weight reordered ONCE per sequence into oneDNN's blocked layout.
//
// Why: these are thin products ((B, H) x (H, G*H), B 16-64) repeated T times, and at::mm
// runs them on MKL at 85-95 GFLOP/s a core on this project's AMD Zen 4 machines. oneDNN's
// inner product on a weight reordered once ran the same products 1.3-2.3x faster (64 x 256 by
// 256 x 1024: 157 against 362 us on 1 thread; BENCHMARKS.md, "Per-step products on a
// reordered weight"). Called per step without the reorder, oneDNN was no faster than MKL
// (big_matmul.h), which is why only the large products went there before.
//
// The fallback is at::mm / at::addmm, as before: float64, products too small to pay oneDNN's
// per-call cost (~10 us), sequences too short to pay the reorder, a torch without oneDNN's
// linear, and RNNKIT_PACKED=0 (to compare the two in one process).
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

// torch's own oneDNN linear (ATen/native/mkldnn/Linear.h, exported but not among the
// installed headers): x W^T with W reordered by mkldnn::_reorder_linear_weight, and its
// "binary" form x W^T + other. Weak: a torch without them leaves them null.
namespace at::native {
__attribute__((weak)) at::Tensor mkldnn_linear_pointwise(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    std::string_view attr, c10::List<std::optional<at::Scalar>> scalars,
    std::optional<std::string_view> algorithm);
__attribute__((weak)) at::Tensor mkldnn_linear_pointwise_binary(
    const at::Tensor& input, const at::Tensor& other, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, std::string_view attr);
}  // namespace at::native

namespace rnnkit_matmul {

// Where at::mm stays (RNNKIT_PACKED=all measures past these): oneDNN's per-call cost
// (primitive lookup, output allocation, a copy of a strided input) is about that of a 1M
// multiply-add product, and the reorder (~170 us for 1024 x 256) needs a few steps' savings.
// Measured per sequence (benchmarks/lstm_backends.py --parts packed-all): at H 256 and 512
// 1.12-1.43x faster; at H 128, 1.00-1.21x with 32 or 64 rows to a product, but 0.80-1.08x
// with 16 (B 32 on 2 threads: a row block each). So: 32+ rows or both sides 256+, and no
// side under 128.
constexpr double kMinStepMacs = 1024.0 * 1024;
constexpr int64_t kMinRows = 32, kWideSide = 256, kMinSide = 128;
constexpr int64_t kMinSteps = 8;

inline bool worth_reordering(int64_t rows, int64_t n, int64_t k, int64_t steps) {
  const int64_t side = std::min(n, k);
  return double(rows) * double(n) * double(k) >= kMinStepMacs && steps >= kMinSteps &&
         side >= kMinSide && (rows >= kMinRows || side >= kWideSide);
}

// RNNKIT_PACKED: "0"/"off" never, "all" at every size (to measure where it pays), else by the
// sizes above
inline const char* packed_setting() {
  const char* v = std::getenv("RNNKIT_PACKED");
  return v == nullptr ? "" : v;
}
inline bool packed_wanted() {
  const char* v = packed_setting();
  const bool off = std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0;
  return !off && &at::native::mkldnn_linear_pointwise != nullptr &&
         &at::native::mkldnn_linear_pointwise_binary != nullptr;
}

// How many sequences ran their steps on a reordered weight: the tests' proof that the path ran
inline std::atomic<int64_t>& packed_count() {
  static std::atomic<int64_t> count{0};
  return count;
}

// A step's weight W (N, K): products x (n, K) -> x W^T (n, N), for every step of a sequence.
class StepWeight {
 public:
  StepWeight() = default;
  // w: (N, K), any strides; rows: the largest n a product will have; steps: how many steps
  StepWeight(const at::Tensor& w, int64_t rows, int64_t steps) : w_t_(w.t()) {
    const bool all = std::strcmp(packed_setting(), "all") == 0;
    if (w.scalar_type() != at::kFloat || refused().load() || !packed_wanted() ||
        (!all && !worth_reordering(rows, w.size(0), w.size(1), steps)))
      return;
    try {
      static auto reorder = c10::Dispatcher::singleton()
          .findSchemaOrThrow("mkldnn::_reorder_linear_weight", "")
          .typed<at::Tensor(const at::Tensor&, std::optional<int64_t>)>();
      packed_ = reorder.call(w.contiguous(), rows);
      packed_count().fetch_add(1, std::memory_order_relaxed);
    } catch (const c10::Error&) {
      refused().store(true);
      packed_.reset();
    }
  }

  // x W^T: a new tensor on oneDNN, else written into scratch (n, N) when given
  at::Tensor times(const at::Tensor& x, at::Tensor& scratch) const {
    if (packed_ && !refused().load()) {
      try {
        return at::native::mkldnn_linear_pointwise(x, *packed_, std::nullopt, "none",
                                                   c10::List<std::optional<at::Scalar>>(),
                                                   std::nullopt);
      } catch (const c10::Error&) {  // checked before computing: at::mm from now on
        refused().store(true);
      }
    }
    if (!scratch.defined()) return at::mm(x, w_t_);
    at::mm_out(scratch, x, w_t_);
    return scratch;
  }

  // out = direct + x W^T (out (n, N), written in place)
  void add_times(at::Tensor& out, const at::Tensor& direct, const at::Tensor& x) const {
    if (packed_ && !refused().load()) {
      try {
        out.copy_(at::native::mkldnn_linear_pointwise_binary(x, direct, *packed_,
                                                            std::nullopt, "add"));
        return;
      } catch (const c10::Error&) {
        refused().store(true);
      }
    }
    at::addmm_out(out, direct, x, w_t_);
  }

 private:
  // a build whose oneDNN refuses a reorder or a product: at::mm from then on
  static std::atomic<bool>& refused() {
    static std::atomic<bool> flag{false};
    return flag;
  }

  at::Tensor w_t_;                    // W^T, for at::mm
  std::optional<at::Tensor> packed_;  // W in oneDNN's layout
};

// torch.ops.rnnkit.step_mm(a, b) = a @ b, for the traced graphs of user cells
// (compiled/traced.py puts it where a step multiplies by one of the cell's weights): b's
// reordered copy is kept per thread, keyed by b's storage, layout and version, from the first
// step of a sequence to the last; traced.py clears it (step_mm_reset) when each sequence's
// forward or backward starts and ends, so a weight changed in any way between calls (even
// through .data, which no version counter sees) is reordered afresh.
struct KeptWeight {
  const void* data;
  std::vector<int64_t> sizes, strides;
  int64_t version;
  StepWeight weight;
};
inline std::vector<KeptWeight>& kept_weights() {
  thread_local std::vector<KeptWeight> kept;
  return kept;
}
// the steps of the sequence now running on this thread (step_mm_reset): a short one does not
// pay for the reorder (a decoder called one token at a time would reorder at every token)
inline int64_t& sequence_steps() {
  thread_local int64_t steps = 0;
  return steps;
}

inline at::Tensor step_mm_op(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
              "rnnkit step_mm: (n, K) @ (K, N) expected");
  if (a.scalar_type() != at::kFloat || b.scalar_type() != at::kFloat || !a.device().is_cpu())
    return at::mm(a, b);
  const void* data = b.storage().data();
  const int64_t version = b.unsafeGetTensorImpl()->version_counter().current_version();
  auto& kept = kept_weights();
  const KeptWeight* found = nullptr;
  for (const auto& k : kept)
    if (k.data == data && k.version == version && b.sizes().equals(k.sizes) &&
        b.strides().equals(k.strides)) {
      found = &k;
      break;
    }
  if (found == nullptr) {
    kept.push_back({data, b.sizes().vec(), b.strides().vec(), version,
                    StepWeight(b.t().detach(), a.size(0), sequence_steps())});
    found = &kept.back();
  }
  at::Tensor none;  // no scratch: at::mm's own output where it is not reordered
  return found->weight.times(a, none);
}

inline void step_mm_reset_op(int64_t steps) {
  kept_weights().clear();
  sequence_steps() = steps;
}

// The op behind torch.ops.rnnkit.packed_calls(): the count above, or -1 where this torch has
// no oneDNN linear to call
inline int64_t packed_calls_op() {
  return &at::native::mkldnn_linear_pointwise == nullptr ? -1 : packed_count().load();
}

}  // namespace rnnkit_matmul

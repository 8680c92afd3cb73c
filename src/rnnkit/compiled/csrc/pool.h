// A pool of big buffers shared by the kernels (gated.cpp, layernorm.cpp).
#pragma once
#include <ATen/ATen.h>

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace rnnkit_pool {

// Big buffers (the saved work, the states, the gradient buffers: (B, T, X) each) come from a
// small pool of blocks that autograd has freed, reused when a later call asks for the same
// size. From the allocator, blocks over 32 MB are fresh mmap()ed pages on every call, and
// touching them costs a page fault per 4 KB: at T 1000 that was a large part of the
// kernels' time. The pool keeps at most kBlocks blocks and kBytes bytes (oldest dropped
// first); smaller buffers go to at::empty.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: a tensor may be freed at exit
    return *pool;
  }
  at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& opts) {
    int64_t n = 1;
    for (int64_t v : sizes) n *= v;
    const size_t bytes = size_t(n) * opts.dtype().itemsize();
    if (bytes < kMin) return at::empty(sizes, opts);
    void* p = take(bytes);
    if (p == nullptr) {
      // from 8 MB: 2 MB-aligned and marked for transparent huge pages, so that a fresh
      // block's first touch faults once per 2 MB, not once per 4 KB (THP "madvise" here)
      const size_t align = bytes >= 4 * kHuge ? kHuge : 64;
      const size_t size = (bytes + align - 1) / align * align;
      p = std::aligned_alloc(align, size);
      TORCH_CHECK(p != nullptr, "rnnkit kernel: out of memory (", bytes, " bytes)");
      if (align == kHuge) madvise(p, size, MADV_HUGEPAGE);  // advice: ignored where THP is off
    }
    return at::from_blob(p, sizes, [bytes](void* q) { Pool::get().give(q, bytes); }, opts);
  }

 private:
  static constexpr size_t kMin = size_t(1) << 20, kBytes = size_t(1) << 31;
  // 12: one training step of the LayerNorm-LSTM frees 7-8 big blocks (a, hs, cs, work, d a,
  // d acc, h_{t-1}'s copy, d x), the gated LSTM's 7; with 6 the oldest was dropped and the
  // next step faulted its pages in again (3.7k faults per step at B 64, T 100, H 256)
  static constexpr size_t kBlocks = 12, kHuge = size_t(1) << 21;
  std::mutex mutex_;
  std::vector<std::pair<size_t, void*>> free_;  // oldest first
  size_t held_ = 0;
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t k = free_.size(); k-- > 0;) {
      if (free_[k].first == bytes) {
        void* p = free_[k].second;
        held_ -= bytes;
        free_.erase(free_.begin() + k);
        return p;
      }
    }
    return nullptr;
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace_back(bytes, p);
    held_ += bytes;
    while (!free_.empty() && (free_.size() > kBlocks || held_ > kBytes)) {
      std::free(free_.front().second);
      held_ -= free_.front().first;
      free_.erase(free_.begin());
    }
  }
};
inline at::Tensor pooled(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  return Pool::get().empty(sizes, opts);
}

}  // namespace rnnkit_pool

// Scalar activations shared by the kernels; written so that GCC vectorises loops over them
// (with -ffast-math, exp becomes glibc's vector exp).
//
// The vector exp is not defined past overflow, so exp's argument is clamped first: at
// |x| = 88 (float) sigmoid and tanh are already 0/±1 to the type's precision, so the clamp
// changes no result and no inf is ever made. The clamps and comparisons are written so that a
// NaN goes through them (a comparison with NaN is false: `x > lim ? lim : x` keeps x), and the
// build turns off -ffast-math's finite-math-only, under which GCC may assume no NaN and drop
// it: a NaN in the input comes out NaN, as from torch.nn.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__FAST_MATH__)
// glibc declares its vector exp/log (libmvec) only under __FAST_MATH__, which
// -fno-finite-math-only undefines: declared here so that the gate loops keep calling them.
// libmvec's variants hand NaN, inf and out-of-range lanes to the scalar function.
extern "C" {
float expf(float) noexcept __attribute__((__simd__("notinbranch")));
double exp(double) noexcept __attribute__((__simd__("notinbranch")));
float logf(float) noexcept __attribute__((__simd__("notinbranch")));
double log(double) noexcept __attribute__((__simd__("notinbranch")));
}
#endif

namespace rnnkit_math {

template <typename T> inline T safe_exp(T x) {
  constexpr T lim = std::is_same_v<T, float> ? T(88) : T(700);
  x = x > lim ? lim : x;
  x = x < -lim ? -lim : x;
  return std::exp(x);
}
template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + safe_exp(-x)); }
template <typename T> inline T tanh_(T x) { return T(2) / (T(1) + safe_exp(T(-2) * x)) - T(1); }
// y = sigmoid(y) / tanh(y) in place over n values, in loops of their own: the vector exp is a
// call that clobbers every vector register, so a loop doing several gates' arithmetic around
// several calls spends its time spilling (perf annotate of the LayerNorm kernels)
template <typename T> inline void sigmoid_inplace(T* y, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = sigmoid(y[j]);
}
template <typename T> inline void tanh_inplace(T* y, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = tanh_(y[j]);
}
// log(1 + e^x), stably: max(x, 0) + log(1 + e^-|x|)
template <typename T> inline T softplus(T x) {
  T ax = x < T(0) ? -x : x;
  return (x < T(0) ? T(0) : x) + std::log(T(1) + safe_exp(-ax));
}
// minLSTM's normalised gates f/(f+i) and i/(f+i), f = σ(kf), i = σ(ki), as σ(∓δ) with
// δ = log i − log f: finite where both gates underflow (f / (f + i) is 0/0 there)
template <typename T> inline T min_lstm_delta(T kf, T ki) { return softplus(-kf) - softplus(-ki); }
// the Elman cell's activation by its kernel number: 0 tanh, 1 relu, 2 sigmoid
template <int64_t kind, typename T> inline T activate_as(T x) {
  if constexpr (kind == 0) return tanh_(x);
  else if constexpr (kind == 1) return x < T(0) ? T(0) : x;  // NaN stays NaN
  else return sigmoid(x);
}
// y = f(x + a [+ bias]) over a row of H, f the Elman activation `kind`. One vector loop per
// activation: with `kind` tested inside one `omp simd` loop GCC computes all three
// activations for every lane (if-conversion).
template <int64_t kind, typename T>
inline void activate_row_as(const T* x, const T* a, const T* bias, T* y, int64_t H) {
  if (bias) {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) y[j] = activate_as<kind>(x[j] + a[j] + bias[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) y[j] = activate_as<kind>(x[j] + a[j]);
  }
}
template <typename T>
inline void activate_row(int64_t kind, const T* x, const T* a, const T* bias, T* y, int64_t H) {
  if (kind == 0) activate_row_as<0>(x, a, bias, y, H);
  else if (kind == 1) activate_row_as<1>(x, a, bias, y, H);
  else activate_row_as<2>(x, a, bias, y, H);
}
// its derivative, from its output y
template <typename T> inline T activate_grad(int64_t kind, T y) {
  if (kind == 0) return T(1) - y * y;
  if (kind == 1) return y > T(0) ? T(1) : T(0);
  return y * (T(1) - y);
}
// minGRU/minLSTM's g: x + 1/2 for x >= 0, sigmoid below (positive, so states stay positive)
template <typename T> inline T g_act(T x) { return x >= T(0) ? x + T(0.5) : sigmoid(x); }
template <typename T> inline T g_grad(T x) {
  T s = sigmoid(x);
  return x >= T(0) ? T(1) : s * (T(1) - s);
}

}  // namespace rnnkit_math

// Scalar activations shared by the kernels; written so that GCC vectorises loops over them
// (with -ffast-math, exp becomes glibc's vector exp).
#pragma once
#include <cmath>

namespace rnnkit_math {

template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T tanh_(T x) { return T(2) / (T(1) + std::exp(T(-2) * x)) - T(1); }
// minGRU/minLSTM's g: x + 1/2 for x >= 0, sigmoid below (positive, so states stay positive)
template <typename T> inline T g_act(T x) { return x >= T(0) ? x + T(0.5) : sigmoid(x); }
template <typename T> inline T g_grad(T x) {
  T s = sigmoid(x);
  return x >= T(0) ? T(1) : s * (T(1) - s);
}

}  // namespace rnnkit_math

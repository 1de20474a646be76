// RNN gate math shared by the CPU and CUDA kernels (PDK_HD): the cell updates of every mode, including LSTM peepholes.
//
// Each update is a template over the value type V (a scalar, or on the CPU a SIMD vector of
// hidden units) and a Math policy giving sigmoid / tanh for V, so the vectorised CPU epilogue,
// its scalar tail and the CUDA kernels run the same formulas. Pre-activations come in with both
// biases added except GRU's b_hn, which torch applies inside r * (W_hn h + b_hn).
#pragma once
#include <cmath>

#include "core/pdk.h"
#include "rnn/rnn.h"

namespace pdk {

// sigmoid / tanh / relu of scalars (CUDA kernels and the CPU's partial-width tails).
template <class T>
PDK_HD T rnn_tanh(T v) {
  return tanh(v);
}
template <class T>
struct RnnScalarMath {
  PDK_HD T sigmoid(T v) const { return T(1) / (T(1) + exp(-v)); }
  PDK_HD T tanh(T v) const { return rnn_tanh(v); }
  PDK_HD T relu(T v) const { return v > T(0) ? v : (v != v ? v : T(0)); }
};

// LSTM (Gers & Schmidhuber peepholes when peephole: i and f see c_{t-1}, o sees c_t; p* are the
// diagonal weights of the unit). Writes c_t and h_t = o * tanh(c_t) (before any projection).
template <class V, class Math>
PDK_HD void lstm_update(const Math& m, V gi, V gf, V gg, V go, V c_prev, bool peephole, V pi, V pf, V po, V& c,
                        V& h) {
  if (peephole) {
    gi = gi + pi * c_prev;
    gf = gf + pf * c_prev;
  }
  const V i = m.sigmoid(gi), f = m.sigmoid(gf), g = m.tanh(gg);
  c = f * c_prev + i * g;
  if (peephole) go = go + po * c;
  h = m.sigmoid(go) * m.tanh(c);
}

// GRU as torch: r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n),
// h_t = (1 - z) * n + z * h_{t-1}; h_n = W_hn h_{t-1} + b_hn.
template <class V, class Math>
PDK_HD V gru_update(const Math& m, V xr, V xz, V xn, V hr, V hz, V hn, V h_prev) {
  const V r = m.sigmoid(xr + hr), z = m.sigmoid(xz + hz);
  const V n = m.tanh(xn + r * hn);
  return n + z * (h_prev - n);
}

// Plain RNN: h_t = tanh or relu of the pre-activation.
template <class V, class Math>
PDK_HD V rnn_update(const Math& m, V pre, bool relu) {
  return relu ? m.relu(pre) : m.tanh(pre);
}

}  // namespace pdk

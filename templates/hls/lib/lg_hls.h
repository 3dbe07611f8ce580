/* lg_hls.h - lstmgen HLS kernels (hand-written, copied verbatim by the generator).
 *
 * The Vitis HLS counterpart of lstmgen/fixedpoint.py and golden.table_lookup: one template per
 * helper, one rounding rule (round half up on right shifts, exact left shifts, then saturate),
 * arithmetic on ap_int<W> only. Every width W is a template argument that the generator takes
 * from lstmgen's arithmetic plan (lstmgen/plan.py): a kernel never chooses a width itself, and
 * the plan proves that every value fits the width it is given, so no conversion here ever
 * drops a bit that matters (conversions between ap_int widths keep the low bits).
 *
 * Synthesisable subset only: static sizes, no dynamic memory, no recursion, no STL. The AXI4-
 * Stream word type comes from Vitis's ap_axi_sdata.h; where that header is absent (C-simulation
 * with the ap_types headers that hls4ml ships) a struct with the same fields stands in.
 */
#ifndef LG_HLS_H
#define LG_HLS_H

/* The ap_types headers trip GCC's uninitialised-value analysis in their own code (a default-
 * constructed ap_int clears its unused bits); silence it for those headers only. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <ap_int.h>
#include <hls_stream.h>
#if defined(__has_include)
#if __has_include(<ap_axi_sdata.h>)
#include <ap_axi_sdata.h>
#define LG_HAVE_AP_AXI_SDATA 1
#endif
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace lg {

/* ---- AXI4-Stream words: TDATA (W bits, a multiple of 8), TKEEP, TSTRB, TLAST ---- */
#if defined(LG_HAVE_AP_AXI_SDATA)
template <int W> struct axis_s {
    typedef ap_axis<W, 0, 0, 0> type; /* signed TDATA */
};
template <int W> struct axis_u {
    typedef ap_axiu<W, 0, 0, 0> type; /* unsigned TDATA */
};
#else
template <int W> struct axis_word_s {
    ap_int<W> data;
    ap_uint<(W + 7) / 8> keep;
    ap_uint<(W + 7) / 8> strb;
    ap_uint<1> last;
};
template <int W> struct axis_word_u {
    ap_uint<W> data;
    ap_uint<(W + 7) / 8> keep;
    ap_uint<(W + 7) / 8> strb;
    ap_uint<1> last;
};
template <int W> struct axis_s {
    typedef axis_word_s<W> type;
};
template <int W> struct axis_u {
    typedef axis_word_u<W> type;
};
#endif

/* ---- fixedpoint.py ---- */

/* The largest and smallest code of a signed W-bit integer, held in W + 1 bits. */
template <int W> struct limits {
    static ap_int<W + 1> hi() { return (ap_int<W + 1>(1) << (W - 1)) - 1; }
    static ap_int<W + 1> lo() { return -(ap_int<W + 1>(1) << (W - 1)); }
};

template <int S, bool RIGHT = (S > 0)> struct shifter;

/* S > 0: (x + 2^(S-1)) >> S, an arithmetic shift rounding half up. */
template <int S> struct shifter<S, true> {
    template <int RW, int W> static ap_int<RW> apply(const ap_int<W> &x) {
        ap_int<RW> t = x;
        t += ap_int<RW>(1) << (S - 1);
        return t >> S;
    }
};

/* S <= 0: x << -S, exact. */
template <int S> struct shifter<S, false> {
    template <int RW, int W> static ap_int<RW> apply(const ap_int<W> &x) {
        ap_int<RW> t = x;
        return t << (-S);
    }
};

/* fixedpoint.shift_round in RW bits. Requires (the plan's Rescale.round_bits): x, x plus its
 * rounding addend, and for S <= 0 the shifted value all fit in RW bits. */
template <int RW, int S, int W> inline ap_int<RW> shift_round(const ap_int<W> &x) {
    static_assert(RW >= W, "the rounding width must hold the operand");
    return shifter<S>::template apply<RW>(x);
}

/* fixedpoint.rescale: saturate(shift_round(x, S), OUT_W), the shift done in RW bits. */
template <int OUT_W, int S, int RW, int W> inline ap_int<OUT_W> rescale(const ap_int<W> &x) {
    const ap_int<RW> t = shift_round<RW, S>(x);
    if (t > limits<OUT_W>::hi()) {
        return limits<OUT_W>::hi();
    }
    if (t < limits<OUT_W>::lo()) {
        return limits<OUT_W>::lo();
    }
    return t;
}

/* ---- golden.table_lookup ----
 * T describes one table: N entries of entry_t, entry k belongs to input code LO + k * 2^SHIFT;
 * IN_W / OUT_W are the input and output code widths; INTERP selects linear interpolation, whose
 * product plus rounding addend fits IP_W bits (the plan's Lookup.interp_bits). */
template <class T>
inline ap_int<T::OUT_W> lookup(const typename T::entry_t values[T::N], const ap_int<T::IN_W> &p) {
    const ap_int<T::IN_W + 2> d = p - ap_int<T::IN_W + 1>(T::LO);
    if (d < 0) {
        return values[0];
    }
    const ap_int<T::IN_W + 2> idx = d >> T::SHIFT;
    if (idx >= T::N - 1) {
        return values[T::N - 1];
    }
    const int i = idx.to_int();
    const ap_int<T::OUT_W> y = values[i];
    if (!T::INTERP || T::SHIFT == 0) {
        return y;
    }
    const ap_int<T::IN_W + 2> r = d & ((ap_int<T::IN_W + 2>(1) << T::SHIFT) - 1);
    const ap_int<T::OUT_W + 1> diff = ap_int<T::OUT_W + 1>(values[i + 1]) - y;
    const ap_int<T::IP_W> prod = diff * r;
    return y + shift_round<T::IP_W, T::SHIFT>(prod);
}

/* ---- the products ---- */

/* sum_k w[k] * v[k] for K columns: the weights are WB-bit codes stored as plain integers; every
 * partial sum fits ACC_W bits (the plan's MatVec.bits), so the order of summation is free. */
template <int ACC_W, int WB, int K, typename WT, int VW>
inline ap_int<ACC_W> dot(const WT w[K], const ap_int<VW> v[K]) {
    ap_int<ACC_W> s = 0;
    for (int k = 0; k < K; ++k) {
#pragma HLS UNROLL
        s += ap_int<WB>(w[k]) * v[k];
    }
    return s;
}

/* One product term w * v added to an accumulator of ACC_W bits (the zero-skipping schedule). */
template <int ACC_W, int WB, typename WT, int VW>
inline ap_int<ACC_W> mac(const ap_int<ACC_W> &acc, const WT w, const ap_int<VW> &v) {
    return acc + ap_int<WB>(w) * v;
}

/* ---- one gate: golden.layer_step's acc and pre ----
 * G holds the plan's sites of one gate: mv_x (MVX_W), mv_h (MVH_W), acc (ACC_W, SHIFT_X,
 * SHIFT_H), the bias width B_W and pre (PRE_SHIFT, PRE_RW, PRE_W). */
template <class G>
inline ap_int<G::PRE_W> gate_pre(const ap_int<G::MVX_W> &mv_x, const ap_int<G::MVH_W> &mv_h,
                                 const ap_int<G::B_W> &bias) {
    ap_int<G::ACC_W> acc = ap_int<G::ACC_W>(mv_x) << G::SHIFT_X;
    acc += ap_int<G::ACC_W>(mv_h) << G::SHIFT_H;
    acc += bias;
    return rescale<G::PRE_W, G::PRE_SHIFT, G::PRE_RW>(acc);
}

/* ---- the pointwise update of one unit: golden.layer_step after the gates ----
 * C holds the plan's cell sites: gate widths SIG_W / TANH_W, the state widths C_W and H_W, the
 * products f*c (FC_W) and i*g (IG_W), the sum (SUM_W) either aligned ((f*c << S_FC) + (i*g <<
 * S_IG)) or in the plan's exact fused form (FUSED: T1 + (T0 >> K), T1 the product carrying the
 * shift, f*c when SHIFTED_FC), its rescale to c (C_SHIFT, C_RW), the rescale of c to the tanh
 * input (TIN_SHIFT, TIN_RW, TIN_W), the product o * tanh(c) (P_W) and its rescale to h
 * (H_SHIFT, H_RW). SHS: with HAS_THRESHOLD, o = o > THRESHOLD ? o : 0 (ALWAYS_ZERO: no o code
 * exceeds the threshold). TANH is the tanh table's description (see lookup). */
template <class C, class TANH>
inline void lstm_unit(const ap_int<C::SIG_W> &gate_i, const ap_int<C::SIG_W> &gate_f,
                      const ap_int<C::TANH_W> &gate_g, const ap_int<C::SIG_W> &gate_o_raw,
                      const typename TANH::entry_t tanh_values[TANH::N], ap_int<C::C_W> &c,
                      ap_int<C::H_W> &h) {
    ap_int<C::SIG_W> gate_o = gate_o_raw;
    if (C::ALWAYS_ZERO) {
        gate_o = 0;
    } else if (C::HAS_THRESHOLD && !(gate_o > C::THRESHOLD)) {
        gate_o = 0;
    }
    const ap_int<C::FC_W> fc = gate_f * c;
    const ap_int<C::IG_W> ig = gate_i * gate_g;
    ap_int<C::SUM_W> sum;
    if (C::FUSED) {
        if (C::SHIFTED_FC) {
            sum = ap_int<C::SUM_W>(fc) + ap_int<C::SUM_W>(ig >> C::K);
        } else {
            sum = ap_int<C::SUM_W>(ig) + ap_int<C::SUM_W>(fc >> C::K);
        }
    } else {
        sum = (ap_int<C::SUM_W>(fc) << C::S_FC) + (ap_int<C::SUM_W>(ig) << C::S_IG);
    }
    c = rescale<C::C_W, C::C_SHIFT, C::C_RW>(sum);
    const ap_int<C::TIN_W> tanh_in = rescale<C::TIN_W, C::TIN_SHIFT, C::TIN_RW>(c);
    const ap_int<C::TANH_W> tanh_c = lookup<TANH>(tanh_values, tanh_in);
    const ap_int<C::P_W> prod = gate_o * tanh_c;
    h = rescale<C::H_W, C::H_SHIFT, C::H_RW>(prod);
}

} /* namespace lg */

#endif /* LG_HLS_H */

/* Fused elementwise passes of the analog tile MVM (see _fused.py for why and how).
 *
 * Every forward kernel computes, value for value, what the unfused torch expressions in
 * _fused.py compute: the same float operations in the same order (division stays a
 * division, torch's addcmul/add-with-alpha are one fused multiply-add), rounding half to
 * even (rintf, as torch.round), clamps that keep NaN. Compiled with -ffp-contract=off so
 * that the compiler adds no fused multiply-add of its own, and -fopenmp-simd, which lets
 * the marked backward reductions be vectorised (float partial sums, rows added in double).
 *
 * Layout: a contiguous tensor seen as (outer, channels, inner); the per-channel value of
 * element (o, c, i) is at [c]. A scalar is channels = 1.
 */
#include <math.h>
#include <stdint.h>

static inline float clampf(float x, float lo, float hi) {
    x = x < lo ? lo : x; /* NaN compares false and is kept, as torch.clamp keeps it */
    return x > hi ? hi : x;
}

/* the integer code of a rounded, clamped value; NaN (a diverged training) -> 0 */
#define CODE(T, c) ((T)((c) == (c) ? (c) : 0.0f))

/* DAC of training: xq = rint(clamp(x, -r, r) / r / d_in), codes = xq, xq *= gain.
 * x is `rows` rows of `per` contiguous values, `stride` apart (a channel slice of a tile);
 * xq and codes are contiguous. */
#define DAC_TRAIN(NAME, T)                                                                          \
    void NAME(const float *restrict x, float *restrict xq, T *restrict codes, int64_t rows, int64_t per, \
              int64_t stride, float r, float d_in, float gain) {                                    \
        for (int64_t o = 0; o < rows; o++) {                                                        \
            const float *xr = x + o * stride;                                                       \
            float *qr = xq + o * per;                                                               \
            T *cr = codes + o * per;                                                                \
            for (int64_t k = 0; k < per; k++) {                                                     \
                float c = clampf(xr[k], -r, r);                                                     \
                c = c / r;                                                                          \
                c = c / d_in;                                                                       \
                c = rintf(c);                                                                       \
                cr[k] = CODE(T, c);                                                                 \
                qr[k] = c * gain;                                                                   \
            }                                                                                       \
        }                                                                                           \
    }
DAC_TRAIN(dac_train_i8, int8_t)
DAC_TRAIN(dac_train_i16, int16_t)

/* DAC codes back to the r-scaled input: xq = code * gain. */
#define DAC_DECODE(NAME, T)                                                 \
    void NAME(const T *restrict codes, float *restrict xq, int64_t n, float gain) {          \
        for (int64_t i = 0; i < n; i++) xq[i] = (float)codes[i] * gain;     \
    }
DAC_DECODE(dac_decode_i8, int8_t)
DAC_DECODE(dac_decode_i16, int16_t)

/* Output noise, ADC and its codes, in place on v (training):
 *   noise_mode 1 (per channel): v = fma(coef * n, sv[c], v)      torch addcmul_(n, sv, value=coef)
 *   noise_mode 2 (scalar):      v = fma(coef, n, v)               torch add_(n, alpha=coef)
 *   v = rint(v / step[c]); aux = int16(clamp(v, -lim-1, lim+1)); v = clamp(v, -lim, lim) * step[c]
 */
void adc_train(float *restrict v, const float *restrict noise, int16_t *restrict aux, int64_t outer, int64_t channels, int64_t inner,
               const float *sv, const float *step, int noise_mode, float coef, float lim) {
    int64_t i = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < channels; c++) {
            const float s = sv[c], st = step[c];
            float *vp = v + i;
            const float *np = noise + i;
            int16_t *ap = aux + i;
            for (int64_t k = 0; k < inner; k++) {
                float t = vp[k];
                if (noise_mode == 1) t = fmaf(coef * np[k], s, t);
                else if (noise_mode == 2) t = fmaf(coef, np[k], t);
                t = rintf(t / st);
                ap[k] = CODE(int16_t, clampf(t, -lim - 1.0f, lim + 1.0f));
                vp[k] = clampf(t, -lim, lim) * st;
            }
            i += inner;
        }
    }
}

/* Eval DAC (FastTile): codes as floats, rint(x * inv) clamped to +-lim (x row-strided as
 * in the training DAC, out contiguous). */
void dac_eval(const float *restrict x, float *restrict out, int64_t rows, int64_t per, int64_t stride, float inv,
              float lim) {
    for (int64_t o = 0; o < rows; o++) {
        const float *xr = x + o * stride;
        float *qr = out + o * per;
        for (int64_t k = 0; k < per; k++) qr[k] = clampf(rintf(xr[k] * inv), -lim, lim);
    }
}

/* Eval output (FastTile), in place: v = clamp(rint(fma(sigma, n, v)), +-lim) * unit[c]
 * (has_noise 0: no noise term). */
void adc_eval(float *restrict v, const float *restrict noise, int64_t outer, int64_t channels, int64_t inner, const float *unit,
              int has_noise, float sigma, float lim) {
    int64_t i = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < channels; c++) {
            const float u = unit[c];
            float *vp = v + i;
            const float *np = noise + i;
            if (has_noise) {
                for (int64_t k = 0; k < inner; k++) vp[k] = clampf(rintf(fmaf(sigma, np[k], vp[k])), -lim, lim) * u;
            } else {
                for (int64_t k = 0; k < inner; k++) vp[k] = clampf(rintf(vp[k]), -lim, lim) * u;
            }
            i += inner;
        }
    }
}

/* sum(g * clamp(aux, -lim, lim) * step[c]) (the "* r after the ADC" term of the range
 * gradient, without materialising y). */
double adc_y_term(const float *restrict g, const int16_t *restrict aux, int64_t outer, int64_t channels, int64_t inner,
                  const float *step, float lim) {
    double acc = 0.0;
    int64_t i = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < channels; c++) {
            const float st = step[c];
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int64_t k = 0; k < inner; k++) part += g[i + k] * (clampf((float)aux[i + k], -lim, lim) * st);
            acc += part;
            i += inner;
        }
    }
    return acc;
}

/* One pass over a tile input and the gradient at its clipped value (range backward):
 *   out[0] = sum(g * clamp(x, -r, r)), out[1] = sum(min(g * sign, 0)),
 *   sign[i] = +1 / -1 / 0 for x > r / x < -r / inside, counts[i % per] += |sign|,
 *   and, with mask_grad, g = 0 where clipped (the input gradient of the clamp).
 * x is row-strided as in the training DAC, g, sign contiguous.
 * Sums accumulate per row of `per` elements in float (vectorised), rows in double. */
void range_backward(const float *restrict x, float *restrict g, int8_t *restrict sign, int32_t *restrict counts,
                    int64_t rows, int64_t per, int64_t stride, float r,
                    int mask_grad, double *out) {
    double dot = 0.0, clip = 0.0;
    int64_t i = 0;
    for (int64_t o = 0; o < rows; o++) {
        float d = 0.0f, cl = 0.0f;
        const float *xr = x + o * stride;
        float *gr = g + i;
        int8_t *sr = sign + i;
#pragma omp simd reduction(+ : d, cl)
        for (int64_t k = 0; k < per; k++) {
            const float xv = xr[k], gv = gr[k];
            d += gv * clampf(xv, -r, r);
            const int8_t s = (int8_t)((xv > r) - (xv < -r));
            sr[k] = s;
            const float m = gv * (float)s;
            cl += m < 0.0f ? m : 0.0f;
            counts[k] += s != 0;
            if (mask_grad && s != 0) gr[k] = 0.0f;
        }
        i += per;
        dot += d;
        clip += cl;
    }
    out[0] = dot;
    out[1] = clip;
}

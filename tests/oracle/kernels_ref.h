/* kernels_ref.h: the oracles of the kernel tests, plain loops written from the definitions
 * (tests/oracle/kernels_ref.c). libmae's fast kernels are checked against them; nothing in
 * libmae or the programs uses them. Dimension letters as include/mae/kernels/kernels.h. */
#ifndef MAE_KERNELS_REF_H
#define MAE_KERNELS_REF_H

#include <stddef.h>

/* Linear: out = inp W^T + bias; backward accumulates (+=) dinp, dw, dbias. */
void mae_linear_forward_naive(float *out, const float *inp, const float *w, const float *bias,
                          int R, int C, int OC);
void mae_linear_backward_naive(float *dinp, float *dw, float *dbias, const float *dout,
                           const float *inp, const float *w, int R, int C, int OC);
/* MAE's Conv2d patch embedding on patchified input, from the conv weight (D, c, p, p). */
void mae_patch_embed_forward_naive(float *out, const float *patches, const float *w,
                               const float *bias, int R, int p, int c, int D);
/* Attention core (mae_attention_forward's contract), keeping the full probabilities
 * att (S, NH, T, T). */
void mae_attention_forward_naive(float *out, float *att, const float *qkv, const float *rpe,
                             const int *bucket, int S, int T, int C, int NH, int NB);
void mae_attention_backward_naive(float *dqkv, float *drpe, const float *dout, const float *qkv,
                              const float *att, const float *rpe, const int *bucket,
                              int S, int T, int C, int NH, int NB);
/* GELU from its definition in double: 0.5 x (1 + erf(x / sqrt 2)); the gradient accumulates
 * dinp += dout * (Phi(x) + x phi(x)). */
void mae_gelu_ref(float *out, const float *inp, size_t n);
void mae_gelu_backward_ref(float *dinp, const float *inp, const float *dout, size_t n);
/* 2-D DFT in double, O((HW)^2): re, im [H,W] of the real image x [H,W]; and the real part of
 * the inverse (with 1/(HW)). */
void mae_dft2_forward_naive(int h, int w, const float *x, double *re, double *im);
void mae_dft2_inverse_real_naive(int h, int w, const double *re, const double *im, double *x);

#endif

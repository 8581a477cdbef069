/* model_internal.h: what the model's translation units share and nobody else needs. */
#ifndef MAE_MODEL_INTERNAL_H
#define MAE_MODEL_INTERNAL_H

#include "mae/model/model.h"

/* Tokens per chunk of a stack unless mae_model.chunk_rows says otherwise. 1024 against 2048:
 * +1.2% at tiny-28 and +2.3% at ViT-Tiny 224 (medians of 20 and 10 interleaved pairs on the
 * AMD EPYC), peak memory 604 -> 583 MB and 1759 -> 1722 MB; 768 measured the same, 384 lost 7%
 * (short products). */
#define STACK_CHUNK_ROWS 1024

/* Size a stack's activations for S sequences of T tokens (grows, never shrinks). K: iRPE
 * window side when NB > 0. GELU outputs are kept when they fit in gelu_keep_mb. */
void mae_stack_ensure(mae_stack_a *a, int S, int T, int C, int NH, int L, int mlp, int NB, int K,
                  int gelu_keep_mb, int attn_keep_mb, int chunk_rows);
void mae_stack_free(mae_stack_a *a);
/* a->x0 (S*T, C) in, a->out out; S and T from the last mae_stack_ensure. */
void mae_stack_forward(mae_stack_a *a, const mae_stack_w *w, int C, int NH, int L, int mlp, int NB,
                   float eps);
/* dout (S*T, C): gradient of a->out; leaves the gradient of a->x0 in a->dx. */
void mae_stack_backward(mae_stack_a *a, const mae_stack_w *w, mae_stack_w *g, const float *dout,
                    int C, int NH, int L, int mlp, int NB);

#endif

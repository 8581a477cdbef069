/* patchify.h: images to MAE's normalized patch vectors and back.
 *
 * B = batch, H x W image with C channels, p = patch size, grid gh = H/p by gw = W/p,
 * N = gh*gw patches in row-major order, P = p*p*C values per patch in MAE's (a, b, c) order
 * (pixel row a, pixel column b, channel c fastest; models_mae.py patchify):
 *
 *     patches[n, i*gw + j, (a*p + b)*C + c] = (img[n, i*p + a, j*p + b, c] / 255 - mean[c]) / std[c]
 *
 * in float32 operations in that order (torchvision's ToTensor then Normalize), so the values
 * are PyTorch's bit for bit. The inverse rounds (x*std + mean)*255 to the nearest byte, clipped
 * to 0..255; it gives back the original bytes exactly. */
#ifndef MAE_PATCHIFY_H
#define MAE_PATCHIFY_H

#include <stdint.h>

/* Defaults: ImageNet (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) for C = 3,
 * Fashion-MNIST 0.2860 / 0.3530 for C = 1. */
void mae_norm_defaults(int C, float *mean, float *std);

/* patches: [B, N, P] from img: [B, H, W, C] (U8). */
void mae_patchify(float *patches, const uint8_t *img, int B, int H, int W, int C, int p,
                  const float *mean, const float *std);
/* img: [B, H, W, C] from patches: [B, N, P]. */
void mae_unpatchify(uint8_t *img, const float *patches, int B, int H, int W, int C, int p,
                    const float *mean, const float *std);

/* Clips (VideoMAE): img [B, T, H, W, C] (U8, frames in time order) to tubelets of t frames,
 * patches [B, N, P] with N = (T/t)*gh*gw tokens in (time, row, column) order and P = t*p*p*C
 * values in (frame, pixel row, pixel column, channel) order, VideoMAE's
 * 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2 c)'; the same normalization as above.
 * T must be a multiple of t. With T = t = 1 these are mae_patchify and mae_unpatchify. */
void mae_patchify_clip(float *patches, const uint8_t *img, int B, int T, int H, int W, int C,
                       int p, int t, const float *mean, const float *std);
void mae_unpatchify_clip(uint8_t *img, const float *patches, int B, int T, int H, int W, int C,
                         int p, int t, const float *mean, const float *std);

/* One sample's patches [N,P] as a float image [H,W,C] in pixel units, x*std[c] + mean[c] in
 * float operations, not rounded (MFM's Fourier transform works on it); and the way back,
 * (v - mean[c]) / std[c]. */
void mae_patches_to_float(float *img, const float *patches, int H, int W, int C, int p,
                          const float *mean, const float *std);
void mae_float_to_patches(float *patches, const float *img, int H, int W, int C, int p,
                          const float *mean, const float *std);

#endif

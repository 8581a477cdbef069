/* hog.h: MaskFeat's HOG target (METHODS 5.5; SlowFast's HOGLayerC), per patch.
 *
 * Per image and channel, on the image as the model sees it (normalized pixels: the per-cell
 * L2 normalization makes the result the same for any per-channel scale):
 *   - reflect-pad 1; Sobel gx = [[1,0,-1],[2,0,-2],[1,0,-1]] and gy = its transpose, applied as
 *     a cross-correlation (PyTorch's conv2d);
 *   - magnitude m = sqrt(gx^2 + gy^2), phase = atan2(gx, gy) / pi * 9 in [-9, 9], orientation
 *     bin = floor(phase) mod 9 (unsigned, 20 degree bins);
 *   - optionally m times a Gaussian window of side `window` (1-D exp(-((n - (window-1)/2) /
 *     s)^2 / 2) with s = window / 2 in integer division, the outer product normalized to sum 1,
 *     tiled over the image from the top-left corner);
 *   - m summed into the 9 bins of its cell (cell x cell pixels), and each cell's 9 bins
 *     L2-normalized, x / max(|x|, 1e-12) (F.normalize).
 * MaskFeat at 224: patch 16, cell 8, window 16, so a patch has 2x2 cells and 108 values (RGB).
 *
 * The target of patch n (grid row i, column j; N = gh*gw row-major, as the patches) holds
 * T = C * 9 * q * q values, q = p / cell cells per patch side, in SlowFast's order (channel,
 * bin, cell row, cell column):
 *     target[n, ((c*9 + k)*q + u)*q + v] = bin k of channel c in the cell (i*q + u, j*q + v)
 * Computed in double precision, stored as float. */
#ifndef MAE_HOG_H
#define MAE_HOG_H

enum { MAE_HOG_BINS = 9 };

/* The default cell side for patch p: p/2 when p is even (2x2 cells a patch, MaskFeat's 8 for
 * 16), else p (one cell a patch: 28x28 images in patches of 7). */
int mae_hog_cell(int p);
/* Values per patch, C * 9 * (p/cell)^2; 0 if cell does not divide p. */
int mae_hog_dim(int p, int cell, int C);

/* target [B, N, T] from patches [B, N, P] (P = p*p*C, mae_patchify's (a, b, c) order) of
 * H x W images with C channels. cell divides p; window is 0 (no Gaussian weighting) or
 * divides H and W (and is not 1), H, W >= 2 (reflection), C <= 4. Returns 0, or -1 on bad
 * geometry. */
int mae_hog_patches(float *target, const float *patches, int B, int H, int W, int C, int p, int cell,
                    int window);

#endif

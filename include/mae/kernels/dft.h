/* dft.h: 2-D discrete Fourier transforms of any size as matrix products on OpenBLAS.
 *
 * The image sizes of maepipe (28, 224, 448) are not powers of two, so instead of an FFT the
 * transform is written as F = Fh * X * Fw^T with the dense DFT matrices
 * Fh[u,y] = exp(-2 pi i u y / H), split into cosine and sine parts so that every product is a
 * real cblas_sgemm. MFM needs one thing of it, the projection of an image on a set of
 * frequencies (forward transform, selection, real part of the inverse), and computes it on the
 * rows and columns of the spectrum the selection touches only (the tests check it against the
 * transforms computed naively in double, tests/oracle/kernels_ref.c).
 * Layout: planes [C][H][W], row-major; unnormalized forward, 1/(HW) on the inverse (numpy's
 * default "backward" norm). The matrices are built in double from exact integer phases
 * (u*y mod H), so the error is float rounding of the products only (~1e-6 relative). */
#ifndef MAE_DFT_H
#define MAE_DFT_H

#include <stdint.h>

typedef struct mae_dft2 {
	int h, w;
	float *ch, *sh;   /* [H,H] cos and sin of 2 pi u y / H */
	float *cw, *sw;   /* [W,W] likewise for W */
} mae_dft2;

void mae_dft2_init(mae_dft2 *d, int h, int w);
void mae_dft2_free(mae_dft2 *d);
/* y = Re(IDFT(DFT(x) * sel)) for a 0/1 selection sel [H,W] of frequencies, computed only on the
 * rows U and columns V of the spectrum that sel touches: O(C H W (|U|+|V|)) instead of
 * O(C H W (H+W)). MFM's radius-16 disc at 224 touches 31 rows and 31 columns: ~15x less work.
 * x, y [C,H,W] (may not alias). */
void mae_dft2_project(mae_dft2 *d, int c, const float *x, const uint8_t *sel, float *y);

#endif

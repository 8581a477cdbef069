/* patchify.c: MAE patchify / unpatchify with per-channel normalization (include/mae/data/patchify.h). */
#include <math.h>
#include <string.h>
#include "mae/data/patchify.h"

void mae_norm_defaults(int C, float *mean, float *std)
{
	static const float im_mean[3] = { 0.485f, 0.456f, 0.406f }, im_std[3] = { 0.229f, 0.224f, 0.225f };
	for (int c = 0; c < C; c++) {
		if (C == 3)
			mean[c] = im_mean[c], std[c] = im_std[c];
		else if (C == 1)
			mean[c] = 0.2860f, std[c] = 0.3530f;
		else
			mean[c] = 0.5f, std[c] = 0.5f;
	}
}

void mae_patchify(float *patches, const uint8_t *img, int B, int H, int W, int C, int p,
                  const float *mean, const float *std)
{
	/* One table per channel: 256 values, computed with float32 operations as torch does
	 * (ToTensor: x / 255; Normalize: (x - mean) / std). */
	float lut[4][256];
	for (int c = 0; c < C && c < 4; c++)
		for (int u = 0; u < 256; u++) {
			volatile float t = (float)u / 255.0f;   /* no contraction into an FMA */
			volatile float d = t - mean[c];
			lut[c][u] = d / std[c];
		}
	int gh = H / p, gw = W / p, P = p * p * C;
	size_t N = (size_t)gh * gw;
	for (int n = 0; n < B; n++) {
		const uint8_t *im = img + (size_t)n * H * W * C;
		float *out = patches + (size_t)n * N * P;
		for (int i = 0; i < gh; i++)
			for (int j = 0; j < gw; j++) {
				float *o = out + ((size_t)i * gw + j) * P;
				for (int a = 0; a < p; a++) {
					const uint8_t *row = im + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
					for (int k = 0; k < p * C; k++)
						o[a * p * C + k] = lut[k % C][row[k]];
				}
			}
	}
}

void mae_unpatchify(uint8_t *img, const float *patches, int B, int H, int W, int C, int p,
                    const float *mean, const float *std)
{
	int gh = H / p, gw = W / p, P = p * p * C;
	size_t N = (size_t)gh * gw;
	for (int n = 0; n < B; n++) {
		uint8_t *im = img + (size_t)n * H * W * C;
		const float *in = patches + (size_t)n * N * P;
		for (int i = 0; i < gh; i++)
			for (int j = 0; j < gw; j++) {
				const float *x = in + ((size_t)i * gw + j) * P;
				for (int a = 0; a < p; a++) {
					uint8_t *row = im + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
					for (int k = 0; k < p * C; k++) {
						int c = k % C;
						double v = ((double)x[a * p * C + k] * std[c] + mean[c]) * 255.0;
						row[k] = !(v > 0) ? 0 : v >= 255 ? 255 : (uint8_t)floor(v + 0.5);
					}
				}
			}
	}
}

/* Pixel (a, b) channel c of patch (i, j) is value (a*p + b)*C + c of the patch, at
 * ((i*p + a)*W + j*p + b)*C + c of the image: for each patch row a, p*C values in a row. */
void mae_patches_to_float(float *img, const float *patches, int H, int W, int C, int p,
                          const float *mean, const float *std)
{
	int gh = H / p, gw = W / p, P = p * p * C;
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			const float *x = patches + ((size_t)i * gw + j) * P;
			for (int a = 0; a < p; a++) {
				float *row = img + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
				for (int k = 0; k < p * C; k++)
					row[k] = x[a * p * C + k] * std[k % C] + mean[k % C];
			}
		}
}

void mae_float_to_patches(float *patches, const float *img, int H, int W, int C, int p,
                          const float *mean, const float *std)
{
	int gh = H / p, gw = W / p, P = p * p * C;
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			float *y = patches + ((size_t)i * gw + j) * P;
			for (int a = 0; a < p; a++) {
				const float *row = img + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
				for (int k = 0; k < p * C; k++)
					y[a * p * C + k] = (row[k] - mean[k % C]) / std[k % C];
			}
		}
}

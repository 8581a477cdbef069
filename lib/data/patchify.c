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

/* Sample n's pixel (row y, column x, channel c) of frame f is at ((n*T + f)*H + y)*W*C + x*C + c;
 * tubelet (ti, i, j) is token (ti*gh + i)*gw + j, and its frame dt, pixel row a is the p*C
 * values from (dt*p + a)*p*C on: for each (dt, a), one run of p*C bytes of the image. */
void mae_patchify_clip(float *patches, const uint8_t *img, int B, int T, int H, int W, int C,
                       int p, int t, const float *mean, const float *std)
{
	/* One table per channel: 256 values, computed with float32 operations as torch does
	 * (ToTensor: x / 255; Normalize: (x - mean) / std). */
	float lut[4][256];
	for (int c = 0; c < C && c < 4; c++)
		for (int u = 0; u < 256; u++) {
			volatile float v = (float)u / 255.0f;   /* no contraction into an FMA */
			volatile float d = v - mean[c];
			lut[c][u] = d / std[c];
		}
	int gh = H / p, gw = W / p, gt = T / t, P = t * p * p * C;
	size_t N = (size_t)gt * gh * gw, frame = (size_t)H * W * C;
	for (int n = 0; n < B; n++) {
		const uint8_t *clip = img + (size_t)n * T * frame;
		float *out = patches + (size_t)n * N * P;
		for (int ti = 0; ti < gt; ti++)
			for (int i = 0; i < gh; i++)
				for (int j = 0; j < gw; j++) {
					float *o = out + (((size_t)ti * gh + i) * gw + j) * P;
					for (int dt = 0; dt < t; dt++) {
						const uint8_t *im = clip + (size_t)(ti * t + dt) * frame;
						for (int a = 0; a < p; a++) {
							const uint8_t *row = im + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
							float *oa = o + (size_t)(dt * p + a) * p * C;
							for (int k = 0; k < p * C; k++)
								oa[k] = lut[k % C][row[k]];
						}
					}
				}
	}
}

void mae_unpatchify_clip(uint8_t *img, const float *patches, int B, int T, int H, int W, int C,
                         int p, int t, const float *mean, const float *std)
{
	int gh = H / p, gw = W / p, gt = T / t, P = t * p * p * C;
	size_t N = (size_t)gt * gh * gw, frame = (size_t)H * W * C;
	for (int n = 0; n < B; n++) {
		uint8_t *clip = img + (size_t)n * T * frame;
		const float *in = patches + (size_t)n * N * P;
		for (int ti = 0; ti < gt; ti++)
			for (int i = 0; i < gh; i++)
				for (int j = 0; j < gw; j++) {
					const float *x = in + (((size_t)ti * gh + i) * gw + j) * P;
					for (int dt = 0; dt < t; dt++) {
						uint8_t *im = clip + (size_t)(ti * t + dt) * frame;
						for (int a = 0; a < p; a++) {
							uint8_t *row = im + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
							const float *xa = x + (size_t)(dt * p + a) * p * C;
							for (int k = 0; k < p * C; k++) {
								int c = k % C;
								double v = ((double)xa[k] * std[c] + mean[c]) * 255.0;
								row[k] = !(v > 0) ? 0 : v >= 255 ? 255 : (uint8_t)floor(v + 0.5);
							}
						}
					}
				}
	}
}

void mae_patchify(float *patches, const uint8_t *img, int B, int H, int W, int C, int p,
                  const float *mean, const float *std)
{
	mae_patchify_clip(patches, img, B, 1, H, W, C, p, 1, mean, std);
}

void mae_unpatchify(uint8_t *img, const float *patches, int B, int H, int W, int C, int p,
                    const float *mean, const float *std)
{
	mae_unpatchify_clip(img, patches, B, 1, H, W, C, p, 1, mean, std);
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

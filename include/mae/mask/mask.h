/* mask.h: every masking strategy of the MAE family, as pure functions on one sample.
 *
 * A mask is N bytes over the patch grid in row-major order (patch l = i*gw + j), 1 = hidden,
 * 0 = visible, exactly the `mask` tensor of mae-stream(5). Every function fills one sample's
 * mask from a generator the caller seeded (mae-mask seeds it with
 * mae_rng_seed(&rng, seed, epoch, index, "mask"), so a mask depends only on what the sample is)
 * and returns the number of hidden patches, which always equals the count formula documented
 * next to the function and in mae-mask(1). No function keeps state between calls; scratch
 * memory is allocated and freed inside (a few kilobytes; masking is cheap next to a model step).
 *
 * Dimension letters: N patches (= gh*gw, or T*gh*gw for a clip), gh x gw the patch grid,
 * T temporal slices, P patch length, C channels, H x W pixels.
 *
 * mae-mask's strategies, each these functions behind one mae_masker, are in masker.h. */
#ifndef MAE_MASK_H
#define MAE_MASK_H

#include <stdint.h>
#include "mae/util/rng.h"

/* Counts. Ratios are rounded as the reference code does, with a 1e-9 guard so that a ratio
 * written in decimal behaves as written (196*(1-0.75) = 49 even where float arithmetic gives
 * 48.999...). */
int mae_mask_hidden_mae(int n, double ratio);   /* N - floor(N*(1-r)): MAE's len_keep rule */
int mae_mask_hidden_floor(int n, double ratio); /* floor(N*r): VideoMAE, AttMask, BEiT */

/* A rectangle of patches (block masks report the blocks they drew). */
typedef struct mae_rect { int top, left, h, w; } mae_rect;

/* random (MAE): hide a uniformly random set of `hidden` patches (Fisher-Yates).
 * Returns hidden. */
int mae_mask_random(uint8_t *mask, int n, int hidden, mae_rng *rng);

/* block, SimMIM variant: the grid is cut into cells of s x s patches (s divides gh and gw);
 * `cells` random cells are hidden (SimMIM: cells = ceil(C*r), C = gh*gw/s^2). Returns
 * cells*s*s. rects (may be NULL) receives the cells, *nrects their number. */
int mae_mask_block_simmim(uint8_t *mask, int gh, int gw, int s, int cells, mae_rng *rng,
                          mae_rect *rects, int *nrects);

/* block, BEiT variant (BEiT's MaskingGenerator): rectangles of area ~U(min_area, remaining)
 * (capped by max_area) and log-aspect ~U(ln a, -ln a) are added until `hidden` patches are
 * covered; a rectangle is accepted only if it adds between 1 and `remaining` new patches.
 * BEiT's generator may give up a few patches short (10 failed tries); here the remainder is
 * filled with 1x1 blocks next to hidden patches, so the count is always exactly `hidden`.
 * rects (room for `hidden` entries, may be NULL) receives every block drawn. Returns hidden. */
int mae_mask_block_beit(uint8_t *mask, int gh, int gw, int hidden, int min_area, int max_area,
                        double min_aspect, mae_rng *rng, mae_rect *rects, int *nrects);

/* grid (MAE's ablation): keep the patch at offset (oy, ox) of every s x s cell, hide the rest.
 * Returns N - ceil((gh-oy)/s) * ceil((gw-ox)/s). */
int mae_mask_grid(uint8_t *mask, int gh, int gw, int s, int oy, int ox);

/* window (LoMaR): M windows of K x K patches; tops = first M of a random permutation of
 * 0..gh-K, lefts likewise of 0..gw-K, paired by position (so tops are distinct and lefts are
 * distinct, as in LoMaR). Every image draws its own windows (LoMaR's code shares them across
 * the batch). One mask per patch cannot give each overlapping window its own random mask, so
 * the hidden patches are drawn uniformly over the union U of the windows:
 * hidden = floor(|U|*r) (LoMaR's int(K*K*r) = 39 of 49 for a lone window); patches outside
 * every window are 0 (not hidden: the windowed encoder never sees them and the loss ignores
 * them). windows receives M (top, left) pairs.
 * Requires M <= gh-K+1 and M <= gw-K+1. */
int mae_mask_window(uint8_t *mask, int gh, int gw, int k, int m, double ratio, mae_rng *rng,
                    int32_t *windows);

/* noise (ColorMAE): white noise on a (2gh) x (2gw) torus, filtered by colour, a random gh x gw
 * crop, random horizontal and vertical flips; the N-hidden patches with the highest noise stay
 * visible (ties broken by position). Filters, with G_s a Gaussian of standard deviation s
 * patches (circular convolution):
 *   red    G_s1 * W                     low-pass   (default s1 = 1.5)
 *   blue   W - G_s1 * W                 high-pass  (default s1 = 0.6)
 *   green  G_s1 * W - G_s2 * W          band-pass  (default s1 = 0.6, s2 = 1.2)
 *   purple W - (G_s1 * W - G_s2 * W)    band-stop  (default s1 = 0.6, s2 = 1.2)
 * sigma2 is ignored for red and blue; sigma <= 0 picks the default. Returns hidden.
 * noise_out (may be NULL) receives the gh x gw noise map the ranking used. */
enum mae_noise_color { MAE_NOISE_RED, MAE_NOISE_BLUE, MAE_NOISE_GREEN, MAE_NOISE_PURPLE };
int mae_noise_color_parse(const char *s);              /* -1 if unknown */
const char *mae_noise_color_name(enum mae_noise_color c);
void mae_noise_default_sigma(enum mae_noise_color c, double *s1, double *s2);
int mae_mask_noise(uint8_t *mask, int gh, int gw, enum mae_noise_color color, double sigma1,
                   double sigma2, int hidden, mae_rng *rng, float *noise_out);

/* semantic (SemMAE): parts of the image from k-means over patch features, then SemMAE's
 * schedule. parts[N] holds a part id in 0..nparts-1 per patch. With the patches shuffled
 * (a random order within every part) and the parts visited in a random order:
 *   m1_k = round(r*n_k)                       (a fraction r of every part)
 *   m2_k = min(n_k, max(0, hidden - sum of n over the parts visited before k))  (whole parts)
 *   m_k  = round(lambda*m1_k + (1-lambda)*m2_k)
 * then, to make the total exactly `hidden`, single patches are added to (or taken from)
 * parts drawn at random among those with room. The first m_k patches of part k in the shuffled
 * order are hidden. lambda = 1 hides about r of every part; lambda = 0 hides whole parts
 * (all but at most one part entirely hidden or entirely visible). Returns hidden. */
int mae_mask_semantic(uint8_t *mask, const int32_t *parts, int n, int nparts, double ratio,
                      int hidden, double lambda, mae_rng *rng);
/* SemMAE's cosine schedule: lambda = (1 + cos(pi * min(1, (epoch+1)/epochs))) / 2. */
double mae_semantic_lambda(int64_t epoch, int64_t epochs);
/* Per-patch features for the clustering, from patches [N,P] (P = p*p*C, (a,b,c) order):
 * the mean of each channel, the patch's standard deviation, the mean absolute horizontal and
 * vertical differences (all in the units of the normalized pixels, centred over the image),
 * and (row, col) of the patch, standardized and scaled to pos_weight times the image's spread
 * of appearance (the root mean variance of the other features). feat [N,F], F = C+5. */
int mae_semantic_nfeatures(int c);
void mae_semantic_features(float *feat, const float *patches, int gh, int gw, int p, int c,
                           double pos_weight);
/* k-means with k-means++ seeding and `iters` Lloyd iterations on feat [N,F]; parts[N]. Empty
 * clusters are reseeded with the point farthest from its centre. Returns the number of
 * non-empty parts. */
int mae_kmeans(int32_t *parts, const float *feat, int n, int f, int k, int iters, mae_rng *rng);

/* attention (AttMask): attn[N] is the cls-to-patch attention.
 *   high: hide the floor(N*r) most attended patches;
 *   low:  hide the floor(N*r) least attended;
 *   hint: as high, then show again floor(show_ratio*r*N) patches drawn uniformly from the
 *         ceil(show_max*N) most attended (AttMask: show_ratio = show_max = 0.1).
 * Ties are broken by position (lower index first). Returns the hidden count:
 * floor(N*r) for high and low, floor(N*r) - floor(show_ratio*r*N) for hint. */
enum mae_attn_mode { MAE_ATTN_HIGH, MAE_ATTN_LOW, MAE_ATTN_HINT };
int mae_attn_mode_parse(const char *s);                /* -1 if unknown */
int mae_mask_attention(uint8_t *mask, const float *attn, int n, enum mae_attn_mode mode,
                       double ratio, double show_ratio, double show_max, mae_rng *rng);

/* tube (VideoMAE): one random spatial mask of floor(S*r) patches (S = gh*gw) repeated over the
 * T temporal slices of a clip; mask [T*S], slice-major. Returns T*floor(S*r). */
int mae_mask_tube(uint8_t *mask, int t, int s, double ratio, mae_rng *rng);

/* frequency (MFM). fmask [H*W] in unshifted DFT layout, 1 = removed frequency. With signed
 * frequencies fy = u < H/2 ? u : u - H (likewise fx), a frequency is in the disc when
 * fy^2 + fx^2 < radius^2. low-pass removes everything outside the disc, high-pass everything
 * inside it. Returns the number of removed frequencies. */
int mae_freq_fmask(uint8_t *fmask, int h, int w, double radius, int highpass);

/* Corrupt one image: img [H,W,C] in [0,1] -> out [H,W,C]: per channel, 2-D DFT, zero the
 * removed frequencies, inverse DFT, real part, then clamp to [0,1] unless clamp is 0.
 * ws is a workspace from mae_freq_ws_new(h, w, c). */
typedef struct mae_freq_ws mae_freq_ws;
mae_freq_ws *mae_freq_ws_new(int h, int w, int c);
void mae_freq_ws_free(mae_freq_ws *ws);
void mae_freq_corrupt(mae_freq_ws *ws, float *out, const float *img, const uint8_t *fmask,
                      int clamp);

#endif

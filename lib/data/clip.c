/* clip.c: the frames a clip sample takes (VideoMAE's sampler) and their decoding with one crop
 * for the whole clip. See include/mae/data/clip.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mae/data/clip.h"
#include "mae/data/image.h"
#include "mae/util/util.h"

int mae_clip_offset(int nf, const mae_clipspec *c, mae_rng *r)
{
	/* VideoMAE's _sample_train_indices with num_segments = 1: average_duration = nf - L + 1;
	 * when positive the offset is randint(average_duration), else 0 (its middle branch,
	 * nf > max(1, L), cannot hold when nf < L). It returns the offset + 1, 1-based. */
	int64_t L = (int64_t)c->frames * c->stride;
	if (nf < L)
		return 0;
	if (!c->random)
		return (int)((nf - L) / 2);
	return (int)mae_rng_below(r, (uint64_t)(nf - L + 1));
}

void mae_clip_frames(int nf, const mae_clipspec *c, int offset, int *ids)
{
	/* VideoMAE's _video_TSN_decord_batch_loader (kinetics.py), 1-based `offset` = ours + 1,
	 * skip_offsets all 0 (no temporal jitter):
	 *     for i in range(new_length):            # range(0, skip_length, new_step)
	 *         frame_id = offset - 1              # both branches, skip_offsets[i] = 0
	 *         if offset + new_step < duration:
	 *             offset += new_step
	 * so the step is taken only when the next frame (0-based cur + S) is before the last one,
	 * cur + S < nf - 1; otherwise the frame just taken repeats. Note that this never steps
	 * onto the last frame: with S = 1 and the offset at nf - T, the last two frames taken are
	 * both nf - 2, as in the reference. */
	int cur = offset;
	for (int k = 0; k < c->frames; k++) {
		ids[k] = cur;
		if ((int64_t)cur + 1 + c->stride < nf)
			cur += c->stride;
	}
}

int mae_clip_load(const mae_dataset *ds, int64_t pos, const mae_augment *aug,
                  const mae_clipspec *c, uint64_t seed, int64_t epoch, uint8_t *out,
                  char *err, size_t errn)
{
	const mae_sample *s = &ds->s[pos];
	if (s->nframes < 1)
		return mae_fail(err, errn, "%s: no frames (.jpg, .jpeg or .png files)", s->path);
	if (c->frames < 1 || c->frames > MAE_CLIP_MAX_FRAMES)
		return mae_fail(err, errn, "%s: %d frames a clip is outside 1..%d", s->path, c->frames,
		                MAE_CLIP_MAX_FRAMES);
	mae_rng r0, r;
	int ids[MAE_CLIP_MAX_FRAMES];
	mae_rng_seed(&r, seed, (uint64_t)epoch, (uint64_t)pos, "clip");
	mae_clip_frames(s->nframes, c, mae_clip_offset(s->nframes, c, &r), ids);
	mae_rng_seed(&r0, seed, (uint64_t)epoch, (uint64_t)pos, "decode");
	size_t fsize = (size_t)aug->w * aug->h * aug->c;
	int w0 = 0, h0 = 0, f0 = -1;
	for (int k = 0; k < c->frames; k++) {
		int f = ids[k];
		if (k && f == ids[k - 1]) {   /* a repeated frame: the same draws give the same bytes */
			memcpy(out + fsize * k, out + fsize * (k - 1), fsize);
			continue;
		}
		void *buf;
		size_t n;
		mae_imginfo info;
		char e[700];
		int rc = mae_image_readfile(s->frames[f], (size_t)1 << 30, &buf, &n, e, sizeof e);
		if (!rc) {
			rc = mae_image_info(buf, n, &info, e, sizeof e);
			if (!rc && info.fmt != MAE_IMG_JPEG && info.fmt != MAE_IMG_PNG)
				rc = mae_fail(e, sizeof e, "not a JPEG or PNG image");
			if (!rc && f0 < 0)
				w0 = info.w, h0 = info.h, f0 = f;
			else if (!rc && (info.w != w0 || info.h != h0))
				rc = mae_fail(e, sizeof e, "%dx%d, but frame %s of the clip is %dx%d (the "
				              "frames of a clip share one crop)", info.w, info.h, s->frames[f0],
				              w0, h0);
			if (!rc) {
				r = r0;   /* every frame sees the clip's crop and flip */
				rc = mae_augment_file(aug, buf, n, &r, out + fsize * k, e, sizeof e);
			}
			free(buf);
		}
		if (rc < 0)
			return mae_fail(err, errn, "%s: %s", s->frames[f], e);
	}
	return 0;
}

/* audio.h: WAV files as log-mel spectrograms, the input of Audio-MAE (Huang et al. 2022),
 * computed as Audio-MAE and AST do: torchaudio.compliance.kaldi.fbank(wave - mean,
 * htk_compat=True, sample_frequency=16000, use_energy=False, window_type='hanning',
 * num_mel_bins=128, dither=0.0, frame_shift=10), then (fbank - mean) / (2 std).
 *
 * Kaldi's fbank, per frame of 25 ms (400 samples) every 10 ms (160), as many as fit
 * (snip_edges): the frame's mean removed, pre-emphasis 0.97 (the first sample against itself),
 * a symmetric Hann window (0.5 - 0.5 cos(2 pi n / 399)), zero-padded to 512, the power
 * spectrum of its DFT (257 bins), 128 triangular mel filters evenly spaced on the mel scale
 * 1127 ln(1 + f / 700) between 20 Hz and 8 kHz, and the natural log of each energy floored at
 * FLT_EPSILON. The spectrogram is an image of T rows (frames, time downwards) and 128 columns
 * (mel bins, low frequencies left), one grey channel: each normalized value v becomes the
 * byte round(128 + 64 v), clipped to 0..255 (v in [-2, 2) keeps its 1/64 steps). */
#ifndef MAE_AUDIO_H
#define MAE_AUDIO_H

#include <stddef.h>
#include <stdint.h>
#include "mae/data/image.h"

#define MAE_FBANK_BINS 128
#define MAE_FBANK_RATE 16000
/* AudioSet's statistics, Audio-MAE's and AST's defaults */
#define MAE_FBANK_MEAN (-4.2677393)
#define MAE_FBANK_STD 4.5689974

/* A WAV file's PCM: 16-bit integer samples, channels averaged; any other encoding, or a rate
 * other than 16 kHz, is refused with a message that says so. */
typedef struct mae_wav {
	int rate, channels;
	int64_t n;            /* samples per channel */
	const uint8_t *data;  /* into the buffer: n * channels little-endian int16 */
} mae_wav;
int mae_wav_parse(const void *buf, size_t size, mae_wav *w, char *err, size_t errn);
/* Frames of a clip of n samples (0 when shorter than one frame). */
int64_t mae_fbank_frames(int64_t n);
/* The log-mel energies fb [frames, 128] of the clip's samples (waveform in [-1, 1), its mean
 * removed first), in double. */
void mae_fbank(const double *wave, int64_t n, double *fb);
/* A WAV file as the grey spectrogram image above, normalized by (mean, std). */
int mae_wav_image(const void *buf, size_t size, double mean, double std, mae_image *img, char *err,
                  size_t errn);

#endif

/* audio.c: WAV files to Kaldi-compatible log-mel spectrograms (see audio.h). */
#include "mae/data/audio.h"
#include "mae/util/util.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FRAME = 400, SHIFT = 160, NFFT = 512 };

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int mae_wav_parse(const void *buf, size_t size, mae_wav *w, char *err, size_t errn)
{
	const uint8_t *p = buf;
	memset(w, 0, sizeof *w);
	if (size < 12 || memcmp(p, "RIFF", 4) || memcmp(p + 8, "WAVE", 4))
		return mae_fail(err, errn, "WAV: no RIFF/WAVE header");
	int fmt = 0, bits = 0;
	for (size_t at = 12; at + 8 <= size;) {
		uint32_t len = le32(p + at + 4);
		const uint8_t *c = p + at + 8;
		if (len > size - at - 8)
			return mae_fail(err, errn, "WAV: chunk '%.4s' of %u bytes runs past the end of the file",
			                (const char *)p + at, len);
		if (!memcmp(p + at, "fmt ", 4)) {
			if (len < 16)
				return mae_fail(err, errn, "WAV: fmt chunk of %u bytes", len);
			fmt = le16(c);
			w->channels = le16(c + 2);
			w->rate = (int)le32(c + 4);
			bits = le16(c + 14);
			if (fmt == 0xFFFE && len >= 26)   /* WAVE_FORMAT_EXTENSIBLE: the sub-format's code */
				fmt = le16(c + 24);
		} else if (!memcmp(p + at, "data", 4)) {
			if (!w->channels)
				return mae_fail(err, errn, "WAV: data before the fmt chunk");
			if (fmt != 1 || bits != 16)
				return mae_fail(err, errn, "WAV: format %d with %d bits a sample; this reads 16-bit "
				                "integer PCM (sox IN -b 16 -e signed-integer OUT)", fmt, bits);
			if (w->channels < 1 || w->channels > 64)
				return mae_fail(err, errn, "WAV: %d channels", w->channels);
			if (w->rate != MAE_FBANK_RATE)
				return mae_fail(err, errn, "WAV: %d Hz; Audio-MAE's spectrogram is defined at %d Hz "
				                "(resample first: sox IN -r %d OUT)", w->rate, MAE_FBANK_RATE, MAE_FBANK_RATE);
			w->n = (int64_t)(len / (2u * (unsigned)w->channels));
			w->data = c;
			return 0;
		}
		at += 8 + len + (len & 1);   /* chunks are padded to even sizes */
	}
	return mae_fail(err, errn, "WAV: no data chunk");
}

int64_t mae_fbank_frames(int64_t n)
{
	return n < FRAME ? 0 : 1 + (n - FRAME) / SHIFT;
}

static double mel(double f)
{
	return 1127.0 * log(1.0 + f / 700.0);
}

/* in-place radix-2 FFT of NFFT complex values */
static void fft(double *re, double *im)
{
	for (int i = 1, j = 0; i < NFFT; i++) {
		int bit = NFFT >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i]; re[i] = re[j]; re[j] = t;
			t = im[i]; im[i] = im[j]; im[j] = t;
		}
	}
	for (int len = 2; len <= NFFT; len <<= 1) {
		double a = -2 * M_PI / len;
		for (int i = 0; i < NFFT; i += len)
			for (int k = 0; k < len / 2; k++) {
				double wr = cos(a * k), wi = sin(a * k);
				double *ur = re + i + k, *ui = im + i + k, *vr = re + i + k + len / 2, *vi = im + i + k + len / 2;
				double tr = *vr * wr - *vi * wi, ti = *vr * wi + *vi * wr;
				*vr = *ur - tr, *vi = *ui - ti;
				*ur += tr, *ui += ti;
			}
	}
}

/* the mel filters over the first NFFT/2 bins (Kaldi's; the Nyquist bin gets no weight), made
 * once for every decode thread */
static double banks[MAE_FBANK_BINS][NFFT / 2];
static pthread_once_t banks_once = PTHREAD_ONCE_INIT;

static void make_banks(void)
{
	double lo = mel(20), hi = mel(MAE_FBANK_RATE / 2.0), d = (hi - lo) / (MAE_FBANK_BINS + 1);
	for (int b = 0; b < MAE_FBANK_BINS; b++) {
		double l = lo + b * d, c = l + d, r = c + d;
		for (int k = 0; k < NFFT / 2; k++) {
			double m = mel(k * (double)MAE_FBANK_RATE / NFFT), up = (m - l) / (c - l), down = (r - m) / (r - c);
			banks[b][k] = fmax(0.0, fmin(up, down));
		}
	}
}

void mae_fbank(const double *wave, int64_t n, double *fb)
{
	int64_t T = mae_fbank_frames(n);
	pthread_once(&banks_once, make_banks);
	double win[FRAME], re[NFFT], im[NFFT], pw[NFFT / 2];
	for (int i = 0; i < FRAME; i++)
		win[i] = 0.5 - 0.5 * cos(2 * M_PI * i / (FRAME - 1));
	for (int64_t t = 0; t < T; t++) {
		const double *x = wave + t * SHIFT;
		double mean = 0;
		for (int i = 0; i < FRAME; i++)
			mean += x[i];
		mean /= FRAME;
		double prev = x[0] - mean;
		for (int i = 0; i < FRAME; i++) {
			double v = x[i] - mean, e = v - 0.97 * prev;
			prev = v;
			re[i] = e * win[i];
			im[i] = 0;
		}
		for (int i = FRAME; i < NFFT; i++)
			re[i] = im[i] = 0;
		fft(re, im);
		for (int k = 0; k < NFFT / 2; k++)
			pw[k] = re[k] * re[k] + im[k] * im[k];
		for (int b = 0; b < MAE_FBANK_BINS; b++) {
			double e = 0;
			for (int k = 0; k < NFFT / 2; k++)
				e += banks[b][k] * pw[k];
			fb[t * MAE_FBANK_BINS + b] = log(fmax(e, FLT_EPSILON));
		}
	}
}

int mae_wav_image(const void *buf, size_t size, double mean, double std, mae_image *img, char *err,
                  size_t errn)
{
	mae_wav w;
	memset(img, 0, sizeof *img);
	if (mae_wav_parse(buf, size, &w, err, errn) < 0)
		return -1;
	int64_t T = mae_fbank_frames(w.n);
	if (T < 1)
		return mae_fail(err, errn, "WAV: %lld samples, shorter than one 25 ms frame", (long long)w.n);
	if (T > (int64_t)1 << 20)
		return mae_fail(err, errn, "WAV: %lld frames, over the limit of %d", (long long)T, 1 << 20);
	double *x = mae_malloc((size_t)w.n * sizeof *x), *fb = mae_malloc((size_t)T * MAE_FBANK_BINS * sizeof *fb);
	double avg = 0;
	for (int64_t i = 0; i < w.n; i++) {
		int s = 0;
		for (int c = 0; c < w.channels; c++)
			s += (int16_t)le16(w.data + 2 * (i * w.channels + c));
		x[i] = (double)s / w.channels / 32768.0;
		avg += x[i];
	}
	avg /= (double)w.n;
	for (int64_t i = 0; i < w.n; i++)
		x[i] -= avg;
	mae_fbank(x, w.n, fb);
	int rc = mae_image_alloc(img, MAE_FBANK_BINS, (int)T, 1);
	if (rc == 0)
		for (int64_t t = 0; t < T; t++)
			for (int b = 0; b < MAE_FBANK_BINS; b++) {
				double v = (fb[t * MAE_FBANK_BINS + b] - mean) / (2 * std), q = floor(128 + 64 * v + 0.5);
				img->px[(size_t)t * img->stride + b] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
			}
	free(x);
	free(fb);
	return rc ? mae_fail(err, errn, "WAV: spectrogram too large") : 0;
}

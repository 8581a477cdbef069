"""wavset: a labelled set of 16 kHz clips for Audio-MAE (pipelines/audiomae.sh, tests/audio.t):
tones, chirps and noise bursts (0.975 s, 96 frames of Kaldi fbank), written as 16-bit PCM WAV
files in one folder per class.
usage: wavset.py OUT N_PER_CLASS SEED"""
import sys, os, wave, numpy as np
out, n_per, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
N, R = 15600, 16000
t = np.arange(N) / R
for cls in ['tone', 'chirp', 'noise']:
    os.makedirs(f'{out}/{cls}', exist_ok=True)
    for i in range(n_per):
        if cls == 'tone':
            f = rng.uniform(200, 3000); x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
        elif cls == 'chirp':
            f0 = rng.uniform(200, 1000); f1 = rng.uniform(2000, 6000)
            x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * t[-1])))
        else:
            x = np.zeros(N); s = rng.integers(0, N - 4000); x[s:s + 4000] = rng.normal(0, 0.5, 4000)
        x = 0.5 * x + rng.normal(0, 0.01, N)
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype('<i2')
        with wave.open(f'{out}/{cls}/{i:03d}.wav', 'wb') as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(R); w.writeframes(pcm.tobytes())

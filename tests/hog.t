#!/bin/sh
# mae-hog, MaskFeat's HOG target, against numpy written here from the definition (METHODS 5.5,
# SlowFast's HOGLayerC: reflect pad, Sobel, atan2(gx, gy) bins, Gaussian window, 8x8-style cell
# sums, L2 per cell) on real Fashion-MNIST images and on random RGB images; its size per patch.
. "$(dirname "$0")/lib.sh"
cat > "$T/ref.py" <<'PY'
import sys, numpy as np, maestream as m
path, p, cell, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
hdr = m.records(path)[0]
gh, gw = hdr['meta']['grid']
X, Y = m.cat(path, 'patches').astype(np.float64), m.cat(path, 'target')
B, N, P = X.shape
C = P // (p * p)
img = X.reshape(B, gh, gw, p, p, C).transpose(0, 5, 1, 3, 2, 4).reshape(B, C, gh * p, gw * p)
H, W = gh * p, gw * p
x = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)), mode='reflect')
kx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float64)
def corr(k):   # cross-correlation, as conv2d
    return sum(k[a, b] * x[:, :, a:a + H, b:b + W] for a in range(3) for b in range(3))
gx, gy = corr(kx), corr(kx.T)
mag = np.sqrt(gx ** 2 + gy ** 2)
phase = np.arctan2(gx, gy) / np.pi * 9
bins = np.floor(phase).astype(int) % 9
if window:
    n = np.arange(window, dtype=np.float64); n -= n.mean(); n /= window // 2
    g1 = np.exp(-0.5 * n ** 2); g2 = np.outer(g1, g1); g2 /= g2.sum()
    mag = mag * np.tile(g2, (H // window, W // window))
hist = np.zeros((B, C, 9, H, W))
np.put_along_axis(hist, bins[:, :, None], mag[:, :, None], axis=2)
hist = hist.reshape(B, C, 9, H // cell, cell, W // cell, cell).sum(axis=(4, 6))
hist /= np.maximum(np.sqrt((hist ** 2).sum(axis=2, keepdims=True)), 1e-12)
q = p // cell   # per patch: (channel, bin, cell row, cell column)
ref = hist.reshape(B, C, 9, gh, q, gw, q).transpose(0, 3, 5, 1, 2, 4, 6).reshape(B, N, C * 9 * q * q)
err = np.abs(ref - Y).max()
print(f'# {path.split("/")[-1]}: {B} images {H}x{W}x{C}, patch {p}, cell {cell}, window {window}: '
      f'target {list(Y.shape)}, max |C - numpy| = {err:.3g}, bins used {np.unique(bins).size}')
sys.exit(0 if Y.shape == ref.shape and err < 1e-6 else 1)
PY
mae-decode -q -n 256 -b 64 fashion-mnist:train | mae-patchify -q -p 7 | mae-hog -q > "$T/f7.mae"
ok $? "mae-hog on 256 Fashion-MNIST images in patches of 7"
$PY "$T/ref.py" "$T/f7.mae" 7 7 7; ok $? "patch 7 (one cell, window 7): numpy's HOG"
mae-decode -q -n 128 -b 64 fashion-mnist:test | mae-patchify -q -p 4 | mae-hog -q > "$T/f4.mae"
$PY "$T/ref.py" "$T/f4.mae" 4 2 4; ok $? "patch 4 (2x2 cells of 2, window 4): numpy's HOG"
mae-synth -s 3 -n 2 -t image:U8:3,32,48,3:randint:256 -m height=32 -m width=48 -m channels=3 |
	mae-patchify -q -p 16 | mae-hog -q > "$T/rgb.mae"
$PY "$T/ref.py" "$T/rgb.mae" 16 8 16; ok $? "random RGB 32x48, patch 16 (MaskFeat's 2x2 cells of 8, window 16): numpy's HOG"
mae-synth -s 4 -t image:U8:2,32,32,3:randint:256 | mae-patchify -q -p 16 | mae-hog -q --window 0 --cell 4 > "$T/rgb0.mae"
$PY "$T/ref.py" "$T/rgb0.mae" 16 4 0; ok $? "--window 0 --cell 4: no weighting, 4x4 cells of 4"
is "$(mae-hog --dim -p 16 --channels 3) $(mae-hog --dim -p 7) $(mae-hog --dim -p 4)" "108 9 36" \
	"--dim: 108 values a patch at MaskFeat's 16 (RGB), 9 at 7, 36 at 4"
mae-hog --cell 3 -i "$T/f4.mae" > /dev/null 2>&1; is $? 1 "--cell that does not divide the patch: usage error"
finish

#!/bin/sh
# mae-mask frequency (MFM) against numpy's FFT: the corrupted patches are exactly
# normalize(clamp(real(ifft2(fft2(x) * keep)))) of the original, fmask is the documented disc,
# and without clamping the output's spectrum is the input's on the kept frequencies and zero on
# the removed ones. On a real photo at 224x224 (RGB) and on Fashion-MNIST at 28x28 (grey).
. "$(dirname "$0")/lib.sh"

photo=/usr/share/backgrounds/mate/nature/Aqua.jpg
[ -r "$photo" ] || photo=$(ls /usr/share/backgrounds/*.jpg 2>/dev/null | head -1)

cat > "$T/check.py" <<'PY'
import msgpack, numpy as np, sys
path, clamp, expect_filter = sys.argv[1], sys.argv[2] == 'clamp', sys.argv[3]
recs = list(msgpack.Unpacker(open(path, 'rb'), raw=False))
meta = recs[0]['meta']
p, (gh, gw) = meta['patch_size'], meta['grid']
mean, std = np.array(meta['mean'], 'f8'), np.array(meta['std'], 'f8')
radius = meta['mask']['radius']
def T(r, n):
    t = r['tensors'][n]
    return np.frombuffer(t['data'], {'F32': '<f4', 'U8': 'u1'}[t['dtype']]).reshape(t['shape'])
def unpatch(x):                       # [N, p*p*C] -> [H, W, C]
    C = x.shape[1] // (p * p)
    return x.reshape(gh, gw, p, p, C).transpose(0, 2, 1, 3, 4).reshape(gh * p, gw * p, C)
H, W = gh * p, gw * p
fy = np.round(np.fft.fftfreq(H) * H); fx = np.round(np.fft.fftfreq(W) * W)   # integer frequencies
inside = (fy[:, None] ** 2 + fx[None, :] ** 2) < radius ** 2
worst = worst_rm = worst_kept = 0.0
seen = set()
for r in recs[1:-1]:
    tgt, cor, fm, m = T(r, 'target'), T(r, 'patches'), T(r, 'fmask'), T(r, 'mask')
    assert m.shape == tgt.shape[:2] and m.sum() == 0, 'mask must be all visible'
    assert fm.shape == (tgt.shape[0], H, W)
    for b in range(tgt.shape[0]):
        low = (fm[b] == (~inside)).all(); high = (fm[b] == inside).all()
        assert low or high, 'fmask is neither the low- nor the high-pass disc'
        seen.add('low' if low else 'high')
        x = unpatch(tgt[b].astype('f8')) * std + mean            # pixels in [0,1]
        F = np.fft.fft2(x, axes=(0, 1))
        y = np.real(np.fft.ifft2(F * (1 - fm[b])[:, :, None], axes=(0, 1)))
        if clamp:
            y = np.clip(y, 0, 1)
        got = unpatch(cor[b].astype('f8')) * std + mean
        worst = max(worst, np.abs(got - y).max())
        if not clamp:
            G = np.fft.fft2(got, axes=(0, 1))
            scale = np.abs(F).max()
            worst_rm = max(worst_rm, np.abs(G[fm[b] == 1]).max(initial=0) / scale)
            worst_kept = max(worst_kept, np.abs(G - F)[fm[b] == 0].max(initial=0) / scale)
want = {'low': {'low'}, 'high': {'high'}, 'random': {'low', 'high'}}[expect_filter]
assert seen == want, (seen, want)
print('# %dx%d radius %g: max |pixel error| %.2e, removed |F| %.2e, kept |dF| %.2e (of max |F|)'
      % (H, W, radius, worst, worst_rm, worst_kept))
assert worst < 2e-5 and worst_rm < 1e-6 and worst_kept < 1e-6
PY

mae-decode -q -c --crop center --size 224 -b 2 "$photo" "$photo" | mae-patchify -q > "$T/photo.mae"
ok $? "a real photo decoded and patchified at 224x224"
mae-mask -q frequency --filter low < "$T/photo.mae" > "$T/lo.mae"; ok $? "frequency low-pass at 224"
$PY "$T/check.py" "$T/lo.mae" clamp low; ok $? "224 low-pass, radius 16: patches = normalize(clamp(ifft2(fft2(x) * disc))) (numpy)"
mae-mask -q frequency --filter high --no-clamp < "$T/photo.mae" > "$T/hi.mae"
$PY "$T/check.py" "$T/hi.mae" noclamp high; ok $? "224 high-pass, no clamp: spectrum kept exactly outside the disc, zero inside"

mae-decode -q -n 64 -b 16 fashion-mnist:test | mae-patchify -q > "$T/fm.mae"
mae-mask -q frequency < "$T/fm.mae" > "$T/fr.mae"; ok $? "frequency on Fashion-MNIST"
$PY "$T/check.py" "$T/fr.mae" clamp random; ok $? "28x28, radius 16*28/224 = 2, low or high per image (both seen): matches numpy"
mae-mask -q frequency --radius 5 --filter low --no-clamp < "$T/fm.mae" > "$T/r5.mae"
$PY "$T/check.py" "$T/r5.mae" noclamp low; ok $? "28x28 low-pass radius 5, no clamp: exact spectrum"
finish

#!/bin/sh
# mae-view: grids of images; original | masked for patches with a mask; MAE's four panels
# (original | masked | reconstruction | reconstruction + visible) when `pred` is present.
# Checked pixel by pixel with PIL and numpy.
. "$(dirname "$0")/lib.sh"
[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"
CV=/usr/share/doc/opencv-doc/examples/data
cat > "$T/rd.py" <<'PY'
import sys, msgpack, numpy as np
from PIL import Image
from maestream import records, tensor, cat  # tests/lib
def tile(pic, row, col, h, w, k=4, gap=2):
    a = np.asarray(Image.open(pic))
    if a.ndim == 2: a = a[..., None]
    y, x = gap + row * (h * k + gap), gap + col * (w * k + gap)
    return a[y:y + h * k:k, x:x + w * k:k]    # one pixel per source pixel
def unpatch(x, p, C, gh, gw):
    B = x.shape[0]
    return x.reshape(B, gh, gw, p, p, C).transpose(0, 1, 3, 2, 4, 5).reshape(B, gh * p, gw * p, C)
PY

mae-decode -q -b 16 -n 32 fashion-mnist:test > "$T/g.mae"

# 1. images only: a 3x2 grid of 28x28 images shown 4x
mae-view -q -n 6 -o "$T/grid.png" < "$T/g.mae"; ok $? "render 6 images"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
T = sys.argv[1]; im = tensor(records(T + '/g.mae')[1]['tensors']['image'])
pic = Image.open(T + '/grid.png')
same = all(np.array_equal(tile(T + '/grid.png', i // 3, i % 3, 28, 28), im[i]) for i in range(6))
print(pic.format, pic.mode, pic.size, same)
PY
)
is "$res" "PNG L (344, 230) True" "PNG grid, 3 columns, every tile equals its image"

# 2. patches and a mask: original | masked, hidden patches in the mean colour
mae-patchify < "$T/g.mae" > "$T/p.mae"
$PY - "$T" <<'PY' > "$T/m.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/p.mae'); P = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(P.pack(rs[0])); rng = np.random.default_rng(0)
for r in rs[1:-1]:
    B, N = r['tensors']['patches']['shape'][:2]
    m = (rng.random((B, N)) < 0.75).astype(np.uint8)
    r['tensors']['mask'] = {'dtype': 'U8', 'shape': [B, N], 'data': m.tobytes()}
    x = tensor(r['tensors']['patches']).copy()
    r['tensors']['pred'] = {'dtype': 'F32', 'shape': list(x.shape), 'data': x.tobytes()}
    w(P.pack(r))
w(P.pack(rs[-1]))
PY
$PY - "$T" <<'PY' > "$T/mask-only.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/m.mae'); P = msgpack.Packer(use_bin_type=True)
for r in rs:
    r.get('tensors', {}).pop('pred', None); sys.stdout.buffer.write(P.pack(r))
PY
mae-view -q -n 3 -o "$T/masked.png" < "$T/mask-only.mae"; ok $? "render patches with a mask"
cat > "$T/check.py" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
T, pic, panels = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = records(T + '/m.mae')[1]['tensors']
x = tensor(r['patches']); m = tensor(r['mask']).astype(bool)
orig = unpatch(np.round((x * np.float32(0.353) + np.float32(0.286)) * 255).clip(0, 255).astype(np.uint8), 4, 1, 7, 7)
mm = unpatch(np.repeat(m[:, :, None], 16, axis=2), 4, 1, 7, 7)
good = Image.open(pic).size == (2 + panels * 114, 2 + 3 * 114)
for i in range(3):
    o = tile(pic, i, 0, 28, 28); k = tile(pic, i, 1, 28, 28)
    good &= np.array_equal(o, orig[i])
    good &= bool((k[mm[i]] == 73).all()) and np.array_equal(k[~mm[i]], orig[i][~mm[i]])
    if panels == 4:
        good &= np.array_equal(tile(pic, i, 2, 28, 28), orig[i]) and np.array_equal(tile(pic, i, 3, 28, 28), orig[i])
print(good)
PY
is "$($PY "$T/check.py" "$T" "$T/masked.png" 2)" True "original | masked: visible patches as they are, hidden ones in the mean colour"

# 3. with pred: the four panels of MAE's figure
mae-view -q -n 3 -o "$T/four.png" < "$T/m.mae"; ok $? "render the four-panel figure"
is "$($PY "$T/check.py" "$T" "$T/four.png" 4)" True "a perfect prediction: reconstruction and pasted panels equal the original"

# 4. norm-pix predictions: shown with each target patch's own mean and std
$PY - "$T" <<'PY' > "$T/np.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/m.mae'); P = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(P.pack(rs[0]))
for r in rs[1:-1]:
    x = tensor(r['tensors']['patches']).astype(np.float64)
    mu = x.mean(-1, keepdims=True); var = x.var(-1, ddof=1, keepdims=True)
    y = ((x - mu) / np.sqrt(var + 1e-6)).astype(np.float32)
    r['tensors']['pred'] = {'dtype': 'F32', 'shape': list(y.shape), 'data': y.tobytes()}
    w(P.pack(r))
w(P.pack(rs[-1]))
PY
mae-view -q -n 3 --norm-pix -o "$T/np.png" < "$T/np.mae"; ok $? "render norm-pix predictions"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
a = np.stack([tile(sys.argv[1] + '/np.png', i, 2, 28, 28) for i in range(3)]).astype(int)
b = np.stack([tile(sys.argv[1] + '/np.png', i, 0, 28, 28) for i in range(3)]).astype(int)
print(int(np.abs(a - b).max()) <= 1)
PY
)
is "$res" True "--norm-pix: the denormalized prediction of the target equals the original within 1"

# 4b. LoMaR: predictions per window token, put back at their patches by `windows`
mae-mask -q -s 3 window -r 0.8 --window 3 --windows 2 < "$T/p.mae" > "$T/w.mae"
$PY - "$T" <<'PY' > "$T/wp.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/w.mae'); P = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(P.pack(rs[0])); K = rs[0]['meta']['window_size']
for r in rs[1:-1]:
    x = tensor(r['tensors']['patches']); win = tensor(r['tensors']['windows'])
    idx = [[(t + k // K) * 7 + l + k % K for (t, l) in ws for k in range(K * K)] for ws in win]
    y = np.stack([x[b, idx[b]] for b in range(len(x))]).astype(np.float32)   # perfect, per window token
    r['tensors']['pred'] = {'dtype': 'F32', 'shape': list(y.shape), 'data': y.tobytes()}
    w(P.pack(r))
w(P.pack(rs[-1]))
PY
mae-view -q -n 3 -o "$T/lomar.png" < "$T/wp.mae"; ok $? "render LoMaR's per-window predictions"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
T = sys.argv[1]; r = records(T + '/wp.mae')[1]['tensors']; K = records(T + '/wp.mae')[0]['meta']['window_size']
x = tensor(r['patches']); m = tensor(r['mask']).astype(bool); win = tensor(r['windows'])
orig = unpatch(np.round((x * np.float32(0.353) + np.float32(0.286)) * 255).clip(0, 255).astype(np.uint8), 4, 1, 7, 7)
good = True
for i in range(3):
    cov = np.zeros(49, bool)
    for (t, l) in win[i]:
        for k in range(K * K): cov[(t + k // K) * 7 + l + k % K] = True
    cm = unpatch(np.repeat(cov[None, :, None], 16, axis=2), 4, 1, 7, 7)[0]
    rec, pasted = tile(T + '/lomar.png', i, 2, 28, 28), tile(T + '/lomar.png', i, 3, 28, 28)
    good &= np.array_equal(rec[cm], orig[i][cm]) and bool((rec[~cm] == 73).all())
    good &= np.array_equal(pasted, orig[i]) and bool(m[i][~cov].sum() == 0) and not cov.all()
print(good)
PY
)
is "$res" True "LoMaR: window predictions land on their patches, patches outside every window stay blank"
$PY - "$T" <<'PY' > "$T/wbad.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/wp.mae'); P = msgpack.Packer(use_bin_type=True)
win = tensor(rs[1]['tensors']['windows']).copy(); win[0, 0] = (6, 6)
rs[1]['tensors']['windows']['data'] = win.tobytes()
for r in rs: sys.stdout.buffer.write(P.pack(r))
PY
msg=$(mae-view -o "$T/x.png" < "$T/wbad.mae" 2>&1); rc=$?
is "$rc" 2 "a window outside the grid: exit status 2"
like "$msg" "window 0 of sample 0 at .6,6. leaves the 7x7 grid" "a window outside the grid: says where"

# 5. patches alone (no image tensor), RGB, JPEG output
printf '%s\n' $CV/baboon.jpg $CV/home.jpg > "$T/l.txt"
mae-decode -q --eval -b 2 @"$T/l.txt" > "$T/c.mae"
mae-patchify < "$T/c.mae" | mae-view -q -f jpeg -Q 95 -o "$T/c.out"; ok $? "render RGB patches as a JPEG"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
im = tensor(records(sys.argv[1] + '/c.mae')[1]['tensors']['image']).astype(int)
pic = Image.open(sys.argv[1] + '/c.out'); a = np.asarray(pic).astype(int)
d = np.abs(a[2:226, 2:226] - im[0]).mean()
print(pic.format, pic.mode, pic.size, d < 3)
PY
)
is "$res" "JPEG RGB (454, 228) True" "RGB 224x224 tiles at scale 1, JPEG close to the images"

# 6. --every: one picture per chosen record
mae-view -q --every 1 -n 2 -o "$T/ev-%02d.png" < "$T/g.mae"; ok $? "--every 1"
is "$(ls "$T" | grep -c '^ev-0[12].png$')" 2 "--every writes one picture per record"

# 7. bad input
msg=$($PY -c '
import msgpack, sys; P = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(P.pack({"type": "header", "version": 1})); w(P.pack({"type": "batch", "seq": 0, "tensors": {"label": {"dtype": "I32", "shape": [1], "data": b"\0\0\0\0"}}}))
w(P.pack({"type": "eos", "count": 1, "skipped": 0}))' | mae-view -o "$T/x.png" 2>&1); rc=$?
is "$rc" 2 "a stream with nothing to show: exit status 2"
like "$msg" "neither 'image' nor 'patches'" "a stream with nothing to show: says so"
$PY - "$T" <<'PY' > "$T/badmask.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/m.mae'); P = msgpack.Packer(use_bin_type=True)
B, N = rs[1]['tensors']['mask']['shape']
rs[1]['tensors']['mask'] = {'dtype': 'F32', 'shape': [B, N], 'data': np.zeros((B, N), np.float32).tobytes()}
for r in rs: sys.stdout.buffer.write(P.pack(r))
PY
msg=$(mae-view -o "$T/x.png" < "$T/badmask.mae" 2>&1); rc=$?
is "$rc" 2 "a mask of the wrong dtype: exit status 2"
like "$msg" "tensor 'mask': expected U8" "a mask of the wrong dtype: a clear message"
finish

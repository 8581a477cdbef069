#!/bin/sh
# mae-patchify: patches equal PyTorch's (torchvision ToTensor + Normalize, then MAE's patchify
# from models_mae.py) bit for bit, and --inverse gives back the identical images.
. "$(dirname "$0")/lib.sh"
[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"
CV=/usr/share/doc/opencv-doc/examples/data
cat > "$T/rd.py" <<'PY'
import sys, msgpack, numpy as np
from maestream import records, tensor, cat  # tests/lib
PY

# grey 28x28 (patch 4) and RGB 224x224 (patch 16)
mae-decode -q -b 128 -n 500 fashion-mnist:test > "$T/g.mae"
printf '%s\n' $CV/baboon.jpg $CV/home.jpg $CV/starry_night.jpg $CV/left01.jpg > "$T/l.txt"
mae-decode -q --eval -b 3 @"$T/l.txt" > "$T/c.mae"
for s in g c; do
	mae-patchify < "$T/$s.mae" > "$T/$s.p.mae"; ok $? "patchify ($s)"
	mae-patchify --inverse < "$T/$s.p.mae" > "$T/$s.i.mae"; ok $? "patchify --inverse ($s)"
	# the image tensors, byte for byte
	for f in "$T/$s.mae" "$T/$s.i.mae"; do
		$PY -c "
import sys; sys.path.insert(0, '$T'); from rd import *
sys.stdout.buffer.write(b''.join(r['tensors']['image']['data'] for r in records('$f')[1:-1]))" > "$f.img"
	done
	test -s "$T/$s.mae.img" && cmp -s "$T/$s.mae.img" "$T/$s.i.mae.img"; ok $? "patchify then --inverse gives back identical images ($s)"
done

res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
import torch
def mae_patchify(imgs, p):   # facebookresearch/mae models_mae.py, for C channels
    N, C, H, W = imgs.shape; h, w = H // p, W // p
    x = imgs.reshape(N, C, h, p, w, p)
    x = torch.einsum('nchpwq->nhwpqc', x)
    return x.reshape(N, h * w, p * p * C)
out = []
for s, p in (('g', 4), ('c', 16)):
    r = records(sys.argv[1] + '/%s.p.mae' % s); m = r[0]['meta']
    img = torch.from_numpy(cat(sys.argv[1] + '/%s.mae' % s, 'image').copy()).permute(0, 3, 1, 2)
    x = img.float().div(255)                                  # ToTensor
    mean = torch.tensor(m['mean'], dtype=torch.float32)[:, None, None]
    std = torch.tensor(m['std'], dtype=torch.float32)[:, None, None]
    x = (x - mean) / std                                      # Normalize
    want = mae_patchify(x, p).numpy()
    got = cat(sys.argv[1] + '/%s.p.mae' % s, 'patches')
    out.append('%s p=%d grid=%s mean=%s std=%s %s equal=%s noimage=%s' % (s, m['patch_size'], m['grid'],
        [round(v, 4) for v in m['mean']], [round(v, 4) for v in m['std']], got.shape,
        bool(np.array_equal(got, want)), 'image' not in r[1]['tensors']))
print('\n'.join(out))
PY
)
is "$(echo "$res" | sed -n 1p)" "g p=4 grid=[7, 7] mean=[0.286] std=[0.353] (500, 49, 16) equal=True noimage=True" \
	"grey: patch 4, Fashion-MNIST normalization, patches equal PyTorch's bit for bit"
is "$(echo "$res" | sed -n 2p)" "c p=16 grid=[14, 14] mean=[0.485, 0.456, 0.406] std=[0.229, 0.224, 0.225] (4, 196, 768) equal=True noimage=True" \
	"RGB: patch 16, ImageNet normalization, patches equal PyTorch's bit for bit"

# options: patch size, normalization, --keep, inverse of another tensor
res=$(mae-patchify -p 7 --no-norm --keep < "$T/g.mae" | $PY -c "
import sys; sys.path.insert(0, '$T'); from rd import *
r = list(msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 30))
x = tensor(r[1]['tensors']['patches']); im = tensor(r[1]['tensors']['image'])
print(x.shape, r[0]['meta']['grid'], float(x.min()), float(x.max()), bool(np.array_equal(x[0, 0, :7], im[0, 0, :7, 0] / np.float32(255))))")
is "$res" "(128, 16, 49) [4, 4] 0.0 1.0 True" "-p 7 --no-norm --keep: 4x4 grid, values in [0, 1], image kept"
res=$(mae-patchify --mean 0.5 --std 0.25 < "$T/g.mae" | $PY -c "
import sys, msgpack
r = list(msgpack.Unpacker(sys.stdin.buffer, raw=False)); print(r[0]['meta']['mean'], r[0]['meta']['std'])")
is "$res" "[0.5] [0.25]" "--mean and --std go into the header"
$PY - "$T" <<'PY' | mae-patchify --inverse -t pred --to recon --keep > "$T/pr.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/c.p.mae'); p = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(p.pack(rs[0]))
for r in rs[1:-1]:
    r['tensors']['pred'] = dict(r['tensors']['patches']); w(p.pack(r))
w(p.pack(rs[-1]))
PY
ok $? "--inverse -t pred --to recon"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
print(sorted(records(sys.argv[1] + '/pr.mae')[1]['tensors']), np.array_equal(cat(sys.argv[1] + '/pr.mae', 'recon'), cat(sys.argv[1] + '/c.mae', 'image')))
PY
)
is "$res" "['index', 'label', 'patches', 'pred', 'recon'] True" "a prediction equal to the patches turns back into the image"

# bad input
msg=$(mae-patchify -p 5 < "$T/g.mae" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "-p 5 on 28x28 images: exit status 2"
like "$msg" "28x28 images do not split into 5x5 patches" "-p 5: says why"
msg=$(mae-patchify < "$T/g.p.mae" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "patchify of a stream without images: exit status 2"
like "$msg" "tensor 'image'" "patchify without images: names the tensor"
msg=$(mae-patchify --inverse < "$T/g.mae" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "--inverse of a stream without patches: exit status 2"
like "$msg" "patch_size|tensor 'patches'" "--inverse without patches: says what is missing"
$PY - "$T" <<'PY' > "$T/mixed.mae"
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rs = records(sys.argv[1] + '/g.mae'); p = msgpack.Packer(use_bin_type=True); w = sys.stdout.buffer.write
w(p.pack(rs[0])); w(p.pack(rs[1]))
t = rs[2]['tensors']['image']; t['shape'] = [t['shape'][0] * 4, 14, 14, 1]; w(p.pack(rs[2])); w(p.pack(rs[-1]))
PY
msg=$(mae-patchify < "$T/mixed.mae" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a batch whose images change size: exit status 2"
like "$msg" "record 2: tensor 'image': expected U8 \[B,28,28,1\], got U8 \[512,14,14,1\]" "a batch whose images change size: a clear message"
finish

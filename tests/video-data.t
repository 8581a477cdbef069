#!/bin/sh
# Video data: mae-synth --moving-fmnist (Moving Fashion-MNIST clips: deterministic, the items
# are Fashion-MNIST's pixels moving at most the speed a frame, labels their class) and
# mae-decode --clip (frames chosen by VideoMAE's sampler, computed here in Python from the
# reference loop; every frame of a clip cropped alike, checked against single-image decodes
# with the same draws; -j and shards; errors name the clip and frame), read with PIL + numpy.
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
[ -r $FM/train-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"
$PY -c 'import PIL, numpy, msgpack' 2>/dev/null || skip_all "python3 PIL, numpy or msgpack missing"

# 1. The generator: same seed, same bytes; another seed, other clips
mae-synth -q -s 5 -n 40 --frames 20 --moving-fmnist "$T/a"; ok $? "mae-synth --moving-fmnist writes 40 clips of 20 frames"
mae-synth -q -s 5 -n 40 --frames 20 --moving-fmnist "$T/b"
diff -r "$T/a" "$T/b" > /dev/null; ok $? "the same seed gives the same files, byte for byte"
mae-synth -q -s 6 -n 40 --frames 20 --moving-fmnist "$T/c"
diff -r "$T/a" "$T/c" > /dev/null; is $? 1 "another seed gives other clips"
is "$(find "$T/a" -name 'frame*.png' | wc -l) $(find "$T/a" -mindepth 2 -maxdepth 2 -type d | wc -l)" "800 40" \
	"800 frames in 40 clip folders"
# two items: the first draws what the single item of the same clip draws, so the class
# folders are the same and every pixel is at least the single item's (max)
mae-synth -q -s 5 -n 40 --frames 20 --items 2 --moving-fmnist "$T/two"
res=$($PY - "$T" <<'PY'
import os, sys, numpy as np
from PIL import Image
a, b = sys.argv[1] + '/a', sys.argv[1] + '/two'
same = sorted(os.path.relpath(os.path.join(r, f), a) for r, _, fs in os.walk(a) for f in fs) == \
       sorted(os.path.relpath(os.path.join(r, f), b) for r, _, fs in os.walk(b) for f in fs)
ge = more = 0
for r, _, fs in os.walk(a):
    for f in fs:
        x = np.asarray(Image.open(os.path.join(r, f))); y = np.asarray(Image.open(os.path.join(b, os.path.relpath(r, a), f)))
        ge += bool((y >= x).all()); more += int(y.sum()) > int(x.sum())
print(same, ge, more > 700)
PY
)
is "$res" "True 800 True" "--items 2: the same clips and classes, the first item's pixels under the max of both"
mae-synth -q -n 2 --frames 3 -t x:U8:1 --moving-fmnist "$T/x" 2>/dev/null; is $? 1 "--moving-fmnist with -t: usage error"
mae-synth -q --frames 3 -t x:U8:1 > /dev/null 2>&1; is $? 1 "--frames without --moving-fmnist: usage error"

cat > "$T/lib.py" <<'PY'
import gzip, os, sys, numpy as np
from PIL import Image
from maestream import records, tensor
FM = '/usr/share/datasets/fashion-mnist'
def idx(name):
    with gzip.open(os.path.join(FM, name)) as f: b = f.read()
    n = int.from_bytes(b[4:8], 'big')
    return np.frombuffer(b, np.uint8, offset=16).reshape(n, 28, 28) if b[3] == 3 else np.frombuffer(b, np.uint8, offset=8)
def frames(clip):
    """a clip folder's frame files, sorted by name (bytes, as strcmp)"""
    return sorted((f for f in os.listdir(clip) if f.lower().endswith(('.png', '.jpg', '.jpeg'))), key=os.fsencode)
def clips(root):
    """(clip folder, label) in mae-decode's order: class folders, then clip folders, sorted"""
    out = []
    for k, c in enumerate(sorted(os.listdir(root), key=os.fsencode)):
        for d in sorted(os.listdir(os.path.join(root, c)), key=os.fsencode):
            out.append((os.path.join(root, c, d), k))
    return out
def ref_ids(nf, T, S, offset):
    """VideoMAE kinetics.py _video_TSN_decord_batch_loader, num_segments 1, no jitter; offset
    0-based (the reference's is 1-based)"""
    offset += 1; skip_offsets = [0] * T; ids = []
    for i, _ in enumerate(range(0, T * S, S)):
        if offset + skip_offsets[i] <= nf: frame_id = offset + skip_offsets[i] - 1
        else: frame_id = offset - 1
        ids.append(frame_id)
        if offset + S < nf: offset += S
    return ids
def centred(nf, T, S):
    return (nf - T * S) // 2 if nf >= T * S else 0
def samples(path):
    """(epoch, index) -> (clip bytes, label), and the records"""
    recs = records(path); out = {}
    for r in recs[1:-1]:
        t = r['tensors']
        for im, lab, ix in zip(tensor(t['image']), tensor(t['label']), tensor(t['index'])):
            out[(r['meta']['epoch'], int(ix))] = (im.tobytes(), int(lab))
    return out, recs
PY

# 2. The clips are Fashion-MNIST items moving at most 2.5 px (3 once rounded) a frame, on black,
# and their class folder is the item's class
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
from numpy.lib.stride_tricks import sliding_window_view as win
X = idx('train-images-idx3-ubyte.gz'); Y = idx('train-labels-idx1-ubyte.gz')
table = {}
for i in range(len(X)): table.setdefault(X[i].tobytes(), []).append(i)
found = labels = moves = grey = 0; maxstep = 0; moved = 0; n = 0
for clip, label in clips(sys.argv[1] + '/a'):
    fs = [np.asarray(Image.open(os.path.join(clip, f))) for f in frames(clip)]
    n += 1
    grey += all(Image.open(os.path.join(clip, f)).mode == 'L' for f in frames(clip)) and fs[0].shape == (64, 64) and len(fs) == 20
    # frame 0: some item at some place, nothing else
    hit = None
    for y in range(37):
        for x in range(37):
            k = table.get(fs[0][y:y + 28, x:x + 28].tobytes())
            if k and int(fs[0].sum()) == int(fs[0][y:y + 28, x:x + 28].sum()):
                hit = (k, x, y)
    if hit is None: continue
    found += 1
    labels += any(Y[k] == label for k in hit[0])
    item = X[hit[0][0]]; px, py = hit[1], hit[2]; ok = True
    for f in fs[1:]:
        m = np.argwhere((win(f, (28, 28)) == item).all(axis=(2, 3)))
        if len(m) != 1 or int(f.sum()) != int(item.sum()): ok = False; break
        y, x = m[0]; maxstep = max(maxstep, abs(x - px), abs(y - py)); moved += (x, y) != (px, py); px, py = x, y
    moves += ok
print(n, grey, found, labels, moves, maxstep <= 3, moved > 20 * 19 * 0.9)
PY
)
is "$res" "40 40 40 40 40 True True" "every clip: 20 grey 64x64 frames, frame 0 an item on black, its class the folder, each next frame the item shifted by at most 3 px"

# 3. --clip 8 --frame-stride 2 --crop none: every frame is the PNG's pixels, at the frames the
# reference sampler takes from the centred offset. Clips of other lengths (shorter than
# T*S: the last frame reached repeats) and stride 1 (the reference never steps onto the last frame)
mkdir -p "$T/var/k" && i=0
for n in 20 16 17 9 3 1 8; do
	i=$((i + 1)); d="$T/var/k/v$i"; mkdir -p "$d"
	src=$(ls -d "$T"/a/*/clip* | sed -n ${i}p)
	ls "$src" | head -n $n | while read -r f; do cp "$src/$f" "$d/$f"; done
done
mae-decode -q -g --clip 8 --frame-stride 2 --crop none -b 7 "$T/a" > "$T/none.mae"; ok $? "decode --clip 8 --frame-stride 2 --crop none"
mae-decode -q -g --clip 8 --frame-stride 2 --crop none -b 3 "$T/var" > "$T/var2.mae"
mae-decode -q -g --clip 8 --frame-stride 1 --crop none -b 3 "$T/var" > "$T/var1.mae"
mae-decode -q -g --clip 3 --crop none -b 3 "$T/var" > "$T/var3.mae"; ok $? "decode clips of 1 to 20 frames at strides 1 and 2 (the default)"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
def check(stream, root, T, S):
    s, recs = samples(stream)
    h = recs[0]['meta']; good = h['frames'] == T and h['frame_stride'] == S and recs[-1]['count'] == len(recs) - 2
    cl = clips(root); good &= len(s) == len(cl)
    for i, (clip, label) in enumerate(cl):
        fs = frames(clip); nf = len(fs)
        ids = ref_ids(nf, T, S, centred(nf, T, S))
        want = np.stack([np.asarray(Image.open(os.path.join(clip, fs[k]))) for k in ids])[..., None]
        got, lab = s[(0, i)]
        good &= got == want.tobytes() and lab == label
    return good
r = sys.argv[1]
print(check(r + '/none.mae', r + '/a', 8, 2), check(r + '/var2.mae', r + '/var', 8, 2),
      check(r + '/var1.mae', r + '/var', 8, 1), check(r + '/var3.mae', r + '/var', 3, 2))
m = records(r + '/none.mae')[0]['meta']
print(m['height'], m['width'], m['channels'], m['frames'], m['frame_stride'], m['dataset_size'], m['augment']['clip_offset'], m['classes'][0], m['classes'][9])
print(records(r + '/none.mae')[1]['tensors']['image']['shape'], records(r + '/none.mae')[-2]['tensors']['image']['shape'])
print(ref_ids(20, 8, 2, 2), ref_ids(9, 8, 2, 0), ref_ids(8, 8, 1, 0), ref_ids(17, 8, 2, 0))
PY
)
is "$(echo "$res" | sed -n 1p)" "True True True True" "every frame equals its PNG at the reference sampler's frame ids (T*S over, equal to and under the clip's length; strides 1 and 2)"
is "$(echo "$res" | sed -n 2p)" "64 64 1 8 2 40 center 0_tshirt_top 9_ankle_boot" "header meta: size, channels, frames, frame_stride, clips, centred offset, class names"
is "$(echo "$res" | sed -n 3p)" "[7, 8, 64, 64, 1] [5, 8, 64, 64, 1]" "image is U8 [B,T,H,W,C]"
is "$(echo "$res" | sed -n 4p)" "[2, 4, 6, 8, 10, 12, 14, 16] [0, 2, 4, 6, 6, 6, 6, 6] [0, 1, 2, 3, 4, 5, 6, 6] [0, 2, 4, 6, 8, 10, 12, 14]" \
	"the reference rule: a step that would reach the last frame is not taken"

# 4. --train: the clip's crop and flip are those of a single image with the same draws, for
# every frame: frame k of clip i equals image i of a list whose line i is clip i's frame k
# (--no-shuffle: the centred offset, so the ids are known); and shuffled, several epochs
mae-decode -q -g -s 9 --clip 8 --train --no-shuffle --size 32 --scale 0.1,0.6 -b 16 "$T/a" > "$T/rrc.mae"; ok $? "decode --clip 8 --train --size 32"
$PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
cl = clips(sys.argv[1] + '/a')
for k in range(8):
    with open(sys.argv[1] + '/list%d' % k, 'w') as f:
        for clip, label in cl:
            fs = frames(clip); f.write('%s %d\n' % (os.path.join(clip, fs[ref_ids(len(fs), 8, 2, centred(len(fs), 8, 2))[k]]), label))
PY
for k in 0 1 2 3 4 5 6 7; do
	mae-decode -q -g -s 9 --train --no-shuffle --size 32 --scale 0.1,0.6 -b 16 "@$T/list$k" > "$T/img$k.mae"
done
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
from maestream import cat
r = sys.argv[1]
v = cat(r + '/rrc.mae', 'image'); good = v.shape == (40, 8, 32, 32, 1)
for k in range(8):
    good &= bool((cat(r + '/img%d.mae' % k, 'image') == v[:, k]).all())
# the crops differ between clips and the frames within a clip (the item moves)
moving = np.mean([len({v[i, k].tobytes() for k in range(8)}) == 8 for i in range(40)])
print(good, moving > 0.9, records(r + '/rrc.mae')[0]['meta']['augment']['clip_offset'])
PY
)
is "$res" "True True center" "--train --no-shuffle: every frame of a clip cropped and flipped as the single image with the clip's draws"

# a clip of one image repeated: all its frames decode the same, whatever the draws
mkdir -p "$T/same"
for c in 0 1 2 3 4 5; do
	mkdir "$T/same/s$c"
	f=$(ls -d "$T"/a/*/clip*/frame0$c.png | sed -n $((c + 1))p)
	for k in 00 01 02 03 04 05 06 07 08 09 10 11; do cp "$f" "$T/same/s$c/f$k.png"; done
done
mae-decode -q -g -s 3 -e 3 --clip 4 --frame-stride 3 --train --size 24 -b 4 "$T/same" > "$T/same.mae"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
s, recs = samples(sys.argv[1] + '/same.mae')
good = len(s) == 18
for (e, i), (b, lab) in s.items():
    v = np.frombuffer(b, np.uint8).reshape(4, 24, 24)
    good &= all((v[k] == v[0]).all() for k in range(4)) and lab == -1
# and the crops are random: one clip gets different crops in different epochs
print(good, len({s[(e, 0)][0] for e in range(3)}) > 1, recs[0]['meta']['augment']['clip_offset'])
PY
)
is "$res" "True True random" "--train, shuffled, 3 epochs: a clip of one repeated image decodes to identical frames; crops vary by epoch"

# -j, shards, resume: the bytes do not depend on how the work is split
args="-q -g -s 4 -e 2 --clip 8 --train --size 32 -b 6 $T/a $T/var"
mae-decode $args -j 1 > "$T/j1.mae"; mae-decode $args -j 2 > "$T/j2.mae"
res=$($PY -c 'import sys; from maestream import records; a, b = records(sys.argv[1]), records(sys.argv[2]); print(len(a), a[1:] == b[1:], a[0]["meta"] == b[0]["meta"])' "$T/j1.mae" "$T/j2.mae")
is "$res" "18 True True" "-j 2 gives the records of -j 1 (random offsets, crops, flips, shuffle, 2 epochs), header apart from argv"
mae-decode $args --shard 0/2 > "$T/s0.mae"; mae-decode $args --shard 1/2 > "$T/s1.mae"
mae-decode $args --start-batch 5 > "$T/resume.mae"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from lib import *
r = sys.argv[1]
one, recs = samples(r + '/j1.mae'); a, _ = samples(r + '/s0.mae'); b, _ = samples(r + '/s1.mae')
parts = dict(a); parts.update(b)
res, rr = samples(r + '/resume.mae')
print(len(one), len(a) + len(b), parts == one, all(one[k] == v for k, v in res.items()), rr[1]['seq'], len(res))
PY
)
is "$res" "94 94 True True 5 64" "shards 0/2 and 1/2 make the single run's clips; --start-batch 5 resumes it"

# 5. Errors: the clip or frame is named, status 2; -k skips and counts
mkdir -p "$T/bad/k/c1" "$T/bad/k/c2" "$T/bad/k/c3"
f0=$(ls -d "$T"/a/*/clip* | head -1)
for k in 00 01 02 03; do cp "$f0/frame$k.png" "$T/bad/k/c1/"; done
msg=$(mae-decode -q -g --clip 4 --frame-stride 1 "$T/bad" 2>&1 > /dev/null); rc=$?
is "$rc" 2 "a clip folder without frames: status 2"
like "$msg" "^mae-decode: .*/bad/k/c[23]: no frames" "  the message names the clip"
res=$(mae-decode -q -g -k --clip 4 --frame-stride 1 --crop none "$T/bad" 2>/dev/null | $PY -c '
import sys, msgpack; rs = list(msgpack.Unpacker(sys.stdin.buffer, raw=False))
print(rs[-1]["skipped"], [r["tensors"]["index"]["data"] for r in rs[1:-1]] == [bytes(8)])')
is "$res" "2 True" "-k: the two empty clips skipped and counted, the good one decoded"
rmdir "$T/bad/k/c3"
for k in 00 01 03; do cp "$f0/frame$k.png" "$T/bad/k/c2/"; done
$PY -c 'from PIL import Image; import sys; Image.open(sys.argv[1]).resize((40, 30)).save(sys.argv[2])' "$f0/frame02.png" "$T/bad/k/c2/frame02.png"
msg=$(mae-decode -q -g --clip 4 --frame-stride 1 --train --size 32 "$T/bad" 2>&1 > /dev/null); rc=$?
is "$rc" 2 "frames of different sizes in a clip: status 2"
like "$msg" "^mae-decode: .*/bad/k/c2/frame02.png: 40x30, but frame .*/bad/k/c2/frame00.png of the clip is 64x64" "  the message names the clip's frames and sizes"
rm "$T/bad/k/c2/frame02.png"; head -c 150 "$f0/frame02.png" > "$T/bad/k/c2/frame02.png"
msg=$(mae-decode -q -g --clip 4 --frame-stride 1 --crop none "$T/bad" 2>&1 > /dev/null); rc=$?
is "$rc" 2 "a truncated PNG frame: status 2"
like "$msg" "^mae-decode: .*/bad/k/c2/frame02.png: " "  the message names the frame"
mae-decode -q --frame-stride 2 "$T/a" > /dev/null 2>&1; is $? 1 "--frame-stride without --clip: usage error"
mae-decode -q --clip 4 fashion-mnist:test > /dev/null 2>&1; is $? 2 "--clip on an IDX source: status 2"
mae-decode -q --clip 4 "$f0/frame00.png" > /dev/null 2>&1; is $? 2 "--clip on an image file: status 2"
msg=$(mae-decode -q --clip 4 "$T/bad/k/c2/nothing" 2>&1 > /dev/null); rc=$?
is "$rc" 2 "--clip on a missing folder: status 2"

# fuzz-ish: random bytes, and random bytes behind a PNG or JPEG signature, as frames
$PY - "$T/fz" <<'PY'
import os, sys, random
random.seed(27)
heads = [b'', b'\x89PNG\r\n\x1a\n', b'\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x40\0\0\0\x40\x08\0\0\0\0', b'\xff\xd8\xff\xe0', b'\xff\xd8\xff\xdb\0\x43\0']
for i in range(30):
    d = os.path.join(sys.argv[1], 'c%02d' % i); os.makedirs(d)
    for k in range(3):
        ext = random.choice(['png', 'jpg', 'jpeg', 'PNG'])
        with open(os.path.join(d, 'f%d.%s' % (k, ext)), 'wb') as f:
            f.write(random.choice(heads) + bytes(random.getrandbits(8) for _ in range(random.randrange(0, 3000))))
PY
bad=0
for d in "$T"/fz/c*; do
	msg=$(mae-decode -q --clip 2 --frame-stride 1 --train --size 16 "$d" 2>&1 > /dev/null); rc=$?
	if [ $rc -ne 2 ] || ! printf '%s' "$msg" | grep -Eq "^mae-decode: $d/f[0-9]\.(png|jpg|jpeg|PNG): .+"; then
		bad=$((bad + 1)); echo "# $d: rc=$rc $msg"
	fi
done
is "$bad" 0 "30 clips of random bytes: each a clear error naming the frame, status 2, no crash"
res=$(mae-decode -q -k --clip 2 --frame-stride 1 --train --size 16 "$T/fz" 2>/dev/null | $PY -c '
import sys, msgpack; rs = list(msgpack.Unpacker(sys.stdin.buffer, raw=False)); print(rs[-1]["type"], rs[-1]["skipped"])')
is "$res" "eos 30" "-k over them: an end-of-stream record that counts 30 skipped clips"
finish

#!/bin/sh
# mae-decode on real photos from the Debian packages of DATA.md: progressive, baseline 4:2:0,
# 4:2:2, 4:4:4, grey and very large JPEGs, and PNGs of every colour type. Full-size decodes and
# the evaluation transform (--exact) must equal PIL (python3-pil); DCT-shrunk decodes stay
# close to it. Class folders, lists and globs give the right labels; a corrupt or truncated
# JPEG is exit status 2 with a clear message, or skipped and counted with -k, and does not spoil
# the next file.
. "$(dirname "$0")/lib.sh"
CV=/usr/share/doc/opencv-doc/examples/data
PROG444=$CV/Blender_Suzanne1.jpg                        # progressive 4:4:4, 640x480
PROG420=/usr/share/backgrounds/mate/nature/GreenMeadow.jpg   # progressive 4:2:0, 1280x1024
B420=$CV/home.jpg                                       # baseline 4:2:0
B422=$CV/baboon.jpg                                     # baseline 4:2:2
B444=$CV/starry_night.jpg                               # baseline 4:4:4
GREY=$CV/left01.jpg                                     # greyscale
LARGE=/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg    # 6028x3391
FILES="$PROG444 $PROG420 $B420 $B422 $B444 $GREY $LARGE"
for f in $FILES; do
	[ -r "$f" ] || { echo "Bail out! $f is missing: run make deps (DATA.md)"; exit 1; }
done

cat > "$T/rd.py" <<'PY'
import sys, msgpack, numpy as np
from PIL import Image
from maestream import records, tensor, cat  # tests/lib
def images(path):
    return np.concatenate([tensor(r['tensors']['image']) for r in records(path)[1:-1]])
def pil_eval(path, mode='RGB', size=224, resize=256):
    """torchvision: Resize(256, BICUBIC) + CenterCrop(224) on a PIL image"""
    im = Image.open(path).convert(mode); w, h = im.size
    nw, nh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    im = im.resize((nw, nh), Image.BICUBIC)
    l, t = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    a = np.asarray(im.crop((l, t, l + size, t + size)))
    return a if a.ndim == 3 else a[..., None]
PY

# 1. Full-size decodes against PIL, one file at a time (native size: --crop none)
for f in $FILES; do
	name=$(basename "$f")
	mode=RGB opt=-c
	[ "$f" = "$GREY" ] && mode=L opt=-g
	mae-decode -q --crop none -b 1 $opt "$f" > "$T/full.mae"; ok $? "decode $name at full size"
	res=$($PY - "$T" "$f" $mode <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
a = images(sys.argv[1] + '/full.mae')[0].astype(int)
b = np.asarray(Image.open(sys.argv[2]).convert(sys.argv[3])).astype(int)
if b.ndim == 2: b = b[..., None]
d = np.abs(a - b) if a.shape == b.shape else None
print('shape' if d is None else 'max %d mean %.4f' % (d.max(), d.mean()))
PY
)
	like "$res" "^max [01] " "$name: full-size pixels equal PIL's within 1 ($res)"
done

# a CMYK JPEG (written by PIL, Adobe inverted) as PIL shows it
$PY -c "from PIL import Image; Image.open('$B420').convert('CMYK').save('$T/cmyk.jpg', quality=95)"
mae-decode -q --crop none -b 1 "$T/cmyk.jpg" > "$T/full.mae"
res=$($PY - "$T" "$T/cmyk.jpg" RGB <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
a = images(sys.argv[1] + '/full.mae')[0].astype(int)
print(int(np.abs(a - np.asarray(Image.open(sys.argv[2]).convert('RGB'))).max()))
PY
)
is "$res" 0 "a CMYK JPEG decodes to PIL's convert('RGB') exactly"

# 2. The evaluation transform with --exact is PIL's (torchvision's), byte for byte
printf '%s\n' $PROG444 $PROG420 $B420 $B422 $B444 $LARGE > "$T/colour.txt"
mae-decode -q --eval --exact -b 16 @"$T/colour.txt" > "$T/evx.mae"; ok $? "decode --eval --exact"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
got = images(sys.argv[1] + '/evx.mae')
want = np.stack([pil_eval(p) for p in open(sys.argv[1] + '/colour.txt').read().split()])
print(got.shape, int(np.abs(got.astype(int) - want).max()))
PY
)
is "$res" "(6, 224, 224, 3) 0" "--eval --exact equals PIL's Resize(256, bicubic) + CenterCrop(224) exactly"
mae-decode -q --eval --exact -g -b 1 "$GREY" > "$T/evg.mae"
res=$($PY - "$T" "$GREY" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
print(int(np.abs(images(sys.argv[1] + '/evg.mae')[0].astype(int) - pil_eval(sys.argv[2], 'L')).max()))
PY
)
is "$res" 0 "grey --eval --exact equals PIL exactly"

# 3. With DCT-domain shrinking (the default) the result stays close to PIL's
mae-decode -q --eval -b 16 @"$T/colour.txt" > "$T/ev.mae"; ok $? "decode --eval (DCT scaling)"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
got = images(sys.argv[1] + '/ev.mae').astype(int)
want = np.stack([pil_eval(p) for p in open(sys.argv[1] + '/colour.txt').read().split()])
d = np.abs(got - want).mean(axis=(1, 2, 3))
print('ok' if d.max() < 3 else 'bad', ' '.join('%.2f' % x for x in d))
PY
)
like "$res" "^ok" "DCT-shrunk eval crops: mean |difference| to PIL below 3 levels per image ($res)"

# 4. Training crops: deterministic by seed, flips and crops change with it
mae-decode -q --train -s 5 -b 6 @"$T/colour.txt" > "$T/tr1.mae"
mae-decode -q --train -s 5 -b 6 @"$T/colour.txt" | cmp -s - "$T/tr1.mae"; ok $? "--train with the same seed: identical bytes"
mae-decode -q --train -s 6 -b 6 @"$T/colour.txt" | cmp -s - "$T/tr1.mae"
is "$?" 1 "--train with another seed: other crops"
mae-decode -q --train -s 5 -b 4 -j 3 @"$T/colour.txt" > "$T/trj3.mae"
mae-decode -q --train -s 5 -b 4 -j 1 @"$T/colour.txt" > "$T/trj1.mae"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
print(records(sys.argv[1] + '/trj1.mae')[1:] == records(sys.argv[1] + '/trj3.mae')[1:])
PY
)
is "$res" True "-j 3 decoding threads give the records of one thread"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/tr1.mae'); h = r[0]['meta']
print(h['height'], h['width'], h['channels'], h['augment']['crop'], h['augment']['scale'], h['shuffle'], sorted(tensor(r[1]['tensors']['index']).tolist()))
PY
)
is "$res" "224 224 3 rrc [0.2, 1.0] True [0, 1, 2, 3, 4, 5]" "--train header: 224x224x3, rrc scale 0.2-1, shuffled; every index once"

# 5. PNG of every colour type, against PIL
$PY - "$B420" "$T" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]); t = sys.argv[2]
im.save(t + '/rgb.png'); im.convert('L').save(t + '/grey.png'); im.convert('RGBA').save(t + '/rgba.png')
im.convert('P', palette=Image.ADAPTIVE, colors=64).save(t + '/pal.png')
im.convert('LA').save(t + '/la.png'); im.convert('1').save(t + '/bw.png')
PY
for p in rgb grey rgba pal la bw; do
	mae-decode -q --crop none -b 1 -c "$T/$p.png" > "$T/png.mae"
	res=$($PY - "$T" "$T/$p.png" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
a = images(sys.argv[1] + '/png.mae')[0].astype(int)
b = np.asarray(Image.open(sys.argv[2]).convert('RGB')).astype(int)
print(int(np.abs(a - b).max()) if a.shape == b.shape else 'shape %s %s' % (a.shape, b.shape))
PY
)
	is "$res" 0 "$p.png decodes to PIL's convert('RGB') exactly"
done

# 6. Class folders, lists, globs
mkdir -p "$T/data/zebra" "$T/data/apple/deeper" "$T/data/empty"
ln -s "$B420" "$T/data/zebra/a.jpg"; ln -s "$B444" "$T/data/zebra/B.JPG"
ln -s "$B422" "$T/data/apple/x.jpg"; ln -s "$T/rgb.png" "$T/data/apple/deeper/y.png"
echo "not an image" > "$T/data/apple/notes.txt"
mae-decode -q --eval -b 8 "$T/data" > "$T/folder.mae"; ok $? "decode a class folder"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/folder.mae')
print(r[0]['meta']['classes'], r[0]['meta']['dataset_size'], tensor(r[1]['tensors']['label']).tolist(), tensor(r[1]['tensors']['index']).tolist())
PY
)
is "$res" "['apple', 'zebra'] 4 [0, 0, 1, 1] [0, 1, 2, 3]" "labels are the sorted class folders; files found recursively, by extension"
printf '# a list\n%s 7\nrgb.png\n%s\n' "$B420" "$GREY" > "$T/list.txt"
mae-decode -q --eval -b 8 @"$T/list.txt" > "$T/list.mae"; ok $? "decode a list file"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/list.mae')
print(tensor(r[1]['tensors']['label']).tolist(), r[1]['tensors']['image']['shape'])
PY
)
is "$res" "[7, -1, -1] [3, 224, 224, 3]" "a list: labels where given, relative paths, grey made RGB"
n=$(ls /usr/share/pixmaps/faces/*.jpg | wc -l)
res=$(mae-decode -q --eval -b 1000 '/usr/share/pixmaps/faces/*.jpg' | $PY -c '
import sys, msgpack
r = list(msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 30)); print(r[1]["tensors"]["image"]["shape"][0])')
is "$res" "$n" "a quoted glob expands to every match"

# 7. Corrupt and truncated files
mkdir -p "$T/bad"
ln -s "$B420" "$T/bad/1.jpg"; ln -s "$B444" "$T/bad/4.jpg"
head -c 20000 "$B422" > "$T/bad/2.jpg"
echo "hello" > "$T/bad/3.jpg"
msg=$(mae-decode -q --eval "$T/bad" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a truncated JPEG: exit status 2"
like "$msg" "^mae-decode: $T/bad/2.jpg: JPEG: Premature end of JPEG file" "a truncated JPEG: the message names the file and the problem"
mae-decode --eval -k -j 2 -b 8 "$T/bad" > "$T/k.mae" 2> "$T/k.err"; ok $? "-k: exit status 0"
like "$(cat "$T/k.err")" "2.jpg: JPEG: Premature end.*skipped" "-k warns about the truncated file"
like "$(cat "$T/k.err")" "3.jpg: not a JPEG, PNG or WAV file" "-k warns about the file that is no image"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/k.mae')
print(r[-1]['type'], r[-1]['skipped'], tensor(r[1]['tensors']['index']).tolist())
PY
)
is "$res" "eos 2 [0, 3]" "-k: the end-of-stream record counts 2 skipped; the good files pass"
# a JPEG cut inside its header does not spoil the next one decoded by the same thread
# (TurboJPEG 2.1 leaves its decompressor in the header it could not read)
mkdir -p "$T/hdr"
head -c 300 "$B420" > "$T/hdr/1.jpg"; ln -s "$B420" "$T/hdr/2.jpg"; ln -s "$B444" "$T/hdr/3.jpg"
mae-decode --eval -k -j 1 -b 8 "$T/hdr" > "$T/hdr.mae" 2> "$T/hdr.err"
is "$(grep -c skipped "$T/hdr.err")" 2 "a JPEG cut inside its header: the one file skipped (and the count)"
like "$(cat "$T/hdr.err")" "1.jpg: JPEG: Invalid JPEG file structure: missing SOS marker \\(skipped\\)" \
	"a JPEG cut inside its header: says what is missing"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/hdr.mae')
print(r[-1]['skipped'], tensor(r[1]['tensors']['index']).tolist())
PY
)
is "$res" "1 [1, 2]" "the two files after it on the same thread decode"
msg=$(mae-decode -q "$T/nonexistent" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a missing source: exit status 2"
like "$msg" "nonexistent: No such file" "a missing source: says so"
mae-decode -q -b 0 "$B420" > /dev/null 2>&1
is "$?" 1 "a bad option value is a usage error (status 1)"
finish

#!/bin/sh
# JPEGs whose sampling TurboJPEG does not know: its header call fails ("Could not determine
# subsampling type") and mae-decode reads them through libjpeg's API (lib/data/jpeg_fallback.c).
# cjpeg makes them from a real photo cut to 1001x757 (no MCU divides it), and TurboJPEG itself
# (through ctypes) must refuse each one, so that it is the fallback that is tested; three files
# it accepts are the controls. Full-size decodes, the --exact evaluation crop and the crops of
# DCT-shrunk decodes (3/4 down to 1/8) equal PIL's decode of the same file byte for byte, in
# RGB and grey. PIL's draft() gives libjpeg's own 1/2, 1/4 and 1/8, and grey as libjpeg's luma
# Y (what mae-decode -g gives); djpeg stands in for the factors draft() lacks and for
# arithmetic coding, which PIL cannot read. Truncated and corrupt copies decode or fail with
# status 2 and a clear message, never crash; a progressive file of 1000 scans is refused as
# TurboJPEG refuses it; a CMYK file with odd sampling decodes as PIL shows it.
. "$(dirname "$0")/lib.sh"
command -v cjpeg > /dev/null && command -v djpeg > /dev/null ||
	skip_all "cjpeg and djpeg are missing (apt-get install libjpeg-turbo-progs)"
PHOTO=/usr/share/backgrounds/mate/nature/GreenMeadow.jpg   # progressive 4:2:0, 1280x1024
[ -r "$PHOTO" ] || { echo "Bail out! $PHOTO is missing: run make deps (DATA.md)"; exit 1; }

# name, then cjpeg's options; the last three are standard kinds TurboJPEG decodes itself
cat > "$T/kinds.txt" <<'EOF'
chroma-finer       -sample 1x1,2x2,2x2
cb-finer           -sample 1x1,2x2,1x1
mixed-2x1-1x2      -sample 2x1,1x2,1x1
mixed-2x2-2x1      -sample 2x2,2x1,1x1
luma-3x1           -sample 3x1,1x1,1x1
luma-4x2           -sample 4x2,1x1,1x1
luma-1x4           -sample 1x4,1x1,1x1
rgb-g-finer        -rgb -sample 1x1,2x2,1x1
rgb-mixed          -rgb -sample 2x1,1x2,1x1
progressive-mixed  -progressive -sample 2x1,1x2,1x1
arithmetic-mixed   -arithmetic -sample 2x1,1x2,1x1
control-420        -sample 2x2,1x1,1x1
control-rgb-420    -rgb -sample 2x2,1x1,1x1
control-grey       -grayscale
EOF
REFUSED=11
$PY -c "from PIL import Image; Image.open('$PHOTO').crop((100, 80, 1101, 837)).save('$T/photo.ppm')"
: > "$T/all.txt"
while read -r name opts; do
	cjpeg $opts -quality 92 "$T/photo.ppm" > "$T/$name.jpg" && echo "$T/$name.jpg" >> "$T/all.txt"
done < "$T/kinds.txt"
NFILES=$(wc -l < "$T/kinds.txt")
is "$(wc -l < "$T/all.txt")" "$NFILES" "cjpeg made the $NFILES JPEGs"

cat > "$T/rd.py" <<'PY'
import io, os, subprocess, sys, numpy as np
from PIL import Image
from maestream import records, tensor  # tests/lib
T = os.path.dirname(os.path.abspath(__file__))
FILES = open(T + '/all.txt').read().split()
def name(p): return os.path.basename(p)[:-4]
def images(path):
    return np.concatenate([tensor(r['tensors']['image']) for r in records(path)[1:-1]])
def arr(im):
    a = np.asarray(im)
    return a if a.ndim == 3 else a[..., None]
def djpeg(path, mode, k=8):
    """libjpeg's own djpeg at k/8, grey with -grayscale"""
    ppm = subprocess.run(['djpeg', '-scale', '%d/8' % k] + ['-grayscale'] * (mode == 'L') + [path],
                         stdout=subprocess.PIPE, check=True).stdout
    return Image.open(io.BytesIO(ppm)).convert(mode)
def decode(path, mode, k=8):
    """PIL's decode of path in mode RGB or L, shrunk by k/8 in the DCT domain. L is libjpeg's
    own grey (draft), the luma Y that mae-decode -g gives, not convert('L') of RGB."""
    if k in (1, 2, 4, 8) and not name(path).startswith('arithmetic'):
        im = Image.open(path); s = 8 // k
        im.draft(mode, (im.size[0] // s, im.size[1] // s) if s > 1 else None)
        return im.convert(mode)
    # draft() has only 1/2, 1/4 and 1/8, and PIL cannot read arithmetic coding: libjpeg's
    # own djpeg for those (section 4 checks that it gives PIL's pixels where both decode)
    return djpeg(path, mode, k)
def eval_crop(path, mode, size, dct):
    """torchvision's Resize(size/0.875, bicubic) + CenterCrop(size); with dct, on the decode
    that mae-decode makes (the smallest k/8 keeping twice the resized size, --dct-gap 2).
    Returns (k, pixels)."""
    W, H = Image.open(path).size
    s = int(size / 0.875 + 1e-9)
    rw, rh = (s, int(s * H / W)) if W <= H else (int(s * W / H), s)
    k = 8
    if dct and 2 * rw <= W and 2 * rh <= H:
        k = min(n for n in range(1, 9) if -(-W * n // 8) >= 2 * rw and -(-H * n // 8) >= 2 * rh)
    im = decode(path, mode, k).resize((rw, rh), Image.BICUBIC)
    l, t = round((rw - size) / 2.0), round((rh - size) / 2.0)
    return k, arr(im.crop((l, t, l + size, t + size)))
def report(got, want):
    """one line a file: its name and the largest |difference| (or the shapes)"""
    for p, a, b in zip(FILES, got, want):
        a, b = a.astype(int), b.astype(int)
        print(name(p), int(np.abs(a - b).max()) if a.shape == b.shape else 'shape %s %s' % (a.shape, b.shape))
PY
# each_is WANT WHAT: one test a line of $T/res.txt ("name value"), wanting WANT, and one that
# every file has its line
each_is() {
	_n=0
	while read -r _name _got; do
		is "$_got" "$1" "$_name: $2"
		_n=$((_n + 1))
	done < "$T/res.txt"
	is "$_n" "$NFILES" "$2: every file compared"
}

# 1. TurboJPEG's own header call refuses the first eleven and accepts the controls
$PY - "$T" > "$T/res.txt" <<'PY'
import sys, ctypes; sys.path.insert(0, sys.argv[1]); from rd import *
tj = ctypes.CDLL('libturbojpeg.so.0')
tj.tjInitDecompress.restype = ctypes.c_void_p
tj.tjGetErrorStr2.restype = ctypes.c_char_p
h = ctypes.c_void_p(tj.tjInitDecompress())
for p in FILES:
    b = open(p, 'rb').read(); v = [ctypes.c_int() for _ in range(4)]
    r = tj.tjDecompressHeader3(h, b, ctypes.c_ulong(len(b)), *map(ctypes.byref, v))
    print(name(p), 'refused:' + tj.tjGetErrorStr2(h).decode().replace(' ', '_') if r else 'accepted')
PY
head -n $REFUSED "$T/res.txt" > "$T/refused.txt"
tail -n +$((REFUSED + 1)) "$T/res.txt" > "$T/controls.txt"
while read -r name got; do
	is "$got" "refused:tjDecompressHeader3():_Could_not_determine_subsampling_type_for_JPEG_image" \
		"TurboJPEG refuses $name"
done < "$T/refused.txt"
while read -r name got; do is "$got" accepted "TurboJPEG accepts $name"; done < "$T/controls.txt"

# 2. Full size (--crop none takes the size from the first file's header), RGB and grey
for mode in RGB L; do
	opt=-c; [ $mode = L ] && opt=-g
	mae-decode -q --crop none -b 32 $opt @"$T/all.txt" > "$T/full.mae" 2> "$T/full.err"
	ok $? "decode every file at full size, $mode"
	is "$(cat "$T/full.err")" "" "full size, $mode: no message"
	$PY - "$T" $mode > "$T/res.txt" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
report(images(sys.argv[1] + '/full.mae'), [arr(decode(p, sys.argv[2])) for p in FILES])
PY
	each_is 0 "full-size $mode pixels equal PIL's"
done

# 3. The evaluation transform with --exact: torchvision's on PIL's decode, byte for byte
for mode in RGB L; do
	opt=-c; [ $mode = L ] && opt=-g
	mae-decode -q --eval --exact -b 32 $opt @"$T/all.txt" > "$T/ev.mae"
	ok $? "decode --eval --exact, $mode"
	$PY - "$T" $mode > "$T/res.txt" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
report(images(sys.argv[1] + '/ev.mae'), [eval_crop(p, sys.argv[2], 224, False)[1] for p in FILES])
PY
	each_is 0 "--eval --exact $mode equals Resize(256, bicubic) + CenterCrop(224) on PIL's decode"
done

# 4. DCT-domain shrinking (the default): libjpeg scales as TurboJPEG would have (mae_jpeg_scale),
# so the crops equal the same transform on PIL's decode at that scale
for case in 224:RGB 160:RGB 112:RGB 80:RGB 32:RGB 80:L 112:L; do
	size=${case%:*} mode=${case#*:}
	opt=-c; [ $mode = L ] && opt=-g
	mae-decode -q --eval --size $size -b 32 $opt @"$T/all.txt" > "$T/ev.mae"
	ok $? "decode --eval --size $size, $mode"
	$PY - "$T" $mode $size > "$T/res.txt" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
size = int(sys.argv[3]); want = [eval_crop(p, sys.argv[2], size, True) for p in FILES]
print('scale', '%d/8' % want[0][0])
report(images(sys.argv[1] + '/ev.mae'), [w[1] for w in want])
PY
	scale=$(sed -n 's/^scale //p' "$T/res.txt")
	sed -i '/^scale /d' "$T/res.txt"
	case $size in 224) s=6/8 ;; 160) s=4/8 ;; 112) s=3/8 ;; 80) s=2/8 ;; 32) s=1/8 ;; esac
	is "$scale" "$s" "--size $size decodes 1001x757 at $s"
	each_is 0 "--eval --size $size $mode (DCT scale $scale) equals the crop of PIL's decode"
done

# djpeg, the reference for 3/8, 3/4 and arithmetic coding, gives PIL's pixels where both decode
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
d = 0
for p in FILES:
    if not name(p).startswith('arithmetic'):
        for mode, k in ('RGB', 8), ('RGB', 4), ('L', 2):
            a = np.asarray(djpeg(p, mode, k)).astype(int)
            d = max(d, int(np.abs(a - np.asarray(decode(p, mode, k))).max()))
print(d)
PY
)
is "$res" 0 "djpeg's decodes equal PIL's (full size, 1/2 RGB; 1/4 grey)"

# 5. Truncated and corrupt copies: a clear message or a decode, never a crash
mkdir -p "$T/fuzz"
$PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
rng = np.random.default_rng(7)
for p in FILES[:10:2] + [FILES[9], FILES[10]]:
    b = open(p, 'rb').read(); n = name(p)
    sof = max(b.find(m) for m in (b'\xff\xc0', b'\xff\xc1', b'\xff\xc2', b'\xff\xc9'))
    for i, cut in enumerate([40, 300, len(b) // 10, len(b) // 2, len(b) * 9 // 10, len(b) - 2]):
        open('%s/fuzz/%s-cut%d.jpg' % (sys.argv[1], n, i), 'wb').write(b[:cut])
    for i in range(12):
        c = bytearray(b)
        if i < 4:   # the frame header: sampling factors, size, component count
            at = sof + [11, 14, 5, 9][i]
            c[at] = [0x00, 0x55, 0x00, 0x05][i]
        else:       # bytes of the scan data
            for at in rng.integers(sof + 20, len(b) - 2, size=1 + i):
                c[at] = rng.integers(0, 256)
        open('%s/fuzz/%s-bad%d.jpg' % (sys.argv[1], n, i), 'wb').write(bytes(c))
PY
NFUZZ=$(ls "$T/fuzz" | wc -l)
mae-decode -k -j 2 --eval -b 16 "$T/fuzz" > "$T/fuzz.mae" 2> "$T/fuzz.err"
ok $? "-k over $NFUZZ truncated and corrupt copies: exit status 0"
like "$(cat "$T/fuzz.err")" "unreadable images skipped" "-k counts what it skipped"
bad=$(grep -v -E "^mae-decode: $T/fuzz/[a-z0-9-]+\.jpg: JPEG: [A-Za-z].* \(skipped\)$|unreadable images skipped$" "$T/fuzz.err")
is "$bad" "" "every message names the file and says what is wrong with the JPEG"
cuts=$(grep -c -- "-cut[0-9]\.jpg: JPEG: " "$T/fuzz.err")
is "$cuts" "$(ls "$T/fuzz" | grep -c -- -cut)" "every truncated copy is refused"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
r = records(sys.argv[1] + '/fuzz.mae')
print(r[-1]['type'], r[-1]['skipped'] + sum(tensor(b['tensors']['index']).size for b in r[1:-1]))
PY
)
is "$res" "eos $NFUZZ" "the decoded and the skipped make up every copy"
for f in mixed-2x1-1x2-cut3 progressive-mixed-cut5 luma-3x1-cut4; do
	msg=$(mae-decode -q --eval "$T/fuzz/$f.jpg" 2>&1 > /dev/null); rc=$?
	is "$rc" 2 "$f: exit status 2"
	like "$msg" "^mae-decode: $T/fuzz/$f\.jpg: JPEG: (tjDecompressHeader3\(\): )?Premature end of JPEG file$" \
		"$f: says the file ends early ($msg)"
done
msg=$(mae-decode -q --eval "$T/fuzz/luma-3x1-cut1.jpg" 2>&1 > /dev/null)
is "$?.$msg" "2.mae-decode: $T/fuzz/luma-3x1-cut1.jpg: JPEG: Invalid JPEG file structure: missing SOS marker" \
	"cut inside the header: status 2 and what is missing"

# 6. A progressive file of 1000 scans (its last scan repeated): refused as TurboJPEG refuses
# them, before libjpeg works through them all
cjpeg -progressive -sample 2x2,1x1,1x1 -quality 92 "$T/photo.ppm" > "$T/prog420.jpg"
for f in progressive-mixed prog420; do
	$PY - "$T/$f.jpg" "$T/scans-$f.jpg" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read(); last = b[b.rindex(b'\xff\xda'):-2]
open(sys.argv[2], 'wb').write(b[:-2] + last * (1000 - b.count(b'\xff\xda')) + b[-2:])
PY
	msg=$(mae-decode -q --eval "$T/scans-$f.jpg" 2>&1 > /dev/null); rc=$?
	is "$rc.$msg" "2.mae-decode: $T/scans-$f.jpg: JPEG: Progressive JPEG image has more than 500 scans" \
		"$f with 1000 scans: refused (status 2)"
done

# 7. CMYK (written by PIL) with its sampling factors rewritten past TurboJPEG: decoded as PIL does
$PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
Image.open(sys.argv[1] + '/photo.ppm').convert('CMYK').save(sys.argv[1] + '/cmyk.jpg', quality=92)
b = bytearray(open(sys.argv[1] + '/cmyk.jpg', 'rb').read()); sof = b.index(b'\xff\xc0')
for k, hv in enumerate((0x21, 0x12, 0x11, 0x11)):
    b[sof + 11 + 3 * k] = hv
open(sys.argv[1] + '/cmyk-mixed.jpg', 'wb').write(bytes(b))
PY
mae-decode -q --crop none -b 1 "$T/cmyk-mixed.jpg" > "$T/cmyk.mae"; ok $? "CMYK with 2x1,1x2,1x1,1x1 sampling decodes"
res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
a = images(sys.argv[1] + '/cmyk.mae')[0].astype(int)
print(int(np.abs(a - np.asarray(Image.open(sys.argv[1] + '/cmyk-mixed.jpg').convert('RGB'))).max()))
PY
)
is "$res" 0 "... to PIL's convert('RGB') exactly"
finish

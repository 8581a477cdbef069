#!/bin/sh
# mae-decode on webdataset tar shards, plain and gzip'd, named by brace patterns. The shards are
# written here by Python's tarfile from real photos (the JPEGs and PNGs of /usr/share/pixmaps/
# faces) and Fashion-MNIST images as PNG, in every header flavour tarfile writes (pax, GNU long
# names, ustar prefixes, ./ prefixes, directories, members of a key apart, extra members, keys
# without image or label). Python reads them back with tarfile, grouped by webdataset's rule, and
# writes the same images as a list and as class folders: mae-decode must give the same samples,
# labels and pixels from the shards as from those, byte for byte (same index, same crop and
# flip), --shard i/n must split by shard with nothing lost or doubled, and broken shards, names
# and labels must be refused with status 2 and a message that says what and where.
. "$(dirname "$0")/lib.sh"
FACES=/usr/share/pixmaps/faces
FM=/usr/share/datasets/fashion-mnist
[ -d $FACES ] || { echo "Bail out! $FACES is missing: run make deps (DATA.md)"; exit 1; }
[ -r $FM/t10k-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"

# Python's side: webdataset's grouping over tarfile, and the streams' samples
cat > "$T/wds.py" <<'PY'
import tarfile
from maestream import records, tensor  # tests/lib
def shard(path):
    """a shard's samples as webdataset groups them, read by tarfile: [(key, name, bytes, label)]
    in the order keys first appear; key = name up to the basename's first dot"""
    keys = {}
    with tarfile.open(path) as t:
        for m in t:
            if not m.isfile(): continue
            name = m.name
            while name.startswith('./'): name = name[2:]
            name = name.lstrip('/')
            d, _, base = name.rpartition('/')
            dot = base.find('.')
            if dot <= 0: continue
            key, ext = name[:len(name) - len(base) + dot], base[dot + 1:].lower()
            s = keys.setdefault(key, {'label': -1})
            if ext in ('jpg', 'jpeg', 'png'):
                s['name'], s['bytes'] = name, t.extractfile(m).read()
            elif ext == 'cls':
                s['label'] = int(t.extractfile(m).read().decode().strip())
    return [(k, s['name'], s['bytes'], s['label']) for k, s in keys.items() if 'name' in s]
def samples(path):
    """(epoch, index) -> [(image bytes, label)], over the batches of a stream"""
    out = {}
    for r in records(path)[1:-1]:
        ts = r['tensors']
        for im, lab, ix in zip(tensor(ts['image']), tensor(ts['label']), tensor(ts['index'])):
            out.setdefault((r['meta']['epoch'], int(ix)), []).append((im.tobytes(), int(lab)))
    return out
PY

# 1. The shards: 5 of them, each flavour of header, and the same as .tar.gz
written=$($PY - "$T" $FACES $FM <<'PY'
import glob, gzip, io, os, sys, tarfile, numpy as np
from PIL import Image
T, faces, fm = sys.argv[1:]
imgs = [(os.path.splitext(os.path.basename(p))[0], open(p, 'rb').read(), os.path.splitext(p)[1])
        for p in sorted(glob.glob(faces + '/*.jpg') + glob.glob(faces + '/*.png'))]
X = np.frombuffer(gzip.open(fm + '/t10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 28, 28)
Y = np.frombuffer(gzip.open(fm + '/t10k-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)
nfaces = len(imgs)
for i in range(12):
    b = io.BytesIO(); Image.fromarray(X[i]).save(b, 'PNG'); imgs.append(('%04d' % i, b.getvalue(), '.png'))
# (key, bytes, extension, label or None): every 7th without a label
samples = [('faces/' + k if i < nfaces else 'fmnist/' + k, b, e,
            None if i % 7 == 3 else i % 5 if i < nfaces else int(Y[i - nfaces]))
           for i, (k, b, e) in enumerate(imgs)]
def member(t, name, data, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.size = len(data) if kind == tarfile.REGTYPE else 0
    ti.mtime = 1700000000
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
chunks = np.array_split(np.arange(len(samples)), 5)
for s, idx in enumerate(chunks):
    fmt = {2: tarfile.GNU_FORMAT, 4: tarfile.USTAR_FORMAT}.get(s, tarfile.PAX_FORMAT)
    buf = io.BytesIO()
    late = []
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as t:
        if s == 1: member(t, 'faces', b'', tarfile.DIRTYPE)
        for n, i in enumerate(idx):
            key, data, ext, label = samples[i]
            if s == 2 and n == 1: key = 'faces/' + 'long' * 30 + '/' + key.split('/')[1]      # GNU 'L'
            if s == 3 and n == 1: key = 'faces/' + 'paxlong' * 20 + '-' + key.split('/')[1]  # pax path
            if s == 4 and n == 1: key = 'faces/' + 'prefix' * 20 + '/' + key.split('/')[1]   # ustar prefix
            if s == 1 and n == 2: ext = ext.upper()
            pre = './' if s == 0 else ''
            cls = None if label is None else (b'%d\n' % label if n % 2 else b'%d' % label)
            if s == 1:   # label first, then a part mae-decode ignores, then the image
                if cls is not None: member(t, pre + key + '.cls', cls)
                member(t, pre + key + '.json', b'{"source": "test"}')
                member(t, pre + key + ext, data)
            else:
                member(t, pre + key + ext, data)
                if cls is not None:
                    if s == 3 and n == 0: late.append((pre + key + '.cls', cls))   # far from its image
                    else: member(t, pre + key + '.cls', cls)
        if s == 3: member(t, 'faces/nothing-but-a-label.cls', b'1')   # a key without an image
        for name, data in late: member(t, name, data)
    open('%s/plain-%06d.tar' % (T, s), 'wb').write(buf.getvalue())
    open('%s/gz-%06d.tar.gz' % (T, s), 'wb').write(gzip.compress(buf.getvalue(), mtime=0))
print(len(samples), ' '.join(str(len(c)) for c in chunks), sum(s[3] is None for s in samples))
PY
)
ok $? "five shards written by tarfile (pax, GNU, ustar), and the same gzip'd"
res=$($PY - "$T" <<'PY'
import sys
def headers(path):   # (type, name, prefix) of every header block, walked by hand
    b = open(path, 'rb').read(); o = 0; out = []
    while b[o:o + 512].strip(b'\0'):
        h = b[o:o + 512]; size = int(h[124:136].strip(b' \0') or b'0', 8)
        out.append((h[156:157].decode(), h[:100].rstrip(b'\0').decode(), h[345:500].rstrip(b'\0')))
        o += 512 + (size + 511) // 512 * 512
    return out
h = [headers('%s/plain-%06d.tar' % (sys.argv[1], s)) for s in range(5)]
print(all(n.startswith('./') for _, n, _ in h[0]), '5' in [t for t, _, _ in h[1]],
      'L' in [t for t, _, _ in h[2]], 'x' in [t for t, _, _ in h[3]], any(p for _, _, p in h[4]))
PY
)
is "$res" "True True True True True" "the shards hold ./ names, a directory, a GNU long name, a pax path and a ustar prefix"

# What tarfile and webdataset's rule say: the samples in order, as a list and as class folders
$PY - "$T" <<'PY' > "$T/py.txt"
import os, sys; sys.path.insert(0, sys.argv[1]); from wds import *
T = sys.argv[1]
lst = open(T + '/list.txt', 'w'); os.makedirs(T + '/flat')
n = 0; counts = []
for s in range(5):
    got = shard('%s/plain-%06d.tar' % (T, s))
    counts.append(len(got))
    for key, name, data, label in got:
        ext = os.path.splitext(name)[1]
        open('%s/flat/%05d%s' % (T, n, ext), 'wb').write(data)
        lst.write('flat/%05d%s%s\n' % (n, ext, '' if label < 0 else ' %d' % label))
        if label >= 0:
            os.makedirs('%s/folder/c%d' % (T, label), exist_ok=True)
            open('%s/folder/c%d/%05d%s' % (T, label, n, ext), 'wb').write(data)
        n += 1
print(n, ' '.join(map(str, counts)), sum(lab < 0 for s in range(5) for _, _, _, lab in shard('%s/plain-%06d.tar' % (T, s))))
PY
read total c0 c1 c2 c3 c4 unlabeled < "$T/py.txt"
counts="$c0 $c1 $c2 $c3 $c4"
is "$total $counts $unlabeled" "$written" "tarfile reads the $total samples written, shard by shard ($counts), $unlabeled without a label; the key without an image is none"

# 2. The shards against the list, byte for byte: same samples, labels, crops and flips
same_batches() {   # the batch and end-of-stream records of two streams are equal
	$PY - "$1" "$2" <<'PY'
import sys; from maestream import records
a, b = records(sys.argv[1]), records(sys.argv[2])
print(a[1:] == b[1:] and a[0]['meta']['dataset_size'] == b[0]['meta']['dataset_size'], len(a) - 2, a[0]['meta']['dataset_size'])
PY
}
args="-q --train -s 3 -b 16 -e 2 --size 64"
mae-decode $args "$T/plain-{000000..000004}.tar" > "$T/plain.mae"; ok $? "decode 'plain-{000000..000004}.tar'"
mae-decode $args @"$T/list.txt" > "$T/list.mae"
is "$(same_batches "$T/plain.mae" "$T/list.mae")" "True 8 $total" "the plain shards give the list's batches byte for byte (samples, labels, crops, flips)"
mae-decode $args "$T/gz-{000000..000004}.tar.gz" > "$T/gz.mae"; ok $? "decode 'gz-{000000..000004}.tar.gz'"
is "$(same_batches "$T/gz.mae" "$T/list.mae")" "True 8 $total" "the gzip'd shards give the same batches"
mae-decode $args -j 2 "$T/gz-000000.tar.gz" "$T/plain-{000001,000002}.tar" "$T/gz-00000{3..4}.tar.gz" > "$T/mix.mae"
is "$(same_batches "$T/mix.mae" "$T/list.mae")" "True 8 $total" "plain and gzip'd shards mixed, {a,b} and {3..4} patterns, two threads: the same"

res=$($PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from wds import *
T = sys.argv[1]
want = [lab for s in range(5) for _, _, _, lab in shard('%s/plain-%06d.tar' % (T, s))]
r = records(T + '/plain.mae'); got = {}
for b in r[1:-1]:
    if b['meta']['epoch'] == 0:
        got.update(zip(tensor(b['tensors']['index']).tolist(), tensor(b['tensors']['label']).tolist()))
print(sorted(got) == list(range(len(want))), [got[i] for i in range(len(want))] == want, want.count(-1), r[0]['meta']['shuffle'])
PY
)
is "$res" "True True $unlabeled True" "labels in key order equal tarfile's .cls (-1 for the $unlabeled keys without one); shuffled"

# the class folders hold the labeled images: --eval pixels and labels agree by name
mae-decode -q --eval --size 48 -b 64 "$T/plain-{000000..000004}.tar" > "$T/eval-tar.mae"
mae-decode -q --eval --size 48 -b 64 "$T/folder" > "$T/eval-folder.mae"; ok $? "decode the class folders"
res=$($PY - "$T" <<'PY'
import os, sys; sys.path.insert(0, sys.argv[1]); from wds import *
T = sys.argv[1]
tar = samples(T + '/eval-tar.mae'); fold = samples(T + '/eval-folder.mae')
classes = sorted(os.listdir(T + '/folder'))   # c0, c1, ...: folder labels number them
files = [(ci, int(c[1:]), int(f[:5])) for ci, c in enumerate(classes) for f in sorted(os.listdir(T + '/folder/' + c))]
good = all(fold[(0, i)][0] == (tar[(0, n)][0][0], ci) and tar[(0, n)][0][1] == lab for i, (ci, lab, n) in enumerate(files))
print(len(files), good)
PY
)
is "$res" "$((total - unlabeled)) True" "the labeled samples: the pixels of the class folders, found by name, and their labels"

cp "$T/gz-000002.tar.gz" "$T/two.tgz"
mae-decode -q --eval --size 32 "$T/two.tgz" > "$T/tgz.mae"
mae-decode -q --eval --size 32 "$T/plain-000002.tar" > "$T/p2.mae"
is "$(same_batches "$T/tgz.mae" "$T/p2.mae")" "True 1 10" ".tgz is a gzip'd shard too"

# 3. --shard i/3 over 5 shards: worker i takes the shards t with t mod 3 = i, all of them; the
# three together are the single run, sample for sample
for i in 0 1 2; do
	mkdir "$T/tmp$i"
	TMPDIR="$T/tmp$i" mae-decode $args --shard $i/3 "$T/gz-{000000..000004}.tar.gz" > "$T/s$i.mae"
	ok $? "--shard $i/3 over the gzip'd shards"
	is "$(ls -A "$T/tmp$i")" "" "--shard $i/3: the temporary file of inflated shards is gone with the process"
done
res=$($PY - "$T" $counts <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from wds import *
T = sys.argv[1]; counts = list(map(int, sys.argv[2:]))
start = [sum(counts[:t]) for t in range(5)]
one = samples(T + '/gz.mae'); parts = {}; dup = False; own = True; sizes = []
for i in range(3):
    s = samples('%s/s%d.mae' % (T, i))
    mine = {j for t in range(i, 5, 3) for j in range(start[t], start[t] + counts[t])}
    own &= {ix for _, ix in s} == mine
    sizes.append(records('%s/s%d.mae' % (T, i))[0]['meta']['shard_size'] == len(mine))
    for k, v in s.items():
        dup |= k in parts or len(v) > 1
        parts.setdefault(k, []).extend(v)
print(len(one), len(parts), not dup, one == parts, own, sizes)
PY
)
is "$res" "$((2 * total)) $((2 * total)) True True True [True, True, True]" "--shard i/3: shards i, i+3 each (header shard_size); no duplicates, no gaps, the single run's pixels and labels"

# --batch-shard: every worker reads every shard; merged in order, the single run's stream
crcs() { mae-inspect -c "$@" | grep '^[0-9]' | cut -d' ' -f2-; }
timeout 60 mae-inspect -c -i "@ipc://$T/ord" --merge 2 --ordered | grep '^[0-9]' | cut -d' ' -f2- > "$T/ord.txt" & r=$!
for i in 1 0; do timeout 60 mae-decode $args --batch-shard $i/2 -o ">ipc://$T/ord" "$T/gz-{000000..000004}.tar.gz" & done
wait $r; ok $? "--batch-shard i/2 over gzip'd shards: an ordered merge of two ends"
is "$(cat "$T/ord.txt")" "$(crcs < "$T/gz.mae")" "--batch-shard i/2 merged in order: the single run's batches"

# 4. Broken shards, names and labels: status 2, a message that says what and where, no hang
fails() {   # fails PATTERN WHAT SOURCE...: status 2 and a message matching PATTERN
	_p=$1 _w=$2; shift 2
	_m=$(timeout 30 mae-decode -q --eval --size 32 "$@" 2>&1 >/dev/null); _rc=$?
	is "$_rc" 2 "$_w: exit status 2"
	like "$_m" "$_p" "$_w: $(echo "$_m" | head -1 | cut -c1-150)"
}
$PY - "$T" <<'PY' > "$T/offsets"
import io, sys, tarfile
T = sys.argv[1]
with tarfile.open(T + '/plain-000001.tar') as t:
    m = [m for m in t.getmembers() if m.size > 1000][1]
    print(m.offset, m.offset_data + m.size // 2, t.offset)   # an image's header, its middle, the end block
PY
read hdr mid end < "$T/offsets"
head -c $mid "$T/plain-000001.tar" > "$T/cut.tar"
fails "^mae-decode: $T/cut.tar: tar: truncated at byte $(wc -c < "$T/cut.tar"): member 'faces/.*' needs [0-9]+ bytes from byte [0-9]+" \
	"a tar cut in a member" "$T/cut.tar"
head -c $end "$T/plain-000001.tar" > "$T/noend.tar"
fails "^mae-decode: $T/noend.tar: tar: no end-of-archive block \(truncated\?\) at byte $end$" \
	"a tar cut after its last member" "$T/noend.tar"
cp "$T/plain-000001.tar" "$T/sum.tar"
printf 'X' | dd of="$T/sum.tar" bs=1 seek=$((hdr + 5)) conv=notrunc 2>/dev/null
fails "^mae-decode: $T/sum.tar: tar: header checksum mismatch at byte $hdr$" "a corrupt header" "$T/sum.tar"
head -c 3000 "$T/gz-000001.tar.gz" > "$T/cut.tar.gz"
fails "^mae-decode: $T/cut.tar.gz: tar: (truncated|no end-of-archive block).* at byte [0-9]+" "a gzip'd tar cut short" "$T/cut.tar.gz"
cp "$T/gz-000001.tar.gz" "$T/flip.tar.gz"
printf '\377\377\377\377' | dd of="$T/flip.tar.gz" bs=1 seek=2000 conv=notrunc 2>/dev/null
fails "^mae-decode: $T/flip.tar.gz: (gzip: .*, after byte [0-9]+ of the inflated tar|tar: .* at byte [0-9]+)" "a corrupt gzip stream" "$T/flip.tar.gz"
fails "^mae-decode: $T/plain-000005.tar: No such file or directory" "a missing shard of a pattern" "$T/plain-{000000..000005}.tar"
fails "^mae-decode: $T/plain-\{000000\.\.\}.tar: bad brace pattern: '\{000000\.\.\}' is neither" "a range without its end" "$T/plain-{000000..}.tar"
fails "^mae-decode: $T/plain-\{000000\.\.000004.tar: bad brace pattern: a '\{' without its '\}'" "an unclosed brace" "$T/plain-{000000..000004.tar"
fails "bad brace pattern: '\{x\}' is neither" "a brace group of one word" "$T/plain-{x}.tar"
clsat=$($PY - "$T" $FACES <<'PY'
import io, sys, tarfile
T, faces = sys.argv[1:]
jpg = open(faces + '/cat.jpg', 'rb').read()
def write(path, members):
    with tarfile.open(path, 'w') as t:
        for name, data in members:
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
write(T + '/badcls.tar', [('a/k1.jpg', jpg), ('a/k1.cls', b'3'), ('a/k2.jpg', jpg), ('a/k2.cls', b'cat\n')])
print(tarfile.open(T + '/badcls.tar').getmembers()[3].offset)
write(T + '/twoimg.tar', [('k1.jpg', jpg), ('k1.png', jpg)])
write(T + '/badimg.tar', [('k1.jpg', jpg), ('k2.jpg', jpg[:20000]), ('k3.jpg', b'hello')])
open(T + '/notatar.tar', 'wb').write(jpg)
open(T + '/empty.tar', 'wb').close()
PY
)
fails "^mae-decode: $T/badcls.tar: tar: 'a/k2.cls' is not a class number \('cat\?'\) at byte $clsat$" "a .cls that is not a number" "$T/badcls.tar"
fails "^mae-decode: $T/twoimg.tar: tar: key 'k1' has a second image, 'k1.png', at byte [0-9]+" "a key with two images" "$T/twoimg.tar"
fails "^mae-decode: $T/notatar.tar: tar: not a tar file: header checksum mismatch at byte 0$" "a JPEG named .tar" "$T/notatar.tar"
fails "^mae-decode: $T/empty.tar: tar: empty file at byte 0$" "an empty .tar" "$T/empty.tar"
fails "^mae-decode: $T/badimg.tar: k2.jpg: JPEG: Premature end of JPEG file" "a truncated JPEG in a shard" "$T/badimg.tar"
mae-decode --eval --size 32 -k "$T/badimg.tar" > "$T/k.mae" 2> "$T/k.err"; ok $? "-k over a shard with bad images: status 0"
like "$(cat "$T/k.err")" "badimg.tar: k3.jpg: not a JPEG, PNG or WAV file \(skipped\)" "-k names the shard and member it skips"
res=$($PY -c "from maestream import records, tensor; r = records('$T/k.mae'); print(r[-1]['skipped'], tensor(r[1]['tensors']['index']).tolist())")
is "$res" "2 [0]" "-k: 2 skipped, the good sample passes"
finish

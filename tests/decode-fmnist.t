#!/bin/sh
# mae-decode on Fashion-MNIST (Debian's dataset-fashion-mnist): every pixel and label equals the
# IDX files as read by Python's gzip + numpy, through Python's msgpack; shuffle, epochs, the
# last-batch policies, and shards (separate runs and three workers into one PULL) that give
# exactly the records of a single run.
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
[ -r $FM/t10k-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"

# A reader for streams: prints what the checks below ask for.
cat > "$T/rd.py" <<'PY'
import gzip, sys, msgpack, numpy as np
from maestream import records, tensor, cat  # tests/lib
def samples(path):
    """(epoch, index) -> (image bytes, label), plus the records"""
    recs = records(path)
    out = {}
    for r in recs[1:-1]:
        ts = r['tensors']; e = r['meta']['epoch']
        for im, lab, ix in zip(tensor(ts['image']), tensor(ts['label']), tensor(ts['index'])):
            out.setdefault((e, int(ix)), []).append((im.tobytes(), int(lab)))
    return out, recs
def idx(name):
    with gzip.open(name) as f: b = f.read()
    n = int.from_bytes(b[4:8], 'big')
    if b[3] == 3:
        return np.frombuffer(b, np.uint8, offset=16).reshape(n, 28, 28)
    return np.frombuffer(b, np.uint8, offset=8)
PY

# 1. The whole test split, in order, against the IDX bytes
mae-decode -q -b 1000 fashion-mnist:test > "$T/test.mae"; ok $? "decode fashion-mnist:test"
res=$($PY - "$T" $FM <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
recs = records(sys.argv[1] + '/test.mae')
h, eos, bs = recs[0], recs[-1], recs[1:-1]
X = idx(sys.argv[2] + '/t10k-images-idx3-ubyte.gz'); Y = idx(sys.argv[2] + '/t10k-labels-idx1-ubyte.gz')
img = np.concatenate([tensor(b['tensors']['image']) for b in bs])
lab = np.concatenate([tensor(b['tensors']['label']) for b in bs])
ix = np.concatenate([tensor(b['tensors']['index']) for b in bs])
m = h['meta']
print(h['type'], h['count'], len(bs), eos['type'], eos['count'], eos['skipped'])
print(m['height'], m['width'], m['channels'], m['dataset_size'], m['batch_size'], m['epochs'], len(m['classes']), m['classes'][9])
print(img.shape, img.dtype, bool((img[..., 0] == X).all()), bool((lab == Y).all()), bool((ix == np.arange(10000)).all()))
PY
)
is "$(echo "$res" | sed -n 1p)" "header 10 10 eos 10 0" "header count, 10 batch records, end-of-stream count"
is "$(echo "$res" | sed -n 2p)" "28 28 1 10000 1000 1 10 Ankle boot" "header meta: size, channels, dataset size, batch, epochs, classes"
is "$(echo "$res" | sed -n 3p)" "(10000, 28, 28, 1) uint8 True True True" "every pixel, label and index equals the IDX files"

# the training split too, through a pipe
res=$(mae-decode -q -b 4096 fashion-mnist:train | $PY -c '
import sys, gzip, msgpack, numpy as np
X = np.frombuffer(gzip.open("'$FM'/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
Y = np.frombuffer(gzip.open("'$FM'/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
i = 0; good = True
for r in msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 30):
    if r["type"] != "batch": continue
    t = r["tensors"]; n = t["image"]["shape"][0]
    im = np.frombuffer(t["image"]["data"], np.uint8).reshape(n, 28, 28)
    lb = np.frombuffer(t["label"]["data"], "<i4")
    good &= bool((im == X[i:i + n]).all() and (lb == Y[i:i + n]).all()); i += n
print(i, good)')
is "$res" "60000 True" "all 60000 training images and labels through a pipe"

# 2. Shuffle and epochs: each epoch is a permutation; pixels still belong to their index
mae-decode -q -b 256 -n 2000 -e 2 -s 7 --shuffle fashion-mnist:test > "$T/shuf.mae"; ok $? "decode with --shuffle -e 2"
res=$($PY - "$T" $FM <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
X = idx(sys.argv[2] + '/t10k-images-idx3-ubyte.gz')
recs = records(sys.argv[1] + '/shuf.mae')
order = {0: [], 1: []}; good = True
for b in recs[1:-1]:
    ix = tensor(b['tensors']['index']); im = tensor(b['tensors']['image'])
    order[b['meta']['epoch']] += list(ix)
    good &= bool((im[..., 0] == X[ix]).all())
print(sorted(order[0]) == list(range(2000)), sorted(order[1]) == list(range(2000)), order[0] != order[1], order[0] != list(range(2000)), good)
PY
)
is "$res" "True True True True True" "shuffled epochs are different permutations; pixels match their index"
mae-decode -q -b 256 -n 2000 -e 2 -s 7 --shuffle fashion-mnist:test | cmp -s - "$T/shuf.mae"; ok $? "the same seed gives the same bytes"

# 3. Last-batch policies
for p in partial drop pad; do
	res=$(mae-decode -q -b 300 -n 1000 --last $p fashion-mnist:test | $PY -c '
import sys, msgpack
rs = list(msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 30))
print(rs[0]["count"], [r["tensors"]["image"]["shape"][0] for r in rs[1:-1]], rs[-1]["count"], rs[-2].get("meta", {}).get("padded", 0))')
	case $p in
	partial) want="4 [300, 300, 300, 100] 4 0" ;;
	drop)    want="3 [300, 300, 300] 3 0" ;;
	pad)     want="4 [300, 300, 300, 300] 4 200" ;;
	esac
	is "$res" "$want" "--last $p"
done

# 4. Shards: three runs together are exactly one run, sample for sample (random crops, flips
# and shuffle included), whatever the worker count
args="-q -b 64 -n 3000 -e 2 -s 11 --train --scale 0.3,1 fashion-mnist:test"
mae-decode $args > "$T/one.mae"
for i in 0 1 2; do mae-decode $args --shard $i/3 > "$T/s$i.mae"; done
cat > "$T/same.py" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from rd import *
one, _ = samples(sys.argv[2])
parts = {}
dup = False
for p in sys.argv[3:]:
    s, _ = samples(p)
    for k, v in s.items():
        dup |= k in parts or len(v) > 1
        parts.setdefault(k, []).extend(v)
print(len(one), len(parts), not dup, one == parts)
PY
res=$($PY "$T/same.py" "$T" "$T/one.mae" "$T/s0.mae" "$T/s1.mae" "$T/s2.mae")
is "$res" "6000 6000 True True" "shards 0/3 1/3 2/3: no duplicates, no gaps, identical samples"
$PY - "$T/s1.mae" <<'PY' > "$T/shardmeta"
import msgpack; h = next(iter(msgpack.Unpacker(open(__import__('sys').argv[1], 'rb'), raw=False)))
print(h['meta']['shard'], h['meta']['shard_size'], h['count'])
PY
is "$(cat "$T/shardmeta")" "[1, 3] 1000 32" "shard header: shard, shard size, batch count"

# three workers pushing into one PULL
timeout 60 mae-tap -q -i "@ipc://$T/pull" --merge 3 -o "$T/merged.mae" /dev/null & r=$!
for i in 0 1 2; do timeout 60 mae-decode $args --shard $i/3 -o ">ipc://$T/pull" & done
wait $r; ok $? "a PULL merging three decode workers ends after their three end-of-stream records"
res=$($PY "$T/same.py" "$T" "$T/one.mae" "$T/merged.mae")
is "$res" "6000 6000 True True" "three workers into one PULL give the samples of a single run"

# Batch shards merged in seq order are the single run's stream byte for byte, whatever the
# worker count, starting batch and last-batch policy
crcs() { mae-inspect -c "$@" | grep '^[0-9]' | cut -d' ' -f2-; }
for x in "-b 64" "-b 64 --start-batch 5 --last drop" "-b 70 --last pad"; do
	a="-q -n 3000 -e 2 -s 11 --train $x fashion-mnist:test"
	mae-decode $a > "$T/one.mae"
	timeout 60 mae-inspect -c -i "@ipc://$T/ord" --merge 3 --ordered | grep '^[0-9]' | cut -d' ' -f2- > "$T/ord.txt" & r=$!
	for i in 2 0 1; do timeout 60 mae-decode $a --batch-shard $i/3 -o ">ipc://$T/ord" & done
	wait $r; ok $? "--batch-shard i/3 ($x): an ordered merge of three ends"
	is "$(cat "$T/ord.txt")" "$(crcs < "$T/one.mae")" "--batch-shard i/3 ($x) under --merge 3 --ordered: the single run's batches, in order"
done
mae-decode $args --batch-shard 1/3 > "$T/b1.mae"
is "$(mae-inspect -H < "$T/b1.mae" | head -1 | grep -o 'count=[0-9]*')" "count=31" "--batch-shard 1/3 of 94 batches: the header counts its 31"
# duplicates and gaps are errors, not a silently wrong stream
for i in 1 2; do timeout 60 mae-decode $args -o ">ipc://$T/dup" > /dev/null 2>&1 & done
msg=$(timeout 60 mae-inspect -c -i "@ipc://$T/dup" --merge 2 --ordered 2>&1 > /dev/null; echo "rc=$?")
kill $(jobs -p) 2>/dev/null   # the producers wait for a reader that has gone
like "$(echo $msg)" "batch [0-9]+ arrived twice.*rc=2" "an ordered merge of two whole streams: batch N arrived twice, status 2"
mae-decode $args --batch-shard 0/2 > "$T/b0.mae"
msg=$(mae-inspect -c --ordered < "$T/b0.mae" 2>&1 >/dev/null; echo "rc=$?")
like "$(echo $msg)" "batch 1 never came.*rc=2" "an ordered merge missing a shard: batch 1 never came, status 2"
mae-decode -k --batch-shard 0/2 fashion-mnist:test > /dev/null 2>&1
is "$?" 1 "--batch-shard with -k is a usage error"

# 5. Bad input
printf 'junk' | gzip > "$T/bad-images-idx3-ubyte.gz"
msg=$(mae-decode "$T/bad-images-idx3-ubyte.gz" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a broken IDX file: exit status 2"
like "$msg" "^mae-decode: .*bad-images-idx3-ubyte.gz: " "a broken IDX file: the message names the file"
head -c 100000 $FM/t10k-images-idx3-ubyte.gz > "$T/cut-images-idx3-ubyte.gz"
msg=$(mae-decode "$T/cut-images-idx3-ubyte.gz" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a truncated IDX file: exit status 2"
like "$msg" "cut-images-idx3-ubyte.gz: .*(truncated|unexpected end)" "a truncated IDX file: says so"
# a 36-byte file whose header declares 2 GB: refused as truncated, without taking the 2 GB
# first (under a 1.5 GB address-space limit a reader that trusts the header runs out of memory)
printf '\0\0\10\3\0\0\0\2\20\0\0\4\0\0\0\4abcdefghijklmnopqrst' > "$T/lie-images-idx3-ubyte"
if { (ulimit -v 1500000; mae-decode -h); } >/dev/null 2>&1; then
	msg=$( (ulimit -v 1500000; mae-decode "$T/lie-images-idx3-ubyte") 2>&1 >/dev/null); rc=$?
	is "$rc" 2 "an IDX file declaring 2 GB in 36 bytes: exit status 2"
	like "$msg" "truncated: 20 of 2147483680 data bytes" "an IDX file declaring 2 GB in 36 bytes: truncated, not out of memory"
else   # AddressSanitizer reserves terabytes of address space: no limit can apply
	ok 0 "# SKIP the 2 GB IDX header: mae-decode cannot start under an address-space limit (sanitizer build)"
fi
mae-decode --size 32 fashion-mnist:test > /dev/null 2>&1
is "$?" 1 "IDX at another size without a crop mode is a usage error"
finish

#!/bin/sh
# mae-mask on streams: every strategy's exact count and geometry checked by Python reading the
# stream with plain msgpack; masks depend on (seed, epoch, index) only, not on the number of
# workers; header provenance; clear errors with the documented exit statuses.
. "$(dirname "$0")/lib.sh"

# A synthetic stream: 14x14 grid of 2x2x3 patches (P = 12), 4 batches of 8, global index,
# an attention map per sample, epoch 3 in every batch.
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
def tensor(a, dt):
    return {'dtype': dt, 'shape': list(a.shape), 'data': a.tobytes()}
def stream(path, grid, nb=4, B=8, P=12, with_index=True, epoch=3):
    rng = np.random.default_rng(0)
    N = int(np.prod(grid))
    p = msgpack.Packer(use_bin_type=True)
    with open(path, 'wb') as f:
        f.write(p.pack({'type': 'header', 'version': 1, 'producer': 'test', 'argv': [], 'seed': 42,
                        'count': nb, 'meta': {'grid': list(grid), 'patch_size': 2, 'channels': 3,
                        'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225], 'epochs': 10},
                        'stages': []}))
        for s in range(nb):
            t = {'patches': tensor(rng.standard_normal((B, N, P)).astype('<f4'), 'F32'),
                 'attn': tensor(rng.random((B, N)).astype('<f4'), 'F32')}
            if with_index:
                t['index'] = tensor(np.arange(s * B, s * B + B, dtype='<i8'), 'I64')
            f.write(p.pack({'type': 'batch', 'seq': s, 'meta': {'epoch': epoch}, 'tensors': t}))
        f.write(p.pack({'type': 'eos', 'count': nb, 'skipped': 0}))
stream(d + '/g14.mae', (14, 14))
stream(d + '/g7.mae', (7, 7))
stream(d + '/clip.mae', (4, 14, 14))
stream(d + '/noidx.mae', (14, 14), with_index=False)
PY
ok $? "synthetic streams written by Python"

# check.py STRATEGY FILE: every per-sample property, exits non-zero with a message on failure
cat > "$T/check.py" <<'PY'
import msgpack, numpy as np, sys
kind, path = sys.argv[1], sys.argv[2]
recs = list(msgpack.Unpacker(open(path, 'rb'), raw=False))
hdr, batches, eos = recs[0], recs[1:-1], recs[-1]
assert eos['type'] == 'eos' and eos['count'] == len(batches) == 4, eos
def T(r, name):
    t = r['tensors'][name]
    dt = {'U8': 'u1', 'I32': '<i4', 'I64': '<i8', 'F32': '<f4'}[t['dtype']]
    return np.frombuffer(t['data'], dt).reshape(t['shape'])
meta = hdr['meta']
gh, gw = meta['grid'][-2:]
info = meta['mask']
def fail(msg):
    print('#', kind, msg); sys.exit(1)
for r in batches:
    m = T(r, 'mask')
    if r['tensors']['mask']['dtype'] != 'U8' or m.ndim != 2 or m.shape[0] != 8:
        fail('mask is not U8 [B,N]')
    if not set(np.unique(m)) <= {0, 1}:
        fail('mask values outside {0,1}')
    cnt = m.sum(1)
    if kind in ('random', 'noise', 'semantic', 'block-simmim', 'block-beit', 'grid', 'tube'):
        want = {'random': 147, 'noise': 147, 'semantic': 196 - int(196 * 0.4),
                'block-simmim': 30 * 4, 'block-beit': 75, 'grid': 147, 'tube': 4 * 176}[kind]
        if not (cnt == want).all():
            fail('counts %s, want %d' % (cnt, want))
        if info.get('hidden') != want:
            fail('header says hidden=%s' % info.get('hidden'))
    if kind == 'grid':
        g = m.reshape(-1, gh, gw)
        keep = np.zeros((gh, gw), bool); keep[::2, ::2] = True
        if not (g == ~keep).all():
            fail('grid pattern')
    if kind == 'block-simmim':
        g = m.reshape(-1, gh // 2, 2, gw // 2, 2)
        if not (g.min(axis=(2, 4)) == g.max(axis=(2, 4))).all():
            fail('not made of aligned 2x2 cells')
    if kind == 'tube':
        g = m.reshape(8, 4, 196)
        if not (g == g[:, :1]).all():
            fail('frames differ')
        if not (g[:, 0].sum(1) == 176).all():
            fail('per-frame count')
    if kind == 'window':
        w = T(r, 'windows')
        K = meta['window_size']
        if w.shape != (8, 4, 2) or r['tensors']['windows']['dtype'] != 'I32' or K != 7:
            fail('windows tensor %s K %s' % (w.shape, K))
        for b in range(8):
            inside = np.zeros((gh, gw), bool)
            for top, left in w[b]:
                if not (0 <= top <= gh - K and 0 <= left <= gw - K):
                    fail('window out of bounds')
                inside[top:top + K, left:left + K] = True
            if len(set(w[b, :, 0])) != 4 or len(set(w[b, :, 1])) != 4:
                fail('tops or lefts not distinct')
            mb = m[b].reshape(gh, gw).astype(bool)
            if (mb & ~inside).any():
                fail('hidden patch outside the windows')
            u = inside.sum()
            if mb.sum() != int(np.floor(u * 0.8 + 1e-9)):
                fail('count %d for union %d' % (mb.sum(), u))
    if kind == 'attention-high':
        a = T(r, 'attn')
        for b in range(8):
            if cnt[b] != 147 or a[b][m[b] == 1].min() <= a[b][m[b] == 0].max():
                fail('not exactly the top-147 attention')
    if kind == 'attention-low':
        a = T(r, 'attn')
        for b in range(8):
            if cnt[b] != 147 or a[b][m[b] == 1].max() >= a[b][m[b] == 0].min():
                fail('not exactly the bottom-147 attention')
    if kind == 'attention-default':
        nz = cnt[cnt > 0]
        if len(set(nz.tolist())) > 1 or (len(nz) and not (19 <= nz[0] <= 98)):
            fail('batch ratio: counts %s' % cnt)
print('#', kind, 'ok', info)
PY

check() {   # check KIND FILE "what"
	$PY "$T/check.py" "$1" "$2"; ok $? "$3"
}

mae-mask random < "$T/g14.mae" > "$T/o.mae"; ok $? "random runs"
check random "$T/o.mae" "random: exactly 147 of 196 hidden per sample"
mae-mask block --cell 2 < "$T/g14.mae" > "$T/o.mae"
check block-simmim "$T/o.mae" "block simmim: ceil(49*0.6) = 30 aligned 2x2 cells = 120 hidden"
mae-mask block --variant beit < "$T/g14.mae" > "$T/o.mae"
check block-beit "$T/o.mae" "block beit: exactly 75 of 196 hidden"
mae-mask grid < "$T/g14.mae" > "$T/o.mae"
check grid "$T/o.mae" "grid: one kept patch per 2x2 cell, 147 hidden"
mae-mask window < "$T/g14.mae" > "$T/o.mae"
check window "$T/o.mae" "window: 4 windows of 7x7 per image, hidden patches only inside, exact union count"
for c in red blue green purple; do
	mae-mask noise --color $c < "$T/g14.mae" > "$T/o.mae"
	check noise "$T/o.mae" "noise $c: exactly 147 of 196 hidden"
done
mae-mask semantic < "$T/g14.mae" > "$T/o.mae"
check semantic "$T/o.mae" "semantic: 196 - floor(196*0.4) = 118 hidden"
# the SemMAE schedule from the batch epoch (3 here): (3+1)/4 = the end of a 4-epoch run hides
# whole parts; epoch 3 of 100000 is the start, about r of every part
cat > "$T/sem.py" <<'PY'
import msgpack, numpy as np, sys
end = sys.argv[2] == 'end'
for r in msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False):
    if r['type'] != 'batch':
        continue
    m = np.frombuffer(r['tensors']['mask']['data'], 'u1').reshape(8, 196)
    parts = np.frombuffer(r['tensors']['parts']['data'], '<i4').reshape(8, 196)
    for b in range(8):
        assert m[b].sum() == 118
        ks = np.unique(parts[b])
        assert 2 <= len(ks) <= 6, ks
        fr = [m[b][parts[b] == k].mean() for k in ks]
        n = [(parts[b] == k).sum() for k in ks]
        if end:
            partial = [f for f in fr if 0 < f < 1]
            assert len(partial) <= 1, fr
        else:
            for f, nk in zip(fr, n):
                assert abs(f * nk - 0.6 * nk) <= 2.5, (f, nk)
PY
mae-mask -q semantic --epoch-total 4 < "$T/g14.mae" > "$T/o.mae"
$PY "$T/sem.py" "$T/o.mae" end; ok $? "semantic at the end of the schedule (epoch 3 of 4): whole parts, at most one partial"
mae-mask -q semantic --epoch-total 100000 < "$T/g14.mae" > "$T/o.mae"
$PY "$T/sem.py" "$T/o.mae" start; ok $? "semantic at the start (epoch 3 of 100000): every part hides 0.6 of itself (+-2.5 patches)"
mae-mask attention -r 0.75 --ratio-var 0 --mask-prob 1 < "$T/g14.mae" > "$T/o.mae"
check attention-high "$T/o.mae" "attention high: hides exactly the 147 most attended patches"
mae-mask attention --mode low -r 0.75 --ratio-var 0 --mask-prob 1 < "$T/g14.mae" > "$T/o.mae"
check attention-low "$T/o.mae" "attention low: hides exactly the 147 least attended patches"
mae-mask attention < "$T/g14.mae" > "$T/o.mae"
check attention-default "$T/o.mae" "attention (AttMask defaults): one ratio in [0.1,0.5] per batch, images masked or whole"
mae-mask tube < "$T/clip.mae" > "$T/o.mae"
check tube "$T/o.mae" "tube: 4 frames x floor(0.9*196) = 176, the same in every frame"

# independence from the number of workers: 3 workers behind a ZeroMQ fan-out give the same
# masks as one process (compared per sample index)
for s in noise semantic; do
	mae-mask -q $s < "$T/g14.mae" > "$T/one.mae"
	timeout 30 mae-tap -q -i "@ipc://$T/sink$s" --merge 3 "$T/many.mae" > /dev/null & r=$!
	for k in 1 2 3; do timeout 30 mae-mask -q $s -i ">ipc://$T/fan$s" -o ">ipc://$T/sink$s" & done
	timeout 30 mae-tap -q -i "$T/g14.mae" -o "@ipc://$T/fan$s" --fanout 3 /dev/null
	wait $r
	$PY - "$T/one.mae" "$T/many.mae" <<'PY'
import msgpack, numpy as np, sys
def masks(path):
    out = {}
    for r in msgpack.Unpacker(open(path, 'rb'), raw=False):
        if r['type'] != 'batch':
            continue
        idx = np.frombuffer(r['tensors']['index']['data'], '<i8')
        m = np.frombuffer(r['tensors']['mask']['data'], 'u1').reshape(len(idx), -1)
        out.update({int(i): m[k].tobytes() for k, i in enumerate(idx)})
    return out
a, b = masks(sys.argv[1]), masks(sys.argv[2])
assert len(a) == 32 and a == b, (len(a), len(b))
PY
	ok $? "$s: 3 workers behind a ZeroMQ fan-out give the same masks as one process"
done

# seeding: -s wins over the header's seed; epoch changes the masks; no index falls back to seq
mae-mask -q random < "$T/g14.mae" > "$T/a.mae"
mae-mask -q random -s 42 < "$T/g14.mae" > "$T/b.mae"
mae-mask -q random -s 43 < "$T/g14.mae" > "$T/c.mae"
$PY - "$T" <<'PY'
import msgpack, sys
d = sys.argv[1]
def m(f): return [r['tensors']['mask']['data'] for r in msgpack.Unpacker(open(d + f, 'rb'), raw=False) if r['type'] == 'batch']
assert m('/a.mae') == m('/b.mae'), 'header seed 42 and -s 42 differ'
assert m('/a.mae') != m('/c.mae'), '-s 43 gave the same masks'
PY
ok $? "the seed comes from the header unless -s is given; another seed gives other masks"
mae-mask -q noise < "$T/noidx.mae" > "$T/n.mae"; ok $? "a stream without 'index' is masked (seq and position seed it)"

# the header records what was done; window_size for the windowed encoder
out=$(mae-mask window < "$T/g14.mae" | mae-inspect 2>&1 | head -3)
like "$out" 'mask:\{strategy:"window",ratio:0.8' "header meta mask = {strategy, ratio, ...}"
like "$out" 'window_size:7' "header meta window_size for the windowed encoder"

# errors: usage 1, data 2, with clear messages
mae-mask nosuch < "$T/g14.mae" > /dev/null 2> "$T/err"; is $? 1 "unknown strategy: exit 1"
mae-mask random --color red < "$T/g14.mae" > /dev/null 2> "$T/err"; is $? 1 "an option of another strategy: exit 1"
like "$(cat "$T/err")" "^mae-mask: --color does not apply to random masking" "and says which option"
mae-mask grid -r 0.5 < "$T/g14.mae" > /dev/null 2>&1; is $? 1 "grid has no ratio: exit 1"
mae-mask block < "$T/g7.mae" > /dev/null 2> "$T/err"; is $? 1 "SimMIM cells that do not tile a 7x7 grid: exit 1"
like "$(cat "$T/err")" "do not tile the 7x7 grid" "and says why"
mae-mask random --grid 7x7 < "$T/g14.mae" > /dev/null 2> "$T/err"; is $? 2 "patches not matching the grid: exit 2"
like "$(cat "$T/err")" "record 1: tensor 'patches' has 196 patches; the header's grid 1x7x7 has 49" "and says so"
mae-synth -t patches:F32:2,4,3 | mae-mask random > /dev/null 2> "$T/err"; is $? 2 "no grid in the header: exit 2"
like "$(cat "$T/err")" "no 'grid'" "and says so"
mae-synth -t patches:U8:2,4,3 -m x=1 | mae-mask random --grid 2x2 > /dev/null 2> "$T/err"; is $? 2 "patches of the wrong dtype: exit 2"
like "$(cat "$T/err")" "tensor 'patches': expected F32 \[B,N,P\], got U8 \[2,4,3\]" "and says so"
mae-synth -t patches:F32:2,4,3 | mae-mask attention --grid 2x2 > /dev/null 2> "$T/err"; is $? 2 "attention without 'attn': exit 2"
finish

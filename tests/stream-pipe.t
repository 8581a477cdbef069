#!/bin/sh
# The stream over pipes and files: synth -> tap -> inspect; pass-through is byte-exact;
# Python's msgpack reads our streams and writes streams we read.
. "$(dirname "$0")/lib.sh"

mae-synth -s 3 -n 5 -t x:F32:4,16,48:randn -t label:I32:4:randint:10 -m patch_size=4 > "$T/a.mae"
ok $? "mae-synth writes a stream"
mae-tap "$T/copy.mae" < "$T/a.mae" > "$T/b.mae"
ok $? "mae-tap runs"
cmp -s "$T/a.mae" "$T/b.mae"; ok $? "mae-tap passes the stream through byte for byte"
cmp -s "$T/a.mae" "$T/copy.mae"; ok $? "mae-tap's file copy is identical"
timeout 10 mae-tap --fanout 2 /dev/null < "$T/a.mae" | cmp -s - "$T/a.mae"
ok $? "--fanout only concerns ZeroMQ outputs: a pipe gets one header"
out=$(mae-inspect < "$T/a.mae")
ok $? "mae-inspect reads it"
is "$(printf '%s\n' "$out" | grep -c ' seq=')" 5 "one line per batch record"
like "$out" "x:F32 \[4,16,48\] min=-[0-9.]+ max=[0-9.]+ mean=" "names, dtypes, shapes and statistics"
like "$out" "eos count=5 skipped=0" "end-of-stream record reported"

# Python reads every record with plain msgpack and finds the exact tensors
$PY - "$T/a.mae" <<'PY'
import msgpack, numpy as np, sys
recs = list(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))
assert recs[0]['type'] == 'header' and recs[0]['meta']['patch_size'] == 4, recs[0]
assert recs[-1] == {'type': 'eos', 'count': 5, 'skipped': 0, 'producer': 'mae-synth'}, recs[-1]
for r in recs[1:-1]:
    t = r['tensors']['x']
    a = np.frombuffer(t['data'], dtype='<f4').reshape(t['shape'])
    assert a.shape == (4, 16, 48) and abs(a.mean()) < 0.2 and 0.8 < a.std() < 1.2
    l = np.frombuffer(r['tensors']['label']['data'], dtype='<i4')
    assert l.min() >= 0 and l.max() < 10
print('python ok')
PY
ok $? "Python msgpack + numpy read the stream"

# a stream written by Python (with fields we do not know) is read, and passed through
$PY - > "$T/py.mae" <<'PY'
import msgpack, numpy as np, sys
p = msgpack.Packer(use_bin_type=True)
w = sys.stdout.buffer.write
w(p.pack({'type': 'header', 'version': 1, 'producer': 'python', 'argv': [], 'seed': 1, 'count': 2, 'meta': {}, 'stages': []}))
for i in range(2):
    x = (np.arange(12, dtype=np.float32) * (i + 1)).reshape(3, 4)
    w(p.pack({'type': 'batch', 'seq': i, 'from_python': {'k': [1, 2.5, None, True]},
              'tensors': {'x': {'dtype': 'F32', 'shape': [3, 4], 'data': x.tobytes()}}}))
w(p.pack({'type': 'eos', 'count': 2, 'skipped': 0}))
PY
out=$(mae-inspect -m < "$T/py.mae")
ok $? "mae-inspect accepts records written by Python"
like "$out" "x:F32 \[3,4\] min=0 max=22 mean=11 " "values of Python's tensors"
mae-tap /dev/null < "$T/py.mae" | cmp -s - "$T/py.mae"; ok $? "unknown fields pass through mae-tap untouched"

# concatenated streams read as one with --merge 2
cat "$T/a.mae" "$T/a.mae" | mae-inspect --merge 2 > "$T/m.txt"
ok $? "two concatenated streams with --merge 2"
is "$(grep -c ' seq=' "$T/m.txt")" 10 "all batches of both streams"

# a header-only stream and an empty batch list
mae-synth -n 0 | mae-inspect > "$T/e.txt"; ok $? "a stream with no batches is valid"
finish

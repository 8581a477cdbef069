#!/bin/sh
# Audio-MAE's input: WAV clips as log-mel spectrograms (mae-decode, lib/data/audio.c) against
# numpy written from the definition of Kaldi's fbank as torchaudio computes it for Audio-MAE
# and AST (no torchaudio on Debian 12); clips that are not 16-bit PCM at 16 kHz, or are cut
# short, refused with a message; and a short pretraining run on tones, chirps and noise bursts
# whose features k-NN separates.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
P=$TDIR/../pipelines

$PY "$P/wavset.py" "$T/train" 40 1 && $PY "$P/wavset.py" "$T/test" 20 2
ok $? "120 train and 60 test clips (tones, chirps, noise bursts)"
mae-decode -q -g --crop none -b 60 "$T/test" > "$T/test.mae"
ok $? "mae-decode reads the WAV clips of class folders"
$PY - "$T" > "$T/fbank.out" 2>&1 <<'PY'
import sys, wave, glob, numpy as np
from maestream import cat
d = sys.argv[1]
def fbank(x):
    # Kaldi's fbank as torchaudio.compliance.kaldi.fbank with Audio-MAE's options
    x = x - x.mean()
    T = 1 + (len(x) - 400) // 160
    fr = np.stack([x[t * 160:t * 160 + 400] for t in range(T)])
    fr = fr - fr.mean(axis=1, keepdims=True)
    fr = fr - 0.97 * np.concatenate([fr[:, :1], fr[:, :-1]], axis=1)
    fr = fr * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399))
    p = np.abs(np.fft.rfft(fr, 512)) ** 2
    mel = lambda f: 1127 * np.log(1 + f / 700)
    lo, hi = mel(20), mel(8000)
    dm = (hi - lo) / 129
    m = mel(np.arange(256) * 16000 / 512)
    b = np.arange(128)[:, None]
    l, c, r = lo + b * dm, lo + (b + 1) * dm, lo + (b + 2) * dm
    banks = np.maximum(0, np.minimum((m - l) / (c - l), (r - m) / (r - c)))
    e = p[:, :256] @ banks.T
    return np.log(np.maximum(e, np.finfo(np.float32).eps))
files = sorted(glob.glob(d + '/test/*/*.wav'))
want = []
for f in files:
    w = wave.open(f)
    x = np.frombuffer(w.readframes(w.getnframes()), '<i2') / 32768.0
    v = (fbank(x) - -4.2677393) / (2 * 4.5689974)
    want.append(np.clip(np.floor(128 + 64 * v + 0.5), 0, 255))
want = np.stack(want)
got = cat(d + '/test.mae', 'image')[..., 0].astype(np.float64)
diff = np.abs(got - want)
print(got.shape, 'max', int(diff.max()), 'exact', float((diff == 0).mean()) > 0.999)
PY
like "$(cat "$T/fbank.out")" "^\(60, 96, 128\) max [01] exact True$" \
	"60 spectrograms of 96 frames x 128 mel bins equal numpy's, byte for byte but for roundings of ties"

# refusals: another rate, 8-bit samples, a data chunk cut short, a clip shorter than a frame
$PY - "$T" <<'PY'
import sys, wave, numpy as np
d = sys.argv[1]
def write(name, rate, width, n):
    with wave.open(f'{d}/{name}.wav', 'wb') as w:
        w.setnchannels(1); w.setsampwidth(width); w.setframerate(rate); w.writeframes(b'\0' * width * n)
write('rate', 44100, 2, 44100); write('byte', 16000, 1, 16000); write('short', 16000, 2, 300)
raw = open(f'{d}/rate.wav', 'rb').read()
open(f'{d}/cut.wav', 'wb').write(raw[:44] .replace(b'\x44\xac\x00\x00', b'\x80\x3e\x00\x00', 1) + raw[44:1000])
PY
for c in "rate:44100 Hz; Audio-MAE's spectrogram is defined at 16000 Hz" "byte:format 1 with 8 bits a sample" \
	"cut:chunk 'data' of .* bytes runs past the end of the file" "short:300 samples, shorter than one 25 ms frame"; do
	f=${c%%:*} msg=${c#*:}
	mae-decode -q -g --crop resize --size 128x96 "$T/$f.wav" > /dev/null 2> "$T/$f.err"
	st=$?
	like "$st $(cat "$T/$f.err")" "^2 mae-decode: .*$f.wav: WAV: $msg" "a WAV clip ($f) is refused with status 2: $msg"
done

# 200 clips cut short or with bytes changed in their headers: each decodes or is skipped
# (-k) with a reason, and nothing crashes
$PY - "$T" "$T/test/tone/000.wav" <<'PY'
import sys, os, random
d, src = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
os.makedirs(d + '/bad/x', exist_ok=True)
r = random.Random(5)
for i in range(200):
    c = bytearray(b[:r.choice([0, 4, 12, 20, 36, 43, 44, 45, 300, 1000, len(b) - 1])] if i % 2 else b)
    for _ in range(r.randint(1, 4)):
        if len(c) > 0:
            c[r.randrange(min(len(c), 48))] = r.randrange(256)
    open('%s/bad/x/%03d.wav' % (d, i), 'wb').write(bytes(c))
PY
mae-decode -q -k -g --crop resize --size 128x96 -b 50 "$T/bad" > "$T/bad.mae" 2> "$T/bad.err"
st=$?
n=$(mae-inspect -i "$T/bad.mae" 2>/dev/null | sed -n 's/^eos count=[0-9]* skipped=\([0-9]*\).*/\1/p')
ok "$([ $st = 0 ] && [ "${n:-0}" -gt 100 ] && echo 0 || echo 1)" "200 damaged clips: status $st, $n skipped with a reason, the rest decoded"

# a pretraining run on the clips, and k-NN on its features
timeout 300 sh "$P/pretrain.sh" -o "$T/run" --model "micro-28,img_h=96,img_w=128,patch=16" --epochs 4 --batch 30 \
	--blr 1e-2 --data "$T/train" --decode "-g --crop none" 2> "$T/run.err"
ok $? "pretrain.sh on the spectrograms (micro-28 at 96 x 128, patches of 16)"
timeout 300 sh "$P/eval-knn.sh" -w "$T/run/checkpoint.safetensors" -o "$T/run" -k 5 --train "$T/train" --test "$T/test" \
	--decode "-g --crop none" 2> "$T/knn.err" > "$T/knn.out"
ok $? "eval-knn.sh on the clips"
acc=$(sed -n 's/^features k=5 top1=\([0-9.]*\)%.*/\1/p' "$T/knn.out")
awk -v a="$acc" 'BEGIN { exit !(a >= 90) }'
ok $? "k-NN (k=5) on the features separates tones, chirps and noise bursts: $acc% of 60 (>= 90%)"
# the pipeline script: clips, pretraining, figure, k-NN and probe against raw spectrograms
timeout 300 sh "$P/audiomae.sh" -o "$T/adm" --clips 12 --test-clips 6 --epochs 2 --batch 12 --probe 3 > "$T/adm.out" 2> "$T/adm.err"
ok $? "pipelines/audiomae.sh runs"
like "$(cat "$T/adm.out")" "k-NN \(k=20\) +features [0-9.]+%, raw spectrograms [0-9.]+%" "  and reports k-NN of features and raw spectrograms"
is "$($PY -c "from PIL import Image; print(Image.open('$T/adm/reconstruction.png').size)")" "(522, 590)" \
	"  and draws 6 spectrograms, 4 panels each (128 x 96 frames, gaps of 2)"
finish

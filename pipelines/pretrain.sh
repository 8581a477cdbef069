#!/bin/sh
# pretrain.sh: masked-image-modeling pretraining as a pipeline of processes:
#
#   mae-optimize --ps @ipc://RUN/ps -m MODEL ... &          (parameter server)
#   mae-decode | mae-patchify | mae-mask STRATEGY |
#       mae-encode --ps ... | mae-reconstruct --ps ... | mae-loss > OUT/loss.mae
#
# usage: pipelines/pretrain.sh [-o OUT] [--method M] [--model SPEC] [--mask "STRATEGY OPTS"]
#        [--data SRC] [--epochs E] [--batch B] [--blr BLR] [--warmup-epochs W] [--seed S]
#        [--patch P] [--decode "OPTIONS"] [--frames T] [--tap ENDPOINT] [--resume]
#        [--max-restarts N] [--save-every N] [--stall-timeout SEC]
#   --method  a file of pipelines/methods/ (listed by -h): mae (random masking), colormae
#             (green noise), lomar (windows, windowed encoder), simmim (blocks, mask token,
#             L1), semmae (semantic parts), mfm (frequency), attmask (an EMA teacher's
#             attention), maskfeat (blocks, HOG target), bootmae (an EMA teacher's features),
#             supmae (MAE and a classifier on the visible tokens), cmae (an EMA teacher's
#             pooled feature, InfoNCE), videomae (clips: tubelets, tube masking). A method file
#             sets the model's mode, in default_mask the mae-mask arguments, and if it has
#             them: in before_mask a stage of its own between mae-patchify and mae-mask, in
#             model_settings model settings of its own (--model's win), in server_opts options
#             of mae-optimize (attmask, bootmae: a teacher), in frames the frames of a clip
#             (the data are clips) and in default_decode mae-decode's options (--decode's
#             win); a new method is a new file
#   --frames  clips of T frames (mae-decode --clip T, the model's frames), for a clip method
#   --model   a preset with overrides, e.g. tiny-28 or vit-tiny,dec_depth=4 (mode set by --method)
#   --mask    the mae-mask arguments, replacing the method's default
#   --tap     also publish the masked stream on a PUB socket (watch: mae-view -i sub:...)
#   --resume  continue the run in OUT where it stopped (same options)
#   --max-restarts N  when a stage dies, restart the run from its saved state, up to N times:
#             the server saves the state of its last whole step when its stages leave, and
#             the data resumes at that step, so the weights are those of a run without faults
#   --save-every N  the server also saves every N steps (for a server that dies itself)
#   --stall-timeout SEC  the server saves and stops the run when no stage has sent it anything
#             for SEC seconds (default 600): a data stage that hangs, which no heartbeat shows
#   --warmup-epochs  linear warm-up of the learning rate, in epochs (default 1; may be a fraction)
# Defaults: Fashion-MNIST train split, small-28, MAE, 10 epochs of 256, blr 1.5e-4.
# Writes OUT/checkpoint.safetensors, OUT/optim.safetensors, OUT/metrics.tsv, OUT/loss.mae,
# and OUT/recipe.tsv: the run's settings as they were resolved (method, model, mask, ...), a
# line "key<TAB>value" each, for the scripts that read the checkpoint (main.sh's figure).
set -eu
. "$(dirname "$0")/lib.sh"
methods=$(dirname "$0")/methods
out=out/pretrain method=mae model=small-28 mask= data=fashion-mnist:train epochs=10 batch=256
blr=1.5e-4 warmup=1 seed=1 patch= decode= tap= resume=0 max_restarts=0
save_every=0 stall=600 frames_opt=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	--method) method=$2; shift ;;
	--model) model=$2; shift ;;
	--mask) mask=$2; shift ;;
	--data) data=$2; shift ;;
	--epochs) epochs=$2; shift ;;
	--batch) batch=$2; shift ;;
	--blr) blr=$2; shift ;;
	--warmup-epochs) warmup=$2; shift
	    case $warmup in ''|*[!0-9.]*|*.*.*) say "--warmup-epochs: a number of epochs, not '$warmup'"; exit 1 ;; esac ;;
	--seed) seed=$2; shift ;;
	--patch) patch=$2; shift ;;
	--decode) decode=$2; shift ;;
	--frames) frames_opt=$2; shift; whole --frames "$frames_opt" "a number of frames" ;;
	--tap) tap=$2; shift ;;
	--resume) resume=1 ;;
	--max-restarts) max_restarts=$2; shift; whole --max-restarts "$max_restarts" "a number" 0 ;;
	--save-every) save_every=$2; shift; whole --save-every "$save_every" "a number of steps" 0 ;;
	--stall-timeout) stall=$2; shift; whole --stall-timeout "$stall" "a number of seconds" ;;
	-h|--help) sed -n '2,40s/^# \{0,1\}//p' "$0"
		echo "methods:"
		for f in "$methods"/*; do (. "$f"; printf '  %-9s %s\n' "${f##*/}" "$about"); done
		exit 0 ;;
	*) say "unknown option $1"; exit 1 ;;
	esac
	shift
done
case $method in */*|.*|'') method_file= ;; *) method_file=$methods/$method ;; esac
[ -n "$method_file" ] && [ -f "$method_file" ] ||
	{ say "unknown method '$method' ($(ls "$methods" | paste -sd' ' | sed 's/ /, /g'))"; exit 1; }
# a method's own stage between mae-patchify and mae-mask (a teacher, a target), if it has one,
# and the options of mae-optimize it needs (a teacher's moving average)
before_mask() { cat; }
server_opts=
# a method's own model settings, key=value,..., from the configuration (field NAME) or the
# data (the class count: classes_of "$src")
model_settings() { :; }
frames= default_decode="--shuffle --flip 0.5"
. "$method_file"   # mode, about, default_mask; before_mask, model_settings, server_opts, frames, default_decode
frames=${frames_opt:-$frames}
[ -n "$decode" ] || decode=$default_decode
[ -z "$frames" ] || decode="--clip $frames $decode"
src="mae-decode -q -s $seed -e $epochs -b $batch --last drop $decode $data"
case $model in *mode=*) ;; *) model="$model,mode=$mode" ;; esac
config=$(mae-optimize --show-config -m "$model") || exit 1
field() { echo "$config" | tr ',' '\n' | sed -n "s/^$1=//p"; }
settings=$(model_settings) || exit 1
[ -z "$frames" ] || settings="frames=$frames${settings:+,$settings}"
if [ -n "$settings" ]; then   # after the preset, so that the --model overrides win
	model="${model%%,*},$settings${model#"${model%%,*}"}"
	config=$(mae-optimize --show-config -m "$model") || exit 1
fi
[ -n "$patch" ] || patch=$(field patch)
dmask=$(default_mask)
[ -n "$mask" ] || mask=$dmask
mkdir -p "$out"
printf 'method\t%s\nmodel\t%s\nmask\t%s\ndata\t%s\ndecode\t%s\nepochs\t%s\nbatch\t%s\nblr\t%s\nwarmup\t%s\nseed\t%s\npatch\t%s\n' \
	"$method" "$model" "$mask" "$data" "$decode" "$epochs" "$batch" "$blr" "$warmup" "$seed" "$patch" > "$out/recipe.tsv"

steps=$(count_of "$src")
[ -n "$steps" ] && [ "$steps" -gt 0 ] || die "cannot learn the number of batches of: $src"
per_epoch=$((steps / epochs))
images=$((per_epoch * batch))

# one attempt: the server and the pipeline, from the state saved in $out when $resume is 1
attempt() {
	start=0
	if [ $resume = 1 ]; then
		start=$(mae-optimize --step-of "$out") || return 1
		say "resuming $out at step $start of $steps"
		mae-optimize -q --ps "@ipc://$RUNDIR/ps" --timeout "$stall" --resume "$out" &
	else
		say "$method ($model), mask: $mask; $epochs epochs of $per_epoch batches of $batch from $data"
		# shellcheck disable=SC2086
		mae-optimize --ps "@ipc://$RUNDIR/ps" --timeout "$stall" -s "$seed" -m "$model" --steps "$steps" $server_opts \
			--warmup "$(awk -v w="$warmup" -v n="$per_epoch" 'BEGIN {printf "%d", w * n}')" --blr "$blr" --batch "$batch" --images-per-epoch "$images" \
			-d "$out" --save-every "$save_every" &
	fi
	ps=$!
	# A stage that hangs (stopped, deadlocked) would keep the pipeline from ending after the
	# server has stopped the run for it: 5 s after the server is gone, what is left of the
	# pipeline is killed.
	( while kill -0 $ps 2>/dev/null; do sleep 0.5; done; sleep 5; pkill -KILL -P $$ '^mae-' ) &
	watchdog=$!
	tapcmd=cat
	[ -n "$tap" ] && tapcmd="mae-tap -q $tap"
	# shellcheck disable=SC2086
	if ! $src --start-batch "$start" | mae-patchify -q -p "$patch" | before_mask | mae-mask -q -s "$seed" $mask | $tapcmd |
		mae-encode -q --ps "ipc://$RUNDIR/ps" | mae-reconstruct -q --ps "ipc://$RUNDIR/ps" |
		mae-loss -q --loss-only > "$out/loss.mae"; then
		# every stage is gone: the server sees them leave, saves the state of its last whole
		# step and exits (2 s after the last one left); stop it only if it does not
		n=0
		while kill -0 $ps 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
		kill -KILL $ps 2>/dev/null   # (hung or stopped: it would not act on TERM)
		wait $ps 2>/dev/null
		kill $watchdog 2>/dev/null
		say "the training pipeline failed"
		return 1
	fi
	kill $watchdog 2>/dev/null
	wait $ps || { say "mae-optimize failed"; return 1; }
}

# the stages' private gradient sockets go in the run directory, removed with it: even those
# of a stage killed outright
TMPDIR=$RUNDIR
export TMPDIR
restarts=0
until attempt; do
	[ $restarts -lt $max_restarts ] || die "stopped after $restarts restarts (--max-restarts $max_restarts)"
	restarts=$((restarts + 1))
	if [ -s "$out/optim.safetensors" ]; then resume=1; else resume=0; fi
	say "restart $restarts of $max_restarts: $([ $resume = 1 ] && echo "from the state saved at step $(mae-optimize --step-of "$out")" || echo "from the beginning (no state saved)")"
	rm -f "$RUNDIR/ps"
done
say "done: $out/checkpoint.safetensors ($(tail -1 "$out/metrics.tsv" | cut -f1) steps, last loss $(tail -1 "$out/metrics.tsv" | cut -f3))"

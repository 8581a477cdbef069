# pipelines/lib.sh: shared by the pipeline scripts. Finds the programs (the build tree first,
# so nothing needs installing), makes a private run directory for sockets, and cleans up.
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAE_BUILD:=$here/build}"
PATH="$MAE_BUILD/bin:$PATH"
export PATH
for p in mae-decode mae-patchify mae-mask mae-encode mae-reconstruct mae-loss mae-optimize mae-knn mae-view mae-plot mae-inspect; do
	command -v "$p" > /dev/null || { echo "$(basename "$0"): $p not found: run make first" >&2; exit 1; }
done
RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/mae-run.XXXXXX")
cleanup() { rm -rf "$RUNDIR"; }
trap 'cleanup' EXIT
# on INT or TERM: clean up and pass the signal to the whole group, ignoring it here meanwhile
# (kill 0 reaches this shell too, whose trap would run again, and again)
trap 'trap "" INT TERM; cleanup; kill 0 2>/dev/null; exit 130' INT TERM
say() { echo "$(basename "$0"): $*" >&2; }
die() { say "$*"; exit 2; }
# the number of batch records a producer command will write (from its header)
count_of() { sh -c "$1" 2>/dev/null | mae-inspect -H 2>/dev/null | sed -n 's/.* count=\([0-9][0-9]*\).*/\1/p'; }
# whole OPTION VALUE WHAT [0]: the script's options that take a count; VALUE must be a whole
# number, above 0 unless the fourth argument is 0, else "OPTION: WHAT, not 'VALUE'" and status 1
whole() {
	case $2 in ''|*[!0-9]*) say "$1: $3, not '$2'"; exit 1 ;; esac
	[ "${4:-1}" = 0 ] || [ "$2" != 0 ] || { say "$1: $3, not '$2'"; exit 1; }
}
# checkpoint_patch CKPT: the patch size in a checkpoint's metadata; a missing -w (status 1), a
# missing file or one without it (status 2) end the script
checkpoint_patch() {
	[ -n "$1" ] || { say "-w CHECKPOINT is required"; exit 1; }
	[ -f "$1" ] || die "$1: no such checkpoint"
	_p=$(checkpoint_field "$1" patch)
	[ -n "$_p" ] || die "$1: cannot read the patch size from its metadata"
	echo "$_p"
}
# checkpoint_field CKPT NAME: a number of the checkpoint's configuration (its safetensors
# metadata, e.g. target_dim), empty where the checkpoint does not have it
checkpoint_field() {
	head -c 65536 "$1" | tr ',' '\n' | sed -n "s/^\"$2\":\"\([0-9]*\)\"\$/\\1/p" | head -1
}
# the number of classes a producer command's header names (mae-decode's meta `classes`), 0 if none
classes_of() {
	sh -c "$1" 2>/dev/null | mae-inspect -H 2>/dev/null | sed -n 's/.*[{,]classes:\[\("[^]]*"\)\].*/\1/p' |
		awk -F'","' '{ n = NF } END { print n + 0 }'
}
# knn_acc OUT LINE: the top-1 of the line "LINE top1=..%" in OUT/knn.txt (eval-knn.sh's)
knn_acc() { sed -n "s/^$2 top1=\\([0-9.]*\\)%.*/\\1/p" "$1/knn.txt"; }
# run_lines OUT T0 T1 T2: the steps, loss, pretraining and evaluation lines of a summary, from
# OUT/metrics.tsv and the times before pretraining, after it and after the evaluation
run_lines() {
	echo "steps            $(tail -1 "$1/metrics.tsv" | cut -f1)"
	echo "loss             $(sed -n 2p "$1/metrics.tsv" | cut -f3) -> $(tail -1 "$1/metrics.tsv" | cut -f3) (first -> last step)"
	echo "pretraining      $(($3 - $2)) s"
	echo "evaluation       $(($4 - $3)) s"
}

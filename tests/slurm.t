#!/bin/sh
# pipelines/launch.sh's Slurm transport on a real Slurm cluster of one node, which the test
# starts itself: munged with a key of its own, slurmctld and slurmd on free ports, every
# file under $T. The model cut between two hosts of that node (shape 2 of hosts.t, each
# process an srun step placed by node name) gives the weights of mae-train bit for bit:
# (a) the script of launch.sh --sbatch, submitted by sbatch --wait; (a') that script
# submitted with --export=NONE, so that the job starts without the test's environment;
# (b) the launcher run under salloc. A failing stage fails the job (status 2), a node
# outside the allocation is refused before anything starts; no process of a run outlives
# it, and no daemon outlives the test.
. "$(dirname "$0")/lib.sh"
LAUNCH="$TDIR/../pipelines/launch.sh"
PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" -eq 0 ] || skip_all "not root (the test runs its own slurmctld, slurmd and munged as root)"
for p in munged slurmctld slurmd sbatch salloc srun sinfo squeue scancel scontrol; do
	command -v $p > /dev/null || skip_all "no $p (Debian packages slurm-wlm, munge)"
done
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
M=micro-28
TRAIN="-s 5 -m $M --steps 12 --warmup 2 --lr 1e-3"
S=$T/slurm                      # the cluster's files: configuration, keys, state, logs
CONF=$S/slurm.conf
NODE=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
NCPU=$(nproc)
# Slurm's commands find our cluster by SLURM_CONF, given to each (env SLURM_CONF=...), not
# exported by this shell: a process whose environment names $CONF is ours (see leftover)

# ---- the daemons, and their end on every exit path ----------------------------------------
MUNGED="" CTLD="" SLURMD=""     # the daemons, children of this shell
alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }
# leftover: processes of ours other than the daemons and their children: the command line
# names $T, or the environment our cluster (jobs, steps, slurmstepd), or the working
# directory is under $T
leftover() {
	$PY - "$T" "$CONF" $$ $MUNGED $CTLD $SLURMD <<-'PY'
	import os, sys
	t, conf = sys.argv[1] + '/', ('SLURM_CONF=' + sys.argv[2]).encode()
	daemons = set(sys.argv[4:])
	skip = daemons | {sys.argv[3], str(os.getpid()), str(os.getppid())}
	found = []
	for p in os.listdir('/proc'):
	    if not p.isdigit() or p in skip:
	        continue
	    try:
	        if open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[1] in daemons:
	            continue   # a daemon's own helper (slurmctld's slurmscriptd)
	        cmd = open('/proc/%s/cmdline' % p, 'rb').read()
	        env = open('/proc/%s/environ' % p, 'rb').read().split(b'\0')
	        cwd = os.readlink('/proc/%s/cwd' % p) + '/'
	    except OSError:
	        continue
	    if t.encode() in cmd or conf in env or cwd.startswith(t):
	        found.append(p)
	print(' '.join(sorted(found, key=int)))
	PY
}
# settled: leftover, once given up to 5 s to be empty (a step's slurmstepd ends a little
# after the job)
settled() {
	_s_i=0
	while _s_l=$(leftover) && [ -n "$_s_l" ] && [ $_s_i -lt 25 ]; do sleep 0.2; _s_i=$((_s_i + 1)); done
	echo "$_s_l"
}
stop_pids() {   # stop_pids PID...: TERM, up to 5 s to go, then KILL; reap our children
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	_p_i=0
	while :; do
		_p_left=""
		for _p in "$@"; do alive "$_p" && _p_left="$_p_left $_p"; done
		[ -z "$_p_left" ] || [ $_p_i -ge 50 ] && break
		sleep 0.1
		_p_i=$((_p_i + 1))
	done
	[ -z "$_p_left" ] || kill -KILL $_p_left 2>/dev/null
	for _p in "$@"; do wait "$_p" 2>/dev/null; done
	return 0
}
# slurm_down: cancel our jobs (their steps would outlive slurmd), stop slurmd and slurmctld,
# any process of a job still there, then munged. Safe to call twice; the EXIT trap calls it.
slurm_down() {
	if alive "$CTLD"; then
		timeout 5 env SLURM_CONF="$CONF" scancel --quiet --user=root 2>/dev/null
		_d_i=0
		while [ -n "$(timeout 5 env SLURM_CONF="$CONF" squeue -h 2>/dev/null)" ] && [ $_d_i -lt 25 ]; do
			sleep 0.2
			_d_i=$((_d_i + 1))
		done
	fi
	stop_pids $SLURMD $CTLD
	SLURMD="" CTLD=""
	stop_pids $(leftover)
	stop_pids $MUNGED
	MUNGED=""
}
# the daemons use files under $T: stop them before lib.sh removes it, on every way out
at_exit slurm_down

# why DAEMON: the line of the daemon's own log that says what went wrong (its fatal error,
# else its first error other than the usual noise, else its last line), for a skip message
why() {
	_w=$(grep -m1 -E 'fatal|Error' "$S/$1.log" 2>/dev/null)
	[ -n "$_w" ] || _w=$(grep 'error' "$S/$1.log" 2>/dev/null | grep -v -E -m1 'pmix|PMIx|MPI|state file|state save|[Tt]rying backup|MailProg')
	[ -n "$_w" ] || _w=$(tail -1 "$S/$1.log" 2>/dev/null)
	echo "${_w:-no log}"
}

# ports: two for the daemons, then three for each run's links; all free now, and below the
# ephemeral range, where the system would hand them to outgoing connections
PORTS=$($PY -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    b = random.randrange(10000, max(low - 20, 10001))
    try:
        ss = []
        for p in range(b, b + 20):
            s = socket.socket(); s.bind(("0.0.0.0", p)); ss.append(s)
        print(b); break
    except OSError:
        pass
')
[ -n "$PORTS" ] || skip_all "no 20 consecutive free TCP ports"
mkdir -p "$S/munge" "$S/state" "$S/spool" "$T/run"
chmod 700 "$S/munge"
dd if=/dev/urandom bs=1 count=1024 of="$S/munge/munge.key" 2> /dev/null
chmod 400 "$S/munge/munge.key"
# -F: it stays our child; -f: $T is not open to all, which munged otherwise refuses
(cd "$S" && exec munged -F -f --key-file="$S/munge/munge.key" --socket="$S/munge/socket" \
	--pid-file="$S/munge/munged.pid" --log-file="$S/munged.log" --seed-file="$S/munge/seed") 2> "$S/munged.log" &
MUNGED=$!
n=0
until [ -S "$S/munge/socket" ]; do
	alive $MUNGED || skip_all "munged does not start: $(why munged)"
	n=$((n + 1)); [ $n -lt 50 ] || skip_all "munged has no socket after 5 s: $(why munged)"
	sleep 0.1
done
cat > "$CONF" <<EOF
ClusterName=maetest$$
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORTS
SlurmdPort=$((PORTS + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/socket
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
PlugStackConfig=$S/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
KillWait=2
# MinJobAge 4 (s): sbatch --wait then polls every 2 s; at the default (300) it waits 2, 8,
# then 32 s, lest a job's record go before it looks
MinJobAge=4
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=100 State=UNKNOWN
PartitionName=maetest Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
: > "$S/plugstack.conf"
# -D: in the foreground, our children; their working directory is $S
(cd "$S" && exec env SLURM_CONF="$CONF" slurmctld -D) > "$S/slurmctld.out" 2>&1 &
CTLD=$!
(cd "$S" && exec env SLURM_CONF="$CONF" slurmd -D -N "$NODE") > "$S/slurmd.out" 2>&1 &
SLURMD=$!
n=0
until [ "$(timeout 5 env SLURM_CONF="$CONF" sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; do
	alive $CTLD || skip_all "slurmctld does not start: $(why slurmctld)"
	alive $SLURMD || skip_all "slurmd does not start: $(why slurmd)"
	alive $MUNGED || skip_all "munged stopped: $(why munged)"
	n=$((n + 1))
	[ $n -lt 75 ] || skip_all "node $NODE is not idle after 15 s ($(timeout 5 env SLURM_CONF="$CONF" sinfo -h -n "$NODE" -o '%T %E' 2>&1)): slurmd: $(why slurmd); slurmctld: $(why slurmctld)"
	sleep 0.2
done
ok 0 "a Slurm cluster of one node ($NODE, $NCPU CPUs): munged, slurmctld and slurmd started, the node is idle"

# ---- the reference, and the runs ---------------------------------------------------------
spread_reference "$T/one" $TRAIN
ok $? "the reference: mae-train, one process"

# shape2 NAME PORT [PREFIX]: the model cut between hosts h1 and h2, both on our node
# (PREFIX before each program: its directory, for a job that has not got our PATH); no env
# line, so threads and BLAS kernels reach every process only through the launcher
shape2() {
	cat > "$T/$1.place" <<-EOF
	transport slurm
	host h1 127.0.0.1 $NODE
	host h2 127.0.0.1 $NODE
	port $2
	dir $T/run
	stage decode h1 ${3:-}mae-decode -q -n 384 -b 32 -s 3 fashion-mnist:train
	stage patchify h1 ${3:-}mae-patchify -p 7
	stage mask h1 ${3:-}mae-mask -s 3 random
	stage encode h1 ${3:-}mae-encode -q
	stage reconstruct h2 ${3:-}mae-reconstruct -q
	stage loss h2 ${3:-}mae-loss --loss-only -o $T/run/$1.loss
	server h2 ${3:-}mae-optimize --timeout 60 $TRAIN -d $T/run/$1
	EOF
}
# same NAME WHAT: the run's weights, losses and stderr against the reference
same() {
	cmp -s "$T/run/$1/checkpoint.safetensors" "$T/one/checkpoint.safetensors"
	ok $? "$2: the weights of mae-train, bit for bit"
	is "$(cut -f3 "$T/run/$1/metrics.tsv" 2> /dev/null)" "$(cut -f3 "$T/one/metrics.tsv")" "$2: the same loss at every step"
	like "$(cat "$T/$1.err")" "\[h2 server\] mae-optimize: $M .*12 steps" "$2: the server's lines carry [h2 server]"
	like "$(cat "$T/$1.err")" "\[h2 reconstruct\.\.loss\.0\] mae-loss: 12 batches" "$2: the loss's lines carry [h2 reconstruct..loss.0]"
	is "$(grep -v '^\[' "$T/$1.err")" "" "$2: every line of the job's stderr is labelled with its host and stage"
}
nothing_left() {   # nothing_left WHAT
	left=$(settled)
	is "$left" "" "$1: no process of the run is left"
	[ -z "$left" ] || ps -o pid,ppid,etime,args -p "$(echo $left | tr ' ' ,)" | sed 's/^/#   /'
	is "$(env SLURM_CONF="$CONF" squeue -h 2>&1)" "" "$1: no job is left in the queue"
}

# (a) the job script of launch.sh --sbatch, submitted by sbatch --wait
shape2 a $((PORTS + 2))
"$LAUNCH" --sbatch "$T/a.place" > "$T/a.sbatch"
ok $? "launch.sh --sbatch writes a job script"
bash -n "$T/a.sbatch" && [ "$(head -1 "$T/a.sbatch")" = "#!/bin/bash" ]
ok $? "the job script is a bash script"
is "$(grep '^#SBATCH' "$T/a.sbatch")" "#SBATCH --job-name=maepipe
#SBATCH --nodelist=$NODE
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive" "the job script asks for our node, whole"
is "$(grep -x -e 'export MAE_THREADS=1' -e 'export OPENBLAS_NUM_THREADS=1' "$T/a.sbatch" | sort)" "export MAE_THREADS=1
export OPENBLAS_NUM_THREADS=1" "the job script sets the launcher's MAE_* and OPENBLAS_* variables"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
	grep -qxF "export OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" "$T/a.sbatch"
	ok $? "the job script sets OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE, which changes the last bits"
fi
is "$(tail -2 "$T/a.sbatch")" "cd $T/run || exit 2
exec $(cd "$TDIR/../pipelines" && pwd)/launch.sh $T/a.place" "the job script runs the launcher on the placement, in the run's directory"
id=$(timeout 90 env SLURM_CONF="$CONF" sbatch --parsable --wait -o "$T/a.out" -e "$T/a.err" "$T/a.sbatch")
ok $? "(a) sbatch --wait: the job of launch.sh --sbatch succeeds"
id=${id%%;*}
same a "(a) sbatch"
like "$(grep "Allocate JobId=$id " "$S/slurmctld.log")" "NodeList=$NODE #CPUs=$NCPU " "(a) the job holds every CPU of the node ($NCPU)"
is "$(grep -c "launch task StepId=$id\.[0-9]" "$S/slurmd.log")" 3 "(a) its 3 processes (h1's pipeline, h2's, the server) are 3 srun steps"
nothing_left "(a) sbatch"

# (a') the same script submitted with --export=NONE: the job starts without our PATH,
# OPENBLAS_* or MAE_*; srun in it inherits SLURM_EXPORT_ENV=NONE
shape2 n $((PORTS + 5)) "$MAE_BUILD/bin/"
"$LAUNCH" --sbatch "$T/n.place" > "$T/n.sbatch"
timeout 90 env SLURM_CONF="$CONF" sbatch --export=NONE --parsable --wait -o "$T/n.out" -e "$T/n.err" "$T/n.sbatch" > /dev/null
ok $? "(a') sbatch --export=NONE --wait: the job succeeds"
same n "(a') sbatch --export=NONE"
nothing_left "(a') sbatch --export=NONE"

# (b) the launcher itself under salloc
shape2 b $((PORTS + 8))
timeout 90 env SLURM_CONF="$CONF" salloc -Q --exclusive -N1 -w "$NODE" "$LAUNCH" "$T/b.place" > "$T/b.out" 2> "$T/b.err"
ok $? "(b) salloc: launch.sh runs in the allocation"
same b "(b) salloc"
nothing_left "(b) salloc"

# outside an allocation, or on a node outside it: refused before anything starts
msg=$(env -u SLURM_JOB_ID -u SLURM_JOBID "$LAUNCH" "$T/b.place" 2>&1)
is "$?:$msg" "2:launch.sh: transport slurm runs inside an allocation: sbatch the script of 'launch.sh --sbatch $T/b.place', or run under salloc" \
	"outside an allocation the launcher says how to get one"
printf 'transport slurm\nhost h1 127.0.0.1 %s\nhost h3 127.0.0.1 no-such-node\nstage x h1 mae-inspect -q\nstage y h3 mae-inspect -q\n' "$NODE" > "$T/away.place"
msg=$(timeout 60 env SLURM_CONF="$CONF" salloc -Q -N1 -w "$NODE" "$LAUNCH" "$T/away.place" 2>&1)
st=$?
like "$st:$msg" "^2:launch.sh: host h3: node no-such-node is not in the allocation of job [0-9]+ \($NODE\)\$" \
	"a host on a node outside the allocation: status 2, naming host and node"

# a stage that fails: the launcher stops the run with status 2, and so the job fails
cat > "$T/f.place" <<EOF
transport slurm
host h1 127.0.0.1 $NODE
host h2 127.0.0.1 $NODE
port $((PORTS + 11))
dir $T/run
stage decode h1 mae-decode -q -n 384 -b 32 -s 3 -e 1000 fashion-mnist:train
stage patchify h1 mae-patchify -p 7
stage mask h2 mae-mask -s 3 no-such-masker
stage inspect h1 mae-inspect -q -o $T/run/f.out
EOF
"$LAUNCH" --sbatch "$T/f.place" > "$T/f.sbatch"
id=$(timeout 90 env SLURM_CONF="$CONF" sbatch --parsable --wait -o "$T/f.out" -e "$T/f.err" "$T/f.sbatch")
is "$?" 2 "a stage that fails: sbatch --wait gives the job's status, 2"
id=${id%%;*}
like "$(grep "_job_complete: JobId=$id " "$S/slurmctld.log")" "WEXITSTATUS 2" "slurmctld has the job ending with status 2"
like "$(cat "$T/f.err")" "launch.sh: h2 mask.0 failed" "the job's stderr names the failed stage and host"
like "$(cat "$T/f.err")" "\[h2 mask.0\] launch: mask.0 exited 1" "the step reports the program's own status, labelled"
nothing_left "a failed job"

# the end: no daemon, no step, no process of ours left
slurm_down
is "$(leftover)" "" "after the test no daemon (munged, slurmctld, slurmd, slurmstepd) nor any process of a job is left"
finish

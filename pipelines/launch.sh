#!/bin/bash
# launch.sh: run a pipeline spread over hosts, as a placement file describes it.
#
# usage: pipelines/launch.sh [-n] [--sbatch] [--max-restarts N] PLACEMENT
#   -n        print what would run where (one line per process) and exit
#   --sbatch  print a Slurm job script that runs this placement on whole nodes, and exit
#   --max-restarts N  when a process fails, start the run again from the state its server
#             saved (the server with --resume, every mae-decode with --start-batch), N times
#
# A placement is a text file of lines (# starts a comment):
#   transport local|ssh|slurm   how processes reach their host (default local)
#   host NAME ADDR [NODE]       a host: its address on the network that links the stages,
#                               and (slurm) its node name (default NAME)
#   port N                      first TCP port handed out (default 5600)
#   env NAME=VALUE              set in every process (for example MAE_THREADS=1)
#   dir PATH                    working directory on every host (default: this one)
#   curve DIR                   CURVE on every TCP link, with the keys of mae-keygen DIR
#                               (the same path on every host; MAE_CURVE=DIR in every process)
#   stage NAME HOSTS COMMAND    a pipeline stage: one copy per host of HOSTS (h1,h2,...)
#   server HOST COMMAND         the parameter server (mae-optimize), if the run trains
# in COMMAND, {copy} is the copy's number (0, 1, ...), {copies} their count, {host} and
# {addr} the host's name and address.
#
# Stages are a chain, in file order. Consecutive stages with the same HOSTS run on each of
# those hosts as one shell pipeline; a link between two such groups is a TCP socket that the
# launcher adds: from one copy to one copy (equal counts), into a merge (N copies to one:
# --merge N; add --ordered to the consumer's command to keep batch order), or out of a
# fan-out (one to N: --fanout N). Trainable stages (mae-encode, mae-reconstruct without -w)
# get --ps, --replica {copy} when their group has copies, and a TCP gradient endpoint on
# their host when the next trainable stage is in another group; the server gets --ps and
# --replicas. The launcher's MAE_*, OPENBLAS_* and OMP_* variables are set in every process
# (env lines override them; a --sbatch script sets those of the launcher that wrote it).
# Everything stops when any process fails (status 2, naming it) or on Ctrl-C.
# See mae(7), "SPREADING A RUN OVER HOSTS".
set -u
me=launch.sh
say() { echo "$me: $*" >&2; }
die() { say "$*"; exit 2; }
usage() { sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }
# the names of the variables every process gets from the launcher's environment: they
# choose threads and BLAS kernels, and so the last bits (MAE_SSH is the launcher's own)
forwarded() { compgen -e | grep -E '^(MAE_|OPENBLAS_|OMP_)' | grep -vx MAE_SSH; }

dry=0 sbatch=0 max_restarts=0
while [ $# -gt 0 ]; do
	case $1 in
	-n) dry=1 ;;
	--max-restarts)
		[[ ${2:-} =~ ^[0-9]+$ ]] || { say "--max-restarts: a number, not '${2:-}'"; usage; }
		max_restarts=$2; shift ;;
	--sbatch) sbatch=1 ;;
	-h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) say "unknown option '$1'"; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || usage
placement=$1
[ -r "$placement" ] || die "$placement: cannot read the placement"

# ---- the placement -----------------------------------------------------------------------
transport=local port=5600 workdir=$PWD curve=""
declare -A haddr hnode
hosts=() envs=() names=() shosts=() cmds=() server_host="" server_cmd=""
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%%#*}
	read -r kw rest <<< "$line"
	[ -n "${kw:-}" ] || continue
	where="$placement:$lineno"
	case $kw in
	transport)
		case $rest in local|ssh|slurm) transport=$rest ;; *) die "$where: transport '$rest' is not local, ssh or slurm" ;; esac ;;
	host)
		read -r h a n extra <<< "$rest"
		[ -n "${a:-}" ] && [ -z "${extra:-}" ] || die "$where: expected 'host NAME ADDR [NODE]'"
		[ -z "${haddr[$h]:-}" ] || die "$where: host $h named twice"
		haddr[$h]=$a hnode[$h]=${n:-$h}
		hosts+=("$h") ;;
	port)
		[[ $rest =~ ^[0-9]+$ ]] && [ "$rest" -ge 1 ] && [ "$rest" -le 65000 ] || die "$where: port '$rest' is not a number from 1 to 65000"
		port=$rest ;;
	env)
		[[ $rest =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "$where: expected 'env NAME=VALUE'"
		envs+=("$rest") ;;
	dir) workdir=$rest ;;
	curve)
		[ -n "$rest" ] || die "$where: expected 'curve DIR' (a directory of keys made by mae-keygen)"
		curve=$rest ;;
	stage)
		read -r n hl c <<< "$rest"
		[ -n "${c:-}" ] || die "$where: expected 'stage NAME HOSTS COMMAND'"
		names+=("$n") shosts+=("$hl") cmds+=("$c") ;;
	server)
		read -r h c <<< "$rest"
		[ -n "${c:-}" ] || die "$where: expected 'server HOST COMMAND'"
		[ -z "$server_host" ] || die "$where: a second server"
		server_host=$h server_cmd=$c ;;
	*) die "$where: unknown keyword '$kw' (transport, host, port, env, dir, curve, stage or server)" ;;
	esac
done < "$placement"
[ ${#names[@]} -gt 0 ] || die "$placement: no stage"
for i in "${!names[@]}"; do
	IFS=, read -r -a hl <<< "${shosts[$i]}"
	for h in "${hl[@]}"; do [ -n "${haddr[$h]:-}" ] || die "$placement: stage ${names[$i]}: unknown host '$h'"; done
done
[ -z "$server_host" ] || [ -n "${haddr[$server_host]:-}" ] || die "$placement: server: unknown host '$server_host'"
# CURVE: every process gets the keys' directory (relative to dir, as every path of a command);
# where this host can see it, a directory without the run's keys is refused before anything runs
if [ -n "$curve" ]; then
	case $curve in /*) cdir=$curve ;; *) cdir=$workdir/$curve ;; esac
	if [ "$transport" = local ] || [ -d "$cdir" ]; then
		for f in server.pub server.key client.key clients.pub; do
			[ -r "$cdir/$f" ] || die "$placement: curve $curve: no $f there (make the keys with mae-keygen $curve)"
		done
	fi
	envs+=("MAE_CURVE=$cdir")
fi

if [ $sbatch = 1 ]; then   # a job script: the same launcher, inside the allocation
	[ "$transport" = slurm ] || die "--sbatch: the placement's transport is $transport, not slurm"
	nodes=$(for h in "${hosts[@]}"; do echo "${hnode[$h]}"; done | sort -u | paste -sd,)
	here=$(cd "$(dirname "$0")" && pwd)
	# Whole nodes (--exclusive): one task per node holds one CPU, and where Slurm binds
	# tasks (task/affinity, task/cgroup) every process of the node would share that one.
	# The script sets this launcher's MAE_*, OPENBLAS_* and OMP_* variables: they choose the
	# kernels and so the last bits, and sbatch may start the job without the submitting
	# shell's environment (--export=NONE, or SBATCH_EXPORT=NONE at a site).
	cat <<-EOF
	#!/bin/bash
	#SBATCH --job-name=maepipe
	#SBATCH --nodelist=$nodes
	#SBATCH --nodes=$(echo "$nodes" | tr , '\n' | wc -l)
	#SBATCH --ntasks-per-node=1
	#SBATCH --exclusive
	# written by launch.sh --sbatch $(printf %q "$placement")
	EOF
	for v in $(forwarded); do echo "export $v=$(printf %q "${!v}")"; done
	cat <<-EOF
	cd $(printf %q "$workdir") || exit 2
	exec $(printf %q "$here/launch.sh") $([ $max_restarts = 0 ] || echo "--max-restarts $max_restarts ")$(printf %q "$(cd "$(dirname "$placement")" && pwd)/$(basename "$placement")")
	EOF
	exit 0
fi

# ---- groups and links --------------------------------------------------------------------
# group g: stages gfirst[g]..glast[g] on the hosts ghosts[g]
gfirst=() glast=() ghosts=()
for i in "${!names[@]}"; do
	g=$((${#gfirst[@]} - 1))
	if [ $g -ge 0 ] && [ "${shosts[$i]}" = "${ghosts[$g]}" ]; then glast[$g]=$i
	else gfirst+=("$i") glast+=("$i") ghosts+=("${shosts[$i]}"); fi
done
ngroups=${#gfirst[@]}
copies_of() { local a; IFS=, read -r -a a <<< "${ghosts[$1]}"; echo ${#a[@]}; }
host_of() { local a; IFS=, read -r -a a <<< "${ghosts[$1]}"; echo "${a[$2]}"; }
group_of() { local g; for ((g = 0; g < ngroups; g++)); do [ "$1" -le "${glast[$g]}" ] && { echo $g; return; }; done; }
next_port() { p=$port; port=$((port + 1)); }   # sets p (not in a subshell: the count must advance)
is_trainable() {   # a model stage that learns: mae-encode or mae-reconstruct without -w
	local w=($1)
	case ${w[0]##*/} in mae-encode|mae-reconstruct) ;; *) return 1 ;; esac
	! [[ " $1 " =~ \ -w\  ]]
}

ps_port="" ps_addr="" replicas=1
if [ -n "$server_host" ]; then next_port; ps_port=$p ps_addr=${haddr[$server_host]}; fi
# per stage: extra options for copy k are computed below into xin[g,k], xout[g,k], xst[i,k]
declare -A xin xout xst
for ((g = 0; g + 1 < ngroups; g++)); do
	n=$(copies_of $g) m=$(copies_of $((g + 1)))
	first=${gfirst[$((g + 1))]} last=${glast[$g]}
	if [ "$n" = "$m" ]; then
		for ((k = 0; k < n; k++)); do
			next_port; a=${haddr[$(host_of $((g + 1)) $k)]}
			xin[$((g + 1)),$k]="-i @tcp://$a:$p" xout[$g,$k]="-o '>tcp://$a:$p'"
		done
	elif [ "$m" = 1 ]; then
		next_port; a=${haddr[$(host_of $((g + 1)) 0)]}
		xin[$((g + 1)),0]="-i @tcp://$a:$p --merge $n"
		for ((k = 0; k < n; k++)); do xout[$g,$k]="-o '>tcp://$a:$p'"; done
	elif [ "$n" = 1 ]; then
		next_port; a=${haddr[$(host_of $g 0)]}
		xout[$g,0]="-o @tcp://$a:$p --fanout $m"
		for ((k = 0; k < m; k++)); do xin[$((g + 1)),$k]="-i '>tcp://$a:$p'"; done
	else
		die "$placement: stage ${names[$last]} runs $n copies and ${names[$first]} $m: link one to one, N to 1 or 1 to N"
	fi
done
trainable=()
for i in "${!names[@]}"; do is_trainable "${cmds[$i]}" && trainable+=("$i"); done
[ ${#trainable[@]} -eq 0 ] || [ -n "$server_host" ] || die "$placement: stage ${names[${trainable[0]}]} trains but there is no server line"
for t in "${!trainable[@]}"; do
	i=${trainable[$t]} g=$(group_of ${trainable[$t]}) n=$(copies_of $(group_of ${trainable[$t]}))
	[ "$n" -le "$replicas" ] || replicas=$n
	nx=${trainable[$((t + 1))]:-}
	for ((k = 0; k < n; k++)); do
		x="--ps tcp://$ps_addr:$ps_port"
		[ "$n" = 1 ] || x="$x --replica $k"
		if [ -n "$nx" ] && [ "$(group_of $nx)" != "$g" ]; then
			next_port; x="$x --grad @tcp://${haddr[$(host_of $g $k)]}:$p"
		fi
		xst[$i,$k]=$x
	done
done

subst() {   # subst COMMAND COPY COPIES HOST
	local c=$1
	c=${c//\{copy\}/$2}; c=${c//\{copies\}/$3}; c=${c//\{host\}/$4}; c=${c//\{addr\}/${haddr[$4]}}
	echo "$c"
}
# a stage's command with the options the launcher adds right after the program name
with_opts() { local w=($1); [ -n "$2" ] || { echo "$1"; return; }; echo "${w[0]} $2${1:${#w[0]}}"; }

# ---- the processes -----------------------------------------------------------------------
# Each process is bash running one shell pipeline in its own session. It watches its
# standard input, which the launcher holds open, and kills the pipeline's session when that
# ends (the launcher stopped, died or lost the connection): nothing outlives a run.
# The launcher's variables go to every process, as srun passes its environment on (a remote
# shell would otherwise start without them).
fwd=()
for v in $(forwarded); do fwd+=("$v=${!v}"); done
add_process() {   # add_process LABEL HOST PIPELINE NAMES...
	local label=$1 h=$2 pipe=$3 body; shift 3
	local report='s=("${PIPESTATUS[@]}") n=('"$*"') r=0; for i in "${!s[@]}"; do [ "${s[$i]}" = 0 ] || { echo "launch: ${n[$i]} exited ${s[$i]}" >&2; r=2; }; done; exit $r'
	body="cd $(printf %q "$workdir") || exit 2;"
	for e in "${fwd[@]}" "${envs[@]}"; do body="$body export $(printf %q "$e");"; done
	body="$body exec 3<&0; setsid bash -c $(printf %q "$pipe; $report") < /dev/null & p=\$!;"
	body="$body { read -r _ <&3; kill -TERM -- -\$p 2>/dev/null; sleep 2; kill -KILL -- -\$p 2>/dev/null; } & w=\$!;"
	body="$body wait \$p; r=\$?; kill \$w 2>/dev/null; exit \$r"
	labels+=("$label") phost+=("$h") pscript+=("$body") ppipe+=("$pipe")
}
# processes FROM: the processes of the run, starting at step FROM (0: a fresh run)
processes() {
	labels=() phost=() pscript=() ppipe=()
	if [ -n "$server_host" ]; then
		c=$(subst "$server_cmd" 0 1 "$server_host")
		# a restart: the server resumes from its directory (--resume takes the place of -m)
		[ "$1" = 0 ] || c="$(sed -E 's/ -m +[^ ]+//' <<< "$c") --resume $server_dir"
		x="--ps @tcp://$ps_addr:$ps_port"
		[ "$replicas" = 1 ] || [[ " $c " =~ \ --replicas\  ]] || x="$x --replicas $replicas"
		add_process "$server_host server" "$server_host" "$(with_opts "$c" "$x")" server
	fi
	for ((g = 0; g < ngroups; g++)); do
		n=$(copies_of $g)
		for ((k = 0; k < n; k++)); do
			h=$(host_of $g $k) pipe="" nm=""
			for ((i = ${gfirst[$g]}; i <= ${glast[$g]}; i++)); do
				x=${xst[$i,$k]:-}
				[ $i != ${gfirst[$g]} ] || x="${xin[$g,$k]:-} $x"
				[ $i != ${glast[$g]} ] || x="${xout[$g,$k]:-} $x"
				x=$(echo "$x" | sed 's/^ *//; s/ *$//; s/  */ /g')
				c=$(with_opts "$(subst "${cmds[$i]}" $k $n "$h")" "$x")
				# a restart: the data begins at the step the server resumes from
				[ "$1" = 0 ] || [[ ${c%% *} != *mae-decode ]] || c=$(with_opts "$c" "--start-batch $1")
				pipe="${pipe:+$pipe | }$c" nm="$nm ${names[$i]}.$k"
			done
			[ $g = $((ngroups - 1)) ] && [ "$n" = 1 ] || pipe="$pipe > /dev/null"
			lb=${names[${gfirst[$g]}]}; [ ${gfirst[$g]} = ${glast[$g]} ] || lb="$lb..${names[${glast[$g]}]}"
			add_process "$h $lb.$k" "$h" "$pipe" $nm
		done
	done
}
server_dir=$(sed -nE 's/.* -d +([^ ]+).*/\1/p' <<< " $server_cmd")
processes 0

if [ $dry = 1 ]; then
	for j in "${!labels[@]}"; do
		printf '[%s]\t%s\n' "${labels[$j]}" "${ppipe[$j]}"
	done
	exit 0
fi

job=${SLURM_JOB_ID:-}
if [ "$transport" = slurm ]; then
	[ -n "$job" ] || die "transport slurm runs inside an allocation: sbatch the script of '$me --sbatch $placement', or run under salloc"
	# a node outside the allocation: say so now, not as an srun error once the others run
	if [ -n "${SLURM_JOB_NODELIST:-}" ] && alloc=$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null); then
		for h in "${phost[@]}"; do
			grep -qxF -- "${hnode[$h]}" <<< "$alloc" || die "host $h: node ${hnode[$h]} is not in the allocation of job $job ($SLURM_JOB_NODELIST)"
		done
	fi
fi
remote() {   # remote HOST SCRIPT: the command that runs SCRIPT on HOST
	case $transport in
	local) echo bash -c "$(printf %q "$2")" ;;
	ssh) echo ${MAE_SSH:-ssh} -o BatchMode=yes "$(printf %q "${haddr[$1]}")" "$(printf %q "bash -c $(printf %q "$2")")" ;;
	# --export=ALL: a job started with --export=NONE passes SLURM_EXPORT_ENV=NONE on to srun,
	# whose steps would then start without PATH
	slurm) echo srun --jobid="$job" -w "$(printf %q "${hnode[$1]}")" -N1 -n1 --overlap --export=ALL --quiet bash -c "$(printf %q "$2")" ;;
	esac
}

declare -A label_of
stop() {   # stop everything: the processes see their input end, then get signals
	exec 9>&-
	local deadline=$((SECONDS + 5)) p
	while [ $SECONDS -lt $deadline ] && kill -0 "${pids[@]}" 2>/dev/null; do sleep 0.2; done
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$RUN"
}
# attempt: start every process, watch them; 0, or 2 when one failed (then all are stopped)
attempt() {
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/mae-launch.XXXXXX")
	mkfifo "$RUN/hold"
	exec 9<> "$RUN/hold"   # every process's standard input: ends when this shell lets go of it
	pids=()
	for j in "${!labels[@]}"; do
		lb=${labels[$j]}
		# exec, so that no shell keeps a copy of fd 9 (the stop signal) open
		( exec 9>&-; eval "exec $(remote "${phost[$j]}" "${pscript[$j]}")" ) < "$RUN/hold" 2> >(exec 9>&-; exec sed -u "s/^/[$lb] /" >&2) &
		pids+=($!) label_of[$!]=$lb
	done
	live=("${pids[@]}") status=0
	while [ ${#live[@]} -gt 0 ]; do
		done_pid=""
		wait -n -p done_pid "${live[@]}"
		st=$?
		[ -n "$done_pid" ] || continue
		rest=()
		for p in "${live[@]}"; do [ "$p" = "$done_pid" ] || rest+=("$p"); done
		live=("${rest[@]}")
		if [ $st != 0 ]; then
			say "${label_of[$done_pid]} failed (status $st): stopping the run"
			status=2
			# to restart, the server must save first: it does when its stages have gone
			# (2 s after); give it 20 s before it is stopped with the others
			if [ $max_restarts -gt 0 ] && [ -n "$server_host" ]; then
				for ((i = 0; i < 100; i++)); do kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.2; done
			fi
			break
		fi
	done
	stop
	return $status
}
pids=() RUN=""
trap 'say "interrupted: stopping every process"; stop; exit 130' INT TERM HUP
restarts=0
until attempt; do
	[ $restarts -lt $max_restarts ] || { [ $max_restarts = 0 ] || say "stopped after $restarts restarts (--max-restarts $max_restarts)"; exit 2; }
	[ -n "$server_host" ] && [ -n "$server_dir" ] || die "--max-restarts: no server with -d DIR to restart from"
	restarts=$((restarts + 1))
	# the step its server saved, asked on the server's host (the directory is there)
	from=$(eval "$(remote "$server_host" "cd $(printf %q "$workdir") && mae-optimize --step-of $(printf %q "$server_dir")")" 2>/dev/null) ||
		die "restart $restarts: no saved state in $server_dir on $server_host"
	say "restart $restarts of $max_restarts: from the state saved at step $from"
	processes "$from"
done
exit 0


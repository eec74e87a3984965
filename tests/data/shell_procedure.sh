#!/bin/bash
# The 2021 measurement procedure as a shell script, written from its description (see
# viz/reference/c3d-kata-2021/README.md): one `oc scale` per iteration, a fixed sleep, pods
# counted with `oc get pods | grep`, node memory read from one persistent ssh per worker that
# prints /proc/meminfo every few seconds. It writes the published CSV layout:
#
#   Iteration,Elapsed,Running,Creating,Terminating,Evicted,Total Active Memory,
#   Total Free Memory, Active,<worker indexes>,Free,<worker indexes>
#
# memory in kB as /proc/meminfo gives it, Elapsed in whole seconds since the start, a worker
# with no sample yet written as 0 (as the original did).
#
# usage: shell_procedure.sh OUT.csv ITERATIONS SLEEP_S SAMPLE_S DEPLOYMENT WORKER...
#
# `oc` and `ssh` are whatever is first on PATH (the tests put small wrappers there: oc runs
# kubectl with a kubeconfig, ssh runs OpenSSH with a config naming the workers).
set -u

out=$1 iterations=$2 pause=$3 sample=$4 deployment=$5
shift 5
workers=("$@")

samples=$(mktemp -d)
cleanup() {
    local pids
    pids=$(jobs -p)
    [ -n "$pids" ] && kill $pids 2>/dev/null
    wait 2>/dev/null
    rm -rf "$samples"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One persistent ssh per worker, in the background, each appending its samples to a file.
for w in "${!workers[@]}"; do
    ssh "${workers[$w]}" "while true; do cat /proc/meminfo; sleep $sample; done" \
        > "$samples/$w" 2> "$samples/$w.err" < /dev/null &
done

# The last value of FIELD (kB) in worker W's samples, 0 when there is none yet.
last_kb() {
    local value
    value=$(grep "^$2:" "$samples/$1" 2>/dev/null | tail -n 1 | awk '{print $2}')
    echo "${value:-0}"
}

{
    printf 'Iteration,Elapsed,Running,Creating,Terminating,Evicted,Total Active Memory,Total Free Memory, Active'
    for w in "${!workers[@]}"; do printf ',%s' "$w"; done
    printf ',Free'
    for w in "${!workers[@]}"; do printf ',%s' "$w"; done
    printf '\n'
} > "$out"

start=$SECONDS
for ((i = 1; i <= iterations; i++)); do
    oc scale "deployment/$deployment" --replicas="$i" > /dev/null
    sleep "$pause"
    elapsed=$((SECONDS - start))
    pods=$(oc get pods 2>/dev/null)
    running=$(grep -c Running <<< "$pods")
    creating=$(grep -c ContainerCreating <<< "$pods")
    terminating=$(grep -c Terminating <<< "$pods")
    evicted=$(grep -c Evicted <<< "$pods")
    actives=() frees=() total_active=0 total_free=0
    for w in "${!workers[@]}"; do
        a=$(last_kb "$w" Active)
        f=$(last_kb "$w" MemFree)
        actives+=("$a")
        frees+=("$f")
        total_active=$((total_active + a))
        total_free=$((total_free + f))
    done
    line="$i,$elapsed,$running,$creating,$terminating,$evicted,$total_active,$total_free,"
    for a in "${actives[@]}"; do line+=",$a"; done
    line+=","
    for f in "${frees[@]}"; do line+=",$f"; done
    echo "$line" >> "$out"
done

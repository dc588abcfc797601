#!/bin/bash
# The measurements behind bench/RESULTS.md, in order, one process per command.
# Run from the repository root on a quiet machine, as root (the cold loads drop the page
# cache), with the synthetic models in /tmp (see RESULTS.md); outputs go to $1.
B=./build/deepcpu
F="-c 4096 -b 2048 -ub 512 -fa on -ctk q8_0 -ctv q8_0 -t 2"
O=${1:-/tmp/deepcpu-results}
mkdir -p "$O"
uptime > $O/uptime.txt
git log --oneline -1 > $O/commit.txt
$B batched-bench -m /tmp/mini.gguf $F -npp 128 -ntg 128 -npl 1,2,4,8,16 > $O/mini_bb.txt 2>&1
$B bench -m /tmp/mini.gguf -p 512 -n 128 -r 3 -b 2048 -ub 512 -fa 1 -ctk q8_0 -ctv q8_0 -t 2 > $O/mini_bench.txt 2>&1
DEEPCPU_NO_AMX=1 $B bench -m /tmp/mini.gguf -p 512 -n 0 -r 3 -b 2048 -ub 512 -fa 1 -ctk q8_0 -ctv q8_0 -t 2 > $O/mini_bench_noamx.txt 2>&1
for i in 1 2 3; do $B batched-bench -m /tmp/tiny.gguf $F -npp 32 -ntg 256 -npl 1 -r 3 > $O/tiny_$i.txt 2>&1; done
$B batched-bench -m /tmp/r1-slice.gguf $F -npp 128 -ntg 128 -npl 1,2,4,8,16 > $O/r1_bb.txt 2>&1
$B bench -m /tmp/r1-slice.gguf -p 512 -n 128 -r 3 -b 2048 -ub 512 -fa 1 -ctk q8_0 -ctv q8_0 -t 2 > $O/r1_bench.txt 2>&1
DEEPCPU_NO_AMX=1 $B bench -m /tmp/r1-slice.gguf -p 512 -n 0 -r 3 -b 2048 -ub 512 -fa 1 -ctk q8_0 -ctv q8_0 -t 2 > $O/r1_bench_noamx.txt 2>&1
./build/bench/packed_bench --threads=2 --m=1 --reps=9 > $O/packed_m1.txt 2>&1
./build/bench/packed_bench --threads=1 --m=512 --reps=5 > $O/packed_m512.txt 2>&1
for m in mini r1-slice; do
  for i in 1 2 3; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -f "$m cat %e" cat /tmp/$m.gguf > /dev/null 2>> $O/load.txt
    sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -f "$m load %e" $B run -m /tmp/$m.gguf -p hi -n 1 > /dev/null 2>> $O/load_raw.txt
    tail -1 $O/load_raw.txt >> $O/load.txt
  done
done
uptime >> $O/uptime.txt

#!/usr/bin/env bats
# ivf's batch scan (a batch of 32 or more queries whose lists are chosen
# together, no filter): the lists are read list by list, each in blocks for
# every query that probes it, the lists split across threads. Its answers
# must be those of a reference over each query's probed lists (probed_ref,
# ivf_ref.bash).

load helpers
load ivf_ref

@test "a batch's lists scanned list by list, in blocks, on 1 and 2 threads: the k best of each query's probed lists" {
  # 2048-d: a list is ranked 8 rows at a time for each of its queries (64
  # KiB); 16 lists of about 40 rows; integer values: exact ties
  random_fvecs base.fvecs 640 2048 51 4
  random_fvecs q.fvecs 40 2048 52 4
  for m in l2 ip; do
    vdb-build -q -T ivf -m $m --nlist 16 -t 1 -o x.vdb base.fvecs
    for np in 1 3 16; do
      for k in 5 20; do
        probed_ref x.vdb base.fvecs q.fvecs $k $np $m | head -n -2 >want
        for t in 1 2; do
          vdb-query -x x.vdb -k $k --nprobe $np -t $t q.fvecs | ids_of >got
          diff want got
        done
      done
    done
  done
}

@test "a batch's scan: lists every query probes, lists none does, the work split unevenly" {
  # 1200 rows in 3 far apart groups of 400 (values 0..2 plus 0, 50 or 100),
  # 64 lists; the queries all near the first group: its lists are probed by
  # every query, the others by none, and the 2 threads' runs of lists are
  # cut by the work in those
  perl -e 'srand(61); for my $i (0..1199) { my $g = 50 * int($i / 400);
           print pack("l<", 512), pack("f<*", map { $g + int(rand(3)) } 1..512); }' >base.fvecs
  perl -e 'srand(62); for (1..36) { print pack("l<", 512), pack("f<*", map { int(rand(3)) } 1..512); }' >q.fvecs
  vdb-build -q -T ivf --nlist 64 -t 1 -o x.vdb base.fvecs
  for np in 2 5 30; do
    probed_ref x.vdb base.fvecs q.fvecs 8 $np | head -n -2 >want
    # every query's lists hold 8 rows or more (else it would be searched again, wider)
    [ "$(awk 'NF != 8' want | wc -l)" = 0 ]
    for t in 1 2; do
      vdb-query -x x.vdb -k 8 --nprobe $np -t $t q.fvecs | ids_of >got
      diff want got
    done
  done
}

# with_m FVECS: its rows as JSONL, id the row number, metadata m the row number mod 20
with_m() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
    while (length $b) { my $d = unpack("l<", $b); my @v = unpack("f<$d", substr($b, 4));
      $b = substr($b, 4 + 4 * $d);
      printf "{\"id\": %d, \"vector\": [%s], \"metadata\": {\"m\": %d}}\n",
        $i, join(",", @v), $i % 20; $i++ }' "$1"
}

# check_filtered K NPROBE KEEP LABEL [vdb-query options]: x.vdb's answers to
# q.fvecs under "m < KEEP" are want's ids, and as many queries were searched
# again wider as ref's last line says
check_filtered() {
  local k=$1 np=$2 keep=$3 label=$4 n; shift 4
  vdb-query -x x.vdb -k "$k" --nprobe "$np" --filter-path index --filter "m < $keep" -v "$@" \
    q.fvecs 2>err | ids_of >got
  diff want got
  n=$(sed -nE 's/^vdb-query: ([0-9]+) queries searched again wider$/\1/p' err)
  echo "$label: ${n:-0} searched again, reference $(tail -1 ref)"
  [ "${n:-0}" = "$(tail -1 ref)" ]
}

@test "a filtered batch's lists scanned list by list, on 1 and 2 threads: the k best allowed rows of each query's lists, searched again wider as a reference does" {
  # as the first test, each row's metadata m its row number mod 20; the
  # filters keep half the rows and 15%: the lists of many queries hold too
  # few, and those are searched again with more lists
  random_fvecs base.fvecs 640 2048 51 4
  random_fvecs q.fvecs 40 2048 52 4
  with_m base.fvecs >m.jsonl
  for m in l2 ip; do
    vdb-build -q -T ivf -m $m --nlist 16 -t 1 -o x.vdb m.jsonl
    for keep in 10 3; do
      for np in 1 3; do
        for k in 5 20; do
          filtered_ref x.vdb base.fvecs q.fvecs $k $np $m $keep >ref
          head -n -1 ref >want
          for t in 1 2; do
            check_filtered $k $np $keep "$m, keep $keep, nprobe $np, k $k, $t threads" -t $t
          done
        done
      done
    done
  done
}

@test "a filtered search widened, one query at a time and batched: the widened pass scans only its new lists, the answers those of a reference over all of them" {
  # 5% and 10% kept (row mod 20 < 1, < 2) on 64 lists: a query's first
  # lists hold a few allowed rows, and it is searched again; the widened
  # pass keeps the k best of the lists before (not read again), so an
  # answer that lost them would miss rows here
  random_fvecs base.fvecs 1280 512 71 4
  random_fvecs q.fvecs 40 512 72 4
  with_m base.fvecs >m.jsonl
  for m in l2 ip; do
    vdb-build -q -T ivf -m $m --nlist 64 -t 1 -o x.vdb m.jsonl
    for keep in 1 2; do
      for np in 1 2; do
        filtered_ref x.vdb base.fvecs q.fvecs 10 $np $m $keep >ref 2>passes
        head -n -1 ref >want
        for b in 1 40; do
          for t in 1 2; do
            check_filtered 10 $np $keep "$m, keep $keep, nprobe $np, -b $b, $t threads, $(cat passes)" \
              -t $t -b $b
          done
        done
        # the queries were searched again (a second pass)
        [ "$(cut -d' ' -f2 passes)" -ge 2 ]
      done
    done
  done
}

#!/usr/bin/env bats
# Namespaces (tenants), as README and vdb-build(1) describe them: one index
# file per tenant, or one file whose records carry a payload-indexed
# "tenant" field that every query of a tenant ANDs with its own filter:
# --filter 'tenant == "a" && (FILTER)'. The reference is jq over the input.
load helpers

# tenants OUT: words1k with metadata {tenant: a|b|c by row mod 3, cat: row mod 5}
tenants() {
  jq -sc 'to_entries[] | .key as $i | .value | .metadata = {tenant: (["a", "b", "c"][$i % 3]),
    cat: ($i % 5)}' "$D/words1k.jsonl" >"$1"
}

# check_isolated IX REF.jsonl TENANT FILTER JQ K: every result of the 20
# queries under --filter 'tenant == "TENANT" && (FILTER)' is a record of
# REF (the live records) of that tenant passing JQ, and each query returns
# min(K, such records)
check_isolated() {
  jq -r --arg t "$3" "select(.metadata.tenant == \$t) | select(.metadata | $5) | .id" "$2" | sort >allowed
  want=$(wc -l <allowed)
  [ "$want" -gt "$6" ] && want=$6
  vdb-query -x "$1" -k "$6" --ef 64 --filter "tenant == \"$3\" && ($4)" "$D/words_query20.jsonl" >got.jsonl
  jq -r '.ids[]' got.jsonl | sort -u | comm -23 - allowed >leaked
  [ ! -s leaked ] || { echo "$4: leaked $(cat leaked)"; false; }
  [ "$(jq -c "select(.ids | length != $want)" got.jsonl | wc -l)" -eq 0 ] || { echo "$4: not $want"; false; }
}

@test "one file: no query of a tenant returns another's record under any filter, after patches and deletions" {
  tenants all.jsonl
  # 30 records move from b to a and 20 from a to c (--patch); then tenant
  # a's records of cat 0 are deleted (--delete --filter)
  { jq -c 'select(.metadata.tenant == "b") | {id, metadata: {tenant: "a"}}' all.jsonl | head -n 30
    jq -c 'select(.metadata.tenant == "a") | {id, metadata: {tenant: "c"}}' all.jsonl | tail -n 20
  } >move.jsonl
  jq -c --slurpfile m move.jsonl '($m | map({key: .id, value: .metadata.tenant}) | from_entries) as $t
    | .metadata.tenant = ($t[.id] // .metadata.tenant)
    | select((.metadata.tenant == "a" and .metadata.cat == 0) | not)' all.jsonl >live.jsonl
  for t in flat hnsw; do
    vdb-build -q -T $t -o $t.vdb all.jsonl
    vdb-build -q --patch -x $t.vdb move.jsonl
    vdb-build -q --delete --filter 'tenant == "a" && cat == 0' -x $t.vdb
    [ "$(vdb-query -x $t.vdb --info | jq .live)" -eq "$(wc -l <live.jsonl)" ]
    while IFS='@' read -r filter jqf; do
      for tenant in a b c; do
        check_isolated $t.vdb live.jsonl $tenant "$filter" "$jqf" 50
      done
    done <<'EOF'
cat == 1@.cat == 1
cat == 1 || cat == 2@.cat == 1 or .cat == 2
!(cat == 1)@.cat != 1
cat != 3@.cat != 3
!exists(cat) || cat >= 0@true
cat >= 2 || tenant == "b"@.cat >= 2 or .tenant == "b"
tenant == "b" || !(tenant == "a")@.tenant == "b" or .tenant != "a"
exists(tenant)@true
EOF
  done
  # without the parentheses the user's || escapes the tenant condition
  # (&& binds tighter): the documented form above is the one to use
  vdb-query -x flat.vdb -k 50 --filter 'tenant == "a" && cat == 1 || cat == 2' \
    "$D/words_query20.jsonl" | jq -r '.ids[]' | sort -u >got
  jq -r 'select(.metadata.tenant != "a") | .id' live.jsonl | sort >others
  [ -n "$(comm -12 got others)" ]
}

@test "dropping a tenant (delete by filter, then --compact): the others answer as an index of their records alone" {
  tenants all.jsonl
  jq -c 'select(.metadata.tenant != "b")' all.jsonl >rest.jsonl
  vdb-build -q -o ref.vdb rest.jsonl
  for t in flat hnsw; do
    vdb-build -q -T $t -o $t.vdb all.jsonl
    run vdb-build --delete --filter 'tenant == "b"' -x $t.vdb
    assert_success
    assert_output --partial "$(jq -c 'select(.metadata.tenant == "b")' all.jsonl | wc -l) records deleted"
    vdb-build -q --compact -x $t.vdb
    [ "$(vdb-query -x $t.vdb --info | jq -c '[.count, .deleted]')" = "[$(wc -l <rest.jsonl),0]" ]
    [ -z "$(vdb-query -x $t.vdb -k 10 --filter 'tenant == "b"' "$D/words_query20.jsonl" | jq -r '.ids[]')" ]
    vdb-query -x $t.vdb -k 100 --ef 200 "$D/words_query20.jsonl" | jq -r '.ids[]' | sort -u >got
    jq -r 'select(.metadata.tenant == "b") | .id' all.jsonl | sort | comm -12 got - >leaked
    [ ! -s leaked ]
  done
  # flat: exactly the answers of an index built from the other tenants' records
  vdb-query -x flat.vdb -k 10 "$D/words_query20.jsonl" >got.jsonl
  vdb-query -x ref.vdb -k 10 "$D/words_query20.jsonl" >want.jsonl
  diff got.jsonl want.jsonl
}

@test "one file per tenant may reuse ids; one shared file refuses them (65) until they are made unique" {
  head -n 100 "$D/words1k.jsonl" >a.jsonl
  # tenant b: the same ids, other vectors
  head -n 100 "$D/words1k.jsonl" | jq -c '.vector |= map(. * -1)' >b.jsonl
  vdb-build -q -o a.vdb a.jsonl
  vdb-build -q -o b.vdb b.jsonl
  run -65 vdb-build -o shared.vdb a.jsonl b.jsonl
  assert_output --partial "duplicate id $(head -1 a.jsonl | jq -c .id): a.jsonl: line 1 and b.jsonl: line 1"
  [ ! -e shared.vdb ]
  # ids made unique by the tenant, and the tenant in the metadata
  for t in a b; do
    jq -c --arg t $t '.id = "\($t)/\(.id)" | .metadata = {tenant: $t}' $t.jsonl
  done >shared.jsonl
  vdb-build -q -o shared.vdb shared.jsonl
  for t in a b; do
    vdb-query -x shared.vdb -k 10 --filter "tenant == \"$t\"" "$D/words_query20.jsonl" |
      jq -c --arg p "$t/" '.ids |= map(ltrimstr($p))' >got.jsonl
    vdb-query -x $t.vdb -k 10 "$D/words_query20.jsonl" | jq -c . >want.jsonl
    diff got.jsonl want.jsonl
  done
}

@test "a tenant's query sent alone returns each record once: its k nearest of the tenant (numpy)" {
  # 6000 x 256 random rows; tenant a holds 1700 of them (set by --patch on
  # row numbers): more than one gather tile of the exact filtered search
  /usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
x = rng.standard_normal((6000, 256)).astype(np.float32)
a = np.sort(rng.choice(6000, 1700, replace=False))
with open("base.fvecs", "wb") as f:
    for r in x:
        np.int32(256).tofile(f); r.tofile(f)
with open("patch.jsonl", "w") as f:
    for i in range(6000):
        f.write('{"id": %d, "metadata": {"tenant": "%s"}}\n' % (i, "a" if i in set(a) else "b"))
q = x[[5, 50, 500]] + 0.01
with open("q.fvecs", "wb") as f:
    for r in q:
        np.int32(256).tofile(f); r.tofile(f)
with open("want", "w") as f:
    for r in q:
        d = ((x[a] - r) ** 2).sum(1)
        f.write(" ".join(str(int(a[j])) for j in np.argsort(d, kind="stable")[:10]) + "\n")
PY
  for t in flat hnsw; do
    vdb-build -q -T $t -o $t.vdb base.fvecs
    vdb-build -q --patch -x $t.vdb patch.jsonl
    for i in 0 1 2; do
      # one query a run (nq 1)
      head -c $(( (i + 1) * 1028 )) q.fvecs | tail -c 1028 >one.fvecs
      vdb-query -x $t.vdb -k 10 --filter 'tenant == "a"' one.fvecs | jq -r '.ids | map(tostring) | join(" ")'
    done >got
    # each record once, all of tenant a; flat: exactly numpy's k nearest
    [ -z "$(awk '{ delete s; for (i = 1; i <= NF; i++) if (s[$i]++) print NR ": " $i }' got)" ]
    [ "$(awk '{ n += NF } END { print n }' got)" -eq 30 ]
    tr ' ' '\n' <got | sort -u | comm -23 - <(jq -r 'select(.metadata.tenant == "a") | .id | tostring' patch.jsonl | sort) >leaked
    [ ! -s leaked ]
    [ $t = hnsw ] || diff got want
  done
}

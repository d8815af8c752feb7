# Shared by bench/rank-truth.sh and bench/rank-across.sh (sourced, not run): train a supernet, run a
# rank-corr study through a BullMQ queue to one `psvit worker --concurrency 2`, keep its ground truth.
# The caller sets OUT (the study's folder) before sourcing. Every step is skipped when its result exists.
Q=redis://127.0.0.1:6390
psvit() { node bin/psvit "$@"; }
finished() { [ -f "$1/run.json" ] && grep -q '"finished"' "$1/run.json"; }
supernet() { # DIR, then train-supernet flags (--seed 0 unless they name one)
  local dir=$1; shift
  local seed=(--seed 0)
  [[ " $* " == *" --seed "* ]] && seed=()
  finished "$dir" || psvit train-supernet "${seed[@]}" --out "$dir" --force "$@"
}
worker=
start_worker() { # a redis-server on port 6390 is started when none answers there
  [ -n "$worker" ] && return
  mkdir -p "$OUT/artifacts"
  redis-cli -p 6390 ping > /dev/null 2>&1 || redis-server --port 6390 --save "" --appendonly no --daemonize yes
  psvit worker --queue "$Q" --artifacts "$OUT/artifacts" --concurrency 2 > "$OUT/worker.log" 2>&1 &
  worker=$!
  trap 'kill $worker 2> /dev/null || true' EXIT
}
study() { # RUN NAME, then rank-corr flags: a study stopped midway is continued
  local run=$1 name=$2; shift 2
  [ -f "$run/$name/result.json" ] && return
  start_worker
  if [ -f "$run/$name/rank-corr.json" ]; then
    psvit rank-corr --run "$run" --name "$name" --resume --queue "$Q" --artifacts "$OUT/artifacts"
  else
    psvit rank-corr --run "$run" --name "$name" --queue "$Q" --artifacts "$OUT/artifacts" "$@"
  fi
}
keep() { # RUN NAME DEST: what --scratch-from reads, and the supernet's run.json as provenance
  mkdir -p "$3/$2"
  cp "$1/run.json" "$3/run.json"
  cp "$1/$2/rank-corr.json" "$1/$2/samples.jsonl" "$1/$2/result.json" "$3/$2/"
}

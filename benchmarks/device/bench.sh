# `gcrl bench` for every agent in both presets, alone and 8 seeds vmapped, on one lent GPU, time-boxed:
# the rows come back in $OUT/bench.json and bench.md, written after each measurement, so whatever is
# measured by DEADLINE seconds is kept. What ran on an H200 (see the README's speed table):
#   DEADLINE=470 bash benchmarks/device/bench.sh
# --quick: 3 s of timed updates per row (6 s for the paper preset), after a warm-up chunk; a GPU's
# rate is steady, so short timings suffice. The seeds run vmapped only: mapped seeds run one after
# another inside the program, which on a GPU is the solo rate divided by the count.
source benchmarks/device/setup.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache  # a second call on the same (warm) machine compiles nothing twice
AGENTS=$(python3 -c "from gcrl import agents; print(','.join(agents.AGENTS))")
T0=$(date +%s)
timeout ${DEADLINE:-480} python3 -m gcrl bench --quick --agents "$AGENTS" --presets ${PRESETS:-cpu,paper} --seeds ${SEEDS:-8} \
  --seed-modes vmap --json $OUT/bench.json 2>&1 | tee $OUT/bench.log
echo "bench wall $(( $(date +%s) - T0 )) s"

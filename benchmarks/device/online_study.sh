# The online study (benchmarks/online_study.py) on one lent GPU, time-boxed: whatever is finished by
# DEADLINE seconds comes back in $OUT/study.tar.gz (run directories without checkpoints); unpack it
# into results/online and run benchmarks/online_report.py. What ran on an H200 (9 runs at once, about
# 8 minutes):  STEPS=50000 ADAPT_STEPS=20000 DEADLINE=510 bash benchmarks/device/online_study.sh
# The checkpoints stay on the device (about 20-28 MB each), so the adapt phase must run in the same
# call as the training phase it starts from.
source benchmarks/device/setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
T0=$(date +%s)
python3 benchmarks/online_study.py --root /tmp/study --phases ${PHASES:-train,evaluate,adapt} --seeds ${SEEDS:-0,1,2} --adapt-seeds ${ADAPT_SEEDS:-0,1} \
  --steps ${STEPS:-50000} --adapt-steps ${ADAPT_STEPS:-20000} --parallel ${PARALLEL:-9} --deadline ${DEADLINE:-500} \
  --final-episodes 10 --set train_ratio=${RATIO:-16} --set eval_every=${EVAL_EVERY:-8000} --set eval_episodes=4 --set checkpoint_every=4000 \
  --set lr=3e-4 --set warmup=100 2>&1 | tee $OUT/study.log
echo "study wall $(( $(date +%s) - T0 )) s"
cd /tmp && tar czf $OUT/study.tar.gz --exclude=checkpoints --exclude='events.out.tfevents*' --exclude='.gcrl.lock' study && ls -la $OUT

# Sourced first by every command on a lent GPU machine (the workplace's device tool), from the
# repository root. That machine has Python 3.12 with JAX (CUDA), flax and optax but not gcrl's
# simulator packages, and no internet: they travel as wheels in .whl/ (ignored by git), fetched here:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
#     --platform any -d .whl mujoco==4.0.0 mujoco-core==4.0.0 mujoco-studio==4.0.0 glfw pyopengl websockets \
#     ogbench==1.2.2 gymnasium==1.4.0 farama-notifications tensorboardX==2.6.5 flax==0.12.8 optax==0.2.8
#
# and the call carries .whl. MUJOCO_GL=disable: the image has no libEGL, and the pixel maze renders
# without MuJoCo's renderer.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /tmp/pip.log 2>&1 || { tail -5 /tmp/pip.log; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MUJOCO_GL=disable XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 -c "import jax, flax, optax, mujoco, ogbench, gymnasium; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__)"

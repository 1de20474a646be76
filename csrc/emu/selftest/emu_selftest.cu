// PLACEHOLDER (being written): emulator self-test kernels.
#include "core/cuda_compat.h"

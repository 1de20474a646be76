# Source lists per extension; a new op family adds its files here.

# Compiled into every extension (validation shared by all backends).
set(PDK_COMMON_SOURCES
  csrc/pool/pool_check.cpp
  csrc/gemm/gemm_check.cpp
  csrc/conv/conv_check.cpp
  csrc/nms/nms_check.cpp
  csrc/roi/roi_check.cpp
  csrc/rnn/rnn_check.cpp
  csrc/attention/attention_check.cpp
)
# pybind11 bindings; PDK_BACKEND_CPU / PDK_BACKEND_CUDA select which entry points they bind.
set(PDK_BINDING_SOURCES
  csrc/bindings/module.cpp
  csrc/bindings/pool_bindings.cpp
  csrc/bindings/gemm_bindings.cpp
  csrc/bindings/conv_bindings.cpp
  csrc/bindings/nms_bindings.cpp
  csrc/bindings/roi_bindings.cpp
  csrc/bindings/rnn_bindings.cpp
  csrc/bindings/attention_bindings.cpp
)
# Bindings only the CUDA-model modules (_C_cuda, _C_emu) have.
set(PDK_CUDA_BINDING_SOURCES
  csrc/bindings/emu_selftest_bindings.cpp
)
# CPU code compiled once.
set(PDK_CPU_SOURCES
  csrc/core/cpu_features.cpp
  csrc/pool/pool_cpu.cpp
  csrc/gemm/gemm_cpu.cpp
  csrc/conv/conv_cpu.cpp
  csrc/nms/nms_cpu.cpp
  csrc/roi/roi_cpu.cpp
  csrc/rnn/rnn_cpu.cpp
  csrc/attention/attention_cpu.cpp
)
# CPU kernels compiled once per instruction set (see CMakeLists.txt).
set(PDK_CPU_ISA_SOURCES
  csrc/pool/pool_cpu_kernels.cpp
  csrc/gemm/gemm_cpu_kernels.cpp
  csrc/conv/conv_cpu_kernels.cpp
  csrc/conv/conv_depthwise_kernels.cpp
  csrc/conv/conv_winograd_kernels.cpp
  csrc/nms/nms_cpu_kernels.cpp
  csrc/roi/roi_cpu_kernels.cpp
  csrc/rnn/rnn_cpu_kernels.cpp
  csrc/attention/attention_cpu_kernels.cpp
)
# CUDA sources: nvcc for _C_cuda, the host compiler + emulator for _C_emu.
set(PDK_CUDA_SOURCES
  csrc/pool/pool_cuda.cu
  csrc/gemm/gemm_cuda.cu
  csrc/conv/conv_cuda.cu
  csrc/nms/nms_cuda.cu
  csrc/roi/roi_cuda.cu
  csrc/rnn/rnn_cuda.cu
  csrc/attention/attention_cuda.cu
  csrc/emu/selftest/emu_selftest.cu
)
# Emulator runtime sources (_C_emu only); empty: the emulator is header-only (csrc/emu/cuda_emu.h).
set(PDK_EMU_SOURCES
)

# SPDX-License-Identifier: GPL-3.0-or-later
# Points find_package(Torch) at the LibTorch inside MOLA_TORCH_PYTHON's torch package, and gives a
# CUDA build of it what its TorchConfig needs: nvcc (CMAKE_CUDA_COMPILER, from CUDA_HOME, PATH or
# /usr/local/cuda) and the GPU architectures (TORCH_CUDA_ARCH_LIST, default 9.0: the H100/H200).
execute_process(
  COMMAND "${MOLA_TORCH_PYTHON}" -c
          "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or '')"
  RESULT_VARIABLE _mola_rc
  OUTPUT_VARIABLE _mola_out
  ERROR_VARIABLE _mola_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _mola_rc EQUAL 0)
  message(FATAL_ERROR "MOLA_TORCH_PYTHON=${MOLA_TORCH_PYTHON} cannot import torch:\n${_mola_err}\n"
                      "scripts/install-deps --libtorch2 creates .venv with the pinned torch wheel.")
endif()
string(REPLACE "\n" ";" _mola_out "${_mola_out}")
list(GET _mola_out 0 _mola_prefix)
list(GET _mola_out 1 MOLA_TORCH_PYTHON_VERSION)
list(LENGTH _mola_out _mola_n)
set(MOLA_TORCH_PYTHON_CUDA "")
if(_mola_n GREATER 2)
  list(GET _mola_out 2 MOLA_TORCH_PYTHON_CUDA)
endif()
# The wheels' libtorch.so and libtorch_cpu.so export the std::filesystem functions of the static
# libstdc++ part they carry (pytorch/pytorch#133437). An executable whose libraries list libtorch
# before libstdc++ binds its own std::filesystem calls to those copies, which crash (remove_all on
# a folder with files, here). Naming libstdc++ first makes the dynamic linker find its copies first.
add_link_options("LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")

# Torch_DIR follows the interpreter (a stale one from the system's LibTorch would win otherwise),
# and the package's root goes first in the prefix path: TorchConfig finds Caffe2's config and its
# libraries (c10, kineto) with find_package/find_library calls that search the system's paths
# before their hints, which would mix in Debian's LibTorch 1.13.
get_filename_component(_mola_torch_root "${_mola_prefix}/../.." ABSOLUTE)
list(PREPEND CMAKE_PREFIX_PATH "${_mola_torch_root}")
set(Torch_DIR "${_mola_prefix}/Torch" CACHE PATH "LibTorch's CMake package" FORCE)
message(STATUS "torch ${MOLA_TORCH_PYTHON_VERSION} from ${MOLA_TORCH_PYTHON}")

if(MOLA_TORCH_PYTHON_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(MOLA_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda
                 PATH_SUFFIXES bin)
    if(NOT MOLA_NVCC)
      message(FATAL_ERROR
        "torch ${MOLA_TORCH_PYTHON_VERSION} is a CUDA ${MOLA_TORCH_PYTHON_CUDA} build: its CMake "
        "files need the CUDA toolkit (nvcc) even for a CPU-only run. Install the toolkit "
        "(or set CUDA_HOME), or use a CPU build of torch.")
    endif()
    set(CMAKE_CUDA_COMPILER "${MOLA_NVCC}" CACHE FILEPATH "nvcc, for TorchConfig" FORCE)
  endif()
  # TorchConfig takes the architectures from here; without it, it would look for a GPU to ask.
  # None of our sources is compiled for a GPU.
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "GPU architectures for TorchConfig")
  endif()
endif()
# TorchConfig then warns twice, harmlessly: it ignores CMAKE_CUDA_ARCHITECTURES (which
# enable_language(CUDA) always sets), and "library kineto not found" (the wheels link kineto into
# libtorch_cpu).

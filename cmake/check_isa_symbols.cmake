# Fails the build when a per-ISA object defines a weak (inline/template) symbol outside its own
# pdk::isa_<name> namespace: the linker would keep one copy for all ISAs, possibly the AVX-512 one
# (see the ODR note in csrc/gemm/gemm_cpu_kernels.cpp). Run as a pre-link step of _C:
#   cmake -DNM=<nm> -DOBJECTS=<a;b;...> -P check_isa_symbols.cmake
separate_arguments(OBJECTS)
set(bad "")
foreach(obj IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C --defined-only ${obj} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_isa_symbols: ${NM} failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  foreach(line IN LISTS lines)
    # DW.ref.__gxx_personality_v0: the exception personality pointer of code with unwind tables
    # (sanitizer builds); data, not code, identical in every object.
    if(line MATCHES "^[0-9a-f]+ [WVu] (.*)$" AND NOT CMAKE_MATCH_1 MATCHES "pdk::isa_|^DW\\.ref\\.")
      list(APPEND bad "${obj}: ${CMAKE_MATCH_1}")
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " text "${bad}")
  message(FATAL_ERROR "weak symbols outside pdk::isa_* in per-ISA objects (ODR hazard):\n  ${text}")
endif()

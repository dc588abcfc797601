# Per-ISA kernel folders. Each folder is compiled with only its own -m flags so that
# the rest of the binary stays baseline x86-64; dispatch.cpp picks at run time.
function(deepcpu_add_isa_sources target)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    file(GLOB avx2 CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/x86_avx2/*.cpp)
    file(GLOB avx512 CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/x86_avx512/*.cpp)
    file(GLOB amx CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/x86_amx/*.cpp)
    set_source_files_properties(${avx2} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2")
    set_source_files_properties(${avx512} PROPERTIES COMPILE_OPTIONS
      "-mavx2;-mfma;-mf16c;-mbmi2;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512bf16")
    set_source_files_properties(${amx} PROPERTIES COMPILE_OPTIONS
      "-mavx2;-mfma;-mf16c;-mbmi2;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512bf16;-mamx-tile;-mamx-int8")
    target_sources(${target} PRIVATE ${avx2} ${avx512} ${amx})
    target_compile_definitions(${target} PUBLIC DEEPCPU_HAVE_X86_KERNELS=1)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    file(GLOB neon CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/arm_neon/*.cpp)
    file(GLOB sve CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/arm_sve/*.cpp)
    set_source_files_properties(${neon} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod+fp16+i8mm")
    set_source_files_properties(${sve} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod+fp16+i8mm+sve")
    target_sources(${target} PRIVATE ${neon} ${sve})
    target_compile_definitions(${target} PUBLIC DEEPCPU_HAVE_ARM_KERNELS=1)
  endif()
endfunction()

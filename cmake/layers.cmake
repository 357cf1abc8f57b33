# cmake/layers.cmake — the layering of the source tree, written in ONE place. Read by the top-level
# CMakeLists.txt (which files make up each library) and by cmake/check_layers.cmake (the ctest
# `layering/includes`: every quoted #include must point into a layer the including file's layer may use).
#
# ff_layer_rule(NAME FILES pattern... [USES layer...] [PATHS file...])
#   FILES  the files of the layer, relative to the repo root: "dir/" is everything under dir (recursively), a
#          pattern with * is a glob within one folder (e.g. splat/*_op.cpp). A file belongs to the layer of the
#          LONGEST pattern that matches it (so splat/splat_op.cpp is splat_op, not splat).
#   USES   the layers this one may include, directly or through them (the closure is taken: nn USES autograd
#          lets nn include tensor/ and core/ headers as well). A layer may always include its own files.
#   PATHS  single files this layer may include although their layer is not in USES (explicit, not inherited).
# FF_LAYER_INCLUDE_DIRS: the folders a quoted #include is resolved against (after the including file's folder).
# FF_LAYER_EXCEPTIONS: "file -> included file" pairs tolerated for now; each one says why and who removes it.
# Angle-bracket #includes (system and third-party headers) are not checked.
#
# The build follows the same picture: runtime/ needs nothing but libc/libm/pthreads, the engine reuses the
# runtime's code (formats, kernels) instead of copying it, and a library links only the layers below it.
set(FF_LAYER_NAMES "")
function(ff_layer_rule name)
  cmake_parse_arguments(PARSE_ARGV 1 R "" "" "FILES;USES;PATHS")
  set(FF_LAYER_${name}_FILES "${R_FILES}" PARENT_SCOPE)
  set(FF_LAYER_${name}_USES "${R_USES}" PARENT_SCOPE)
  set(FF_LAYER_${name}_PATHS "${R_PATHS}" PARENT_SCOPE)
  set(FF_LAYER_NAMES ${FF_LAYER_NAMES} ${name} PARENT_SCOPE)
endfunction()

set(FF_LAYER_INCLUDE_DIRS . runtime/include)

# the embeddable runtime: libc, libm, pthreads and itself only (runtime/README.md)
ff_layer_rule(runtime      FILES runtime/)
# libfacefield_cuda's rasterizer runs the engine's forward kernels (one implementation of the CUDA forward pass)
ff_layer_rule(runtime_cuda FILES runtime/raster_cuda.cu  USES runtime  PATHS splat/render_fwd.cuh)
# the engine, bottom to top; every engine layer may use the runtime's headers (it reuses the runtime's formats)
ff_layer_rule(core         FILES core/                   USES runtime)
ff_layer_rule(tensor       FILES tensor/                 USES core)
ff_layer_rule(autograd     FILES autograd/               USES tensor)
ff_layer_rule(nn           FILES nn/                     USES autograd)
ff_layer_rule(splat        FILES splat/                  USES core)
ff_layer_rule(splat_op     FILES splat/*_op.cpp splat/*_op.h  USES splat autograd)  # splat as autograd ops
ff_layer_rule(flame        FILES flame/                  USES core)
ff_layer_rule(flame_op     FILES flame/*_op.cpp flame/*_op.h  USES flame autograd)  # FLAME as autograd ops
# the NeRSemble reader, preprocessing and synthetic data: no trainer, no autograd
ff_layer_rule(train_data   FILES train/data/             USES flame)
# model, trainer, evaluation, checkpoints; train/data_adapter.cpp shows train/data through train/identity_dataset.h
ff_layer_rule(train        FILES train/                  USES train_data nn splat_op flame_op)
# photo fitting (landmarks, codes, fit_image)
ff_layer_rule(train_fit    FILES train/fit/              USES train)
# what the programs share (the CLI parser, model files opened in the runtime): library ff_apps_common
ff_layer_rule(apps_common  FILES apps/common/            USES train_fit)
ff_layer_rule(apps         FILES apps/                   USES apps_common)
# the C example sees the runtime's public header only
ff_layer_rule(examples     FILES examples/               PATHS runtime/include/facefield.h)
# tests use every library but not the programs (apps/*.cpp, apps/*.h): code a test needs belongs in a library
ff_layer_rule(tests        FILES tests/                  USES apps_common runtime_cuda)
ff_layer_rule(bench        FILES bench/                  USES apps runtime_cuda tests)
# fuzz targets and their replay harness (fuzz/CMakeLists.txt, fuzz/run.sh): the readers of every library layer
ff_layer_rule(fuzz         FILES fuzz/                   USES apps_common)

set(FF_LAYER_EXCEPTIONS
)

# ff_layer_of(FILE OUT): the layer of FILE (a path relative to the repo root), or "" when no pattern matches.
function(ff_layer_of file out)
  set(best "")
  set(best_len -1)
  foreach(l ${FF_LAYER_NAMES})
    foreach(p ${FF_LAYER_${l}_FILES})
      if(p MATCHES "/$")
        string(LENGTH "${p}" n)
        string(SUBSTRING "${file}" 0 ${n} head)
        set(hit OFF)
        if(head STREQUAL p)
          set(hit ON)
        endif()
      else()
        string(REGEX REPLACE "([.+?^$()|])" "\\\\\\1" rx "${p}")
        string(REPLACE "*" "[^/]*" rx "${rx}")
        set(hit OFF)
        if(file MATCHES "^${rx}$")
          set(hit ON)
        endif()
      endif()
      string(LENGTH "${p}" n)
      if(hit AND n GREATER best_len)
        set(best ${l})
        set(best_len ${n})
      endif()
    endforeach()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

# ff_layer_closure(LAYER OUT): LAYER and every layer it may use, directly or through others.
function(ff_layer_closure layer out)
  set(seen ${layer})
  set(todo ${layer})
  while(todo)
    list(POP_FRONT todo l)
    foreach(u ${FF_LAYER_${l}_USES})
      if(NOT u IN_LIST FF_LAYER_NAMES)
        message(FATAL_ERROR "cmake/layers.cmake: layer ${l} uses unknown layer '${u}'")
      endif()
      if(NOT u IN_LIST seen)
        list(APPEND seen ${u})
        list(APPEND todo ${u})
      endif()
    endforeach()
  endwhile()
  set(${out} "${seen}" PARENT_SCOPE)
endfunction()

# ff_layer_sources(LAYER ROOT OUT [EXTENSIONS ext...]): the files under ROOT that belong to LAYER (absolute paths,
# sorted), by default the C/C++/CUDA sources and headers.
function(ff_layer_sources layer root out)
  cmake_parse_arguments(PARSE_ARGV 3 S "" "" "EXTENSIONS")
  if(NOT S_EXTENSIONS)
    set(S_EXTENSIONS h hpp c cpp cu cuh)
  endif()
  set(globs "")
  foreach(p ${FF_LAYER_${layer}_FILES})
    string(REGEX REPLACE "/[^/]*$" "" dir "${p}")
    foreach(e ${S_EXTENSIONS})
      list(APPEND globs "${root}/${dir}/*.${e}")
    endforeach()
  endforeach()
  set(files "")
  if(globs AND CMAKE_SCRIPT_MODE_FILE)
    file(GLOB_RECURSE files ${globs})
  elseif(globs)
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${globs})
  endif()
  set(mine "")
  foreach(f ${files})
    file(RELATIVE_PATH rel "${root}" "${f}")
    ff_layer_of("${rel}" l)
    if(l STREQUAL layer)
      list(APPEND mine "${f}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES mine)
  list(SORT mine)
  set(${out} "${mine}" PARENT_SCOPE)
endfunction()

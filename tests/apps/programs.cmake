# tests/apps/programs.cmake — whole-program checks of the built programs (ctest apps/programs, seconds):
# an absurd --threads is refused with a message naming the option (no crash inside OpenMP), fit_image --fov 0 is
# refused up front naming --fov, ffdata synth refuses a folder holding the user's files and leaves it as it was,
# and a synth that fails leaves no partial folder.
#   cmake -DBIN=build -DWORK=/tmp/x -P tests/apps/programs.cmake
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

# expect(NAME RC NEEDLE cmd...): the program exits with RC (not a signal) and its stderr contains NEEDLE
function(expect name want_rc needle)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  if(NOT "${rc}" STREQUAL "${want_rc}")
    message(FATAL_ERROR "${name}: exit '${rc}', expected ${want_rc}\nstdout: ${out}\nstderr: ${err}")
  endif()
  string(FIND "${err}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${name}: stderr lacks '${needle}'\nstderr: ${err}")
  endif()
  message(STATUS "${name}: ok (${rc}): ${err}")
endfunction()

if(EXISTS ${BIN}/render)  # programs built with runtime/
  expect("render --threads 100000" 1 "--threads" ${BIN}/render --model none.ffck --threads 100000)
  expect("interpolate --threads 100000" 1 "--threads" ${BIN}/interpolate --model none.ffck --threads 100000)
  expect("animate --threads 100000" 1 "--threads" ${BIN}/animate --model none.ffck --threads 100000)
  expect("animate, a missing model" 1 "none.ffck" ${BIN}/animate --model none.ffck --motion talk --out ${WORK}/a)
  expect("export --threads 100000" 1 "--threads" ${BIN}/export --model none.ffck --out x.ffpk --threads 100000)
endif()
expect("train --threads 100000" 1 "threads" ${BIN}/train --threads 100000)
expect("fit_image --threads 100000" 2 "--threads" ${BIN}/fit_image --image none.jpg --threads 100000)
expect("fit_image --fov 0" 2 "--fov" ${BIN}/fit_image --image none.jpg --fov 0)
expect("ffdata check --deep --threads 100000" 1 "--threads" ${BIN}/ffdata check --root none --deep --threads 100000)
expect("ffdata synth --threads 100000" 1 "--threads" ${BIN}/ffdata synth --out ${WORK}/s --threads 100000)

# a folder with the user's files is refused and kept as it was
file(WRITE ${WORK}/mine/holiday.jpg "x")
expect("ffdata synth into a foreign folder" 1 "is not empty and is not an earlier output of ffdata-synth"
       ${BIN}/ffdata synth --out ${WORK}/mine/ --n 1 --heldout 0)
file(GLOB left RELATIVE ${WORK} ${WORK}/*)
if(NOT left STREQUAL "mine")
  message(FATAL_ERROR "ffdata synth left '${left}' in ${WORK}")
endif()
file(GLOB kept RELATIVE ${WORK}/mine ${WORK}/mine/*)
if(NOT kept STREQUAL "holiday.jpg")
  message(FATAL_ERROR "ffdata synth changed the user's folder: ${kept}")
endif()
# a synth that fails after its output folder was started leaves nothing behind
expect("ffdata synth failing half-way" 1 "nonexistent.pkl"
       ${BIN}/ffdata synth --out ${WORK}/fresh --n 1 --heldout 0 --model ${WORK}/nonexistent.pkl)
file(GLOB left RELATIVE ${WORK} ${WORK}/*)
if(NOT left STREQUAL "mine")
  message(FATAL_ERROR "a failed ffdata synth left '${left}' in ${WORK}")
endif()
file(REMOVE_RECURSE ${WORK})

# tests/apps/programs.cmake — whole-program checks of the built programs (ctest apps/programs, seconds):
# an absurd --threads is refused with a message naming the option (no crash inside OpenMP), every program exits 2
# for a bad command line and 1 for a failed job, fit_image's bad option
# values (--fov 0, --face 1.5, --turntable-size 0, --focal -100) are refused up front naming the option, ffdata
# synth, ffeval and fit_image refuse a folder holding the user's files (fit_image also the working folder and a file) and
# leave it as it was, a synth that fails leaves no partial folder; export's .ply: SH-3 layout by default,
# --sh_degree 0, --up -y; OpenMP waits passively unless the
# user chose a policy.
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
  expect("render --threads 100000" 2 "--threads" ${BIN}/render --model none.ffck --threads 100000)
  expect("interpolate --threads 100000" 2 "--threads" ${BIN}/interpolate --model none.ffck --threads 100000)
  expect("animate --threads 100000" 2 "--threads" ${BIN}/animate --model none.ffck --threads 100000)
  expect("animate, a missing model" 1 "none.ffck" ${BIN}/animate --model none.ffck --motion talk --out ${WORK}/a)
  expect("export --threads 100000" 2 "--threads" ${BIN}/export --model none.ffck --out x.ffpk --threads 100000)
endif()
expect("train --threads 100000" 2 "threads" ${BIN}/train --threads 100000)
expect("fit_image --up z" 2 "--up" ${BIN}/fit_image --image none.jpg --up z)
# one exit status for a bad command line in every program (apps/common/cli.h UsageError): 2, and the message names
# the option without a source location; a failure of the work itself stays 1
foreach(prog render interpolate animate export ffview upgrade_model train fit_image ffeval)
  if(EXISTS ${BIN}/${prog})
    expect("${prog} --no-such-option" 2 "unknown option --no-such-option (see --help)" ${BIN}/${prog} --no-such-option 1)
  endif()
endforeach()
foreach(prog ffdata flame)
  expect("${prog} no-such-command" 2 "unknown command 'no-such-command'" ${BIN}/${prog} no-such-command)
endforeach()
if(EXISTS ${BIN}/render)
  expect("render without --model" 2 "--model is required" ${BIN}/render)
  expect("render, a missing model file" 1 "does not exist" ${BIN}/render --model none.ffck)
endif()
expect("train --steps abc" 2 "train: error: option steps: expected an integer" ${BIN}/train --steps abc)
execute_process(COMMAND ${BIN}/fit_image --help RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT out MATCHES "exit codes: 0 ok, 1 failure, 2 bad usage")
  message(FATAL_ERROR "fit_image --help (exit ${rc}) does not give the exit codes:\n${out}")
endif()
# the bench programs parse with the same parser: a bad value is refused before any timing, naming the option
if(EXISTS ${BIN}/bench_core)
  expect("bench_core --repeats 0" 2 "--repeats" ${BIN}/bench_core --repeats 0)
  expect("bench_core --device gpu" 2 "--device" ${BIN}/bench_core --device gpu)
  expect("bench_splat --bogus" 2 "--bogus" ${BIN}/bench_splat --bogus)
  expect("bench_train --scale big" 2 "--scale" ${BIN}/bench_train --scale big)
  expect("bench_sgemm_ab --rounds 1" 2 "--rounds" ${BIN}/bench_sgemm_ab --rounds 1)
  expect("bench_generator --fused 2" 2 "--fused" ${BIN}/bench_generator --fused 2)
  expect("bench_flame --warmup -1" 2 "--warmup" ${BIN}/bench_flame --warmup -1)
  expect("bench_distributed --floats 0" 2 "--floats" ${BIN}/bench_distributed --floats 0)
endif()
expect("fit_image --sh-degree 2" 2 "--sh-degree" ${BIN}/fit_image --image none.jpg --sh-degree 2)

# viewer conventions of exported .ply (runtime/formats.h): the full SH-3 layout by default, --sh_degree 0 on request,
# --up -y marks the file and stores (x, -y, -z); a tiny model from one step of a small toy run
if(EXISTS ${BIN}/export)
  execute_process(COMMAND ${BIN}/train --toy true --steps 1 --out_dir ${WORK}/plycheck/toy --toy_subjects 2 --toy_views 2
                  --model.tex_res 16 --model.channel_base 256 --model.channel_max 32 --model.K 2
                  --max_heldout_subjects 0 --threads 2 RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  file(GLOB ck ${WORK}/plycheck/toy/checkpoints/*.ffck)
  if(NOT rc EQUAL 0 OR NOT ck)
    message(FATAL_ERROR "train --toy: ${rc} ${err}")
  endif()
  foreach(v "sh3.ply" "sh0.ply;--sh_degree;0" "down.ply;--up;-y")
    list(GET v 0 out)
    list(REMOVE_AT v 0)
    set(extra ${v})
    execute_process(COMMAND ${BIN}/export --model ${ck} --identity 1 --out ${WORK}/plycheck/${out} ${extra} --threads 2
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "export ${out}: ${rc} ${err}")
    endif()
    file(STRINGS ${WORK}/plycheck/${out} header_${out} LIMIT_INPUT 8000 REGEX "^(comment|property float f_rest_44)")
  endforeach()
  if(NOT header_sh3.ply STREQUAL "property float f_rest_44")
    message(FATAL_ERROR "export .ply default is not the plain SH-3 layout: '${header_sh3.ply}'")
  endif()
  if(NOT header_sh0.ply STREQUAL "")
    message(FATAL_ERROR "export --sh_degree 0 wrote '${header_sh0.ply}'")
  endif()
  if(NOT header_down.ply MATCHES "^comment facefield up -y.*;property float f_rest_44$")
    message(FATAL_ERROR "export --up -y: header lines '${header_down.ply}'")
  endif()
  file(SIZE ${WORK}/plycheck/sh3.ply s3)
  file(SIZE ${WORK}/plycheck/down.ply sd)
  file(READ ${WORK}/plycheck/sh3.ply h3 LIMIT 4000)
  file(READ ${WORK}/plycheck/down.ply hd LIMIT 4000)
  string(FIND "${h3}" "end_header" e3)
  string(FIND "${hd}" "end_header" ed)
  math(EXPR body3 "${s3} - ${e3}")
  math(EXPR bodyd "${sd} - ${ed}")
  if(NOT body3 EQUAL bodyd)
    message(FATAL_ERROR "export --up -y changed the body size: ${body3} vs ${bodyd}")
  endif()
  # the first record's y and z are negated: compare the float bytes (little-endian, sign in the last byte)
  math(EXPR o3 "${e3} + 11")
  math(EXPR od "${ed} + 11")
  file(READ ${WORK}/plycheck/sh3.ply r3 OFFSET ${o3} LIMIT 12 HEX)
  file(READ ${WORK}/plycheck/down.ply rd OFFSET ${od} LIMIT 12 HEX)
  string(SUBSTRING "${r3}" 0 8 x3)
  string(SUBSTRING "${rd}" 0 8 xd)
  if(NOT x3 STREQUAL xd OR r3 STREQUAL rd)
    message(FATAL_ERROR "export --up -y: first record ${rd}, canonical ${r3}: x must stay, y and z turn")
  endif()
  message(STATUS "export .ply layouts: ok (SH-3 default, SH 0, up -y)")
  expect("export --up -y to .splat" 2 "--up -y is for .ply" ${BIN}/export --model ${ck} --identity 0 --out x.splat
         --up -y)
  expect("export --up x" 2 "--up" ${BIN}/export --model ${ck} --out x.ply --up x)
  file(REMOVE_RECURSE ${WORK}/plycheck)
endif()
expect("fit_image --threads 100000" 2 "--threads" ${BIN}/fit_image --image none.jpg --threads 100000)
expect("fit_image --fov 0" 2 "--fov" ${BIN}/fit_image --image none.jpg --fov 0)
expect("fit_image --face 1.5" 2 "--face must be an integer" ${BIN}/fit_image --image none.jpg --face 1.5)
expect("fit_image --turntable-size 0" 2 "--turntable-size" ${BIN}/fit_image --image none.jpg --turntable-size 0)
expect("fit_image --focal -100" 2 "--focal" ${BIN}/fit_image --image none.jpg --focal -100)
expect("ffdata check --deep --threads 100000" 2 "--threads" ${BIN}/ffdata check --root none --deep --threads 100000)
expect("ffdata synth --threads 100000" 2 "--threads" ${BIN}/ffdata synth --out ${WORK}/s --threads 100000)

# a folder with the user's files is refused and kept as it was
file(WRITE ${WORK}/mine/holiday.jpg "x")
expect("ffdata synth into a foreign folder" 1 "is not empty and is not an earlier output of ffdata-synth"
       ${BIN}/ffdata synth --out ${WORK}/mine/ --n 1 --heldout 0)
if(EXISTS ${BIN}/ffeval)  # make eval's program: bad values before any work, the user's folder refused
  expect("ffeval --min-face 0" 2 "--min-face" ${BIN}/ffeval --model none.ffck --min-face 0)
  expect("ffeval into a foreign folder" 1 "is not empty and is not an earlier output of ffeval"
         ${BIN}/ffeval --model none.ffck --out ${WORK}/mine/)
endif()
file(GLOB left RELATIVE ${WORK} ${WORK}/*)
if(NOT left STREQUAL "mine")
  message(FATAL_ERROR "ffdata synth left '${left}' in ${WORK}")
endif()
file(GLOB kept RELATIVE ${WORK}/mine ${WORK}/mine/*)
if(NOT kept STREQUAL "holiday.jpg")
  message(FATAL_ERROR "ffdata synth changed the user's folder: ${kept}")
endif()
# fit_image --out: the folder holding the photo, the working folder (relative and absolute) and an existing file
# are refused before the photo is read (holiday.jpg is no image: reading it would fail differently)
expect("fit_image --out the photo's folder" 1 "refusing to write into"
       ${BIN}/fit_image --image ${WORK}/mine/holiday.jpg --out ${WORK}/mine/)
expect("fit_image --out ." 1 "give a folder of its own" ${BIN}/fit_image --image ${WORK}/mine/holiday.jpg --out .)
expect("fit_image --out $(pwd)" 1 "refusing to write into" ${BIN}/fit_image --image ${WORK}/mine/holiday.jpg --out ${WORK})
expect("fit_image --out a file" 1 "not a folder"
       ${BIN}/fit_image --image ${WORK}/mine/holiday.jpg --out ${WORK}/mine/holiday.jpg)
file(GLOB left RELATIVE ${WORK} ${WORK}/*)
if(NOT left STREQUAL "mine")
  message(FATAL_ERROR "fit_image left '${left}' in ${WORK}")
endif()
file(GLOB kept RELATIVE ${WORK}/mine ${WORK}/mine/*)
file(READ ${WORK}/mine/holiday.jpg photo)
if(NOT kept STREQUAL "holiday.jpg" OR NOT photo STREQUAL "x")
  message(FATAL_ERROR "fit_image changed the user's folder: ${kept}")
endif()
# a synth that fails after its output folder was started leaves nothing behind
expect("ffdata synth failing half-way" 1 "nonexistent.pkl"
       ${BIN}/ffdata synth --out ${WORK}/fresh --n 1 --heldout 0 --model ${WORK}/nonexistent.pkl)
file(GLOB left RELATIVE ${WORK} ${WORK}/*)
if(NOT left STREQUAL "mine")
  message(FATAL_ERROR "a failed ffdata synth left '${left}' in ${WORK}")
endif()

# OpenMP waits passively (apps/common/cli.h start_program): with neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set, the
# program re-executes itself with OMP_WAIT_POLICY=PASSIVE, whose libgomp shows GOMP_SPINCOUNT '0' (libgomp's default
# spins 300000 times); a policy the user set is left alone
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=OMP_WAIT_POLICY --unset=GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose
                        ${BIN}/ffdata --help RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "GOMP_SPINCOUNT = '0'")
  message(FATAL_ERROR "ffdata --help did not run OpenMP passively (exit ${rc}):\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose ${BIN}/ffdata --help
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR err MATCHES "GOMP_SPINCOUNT = '0'" OR NOT err MATCHES "OMP_WAIT_POLICY = 'ACTIVE'")
  message(FATAL_ERROR "ffdata --help overrode the user's OMP_WAIT_POLICY=active (exit ${rc}):\n${err}")
endif()
message(STATUS "OpenMP wait policy: passive by default, the user's choice kept: ok")
file(REMOVE_RECURSE ${WORK})

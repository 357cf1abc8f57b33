# cmake/dlib.cmake — dlib (Debian: libdlib-dev; model file from libdlib-data) for fit_image's face detector and
# 68-point landmark predictor (train/fit/detect.cpp). Include it at the END of the top-level CMakeLists.txt
# (after ff_train_fit exists):
#     include(cmake/dlib.cmake)
# When dlib is not installed, the build still succeeds: detection then reports "built without dlib; pass
# --landmarks FILE" at run time. The same file also works as -DCMAKE_PROJECT_INCLUDE=cmake/dlib.cmake (it then
# defers itself to the end of the top-level directory).
if(NOT COMMAND ff_link_dlib)
  function(ff_link_dlib)
    if(NOT TARGET ff_train_fit OR FF_DLIB_LINKED)
      return()
    endif()
    find_package(dlib CONFIG QUIET)
    if(TARGET dlib::dlib)
      target_link_libraries(ff_train_fit PUBLIC dlib::dlib)
      target_compile_definitions(ff_train_fit PUBLIC FF_WITH_DLIB=1)
      message(STATUS "facefield: dlib ${dlib_VERSION} found: face detection + 68 landmarks in fit_image")
    else()
      message(STATUS "facefield: dlib not found (apt-get install libdlib-dev libdlib-data): fit_image needs --landmarks")
    endif()
    set(FF_DLIB_LINKED ON PARENT_SCOPE)
  endfunction()
endif()
if(TARGET ff_train_fit)
  ff_link_dlib()
else()
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL ff_link_dlib)
endif()

# Packaging test. Builds and runs a tiny consumer (project/: ipckit::ipckit and
# ipckit::programs) of the already-built ipckit
#  1. installed into a prefix (cmake --install), found with find_package (and ipckit.pc
#     names that prefix);
#  2. packaged by CPack as a .deb, unpacked with dpkg -x (as apt would install it, but into
#     a temporary directory), found with find_package and with pkg-config (the prefix
#     redefined to the unpacked tree's).
# Arguments: SOURCE_DIR, BUILD_DIR (the ipckit build), WORK_DIR (emptied), CXX.
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(expected "consumer received: ping\nmanager dict: {'answer': 42}\n")

# Runs a command, fails the test with its output if it fails; OUT receives its stdout.
function(run what)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUT" "COMMAND")
    execute_process(COMMAND ${arg_COMMAND} OUTPUT_VARIABLE out ERROR_VARIABLE err
                    RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
        list(JOIN arg_COMMAND " " line)
        message(FATAL_ERROR "${what} failed (${rc}): ${line}\n${out}\n${err}")
    endif()
    if(arg_OUT)
        set(${arg_OUT} "${out}" PARENT_SCOPE)
    endif()
endfunction()

# Builds the consumer with CMake against the package in CONFIG_DIR, runs it.
function(consume_with_cmake name config_dir)
    run("configuring the consumer (${name})"
        COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install_consumer/project
                -B ${WORK_DIR}/${name} -DCMAKE_CXX_COMPILER=${CXX} -Dipckit_DIR=${config_dir})
    run("building the consumer (${name})" COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/${name})
    run("running the consumer (${name})" COMMAND ${WORK_DIR}/${name}/consumer OUT out)
    if(NOT "${out}\n" STREQUAL expected)
        message(FATAL_ERROR "the consumer (${name}) printed '${out}', expected '${expected}'")
    endif()
    run("running the ipckit::programs consumer (${name})"
        COMMAND ${WORK_DIR}/${name}/programs_consumer OUT out)
    if(NOT out STREQUAL "programs: -42 0 1 1 2 3")
        message(FATAL_ERROR "the ipckit::programs consumer (${name}) printed '${out}'")
    endif()
    message(STATUS "${name}: built with find_package(ipckit) from ${config_dir}, ran")
endfunction()

# Builds the consumer with `c++ $(pkg-config --cflags --libs ipckit)` (extra pkg-config
# arguments after PREFIX), checks that the headers and library come from PREFIX, runs it.
function(consume_with_pkg_config name pc_dir prefix)
    set(pkg_config ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} ${PKG_CONFIG} ${ARGN})
    run("pkg-config --cflags (${name})" COMMAND ${pkg_config} --cflags ipckit OUT cflags)
    run("pkg-config --libs (${name})" COMMAND ${pkg_config} --libs ipckit OUT libs)
    if(NOT " ${cflags} " MATCHES " -I${prefix}/include "
       OR NOT " ${libs} " MATCHES " -L${prefix}/${libdir} .*-lipckit .*-lcrypto ")
        message(FATAL_ERROR "pkg-config (${name}) does not point into ${prefix}: ${cflags} ${libs}")
    endif()
    separate_arguments(cflags UNIX_COMMAND "${cflags}")
    separate_arguments(libs UNIX_COMMAND "${libs}")
    set(exe ${WORK_DIR}/${name}-consumer)
    run("compiling the consumer (${name})"
        COMMAND ${CXX} -std=c++20 ${cflags} ${SOURCE_DIR}/tests/install_consumer/project/main.cpp
                -o ${exe} ${libs})
    run("running the consumer (${name})" COMMAND ${exe} OUT out)
    if(NOT "${out}\n" STREQUAL expected)
        message(FATAL_ERROR "the consumer (${name}) printed '${out}', expected '${expected}'")
    endif()
    list(JOIN cflags " " cflags)
    list(JOIN libs " " libs)
    message(STATUS "${name}: built with pkg-config (${cflags} ${libs}), ran")
endfunction()

# Asserts that pkg-config reads VARIABLE of ipckit.pc in PC_DIR as EXPECTED.
function(expect_pc_variable pc_dir variable expected)
    run("pkg-config --variable=${variable}"
        COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} ${PKG_CONFIG} ${ARGN}
                --variable=${variable} ipckit OUT value)
    if(NOT value STREQUAL expected)
        message(FATAL_ERROR "ipckit.pc in ${pc_dir}: ${variable} is '${value}', expected '${expected}'")
    endif()
endfunction()

find_program(PKG_CONFIG pkg-config REQUIRED)
find_program(DPKG dpkg REQUIRED)
find_program(DPKG_DEB dpkg-deb REQUIRED)
file(STRINGS ${BUILD_DIR}/CMakeCache.txt libdir REGEX "^CMAKE_INSTALL_LIBDIR:")
string(REGEX REPLACE "^[^=]*=" "" libdir "${libdir}")

# 1. An install prefix.
set(prefix ${WORK_DIR}/prefix)
run("installing" COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
consume_with_cmake(prefix-cmake ${prefix}/${libdir}/cmake/ipckit)
expect_pc_variable(${prefix}/${libdir}/pkgconfig prefix ${prefix})

# 2. The Debian package, made in its own directory from the build's CPack configuration.
run("cpack -G DEB"
    COMMAND ${CMAKE_COMMAND} -E chdir ${BUILD_DIR}
            cpack -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${WORK_DIR}/deb)
file(GLOB debs ${WORK_DIR}/deb/ipckit_*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
    message(FATAL_ERROR "cpack made ${count} packages ipckit_*.deb in ${WORK_DIR}/deb: ${debs}")
endif()
run("dpkg-deb -f" COMMAND ${DPKG_DEB} -f ${debs} Package Depends OUT fields)
if(NOT fields MATCHES "Package: ipckit\n" OR NOT fields MATCHES "Depends:.*libssl-dev")
    message(FATAL_ERROR "${debs}: unexpected control fields:\n${fields}")
endif()
run("dpkg-deb -c" COMMAND ${DPKG_DEB} -c ${debs} OUT contents)
set(wanted usr/include/ipckit/ipckit.hpp usr/${libdir}/libipckit
    usr/${libdir}/cmake/ipckit/ipckitConfig.cmake usr/${libdir}/cmake/ipckit/ipckitTargets.cmake
    usr/${libdir}/pkgconfig/ipckit.pc)
if(EXISTS ${BUILD_DIR}/apps/ipckit/ipckit)
    list(APPEND wanted usr/bin/ipckit)
endif()
foreach(file IN LISTS wanted)
    if(NOT contents MATCHES " \\./${file}")
        message(FATAL_ERROR "${debs} lacks ${file}:\n${contents}")
    endif()
endforeach()
message(STATUS "${debs}:\n${fields}")

set(root ${WORK_DIR}/root)
run("dpkg -x" COMMAND ${DPKG} -x ${debs} ${root})
if(EXISTS ${root}/usr/bin/ipckit)
    run("the packaged ipckit program" COMMAND ${root}/usr/bin/ipckit --help OUT help)
endif()
consume_with_cmake(deb-cmake ${root}/usr/${libdir}/cmake/ipckit)
# As installed by apt, the .pc says prefix=/usr; here the prefix is the unpacked tree's.
# (pkg-config --define-prefix, which derives it from where the .pc is, would do too when
# the library directory is one level deep, PREFIX/lib/pkgconfig.)
expect_pc_variable(${root}/usr/${libdir}/pkgconfig prefix /usr)
consume_with_pkg_config(deb-pkg-config ${root}/usr/${libdir}/pkgconfig ${root}/usr
                        --define-variable=prefix=${root}/usr)

# Passed: the trees above hold three copies of the library (about 50 MB); keep them only
# when something failed, for a look.
file(REMOVE_RECURSE ${WORK_DIR})

# Packaging: a pkg-config file next to the CMake package, and a Debian package made by
# CPack (`cpack -G DEB` in the build directory: library, headers, CMake and pkg-config
# files, the ipckit program). Included from the top CMakeLists.txt after the install rules.

# ipckit.pc. Its prefix is the one the files are installed under, known only at install
# time (`cmake --install --prefix P` gives P; cpack gives /usr, with DESTDIR set to its
# staging directory), so the file is written by the install step, then installed.
# The OpenSSL dependency is private to a shared libipckit; a static libipckit.a carries no
# dependencies of its own, so there every program that links it needs -lcrypto too.
if(BUILD_SHARED_LIBS)
    set(IPCKIT_PC_REQUIRES "Requires.private: libcrypto hiredis")
else()
    set(IPCKIT_PC_REQUIRES "Requires: libcrypto hiredis")
endif()
foreach(dir LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
        set(IPCKIT_PC_${dir} "${CMAKE_INSTALL_${dir}}")
    else()
        set(IPCKIT_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
    endif()
endforeach()
set(IPCKIT_PC_PREFIX "@IPCKIT_PC_PREFIX@")  # left for the install step
configure_file(cmake/ipckit.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/ipckit.pc.in @ONLY)
install(CODE "
    set(IPCKIT_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${PROJECT_BINARY_DIR}/pkgconfig/ipckit.pc.in\"
                   \"${PROJECT_BINARY_DIR}/pkgconfig/ipckit.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/ipckit.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The Debian package: one package, ipckit_VERSION_ARCH.deb, installed under /usr.
# Depends: what the ipckit program links (found by dpkg-shlibdeps), and libssl-dev, which
# find_dependency(OpenSSL) in ipckitConfig.cmake and `Requires: libcrypto` in ipckit.pc
# need to build a program against the library.
if(PROJECT_IS_TOP_LEVEL)
    set(IPCKIT_PACKAGE_CONTACT "ipckit developers <ipckit@localhost>"
        CACHE STRING "Maintainer field of the Debian package")
    set(CPACK_GENERATOR DEB)
    set(CPACK_PACKAGE_NAME ipckit)
    set(CPACK_PACKAGE_VENDOR ipckit)
    set(CPACK_PACKAGE_CONTACT "${IPCKIT_PACKAGE_CONTACT}")
    set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
    string(CONCAT CPACK_PACKAGE_DESCRIPTION
        "System V message queues, semaphores and shared memory, multiprocessing-style shared "
        "values, arrays and processes, and a manager server for shared dicts and lists. "
        "Contains the library, its headers, CMake and pkg-config files, and the ipckit program.")
    set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
    set(CPACK_STRIP_FILES ON)  # the program; debug information stays in the build
    set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
    set(CPACK_DEBIAN_PACKAGE_DEPENDS "libssl-dev, libhiredis-dev")
    if(BUILD_SHARED_LIBS)
        set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
    endif()
    include(CPack)
endif()

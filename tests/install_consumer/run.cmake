# Installs the already-built ipckit into a prefix, then configures, builds and runs a
# tiny consumer that uses find_package(ipckit): ipckit::ipckit and ipckit::programs.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install_consumer/project
                        -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "configuring the consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(rc OR NOT out STREQUAL "consumer received: ping\n")
    message(FATAL_ERROR "the consumer failed (${rc}): ${out}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/programs_consumer OUTPUT_VARIABLE out2 RESULT_VARIABLE rc)
if(rc OR NOT out2 STREQUAL "programs: -42 0 1 1 2 3\n")
    message(FATAL_ERROR "the ipckit::programs consumer failed (${rc}): ${out2}")
endif()
message(STATUS "consumers built against the install tree and ran: ${out}${out2}")

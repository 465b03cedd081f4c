# yaml_man.cmake - writes cnc_ingest.yaml(5): docs/man/cnc_ingest.yaml.5.in with @KEYS@ replaced
# by the plugin's key table as roff (cnc-ingest-check --keys-roff). Run by CMake at build time:
#   cmake -DCHECK=... -DIN=... -DOUT=... -P yaml_man.cmake
execute_process(COMMAND ${CHECK} --keys-roff OUTPUT_VARIABLE keys RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CHECK} --keys-roff failed: ${rc}")
endif()
file(READ ${IN} text)
string(REPLACE "@KEYS@\n" "${keys}" text "${text}")
file(WRITE ${OUT} "${text}")

# SPDX-License-Identifier: Apache-2.0
# Writes OUT, a C file holding kiln record's HTML page as one template: report.html with
# report.css, FLAMEJS (the UI's flame graph renderer, ui/web/flame.js: the page draws with the
# same code as kiln ui) and report.js put in place of its /*@CSS@*/, /*@FLAME@*/ and /*@JS@*/
# lines, so the written page needs no other file and no network. Run by the build (cmake -P)
# when an asset changes. (The variable is not named FLAME: old CMake rules would expand
# @FLAME@ in the placeholder.)
file(READ ${DIR}/report.html page)
file(READ ${DIR}/report.css css)
file(READ ${FLAMEJS} flame)
file(READ ${DIR}/report.js js)
string(REPLACE "/*@CSS@*/" "${css}" page "${page}")
string(REPLACE "/*@FLAME@*/" "${flame}" page "${page}")
string(REPLACE "/*@JS@*/" "${js}" page "${page}")
file(WRITE ${OUT}.page "${page}")
file(READ ${OUT}.page hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp "// Generated from profile/html by profile/html/embed.cmake; do not edit.\n#include <stddef.h>\n\nconst unsigned char profile_html_page[${n} + 1] = {\n${bytes}0 };\nconst size_t profile_html_page_len = ${n};\n")
# Only touch OUT when it changed, so an unrelated rebuild does not recompile it.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)

// Compiled by the layering tests (tests/CMakeLists.txt) against one layer's
// include path: it must fail for a layer below the engine and build for the
// engine itself (common/CMakeLists.txt explains the layers).
#include "common/engine/session.h"

int layering_probe() {
  return sizeof(esmtp::Session) > 0 ? 0 : 1;
}

/* Preloaded after the ASan runtime into the lua5.4 that runs the specs under `make sanitize`:
 * drops LD_PRELOAD from the environment once the loader has used it, so the programs the specs
 * start (the mock, the hostile server, curl, openssl, sh) run uninstrumented. Inheriting the
 * ASan runtime into them is slow and not what is being tested, and was seen to deadlock curl at
 * start-up (setlocale) under load. A child that needs ASan again (a Lua subprocess loading the
 * ASan module) is started through the build/asan/lua5.4 wrapper, which sets it afresh. */
#include <stdlib.h>

__attribute__((constructor)) static void asan_noinherit(void)
{
    unsetenv("LD_PRELOAD");
}

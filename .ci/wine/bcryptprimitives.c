/*
 * bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Rust's std
 * (1.78 and later) imports ProcessPrng from it for HashMap keys and the
 * like, so no Rust program starts without it. ProcessPrng fills the buffer
 * from the system generator, here RtlGenRandom (advapi32's
 * SystemFunction036), which takes at most ULONG bytes a call.
 *
 * Built with mingw by .ci/windows.sh into the Wine prefix, never committed
 * as a binary.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

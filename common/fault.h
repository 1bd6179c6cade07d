/* fault.h - the debug build's fault switch: posts that fail on demand, as
 * Windows fails them under memory or handle pressure (make DEBUG=1 only).
 *
 * The debug build force-includes this header into every file (-include
 * common/fault.h, mingw-w64), so no stage names it: a call to WSARecv, WSASend
 * or WSASocketW reaches a wrapper in fault.c, and so does WSAIoctl, whose
 * wrapper hands out a wrapper for AcceptEx when a program asks for its address
 * (WSAIoctl's SIO_GET_EXTENSION_FUNCTION_POINTER, where accepts are pooled).
 *
 * The environment variable IOCP_FAULT says which posts fail: rules
 * KIND:WHICH:ERROR, separated by commas (at most 8):
 *   KIND    recv (WSARecv), send (WSASend), accept (AcceptEx) or socket
 *           (WSASocketW: the listener's is the 1st, then the AcceptEx
 *           sockets of a pool of accepts); the posts of each kind are
 *           counted from 1 in the order the program makes them, across all
 *           its threads
 *   WHICH   N      the Nth post
 *           N-M    the Nth to the Mth
 *           %N     every Nth: N, 2N, 3N, ... (a stress)
 *   ERROR   the Winsock error it fails with, as a number: 10055 WSAENOBUFS (no
 *           buffer space), 10054 WSAECONNRESET (an AcceptEx whose client
 *           reset), 10024 WSAEMFILE; or hold=MS: the post does not fail but
 *           waits MS ms (1..60000) before the real call, in the caller's thread
 *           and under whatever locks it holds (a worker slow in a post, as a
 *           preempted one is)
 * e.g. IOCP_FAULT=recv:5:10055,accept:3-5:10054,socket:6:10055
 *      IOCP_FAULT=recv:2:hold=3000
 *
 * A post a rule picks fails the way Windows fails one at once: SOCKET_ERROR
 * (AcceptEx: FALSE, WSASocketW: INVALID_SOCKET) with WSASetLastError(ERROR);
 * nothing is done and no completion is queued, so the caller's "post failed"
 * branch runs. Every other post is the real call. Each failure is logged on
 * stderr, "fault: recv post 5 fails with 10055 (IOCP_FAULT)"; each hold twice,
 * "fault: recv post 2 holds 3000 ms (IOCP_FAULT)" before its wait (a test
 * waits for it: the post is being held) and "fault: recv post 2 held 3000 ms:
 * made now" after; the rules once at start, "fault: IOCP_FAULT=...
 * armed". Rules that do not parse stop the program (exit 2) before main runs.
 * Without IOCP_FAULT every call is the real one. */
#ifndef FAULT_H
#define FAULT_H

#ifdef IOCP_DEBUG

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: this comes before all */
#endif
#include <winsock2.h>

int WSAAPI fault_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD bytes,
                         LPDWORD flags, LPWSAOVERLAPPED ov,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
int WSAAPI fault_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD bytes,
                         DWORD flags, LPWSAOVERLAPPED ov,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
SOCKET WSAAPI fault_WSASocketW(int af, int type, int protocol,
                               LPWSAPROTOCOL_INFOW info, GROUP group,
                               DWORD flags);
int WSAAPI fault_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size,
                          LPVOID out, DWORD out_size, LPDWORD returned,
                          LPWSAOVERLAPPED ov,
                          LPWSAOVERLAPPED_COMPLETION_ROUTINE done);

/* After <winsock2.h>: its declarations keep their names, the calls below get
 * these. */
#define WSARecv  fault_WSARecv
#define WSASend  fault_WSASend
#define WSAIoctl fault_WSAIoctl
#define WSASocketW fault_WSASocketW

#endif
#endif

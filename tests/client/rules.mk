# tests/client/rules.mk - the test clients' library (tests/client/client.c over portable.h),
# built into each client that uses it: the scenario client (tests/scenario/rules.mk), the
# shutdown suite's client (tests/shutdown/rules.mk) and the bench's idle client
# (bench/rules.mk). Included by the top-level Makefile before those.

# "" when included from the top, else the path to the top with a '/'.
CLIENT_TOP := $(patsubst %tests/client/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CLIENT_SRC := $(CLIENT_TOP)tests/client/client.c
CLIENT_DEP := $(CLIENT_SRC) $(addprefix $(CLIENT_TOP),tests/client/client.h tests/client/portable.h common/http.h)
# Where a client's sources find client.h, portable.h and common/http.h (HTTP_MAX_BIG).
CLIENT_INC := -I$(CLIENT_TOP)tests/client -I$(CLIENT_TOP)common
# A native (Linux) client: the host compiler, warnings as errors.
CLIENT_HOST_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror $(CLIENT_INC)

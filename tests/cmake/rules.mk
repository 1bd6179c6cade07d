# tests/cmake/rules.mk - `make cmake-test`: CMakeLists.txt (the Visual Studio path) builds
# every stage and the client with warnings as errors (mingw-w64 here, MSYS2's gcc on
# Windows), and each CMake-built stage serves the CMake-built client (tests/cmake/run.sh).
CMAKE_TOP := $(patsubst %tests/cmake/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: cmake-test
cmake-test: | deps-cmake+python3
	BUILD_DIR=$(abspath $(BUILD)/cmake) SCENARIOS=$(abspath $(BUILD)/cmake/tests/scenarios.exe) \
	CC=$(CC) bash $(CMAKE_TOP)tests/cmake/run.sh $(STAGES)

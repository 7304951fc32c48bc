# gust: build, test, run. Plain GNU make; pkg-config for every library.
#
#   make            build bin/gust and the task executables
#   make deps       install missing Debian packages (idempotent, quiet when nothing is missing)
#   make test       deps + build + every test (unit, data-driven, integration)
#   make asan       the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make run        deps + build + the demo (see README.md)
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make format / format-check / clean / install (PREFIX)

PREFIX ?= /usr/local
CC ?= cc
BUILD ?= build
BIN ?= bin
FUZZ_SECONDS ?= 60

PKGS := libpq rdkafka libcurl jansson yaml-0.1 libcrypto avro-c libmicrohttpd zlib libpcre2-8 \
	geoip libmaxminddb
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
ifneq ($(CI),)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
OPT ?= -O2
CFLAGS ?= $(OPT) -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(SAN_FLAGS) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
# Each program sees only its own headers and the shared ones in common/: scheduler modules
# include each other as "module/module.h"; a module's private headers ("x_int.h") are found
# only from its own folder. Tests see everything.
COMMON_INC := -iquote common
SCHED_INC := -iquote scheduler $(COMMON_INC)
TASK_INC := -iquote tasks/lib $(COMMON_INC)
TEST_INC := -iquote scheduler -iquote tasks/lib $(COMMON_INC)
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
SCHED_SRC := $(wildcard scheduler/*.c scheduler/*/*.c)
SCHED_LIB_SRC := $(filter-out scheduler/main.c,$(SCHED_SRC))
SCHED_LIB_OBJ := $(SCHED_LIB_SRC:%.c=$(BUILD)/%.o)
# The SQL migrations are compiled into the binary (store_migrations[] in store.h).
MIGRATIONS := $(sort $(wildcard migrations/[0-9]*.sql))
SCHED_LIB_OBJ += $(BUILD)/gen/migrations.o
TASKLIB_SRC := $(wildcard tasks/lib/*.c)
TASKLIB_OBJ := $(TASKLIB_SRC:%.c=$(BUILD)/%.o)
TASK_SRC := $(wildcard tasks/*.c)
TASK_BINS := $(TASK_SRC:tasks/%.c=$(BIN)/%)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps test check unit integration asan valgrind fuzz format format-check run stop \
	bench clean install

all: $(BIN)/gust $(TASK_BINS) $(TOOL_BINS) $(UNIT_BINS)

$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(COMMON_INC) -c -o $@ $<

$(BUILD)/scheduler/%.o: scheduler/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SCHED_INC) -c -o $@ $<

$(BUILD)/tasks/%.o: tasks/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TASK_INC) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_INC) -c -o $@ $<

# (the folder too: its time changes when a file is added or removed)
$(BUILD)/gen/migrations.c: $(MIGRATIONS) migrations scripts/embed_migrations.sh
	@mkdir -p $(dir $@)
	bash scripts/embed_migrations.sh $@ $(MIGRATIONS)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(BASE_CFLAGS) $(SCHED_INC) -c -o $@ $<

$(BUILD)/libgust.a: $(SCHED_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libgusttask.a: $(TASKLIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# code both programs share (common/): one library, linked by both
$(BUILD)/libgustcommon.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/gust: $(BUILD)/scheduler/main.o $(BUILD)/libgust.a $(BUILD)/libgustcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BIN)/%: $(BUILD)/tasks/%.o $(BUILD)/libgusttask.a $(BUILD)/libgustcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libgust.a $(BUILD)/libgusttask.a \
		$(BUILD)/libgustcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) -lm

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(BUILD)/libgust.a $(BUILD)/libgusttask.a \
		$(BUILD)/libgustcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

deps:
	@bash scripts/deps.sh

# The whole suite: unit tests (cmocka), data-driven DAG cases, integration tests against a
# throwaway PostgreSQL, the Kafka-protocol mock cluster and HTTP fixture servers.
test: deps
	@$(MAKE) --no-print-directory all
	@GUST_BUILD=$(BUILD) GUST_BIN_DIR=$(BIN) bash tests/run.sh

check: test

# Same tests, sanitized, in separate folders so the normal build is left alone.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin SANITIZE=1 OPT=-O1 test

valgrind: all
	@GUST_BUILD=$(BUILD) GUST_BIN_DIR=$(BIN) GUST_VALGRIND=1 bash tests/run.sh

fuzz: deps
	@$(MAKE) --no-print-directory $(BUILD)/gen/migrations.c
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run.sh

stop:
	@bash scripts/run.sh stop

bench:
	@bash scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh

# The image without a Docker engine: local debian base images made by debootstrap, then
# buildah builds docker/Dockerfile (see docker/README.md). image-test exercises it (slow: not
# part of make test; .ci/run runs it).
.PHONY: image image-test
image: deps
	@bash docker/build-image.sh

image-test: image
	@$(MAKE) --no-print-directory all
	@bash tests/image/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN)/gust $(TASK_BINS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

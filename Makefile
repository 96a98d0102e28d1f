# Rust-RocketMQ: the make targets Go-RocketMQ's README names, mapped to cargo.
#
#   make build                      release binaries in target/release
#   make run-nameserver             (terminal 1)
#   make run-broker                 (terminal 2)
#   make benchmark                  sync sends; COUNT, THREADS, SIZE, TOPIC override
#   make benchmark-async IN_FLIGHT=256 THREADS=4 COUNT=1000000
#
# NAMESRV_ADDR is passed to the clients, the tools and the examples.

CARGO        ?= cargo
RELEASE      := target/release
NAMESRV_ADDR ?= 127.0.0.1:9876
TOPIC        ?= BenchmarkTest
COUNT        ?= 1000
THREADS      ?= 5
SIZE         ?= 128
IN_FLIGHT    ?= 256
BROKER_CONF  ?= conf/broker.ron
MQADMIN      := $(RELEASE)/mqadmin -n $(NAMESRV_ADDR)
MQBENCH      := $(RELEASE)/mqbench -n $(NAMESRV_ADDR)
BENCH_ARGS   := -t $(TOPIC) -c $(COUNT) -w $(THREADS) -s $(SIZE)

export NAMESRV_ADDR

.PHONY: all build test clean fmt vet lint run-nameserver run-broker run-producer run-consumer \
        benchmark benchmark-async benchmark-oneway benchmark-batch monitor help

all: build

## build: release build of the nameserver, broker, mqadmin and mqbench
build:
	$(CARGO) build --release

## test: every test of the workspace (what CI runs)
test:
	$(CARGO) test --workspace

## clean: remove target/
clean:
	$(CARGO) clean

## fmt: format the workspace
fmt:
	$(CARGO) fmt --all

## vet: clippy on every target, warnings are errors
vet:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## lint: formatting check, then vet
lint:
	$(CARGO) fmt --all -- --check
	$(MAKE) vet

## run-nameserver: nameserver on 9876
run-nameserver: build
	$(RELEASE)/nameserver

## run-broker: broker on 10911 with $(BROKER_CONF)
run-broker: build
	$(RELEASE)/broker -c $(BROKER_CONF) -nameserver $(NAMESRV_ADDR)

## run-producer: the example producer (10 sync sends to TopicTest)
run-producer:
	$(CARGO) run --release --example producer -- sync TopicTest 10

## run-consumer: the example push consumer on TopicTest
run-consumer:
	$(CARGO) run --release --example consumer -- TopicTest 10

## benchmark: sync sends (COUNT messages over THREADS threads)
benchmark: build
	$(MQBENCH) produce -m sync $(BENCH_ARGS)

## benchmark-async: async sends, at most IN_FLIGHT outstanding
benchmark-async: build
	$(MQBENCH) produce -m async --in-flight $(IN_FLIGHT) $(BENCH_ARGS)

## benchmark-oneway: oneway sends, checked against the broker's offsets afterwards
benchmark-oneway: build
	$(MQBENCH) produce -m oneway $(BENCH_ARGS)

## benchmark-batch: batches of 32
benchmark-batch: build
	$(MQBENCH) produce -m batch -b 32 $(BENCH_ARGS)

## monitor: the monitor binary once it exists; until then clusterList every 5 s
monitor: build
	@if [ -x $(RELEASE)/monitor ]; then $(RELEASE)/monitor; \
	else echo "no monitor binary yet: mqadmin clusterList every 5 s (Ctrl-C to stop)"; \
	     $(MQADMIN) clusterList -i 5; fi

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

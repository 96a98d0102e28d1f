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
        benchmark benchmark-async benchmark-oneway benchmark-batch monitor help install dist \
        verify-units

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

PREFIX       ?= /opt/rocketmq
DESTDIR      ?=
UNIT_DIR     ?= /etc/systemd/system
BINARIES     := nameserver broker mqadmin mqbench
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DIST         := rust-rocketmq-$(VERSION)

## install: binaries, conf and docs under PREFIX (default /opt/rocketmq), units under UNIT_DIR
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/conf $(DESTDIR)$(UNIT_DIR)
	for b in $(BINARIES); do install -m 0755 $(RELEASE)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	install -m 0644 conf/broker.conf conf/namesrv.properties conf/broker.ron conf/nameserver.ron \
	        $(DESTDIR)$(PREFIX)/conf/
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/README.md
	sed 's|/opt/rocketmq|$(PREFIX)|g' conf/systemd/rocketmq-nameserver.service \
	        > $(DESTDIR)$(UNIT_DIR)/rocketmq-nameserver.service
	sed 's|/opt/rocketmq|$(PREFIX)|g' conf/systemd/rocketmq-broker.service \
	        > $(DESTDIR)$(UNIT_DIR)/rocketmq-broker.service

## dist: release tarball target/$(DIST).tar.gz with the install layout
dist: build
	rm -rf target/dist && $(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/target/dist \
	        PREFIX=/$(DIST) UNIT_DIR=/$(DIST)/systemd
	tar -C target/dist -czf target/$(DIST).tar.gz $(DIST)
	@echo "target/$(DIST).tar.gz"

## verify-units: systemd-analyze verify of the units (any message fails), on this tree's debug binaries
verify-units:
	@tmp=$$(mktemp -d); \
	for u in conf/systemd/*.service; do \
	  sed "s|/opt/rocketmq/bin|$(CURDIR)/target/debug|g; s|/opt/rocketmq|$(CURDIR)|g" $$u \
	    > $$tmp/$$(basename $$u); \
	done; \
	out=$$(systemd-analyze verify $$tmp/*.service 2>&1); rc=$$?; rm -rf $$tmp; \
	if [ -n "$$out" ]; then echo "$$out"; echo "systemd-analyze verify reported problems"; exit 1; fi; \
	exit $$rc

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

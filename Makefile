# PostOffice - a mail relay in three daemons.  See README.md.
#
#   make              build build/postoffice, build/postmaster, build/postman
#   make check        build and run every test (SANITIZE=1: under ASan+UBSan)
#   make run          run the relay on this machine
#   make bench        benchmarks against the anchors
#   make install      PREFIX=/usr/local DESTDIR=
#   make deb-check    build the Debian packages and try them in a fresh root

VERSION  = 0.1.0
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/postoffice
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=all
else
BUILD   ?= build
SANFLAGS =
endif

PKGS_COMMON     = libcjson glib-2.0
PKGS_POSTOFFICE = libevent libevent_pthreads gmime-3.0 libsystemd
PKGS_POSTMASTER = libmicrohttpd libsystemd libcrypt
PKGS_POSTMAN    = libcurl libesmtp-1.0 libssl libcrypto libsystemd
PKGS_ALL = $(PKGS_COMMON) $(PKGS_POSTOFFICE) $(PKGS_POSTMASTER) $(PKGS_POSTMAN)

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS_ALL) 2>/dev/null)
libs = $(shell $(PKG_CONFIG) --libs $(PKGS_COMMON) $(1) 2>/dev/null)

# WERROR=0 turns the warnings that stop the build into plain warnings: for
# a distribution's package build, whose compiler and flags may warn where
# ours do not.  make check keeps them errors.
WERROR ?= 1
WARN = -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wformat=2 \
	-Wno-format-nonliteral
override CFLAGS += $(CPPFLAGS) -std=c11 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' $(WARN) \
	$(SANFLAGS) -I. $(PKG_CFLAGS) -MMD -MP
override LDFLAGS += $(SANFLAGS) -pthread

COMMON_SRC     := $(wildcard common/*.c)
POSTOFFICE_SRC := $(wildcard postoffice/*.c)
POSTMASTER_SRC := $(wildcard postmaster/*.c)
POSTMAN_SRC    := $(wildcard postman/*.c)
UNIT_SRC       := $(wildcard tests/unit/test_*.c)
HELPER_SRC     := $(wildcard tests/helpers/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ     := $(call obj,$(COMMON_SRC))
POSTOFFICE_OBJ := $(call obj,$(POSTOFFICE_SRC))
POSTMASTER_OBJ := $(call obj,$(POSTMASTER_SRC))
POSTMAN_OBJ    := $(call obj,$(POSTMAN_SRC))
# What a link takes from the prerequisites: sources and objects, not the
# headers or the fuzz targets that dependency files add (a unit test may
# include a fuzz target's source to replay its regression inputs).
inputs = $(filter-out tests/fuzz/%,$(filter %.c %.o,$^))
# The daemons' objects without main(), for unit tests and fuzz targets.
nomain = $(filter-out %/main.o,$(1))

BINS  := $(BUILD)/postoffice $(BUILD)/postmaster $(BUILD)/postman
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(HELPER_SRC))

.PHONY: all tests check run bench fuzz install clean deps deb-check
# The compiler flags come from pkg-config when the Makefile is read: when
# a library (or pkg-config itself) is missing, tools/deps.sh installs it
# (as root) or names it, and a new make reads the flags again.
ifneq ($(DEPS_DONE)$(shell $(PKG_CONFIG) --exists $(PKGS_ALL) 2>/dev/null && echo yes),)
all: $(BINS)
else
all:
	@echo "missing libraries: running 'tools/deps.sh build' (as root it installs them)"
	@tools/deps.sh build
	@$(MAKE) --no-print-directory all DEPS_DONE=1
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/postoffice: $(POSTOFFICE_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(inputs) $(call libs,$(PKGS_POSTOFFICE))
$(BUILD)/postmaster: $(POSTMASTER_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(inputs) $(call libs,$(PKGS_POSTMASTER))
$(BUILD)/postman: $(POSTMAN_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(inputs) $(call libs,$(PKGS_POSTMAN))

# Unit tests: tests/unit/test_<daemon>_*.c link that daemon's objects,
# tests/unit/test_common_*.c only common/.
$(BUILD)/tests/test_common_%: tests/unit/test_common_%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(inputs) $(call libs,cmocka)
$(BUILD)/tests/test_postoffice_%: tests/unit/test_postoffice_%.c $(call nomain,$(POSTOFFICE_OBJ)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(inputs) $(call libs,cmocka $(PKGS_POSTOFFICE))
$(BUILD)/tests/test_postmaster_%: tests/unit/test_postmaster_%.c $(call nomain,$(POSTMASTER_OBJ)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(inputs) $(call libs,cmocka $(PKGS_POSTMASTER))
$(BUILD)/tests/test_postman_%: tests/unit/test_postman_%.c $(call nomain,$(POSTMAN_OBJ)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(inputs) $(call libs,cmocka $(PKGS_POSTMAN))
# The liveness fuzz target's replay drives PostMaster's queue and
# PostMan's lease parser together (no name of theirs clashes).
$(BUILD)/tests/test_postmaster_liveness_fuzz: $(call obj,postman/lease.c postman/delivery.c)
# Small programs the integration tests drive (a recording sendmail, ...).
$(BUILD)/tests/helpers/%: tests/helpers/%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(inputs) $(call libs,)

tests: all $(UNITS) $(HELPERS)

check:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

run:
	@tools/deps.sh run
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tools/run.sh

# README's two commands on a new minimal Debian 12 root (debootstrap, as
# root): make run and a first mail into its Maildir, then make check.
.PHONY: fresh-check
fresh-check:
	@tools/fresh-debian.sh

bench:
	@tools/deps.sh build test bench
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bench/run.sh

fuzz:
	@tools/deps.sh build fuzz
	@BUILD=$(BUILD) tests/fuzz/run.sh

# The Debian packages: built from the tree, lintian-clean, installed into a
# fresh Debian 12 root, run there and purged (as root; tools/deb-check.sh).
deb-check:
	@tools/deb-check.sh

# Power loss: PostOffice in a qemu VM, its plug pulled CUTS times while
# clients send mail; every acknowledged message must survive (as root;
# tests/vm/).  NOSYNC=1 turns PostOffice's fsyncs into no-ops: it must fail.
# DELIVERY=1 adds PostMaster, leasing to clients that acknowledge;
# POSTMAN=1 adds PostMaster drained by the real PostMan into a Maildir.
CUTS ?= 10
.PHONY: powerloss
powerloss:
	@$(MAKE) --no-print-directory all $(BUILD)/tests/helpers/spool_check
	@BUILD=$(BUILD) /usr/bin/python3 tests/vm/powerloss.py --cuts $(CUTS) \
	  $(if $(filter 1,$(NOSYNC)),--nosync) $(if $(filter 1,$(DELIVERY)),--delivery) \
	  $(if $(filter 1,$(POSTMAN)),--postman)

# The shipped systemd units under a real systemd: a Debian 12 root with
# the tree installed as the package lays it out, booted in qemu with the
# power-loss harness's kernel; the guest sets the relay up as
# doc/deployment.md says and checks it (as root; tests/vm/vmcheck.py).
.PHONY: vmcheck
vmcheck:
	@$(MAKE) --no-print-directory all $(BUILD)/tests/helpers/spool_check
	@BUILD=$(BUILD) /usr/bin/python3 tests/vm/vmcheck.py

# Installed by `make install`: man pages from man/, the units with their
# ExecStart paths made to point at SBINDIR, the documentation (doc/ keeps
# its name under DOCDIR, so README's links hold) and the examples
# (contrib/, with /usr/local/sbin/ made SBINDIR).
MANPAGES = man/postoffice.8 man/postmaster.8 man/postman.8

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/doc
	install -m 755 $(BINS) contrib/msmtp-sendmail $(DESTDIR)$(SBINDIR)/
	set -e; for u in systemd/*.service systemd/*.socket systemd/*.timer; do \
	  sed 's|@SBINDIR@|$(SBINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
	done
	install -m 644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 doc/*.md $(DESTDIR)$(DOCDIR)/doc/
	set -e; for f in $$(find contrib -type f 2>/dev/null | sort); do \
	  install -d $(DESTDIR)$(DOCDIR)/$$(dirname $$f); \
	  sed 's|/usr/local/sbin/|$(SBINDIR)/|g' $$f > $(DESTDIR)$(DOCDIR)/$$f; \
	  chmod 644 $(DESTDIR)$(DOCDIR)/$$f; \
	done

.PHONY: uninstall
uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(notdir $(BINS)) msmtp-sendmail)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(wildcard \
	  systemd/*.service systemd/*.socket systemd/*.timer)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MANPAGES)))
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
